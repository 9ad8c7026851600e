// The post-LN encoder + masked-LM head of BERT and RoBERTa (models/encoder_mlm.h).
//
// Tensors (C hidden, F intermediate, V vocab, P positions, TT token types), with the
// spec's prefixes E (encoder), H (head), T (transform) and N (head norm name):
//   E.embeddings.word_embeddings.weight        [V, C]
//   E.embeddings.position_embeddings.weight    [P, C]
//   E.embeddings.token_type_embeddings.weight  [TT, C]
//   E.embeddings.LayerNorm.{weight,bias}       [C]
//   E.encoder.layer.{i}.attention.self.{query,key,value}.weight [C, C]  (nn.Linear: [out, in])
//   E.encoder.layer.{i}.attention.self.{query,key,value}.bias   [C]
//   E.encoder.layer.{i}.attention.output.dense.{weight [C, C], bias [C]}
//   E.encoder.layer.{i}.attention.output.LayerNorm.{weight,bias} [C]
//   E.encoder.layer.{i}.intermediate.dense.{weight [F, C], bias [F]}
//   E.encoder.layer.{i}.output.dense.{weight [C, F], bias [C]}
//   E.encoder.layer.{i}.output.LayerNorm.{weight,bias} [C]
//   T.dense.{weight [C, C], bias}, T.N.{weight,bias} [C]
//   H.decoder.weight [V, C]  tied to the word embeddings (absent from most files)
//   H.bias [V]
//
// Post-LN encoder layer: x = LN(x + attn(x)); x = LN(x + W2 gelu(W1 x)).
// Training (model.train()): dropout after the embeddings LayerNorm, on the attention
// probabilities, and on each sublayer output before its residual LayerNorm; none in
// the LM head. Activations are kept per layer for the backward pass.
// Token type ids are all 0.
#include <algorithm>
#include <cstring>

#include "core/cpu.h"
#include "core/error.h"
#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/embedding.h"
#include "kernels/gemm.h"
#include "kernels/layernorm.h"
#include "kernels/cross_entropy.h"
#include "kernels/dropout.h"
#include "kernels/residual.h"
#include "models/encoder_mlm.h"
#include "models/activation_slots.h"
#include "models/lm_head.h"
#include "models/mlm_head.h"

namespace dlm {

namespace {

struct encoder_layer {
    Linear* qkv;  // query, key, value declared back to back: one [3C, C] matrix
    Linear *attn_out, *ffn_in, *ffn_out;
    int64_t attn_ln_w, attn_ln_b, ffn_ln_w, ffn_ln_b;
};

// What one layer's forward leaves for its backward (in inference every layer
// shares one such slot).
struct encoder_acts {
    float *qkv, *att, *ctx, *sum1, *mean1, *rstd1, *mid, *ffn_pre, *ffn_act, *sum2, *mean2, *rstd2;
};

class EncoderMlmModel final : public Model {
public:
    EncoderMlmModel(const ModelConfig& c, EncoderMlmSpec spec) : Model(c), spec_(std::move(spec)) {
        const std::string& base = spec_.encoder;
        const std::string& head = spec_.head;
        const bool after_pad = spec_.positions_after_padding;
        const int64_t C = c.hidden_size, F = c.intermediate_size, V = c.vocab_size;
        auto& p = params_;
        // Read only by products: their bf16 copies may be packed in place (not the word
        // embeddings, which lookups read row by row, nor a decoder tied to them).
        auto linear = [&](int64_t w, int64_t b, int64_t in, int64_t out) {
            return arena_.linear_add(w, b, in, out, WeightLayout::out_in, WeightUse::products);
        };
        const std::string e = base + "embeddings.";
        const int64_t word = p.declare(e + "word_embeddings.weight", {V, C}, ParamRole::embedding, {1.0f, c.pad_token_id});
        pos_ = arena_.embedding_add(p.declare(e + "position_embeddings.weight", {c.max_positions, C}, ParamRole::embedding, {1.0f, after_pad ? c.pad_token_id : -1}), c.max_positions, C);
        type_ = arena_.embedding_add(p.declare(e + "token_type_embeddings.weight", {c.type_vocab_size, C}, ParamRole::embedding),
                                     c.type_vocab_size, C);
        emb_ln_w_ = p.declare(e + "LayerNorm.weight", {C}, ParamRole::norm);
        emb_ln_b_ = p.declare(e + "LayerNorm.bias", {C}, ParamRole::bias);
        for (int64_t i = 0; i < c.num_layers; ++i) {
            const std::string l = fmt::format("{}encoder.layer.{}.", base, i);
            encoder_layer L;
            layer_params_begin();
            const int64_t qkv_w = p.declare(l + "attention.self.query.weight", {C, C}, ParamRole::matrix);
            p.declare(l + "attention.self.key.weight", {C, C}, ParamRole::matrix);
            p.declare(l + "attention.self.value.weight", {C, C}, ParamRole::matrix);
            const int64_t qkv_b = p.declare(l + "attention.self.query.bias", {C}, ParamRole::bias);
            p.declare(l + "attention.self.key.bias", {C}, ParamRole::bias);
            p.declare(l + "attention.self.value.bias", {C}, ParamRole::bias);
            L.qkv = linear(qkv_w, qkv_b, C, 3 * C);
            const int64_t attn_out_w = p.declare(l + "attention.output.dense.weight", {C, C}, ParamRole::matrix);
            L.attn_out = linear(attn_out_w, p.declare(l + "attention.output.dense.bias", {C}, ParamRole::bias), C, C);
            L.attn_ln_w = p.declare(l + "attention.output.LayerNorm.weight", {C}, ParamRole::norm);
            L.attn_ln_b = p.declare(l + "attention.output.LayerNorm.bias", {C}, ParamRole::bias);
            const int64_t ffn_in_w = p.declare(l + "intermediate.dense.weight", {F, C}, ParamRole::matrix);
            L.ffn_in = linear(ffn_in_w, p.declare(l + "intermediate.dense.bias", {F}, ParamRole::bias), C, F);
            const int64_t ffn_out_w = p.declare(l + "output.dense.weight", {C, F}, ParamRole::matrix);
            L.ffn_out = linear(ffn_out_w, p.declare(l + "output.dense.bias", {C}, ParamRole::bias), F, C);
            L.ffn_ln_w = p.declare(l + "output.LayerNorm.weight", {C}, ParamRole::norm);
            L.ffn_ln_b = p.declare(l + "output.LayerNorm.bias", {C}, ParamRole::bias);
            layers_.push_back(L);
        }
        const std::string& t = spec_.transform;
        const int64_t head_dense_w = p.declare(t + "dense.weight", {C, C}, ParamRole::matrix);
        Linear* head_dense = linear(head_dense_w, p.declare(t + "dense.bias", {C}, ParamRole::bias), C, C);
        const int64_t head_ln_w = p.declare(t + spec_.head_norm + ".weight", {C}, ParamRole::norm);
        const int64_t head_ln_b = p.declare(t + spec_.head_norm + ".bias", {C}, ParamRole::bias);
        const int64_t decoder = c.tie_word_embeddings ? word : p.declare(head + "decoder.weight", {V, C}, ParamRole::matrix);
        const int64_t head_bias = p.declare(head + "bias", {V}, ParamRole::bias);
        // A decoder tied to the word embeddings is also read row by row by lookups.
        Linear* decoder_w = arena_.linear_add(decoder, head_bias, C, V, WeightLayout::out_in,
                                              decoder == word ? WeightUse::products_and_rows : WeightUse::products);
        word_ = arena_.embedding_add(word, V, C, decoder == word ? decoder_w : nullptr);
        head_.init(&params_, head_dense, head_ln_w, head_ln_b, decoder_w, spec_.head_activation, c.layer_norm_eps);
        p.allocate();
    }

    void forward(const ForwardInput& in) override { forward_impl(in, false, false, 0); }

    void forward_kv(EncoderKv& kv, const ForwardInput& in) override {
        encoder_kv_prepare(kv, in);
        forward_impl(in, false, false, 0, &kv);
    }

    void forward_span(EncoderKv& kv, const int32_t* ids, int64_t q0, int64_t q1) override {
        encoder_span_check(kv, q0, q1);
        forward_impl({ids, nullptr, nullptr, kv.batch, kv.seq}, false, false, 0, &kv, q0, q1);
    }

    const float* hidden() const override { return hidden_state(config_.num_layers); }

    const float* hidden_state(int64_t l) const override {
        DLM_ASSERT(l >= 0 && l <= config_.num_layers && !states_.empty());
        return states_.data() + l * B_ * T_ * config_.hidden_size;
    }

    void logits(std::span<const int64_t> rows, float* out) override {
        for (const int64_t r : rows) DLM_ASSERT(r >= 0 && r < B_ * T_);
        head_.logits(rows, hidden(), out);
    }

    double forward_backward(const TrainInput& t) override {
        const auto& c = config_;
        const int64_t B = t.in.batch, T = t.in.seq, N = B * T, C = c.hidden_size, NH = c.num_heads;
        const int64_t F = c.intermediate_size, L = c.num_layers;
        TrainScope scope = train_scope();
        targets_gather(t, rows_, targets_, weights_);
        forward_impl(t.in, true, t.dropout, t.seed);
        auto& g = params_;
        g.grads();

        // LM head at the target rows, chunked; d(hidden) lands in dx_.
        dx_.assign(static_cast<size_t>(N * C), 0.0f);
        const double loss = head_.loss_backward({rows_, targets_, weights_}, hidden(), dx_.data(), row_loss_);

        dsum_.resize(static_cast<size_t>(N * C));
        dtmp_.resize(static_cast<size_t>(N * C));
        dctx_.resize(static_cast<size_t>(N * C));
        dqkv_.resize(static_cast<size_t>(N * 3 * C));
        dffn_.resize(static_cast<size_t>(N * F));
        datt_.resize(static_cast<size_t>(B * NH * T * T));
        const float p_hidden = t.dropout ? c.hidden_dropout : 0.0f;
        for (int64_t l = L - 1; l >= 0; --l) {
            const encoder_layer& P = layers_[l];
            const encoder_acts& A = acts_[l];
            const float* xin = states_.data() + l * N * C;
            // xout = LN2(sum2), sum2 = dropout(ffn_out) + mid
            zero(dsum_);
            layernorm_backward(dsum_.data(), g.grad(P.ffn_ln_w), g.grad(P.ffn_ln_b), dx_.data(), A.sum2,
                               params_.get(P.ffn_ln_w), A.mean2, A.rstd2, N, C);
            dtmp_ = dsum_;
            dropout_apply(dtmp_.data(), N * C, p_hidden, dropout_site_seed(t.seed, l, site_mlp_out));
            zero(dffn_);
            P.ffn_out->backward(dffn_.data(), dtmp_.data(), A.ffn_act, N);
            gelu_backward(dffn_.data(), A.ffn_pre, dffn_.data(), N * F, c.activation);
            // d(mid) = residual part (dsum_) + through the FFN input
            P.ffn_in->backward(dsum_.data(), dffn_.data(), A.mid, N);
            // mid = LN1(sum1), sum1 = dropout(attn_out) + xin
            zero(dx_);
            layernorm_backward(dx_.data(), g.grad(P.attn_ln_w), g.grad(P.attn_ln_b), dsum_.data(), A.sum1,
                               params_.get(P.attn_ln_w), A.mean1, A.rstd1, N, C);
            dtmp_ = dx_;  // dx_ keeps the residual path to xin
            dropout_apply(dtmp_.data(), N * C, p_hidden, dropout_site_seed(t.seed, l, site_attn_out));
            zero(dctx_);
            P.attn_out->backward(dctx_.data(), dtmp_.data(), A.ctx, N);
            zero(dqkv_);
            attention_shape as = attn_shape(B, T, t.dropout, t.seed, l);
            attention_backward(dqkv_.data(), dqkv_.data() + C, dqkv_.data() + 2 * C, datt_.data(),
                               as.dropout > 0 ? scratch_.data() : nullptr, dctx_.data(), A.qkv, A.qkv + C,
                               A.qkv + 2 * C, A.att, as);
            P.qkv->backward(dx_.data(), dqkv_.data(), xin, N);
            grads_final_after_layer(t, l);
        }
        // Embeddings: states[0] = dropout(LN(word + position + type))
        dropout_apply(dx_.data(), N * C, t.dropout ? c.embedding_dropout : 0.0f, dropout_site_seed(t.seed, 0, site_embeddings));
        zero(dsum_);
        layernorm_backward(dsum_.data(), g.grad(emb_ln_w_), g.grad(emb_ln_b_), dx_.data(), emb_sum_.data(),
                           params_.get(emb_ln_w_), emb_mean_.data(), emb_rstd_.data(), N, C);
        // HF builds word (and RoBERTa's position) embeddings with padding_idx = pad: no gradient there.
        word_->backward(dsum_.data(), t.in.ids, N, c.pad_token_id);
        pos_->backward(dsum_.data(), positions_.data(), N, spec_.positions_after_padding ? c.pad_token_id : -1);
        bias_backward(g.grad(type_->offset()), dsum_.data(), N, C);  // every token has type 0
        return loss;
    }

protected:
    std::vector<std::string> name_aliases(const std::string& name) const override {
        auto out = Model::name_aliases(name);
        // Checkpoints saved from the bare encoder (RobertaModel) lack the prefix.
        if (name.rfind(spec_.encoder, 0) == 0) {
            std::string bare = name.substr(spec_.encoder.size());
            out.push_back(bare);
            for (auto& a : Model::name_aliases(bare)) out.push_back(a);
        }
        // The output bias is shared with the decoder in HF; some files store only that copy.
        if (name == spec_.head + "bias") out.push_back(spec_.head + "decoder.bias");
        return out;
    }

    bool name_ignored(const std::string& name) const override {
        auto ends_with = [&](const char* s) {
            std::string_view n(name), v(s);
            return n.size() >= v.size() && n.substr(n.size() - v.size()) == v;
        };
        return ends_with("position_ids") || name.find("pooler.") != std::string::npos ||
               name.rfind("cls.seq_relationship", 0) == 0 ||
               (config_.tie_word_embeddings && name == spec_.head + "decoder.weight") ||
               name == spec_.head + "decoder.bias";  // the same tensor as head bias in HF
    }

private:
    static void zero(std::vector<float>& v) { std::fill(v.begin(), v.end(), 0.0f); }

    attention_shape attn_shape(int64_t B, int64_t T, bool dropout, uint64_t seed, int64_t l) const {
        const int64_t C = config_.hidden_size;
        attention_shape as{B, T, T, config_.num_heads, config_.head_dim(), 3 * C, 3 * C, false, 0};
        if (dropout && config_.attention_dropout > 0.0f) {
            as.dropout = config_.attention_dropout;
            as.seed = dropout_site_seed(seed, l, site_attention);
        }
        return as;
    }

    // Lays out the saved activations: one slot per layer when training, one shared
    // slot otherwise. Buffers only grow, so steady-state steps do not allocate.
    // Tk: the keys each query sees (T, or the whole canvas for a span).
    void acts_layout(int64_t B, int64_t T, bool train, int64_t Tk = 0) {
        const auto& c = config_;
        if (Tk == 0) Tk = T;
        const int64_t N = B * T, C = c.hidden_size, F = c.intermediate_size, NH = c.num_heads;
        const int64_t slot = N * 3 * C + B * NH * T * Tk + 4 * N * C + 2 * N * F + 4 * N;
        acts_.resize(static_cast<size_t>(c.num_layers));
        activation_slots_layout(acts_buf_, slot, c.num_layers, train, [&](int64_t l, auto take) {
            encoder_acts& A = acts_[l];
            A.qkv = take(N * 3 * C);
            A.att = take(B * NH * T * Tk);
            A.ctx = take(N * C);
            A.sum1 = take(N * C);
            A.mid = take(N * C);
            A.sum2 = take(N * C);
            A.ffn_pre = take(N * F);
            A.ffn_act = take(N * F);
            A.mean1 = take(N);
            A.rstd1 = take(N);
            A.mean2 = take(N);
            A.rstd2 = take(N);
        });
    }

    // Position ids of the B x T canvas into positions_ (HF's
    // create_position_ids_from_input_ids for RoBERTa), checked against the table.
    void positions_fill(const ForwardInput& in) {
        const auto& c = config_;
        const int64_t B = in.batch, T = in.seq;
        positions_.resize(static_cast<size_t>(B * T));
        for (int64_t b = 0; b < B; ++b) {
            int32_t count = 0;
            for (int64_t t = 0; t < T; ++t) {
                int32_t& out = positions_[b * T + t];
                if (in.positions) {
                    out = in.positions[b * T + t];
                } else if (spec_.positions_after_padding) {
                    bool real = in.ids[b * T + t] != c.pad_token_id;
                    count += real;
                    out = real ? c.pad_token_id + count : c.pad_token_id;
                } else {
                    out = static_cast<int32_t>(t);
                }
                if (out < 0 || out >= c.max_positions)
                    fail("sequence too long: position id {} at (batch {}, position {}) is outside the model's {} positions (at most {} tokens)",
                         out, b, t, c.max_positions, c.max_sequence());
            }
        }
    }

    // kv (inference only): keep every layer's keys and values in it (q1 == 0), or run
    // only the span [q0, q1) of each sample against it (forward_span).
    void forward_impl(const ForwardInput& in, bool train, bool dropout, uint64_t seed, EncoderKv* kv = nullptr,
                      int64_t q0 = 0, int64_t q1 = 0) {
        const auto& c = config_;
        const bool span = q1 > 0;
        const int64_t B = in.batch, T = in.seq, S = span ? q1 - q0 : T, N = B * S, C = c.hidden_size;
        check_ids(in);
        denormals_flush_enable();
        B_ = B;
        T_ = S;
        positions_fill(in);
        const int32_t* ids = in.ids;
        if (span) {  // the span's ids and positions, gathered from the canvas
            span_ids_.resize(static_cast<size_t>(N));
            for (int64_t b = 0; b < B; ++b)
                for (int64_t i = 0; i < S; ++i) {
                    span_ids_[b * S + i] = in.ids[b * T + q0 + i];
                    positions_[b * S + i] = positions_[b * T + q0 + i];  // b * S + i <= b * T + q0 + i
                }
            ids = span_ids_.data();
        }
        states_.resize(static_cast<size_t>((c.num_layers + 1) * N * C));
        emb_sum_.resize(static_cast<size_t>(N * C));
        emb_mean_.resize(static_cast<size_t>(N));
        emb_rstd_.resize(static_cast<size_t>(N));
        proj_.resize(static_cast<size_t>(N * C));
        acts_layout(B, S, train, T);
        if (dropout && c.attention_dropout > 0.0f) scratch_.resize(static_cast<size_t>(B * c.num_heads * T * T));

        float* e = emb_sum_.data();
        word_->lookup(e, ids, N, false, train);
        pos_->lookup(e, positions_.data(), N, true, train);
        type_ids_.assign(static_cast<size_t>(N), 0);  // token type 0 everywhere
        type_->lookup(e, type_ids_.data(), N, true, train);
        float* x = states_.data();
        layernorm_forward(x, emb_mean_.data(), emb_rstd_.data(), e, params_.get(emb_ln_w_), params_.get(emb_ln_b_), N,
                          C, c.layer_norm_eps);
        if (dropout) dropout_apply(x, N * C, c.embedding_dropout, dropout_site_seed(seed, 0, site_embeddings));
        for (int64_t l = 0; l < c.num_layers; ++l) layer_forward(l, in, train, dropout, seed, kv, q0, q1);
    }

    // Layer l on the rows laid out by forward_impl: B x T, or B x (q1 - q0) for a span.
    void layer_forward(int64_t l, const ForwardInput& in, bool train, bool dropout, uint64_t seed, EncoderKv* kv,
                       int64_t q0, int64_t q1) {
        const auto& c = config_;
        const bool span = q1 > 0;
        const int64_t B = in.batch, T = in.seq, S = span ? q1 - q0 : T, N = B * S;
        const int64_t C = c.hidden_size, F = c.intermediate_size;
        const float p_hidden = dropout ? c.hidden_dropout : 0.0f;
        const encoder_layer& P = layers_[l];
        const encoder_acts& A = acts_[l];
        const float* xin = states_.data() + l * N * C;
        float* xout = states_.data() + (l + 1) * N * C;
        P.qkv->forward(A.qkv, xin, N);
        if (kv) {
            // Each row's key and value (adjacent in qkv) into the cache: all of the
            // canvas when filling it, the span's fresh ones over the kept ones.
            float* kvl = kv->kv.data() + l * B * T * 2 * C;
            for (int64_t b = 0; b < B; ++b)
                for (int64_t i = 0; i < S; ++i)
                    std::memcpy(kvl + (b * T + q0 + i) * 2 * C, A.qkv + (b * S + i) * 3 * C + C,
                                static_cast<size_t>(2 * C) * sizeof(float));
        }
        if (span) {
            const float* kvl = kv->kv.data() + l * B * T * 2 * C;
            attention_shape as{B, S, T, c.num_heads, c.head_dim(), 3 * C, 2 * C, false, 0};
            attention(A.ctx, A.att, nullptr, A.qkv, kvl, kvl + C, nullptr, as, false);
        } else {
            attention_shape as = attn_shape(B, T, dropout, seed, l);
            attention(A.ctx, A.att, as.dropout > 0 ? scratch_.data() : nullptr, A.qkv, A.qkv + C, A.qkv + 2 * C,
                      in.mask, as, train);
        }
        P.attn_out->forward(proj_.data(), A.ctx, N);
        if (dropout) dropout_apply(proj_.data(), N * C, p_hidden, dropout_site_seed(seed, l, site_attn_out));
        residual_layernorm_forward(A.mid, A.sum1, A.mean1, A.rstd1, proj_.data(), xin, params_.get(P.attn_ln_w),
                                   params_.get(P.attn_ln_b), N, C, c.layer_norm_eps);
        P.ffn_in->forward(A.ffn_pre, A.mid, N, false);
        if (uint16_t* act16 = train ? nullptr : P.ffn_out->input_bf16(N)) {
            // bf16 inference: GELU writes the second product's rounded input itself.
            bias_gelu_forward_bf16(act16, A.ffn_pre, P.ffn_in->bias(), N, F, c.activation);
            P.ffn_out->forward(proj_.data(), nullptr, N);
        } else {
            bias_gelu_forward_keep(A.ffn_act, A.ffn_pre, P.ffn_in->bias(), N, F, c.activation);
            P.ffn_out->forward(proj_.data(), A.ffn_act, N);
        }
        if (dropout) dropout_apply(proj_.data(), N * C, p_hidden, dropout_site_seed(seed, l, site_mlp_out));
        residual_layernorm_forward(xout, A.sum2, A.mean2, A.rstd2, proj_.data(), A.mid, params_.get(P.ffn_ln_w),
                                   params_.get(P.ffn_ln_b), N, C, c.layer_norm_eps);
    }

    EncoderMlmSpec spec_;
    Embedding *word_, *pos_, *type_;
    MlmHead head_;
    int64_t emb_ln_w_, emb_ln_b_;
    std::vector<encoder_layer> layers_;

    int64_t B_ = 0, T_ = 0;
    std::vector<int32_t> positions_, type_ids_, span_ids_;
    std::vector<float> states_, emb_sum_, emb_mean_, emb_rstd_, proj_, scratch_, acts_buf_;
    std::vector<encoder_acts> acts_;
    // training
    std::vector<int64_t> rows_;
    std::vector<int32_t> targets_;
    std::vector<float> weights_, row_loss_, dx_, dsum_, dtmp_, dctx_, dqkv_, dffn_, datt_;
};

}  // namespace

std::unique_ptr<Model> encoder_mlm_create(const ModelConfig& c, EncoderMlmSpec spec) {
    return std::make_unique<EncoderMlmModel>(c, std::move(spec));
}

void encoder_mlm_config_read(const nlohmann::ordered_json& j, ModelConfig& c, const std::string& where,
                             const EncoderConfigDefaults& d) {
    c.hidden_size = config_require<int64_t>(j, "hidden_size", where);
    c.num_layers = config_require<int64_t>(j, "num_hidden_layers", where);
    c.num_heads = config_require<int64_t>(j, "num_attention_heads", where);
    c.intermediate_size = config_require<int64_t>(j, "intermediate_size", where);
    c.max_positions = config_require<int64_t>(j, "max_position_embeddings", where);
    c.type_vocab_size = config_get<int64_t>(j, "type_vocab_size", d.type_vocab_size, where);
    c.layer_norm_eps = config_get<float>(j, "layer_norm_eps", 1e-12f, where);
    c.activation = activation_parse(config_get<std::string>(j, "hidden_act", "gelu", where), where);
    c.hidden_dropout = config_get<float>(j, "hidden_dropout_prob", 0.1f, where);
    c.embedding_dropout = c.hidden_dropout;
    c.attention_dropout = config_get<float>(j, "attention_probs_dropout_prob", 0.1f, where);
    c.pad_token_id = config_get<int32_t>(j, "pad_token_id", d.pad, where);
    c.bos_token_id = config_get<int32_t>(j, "bos_token_id", d.bos, where);
    c.eos_token_id = config_get<int32_t>(j, "eos_token_id", d.eos, where);
    auto pet = config_get<std::string>(j, "position_embedding_type", "absolute", where);
    if (pet != "absolute") fail("{}: position_embedding_type '{}' is not supported (only 'absolute')", where, pet);
}

void encoder_mlm_config_write(const ModelConfig& c, nlohmann::ordered_json& j) {
    j["hidden_size"] = c.hidden_size;
    j["num_hidden_layers"] = c.num_layers;
    j["num_attention_heads"] = c.num_heads;
    j["intermediate_size"] = c.intermediate_size;
    j["max_position_embeddings"] = c.max_positions;
    j["type_vocab_size"] = c.type_vocab_size;
    if (!j.contains("layer_norm_eps")) j["layer_norm_eps"] = static_cast<double>(c.layer_norm_eps);
    j["hidden_act"] = activation_name(c.activation);
}

}  // namespace dlm
