// ModernBERT masked language model (HF ModernBertForMaskedLM).
//
// Tensors (C hidden, F intermediate, V vocab; biases only where the config asks:
// attention_bias, mlp_bias, norm_bias, classifier_bias, decoder_bias):
//   model.embeddings.tok_embeddings.weight [V, C]       model.embeddings.norm.{weight,bias} [C]
//   model.layers.{i}.attn_norm.{weight,bias} [C]        (absent for layer 0: Identity)
//   model.layers.{i}.attn.Wqkv.{weight [3C, C], bias}   (nn.Linear: [out, in]; q | k | v)
//   model.layers.{i}.attn.Wo.{weight [C, C], bias}
//   model.layers.{i}.mlp_norm.{weight,bias} [C]
//   model.layers.{i}.mlp.Wi.{weight [2F, C], bias}      (rows: input | gate)
//   model.layers.{i}.mlp.Wo.{weight [C, F], bias}
//   model.final_norm.{weight,bias} [C]
//   head.dense.{weight [C, C], bias}   head.norm.{weight,bias} [C]
//   decoder.weight [V, C] tied to tok_embeddings (absent from most files)   decoder.bias [V]
//
// Pre-norm layer: h += Wo attn(rope(Wqkv attn_norm(h))); h += mlp.Wo geglu(mlp.Wi mlp_norm(h)).
// Layer i attends globally when i % global_attn_every_n_layers == 0, else within a
// window of local_attention / 2 positions on each side; rotary angles use
// global_rope_theta or local_rope_theta accordingly. Position ids are 0..T-1.
// Logits = decoder(head.norm(act(head.dense(final_norm(h))))).
// hidden_state(L) is the last layer's output before final_norm (HF's hidden_states[-1]);
// hidden() is after it (HF's last_hidden_state).
// Training (model.train()): dropout after the embedding norm (embedding_dropout), on the
// attention probabilities and after attn.Wo (attention_dropout), and on the GeGLU output
// (mlp_dropout); ModernBERT's own configs set all three to 0.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/cpu.h"
#include "core/error.h"
#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/cross_entropy.h"
#include "kernels/dropout.h"
#include "kernels/activation.h"
#include "kernels/layernorm.h"
#include "kernels/residual.h"
#include "kernels/rotary.h"
#include "models/architecture.h"
#include "models/activation_slots.h"
#include "models/lm_head.h"
#include "models/mlm_head.h"
#include "models/model.h"

namespace dlm {

namespace {

// The ModernBERT keys ModelConfig has no field for.
struct modernbert_options {
    bool norm_bias, attention_bias, mlp_bias, classifier_bias, decoder_bias;
    float global_theta, local_theta, mlp_dropout;
    int64_t global_every, window;  // window: keys on each side of a local layer's query
    Activation head_activation;
};

modernbert_options modernbert_options_read(const nlohmann::ordered_json& j, const std::string& where) {
    modernbert_options o;
    o.norm_bias = config_get<bool>(j, "norm_bias", false, where);
    o.attention_bias = config_get<bool>(j, "attention_bias", false, where);
    o.mlp_bias = config_get<bool>(j, "mlp_bias", false, where);
    o.classifier_bias = config_get<bool>(j, "classifier_bias", false, where);
    o.decoder_bias = config_get<bool>(j, "decoder_bias", true, where);
    o.global_theta = config_get<float>(j, "global_rope_theta", 160000.0f, where);
    o.local_theta = config_get<float>(j, "local_rope_theta", 10000.0f, where);
    o.mlp_dropout = config_get<float>(j, "mlp_dropout", 0.0f, where);
    o.global_every = config_get<int64_t>(j, "global_attn_every_n_layers", 3, where);
    o.window = config_get<int64_t>(j, "local_attention", 128, where) / 2;
    o.head_activation = activation_parse(config_get<std::string>(j, "classifier_activation", "gelu", where), where);
    if (o.global_every < 1) fail("{}: 'global_attn_every_n_layers' must be at least 1, got {}", where, o.global_every);
    if (o.window < 1) fail("{}: 'local_attention' must be at least 2", where);
    return o;
}

struct modernbert_layer {
    int64_t attn_norm_w = -1, attn_norm_b = -1;  // -1: layer 0's Identity / no bias
    int64_t mlp_norm_w, mlp_norm_b = -1;
    Linear *wqkv, *wo, *wi, *mlp_wo;
    bool global;
};

// What one layer's forward keeps for its backward (one shared slot in inference).
struct modernbert_acts {
    float *an, *mean1, *rstd1, *qkv, *att, *ctx, *res, *mn, *mean2, *rstd2, *wi, *g;
};

// Block decoding (Model::forward_kv / forward_span): the cache, and the span of each
// sample the layers run on ([q0, q1); q1 == 0: the whole canvas, keeping its keys and
// values).
struct kv_span {
    EncoderKv* kv = nullptr;
    int64_t q0 = 0, q1 = 0;
    bool span() const { return q1 > 0; }
};

class ModernBertModel final : public Model {
public:
    explicit ModernBertModel(const ModelConfig& c) : Model(c), o_(modernbert_options_read(c.json, "config.json")) {
        const int64_t C = c.hidden_size, F = c.intermediate_size, V = c.vocab_size;
        auto& p = params_;
        auto norm = [&](const std::string& name, int64_t& w, int64_t& b) {
            w = p.declare(name + ".weight", {C}, ParamRole::norm);
            if (o_.norm_bias) b = p.declare(name + ".bias", {C}, ParamRole::bias);
        };
        auto linear = [&](const std::string& name, int64_t in, int64_t out, bool bias) {
            const int64_t w = p.declare(name + ".weight", {out, in}, ParamRole::matrix);
            const int64_t b = bias ? p.declare(name + ".bias", {out}, ParamRole::bias) : -1;
            return arena_.linear_add(w, b, in, out, WeightLayout::out_in, WeightUse::products);
        };
        const int64_t tok = p.declare("model.embeddings.tok_embeddings.weight", {V, C}, ParamRole::embedding,
                                      {1.0f, c.pad_token_id});
        norm("model.embeddings.norm", emb_norm_w_, emb_norm_b_);
        for (int64_t i = 0; i < c.num_layers; ++i) {
            const std::string l = fmt::format("model.layers.{}.", i);
            modernbert_layer L;
            layer_params_begin();
            if (i > 0) norm(l + "attn_norm", L.attn_norm_w, L.attn_norm_b);
            L.wqkv = linear(l + "attn.Wqkv", C, 3 * C, o_.attention_bias);
            L.wo = linear(l + "attn.Wo", C, C, o_.attention_bias);
            norm(l + "mlp_norm", L.mlp_norm_w, L.mlp_norm_b);
            L.wi = linear(l + "mlp.Wi", C, 2 * F, o_.mlp_bias);
            L.mlp_wo = linear(l + "mlp.Wo", F, C, o_.mlp_bias);
            L.global = i % o_.global_every == 0;
            layers_.push_back(L);
        }
        norm("model.final_norm", final_norm_w_, final_norm_b_);
        Linear* head_dense = linear("head.dense", C, C, o_.classifier_bias);
        int64_t head_norm_w = -1, head_norm_b = -1;
        norm("head.norm", head_norm_w, head_norm_b);
        const int64_t decoder = c.tie_word_embeddings ? tok : p.declare("decoder.weight", {V, C}, ParamRole::matrix);
        const int64_t decoder_bias = o_.decoder_bias ? p.declare("decoder.bias", {V}, ParamRole::bias) : -1;
        Linear* decoder_w = arena_.linear_add(decoder, decoder_bias, C, V, WeightLayout::out_in,
                                              decoder == tok ? WeightUse::products_and_rows : WeightUse::products);
        tok_ = arena_.embedding_add(tok, V, C, decoder == tok ? decoder_w : nullptr);
        head_.init(&params_, head_dense, head_norm_w, head_norm_b, decoder_w, o_.head_activation, c.layer_norm_eps);
        p.allocate();
        rope_tables_build();
    }

    void forward(const ForwardInput& in) override { forward_impl(in, false, false, 0); }

    void forward_kv(EncoderKv& kv, const ForwardInput& in) override {
        encoder_kv_prepare(kv, in);
        forward_impl(in, false, false, 0, {&kv, 0, 0});
    }

    void forward_span(EncoderKv& kv, const int32_t* ids, int64_t q0, int64_t q1) override {
        encoder_span_check(kv, q0, q1);
        forward_impl({ids, nullptr, nullptr, kv.batch, kv.seq}, false, false, 0, {&kv, q0, q1});
    }

    const float* hidden() const override { return final_.data(); }

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
        const int64_t N = t.in.batch * t.in.seq, C = c.hidden_size;
        TrainScope scope = train_scope();
        targets_gather(t, rows_, targets_, weights_);
        forward_impl(t.in, true, t.dropout, t.seed);
        params_.grads();
        dfinal_.assign(static_cast<size_t>(N * C), 0.0f);
        const double loss = head_.loss_backward({rows_, targets_, weights_}, final_.data(), dfinal_.data(), row_loss_);
        // final = final_norm(h_L)
        dx_.assign(static_cast<size_t>(N * C), 0.0f);
        norm_backward(dx_.data(), dfinal_.data(), states_.data() + c.num_layers * N * C, final_norm_w_, final_norm_b_,
                      final_mean_.data(), final_rstd_.data(), N);
        for (int64_t l = c.num_layers - 1; l >= 0; --l) {
            layer_backward(l, t);
            grads_final_after_layer(t, l);
        }
        // states[0] = dropout(norm(tok[ids]))
        dropout_apply(dx_.data(), N * C, t.dropout ? c.embedding_dropout : 0.0f, dropout_site_seed(t.seed, 0, site_embeddings));
        dtmp_.assign(static_cast<size_t>(N * C), 0.0f);
        norm_backward(dtmp_.data(), dx_.data(), emb_raw_.data(), emb_norm_w_, emb_norm_b_, emb_mean_.data(),
                      emb_rstd_.data(), N);
        tok_->backward(dtmp_.data(), t.in.ids, N, c.pad_token_id);
        return loss;
    }

protected:
    std::vector<std::string> name_aliases(const std::string& name) const override {
        auto out = Model::name_aliases(name);
        // Checkpoints of the bare encoder (ModernBertModel) lack the "model." prefix.
        if (name.rfind("model.", 0) == 0) out.push_back(name.substr(6));
        return out;
    }

    bool name_ignored(const std::string& name) const override {
        return config_.tie_word_embeddings && name == "decoder.weight";
    }

private:
    static void zero(std::vector<float>& v) { std::fill(v.begin(), v.end(), 0.0f); }

    void rope_tables_build() {
        const int64_t P = config_.max_positions, HD = config_.head_dim();
        for (auto* v : {&cos_global_, &sin_global_, &cos_local_, &sin_local_}) v->resize(static_cast<size_t>(P * HD));
        rotary_table_build(cos_global_.data(), sin_global_.data(), P, HD, o_.global_theta);
        rotary_table_build(cos_local_.data(), sin_local_.data(), P, HD, o_.local_theta);
    }

    const float* norm_bias(int64_t b) const { return b >= 0 ? params_.get(b) : nullptr; }

    void norm_forward(float* out, const float* inp, int64_t w, int64_t b, float* mean, float* rstd, int64_t n) {
        layernorm_forward(out, mean, rstd, inp, params_.get(w), norm_bias(b), n, config_.hidden_size,
                          config_.layer_norm_eps);
    }

    // dinp += d(norm(inp)) from dout; the norm's gradients added.
    void norm_backward(float* dinp, const float* dout, const float* inp, int64_t w, int64_t b, const float* mean,
                       const float* rstd, int64_t n) {
        layernorm_backward(dinp, params_.grad(w), b >= 0 ? params_.grad(b) : nullptr, dout, inp, params_.get(w),
                           mean, rstd, n, config_.hidden_size);
    }

    attention_shape attn_shape(int64_t l, int64_t B, int64_t T, bool dropout, uint64_t seed) const {
        const int64_t C = config_.hidden_size;
        attention_shape as{B, T, T, config_.num_heads, config_.head_dim(), 3 * C, 3 * C, false, 0};
        if (!layers_[l].global) as.window = o_.window;
        if (dropout && config_.attention_dropout > 0.0f) {
            as.dropout = config_.attention_dropout;
            as.seed = dropout_site_seed(seed, l, site_attention);
        }
        return as;
    }

    rotary_shape rope_shape(int64_t B, int64_t T) const {
        return {B, T, 2 * config_.num_heads, config_.head_dim(), 3 * config_.hidden_size, config_.max_positions};
    }

    // positions [B, T] (a span's), or nullptr: 0..T-1.
    void rope(float* qkv, int64_t l, int64_t B, int64_t T, bool backward, const int32_t* positions = nullptr) {
        const bool g = layers_[l].global;
        const float* cs = g ? cos_global_.data() : cos_local_.data();
        const float* sn = g ? sin_global_.data() : sin_local_.data();
        if (backward) rotary_backward(qkv, cs, sn, positions, rope_shape(B, T));
        else rotary_forward(qkv, cs, sn, positions, rope_shape(B, T));
    }

    // Tk: the keys each query sees (T, or the whole canvas for a span).
    void acts_layout(int64_t B, int64_t T, bool train, int64_t Tk) {
        const auto& c = config_;
        const int64_t N = B * T, C = c.hidden_size, F = c.intermediate_size, NH = c.num_heads;
        const int64_t slot = 4 * N * C + N * 3 * C + B * NH * T * Tk + 3 * N * F + 4 * N;
        acts_.resize(static_cast<size_t>(c.num_layers));
        activation_slots_layout(acts_buf_, slot, c.num_layers, train, [&](int64_t l, auto take) {
            modernbert_acts& A = acts_[l];
            A.an = take(N * C);
            A.ctx = take(N * C);
            A.res = take(N * C);
            A.mn = take(N * C);
            A.qkv = take(N * 3 * C);
            A.att = take(B * NH * T * Tk);
            A.wi = take(N * 2 * F);
            A.g = take(N * F);
            A.mean1 = take(N);
            A.rstd1 = take(N);
            A.mean2 = take(N);
            A.rstd2 = take(N);
        });
    }

    void forward_impl(const ForwardInput& in, bool train, bool dropout, uint64_t seed, kv_span ks = {}) {
        const auto& c = config_;
        const int64_t B = in.batch, T = in.seq, S = ks.span() ? ks.q1 - ks.q0 : T, N = B * S;
        const int64_t C = c.hidden_size, L = c.num_layers;
        check_ids(in);
        if (T > c.max_positions)
            fail("sequence too long: {} tokens, but the model has {} positions", T, c.max_positions);
        if (in.positions) fail("{} takes no position ids: positions are 0..T-1", c.architecture);
        denormals_flush_enable();
        B_ = B;
        T_ = S;
        const int32_t* ids = in.ids;
        if (ks.span()) {  // the span's ids and positions, from the canvas
            span_ids_.resize(static_cast<size_t>(N));
            span_positions_.resize(static_cast<size_t>(N));
            for (int64_t b = 0; b < B; ++b)
                for (int64_t i = 0; i < S; ++i) {
                    span_ids_[b * S + i] = in.ids[b * T + ks.q0 + i];
                    span_positions_[b * S + i] = static_cast<int32_t>(ks.q0 + i);
                }
            ids = span_ids_.data();
        }
        states_.resize(static_cast<size_t>((L + 1) * N * C));
        final_.resize(static_cast<size_t>(N * C));
        emb_raw_.resize(static_cast<size_t>(N * C));
        proj_.resize(static_cast<size_t>(N * C));
        for (auto* v : {&emb_mean_, &emb_rstd_, &final_mean_, &final_rstd_}) v->resize(static_cast<size_t>(N));
        acts_layout(B, S, train, T);
        if (dropout && c.attention_dropout > 0.0f)
            scratch_.resize(static_cast<size_t>(B * c.num_heads * T * T));
        tok_->lookup(emb_raw_.data(), ids, N, false, train);
        norm_forward(states_.data(), emb_raw_.data(), emb_norm_w_, emb_norm_b_, emb_mean_.data(), emb_rstd_.data(), N);
        if (dropout) dropout_apply(states_.data(), N * C, c.embedding_dropout, dropout_site_seed(seed, 0, site_embeddings));
        for (int64_t l = 0; l < L; ++l) layer_forward(l, in, train, dropout, seed, ks);
        norm_forward(final_.data(), states_.data() + L * N * C, final_norm_w_, final_norm_b_, final_mean_.data(),
                     final_rstd_.data(), N);
    }

    void layer_forward(int64_t l, const ForwardInput& in, bool train, bool dropout, uint64_t seed, kv_span ks) {
        const auto& c = config_;
        const int64_t B = in.batch, T = in.seq, S = ks.span() ? ks.q1 - ks.q0 : T, N = B * S;
        const int64_t C = c.hidden_size, F = c.intermediate_size;
        const modernbert_layer& P = layers_[l];
        const modernbert_acts& A = acts_[l];
        const float* xin = states_.data() + l * N * C;
        float* xout = states_.data() + (l + 1) * N * C;
        const float* a = xin;  // layer 0: attn_norm is the identity
        if (P.attn_norm_w >= 0) {
            norm_forward(A.an, xin, P.attn_norm_w, P.attn_norm_b, A.mean1, A.rstd1, N);
            a = A.an;
        }
        P.wqkv->forward(A.qkv, a, N);
        rope(A.qkv, l, B, S, false, ks.span() ? span_positions_.data() : nullptr);
        if (ks.kv) {
            attend_cached(l, A, B, T, ks);
        } else {
            attention_shape as = attn_shape(l, B, T, dropout, seed);
            attention(A.ctx, A.att, as.dropout > 0 ? scratch_.data() : nullptr, A.qkv, A.qkv + C, A.qkv + 2 * C,
                      in.mask, as, train);
        }
        P.wo->forward(proj_.data(), A.ctx, N);
        if (dropout) dropout_apply(proj_.data(), N * C, c.attention_dropout, dropout_site_seed(seed, l, site_attn_out));
        residual_forward(A.res, xin, proj_.data(), N * C);
        norm_forward(A.mn, A.res, P.mlp_norm_w, P.mlp_norm_b, A.mean2, A.rstd2, N);
        P.wi->forward(A.wi, A.mn, N, false);  // GeGLU adds the bias
        if (uint16_t* g16 = train || dropout ? nullptr : P.mlp_wo->input_bf16(N)) {
            geglu_forward_bf16(g16, A.wi, P.wi->bias(), N, F, c.activation);  // the next product's rounded input
            P.mlp_wo->forward(proj_.data(), nullptr, N);
        } else {
            geglu_forward(A.g, A.wi, P.wi->bias(), N, F, c.activation);
            if (dropout) dropout_apply(A.g, N * F, o_.mlp_dropout, dropout_site_seed(seed, l, site_mlp_out));
            P.mlp_wo->forward(proj_.data(), A.g, N);
        }
        residual_forward(xout, A.res, proj_.data(), N * C);
    }

    // Keys and values (rotated) of the rows just computed into the cache, then the
    // queries against it: the whole canvas when filling it, a span's against all of it.
    void attend_cached(int64_t l, const modernbert_acts& A, int64_t B, int64_t T, kv_span ks) {
        const int64_t C = config_.hidden_size, S = ks.span() ? ks.q1 - ks.q0 : T;
        float* kvl = ks.kv->kv.data() + l * B * T * 2 * C;
        for (int64_t b = 0; b < B; ++b)
            for (int64_t i = 0; i < S; ++i)
                std::memcpy(kvl + (b * T + ks.q0 + i) * 2 * C, A.qkv + (b * S + i) * 3 * C + C,
                            static_cast<size_t>(2 * C) * sizeof(float));
        attention_shape as{B, S, T, config_.num_heads, config_.head_dim(), 3 * C, 2 * C, false, ks.q0};
        if (!layers_[l].global) as.window = o_.window;
        attention(A.ctx, A.att, nullptr, A.qkv, kvl, kvl + C, nullptr, as, false);
    }

    // dx_ holds d(layer l's output) and becomes d(its input).
    void layer_backward(int64_t l, const TrainInput& t) {
        const auto& c = config_;
        const int64_t B = t.in.batch, T = t.in.seq, N = B * T, C = c.hidden_size, F = c.intermediate_size;
        const modernbert_layer& P = layers_[l];
        const modernbert_acts& A = acts_[l];
        const float* xin = states_.data() + l * N * C;
        for (auto* v : {&dtmp_, &dnorm_, &dctx_}) v->resize(static_cast<size_t>(N * C));
        dqkv_.resize(static_cast<size_t>(N * 3 * C));
        dg_.resize(static_cast<size_t>(N * F));
        dwi_.resize(static_cast<size_t>(N * 2 * F));
        datt_.resize(static_cast<size_t>(B * c.num_heads * T * T));
        // out = res + mlp.Wo(dropout(geglu(Wi mlp_norm(res)))); dx_ keeps the residual path.
        zero(dg_);
        P.mlp_wo->backward(dg_.data(), dx_.data(), A.g, N);
        dropout_apply(dg_.data(), N * F, t.dropout ? o_.mlp_dropout : 0.0f, dropout_site_seed(t.seed, l, site_mlp_out));
        geglu_backward(dwi_.data(), dg_.data(), A.wi, P.wi->bias(), N, F, c.activation);
        zero(dnorm_);
        P.wi->backward(dnorm_.data(), dwi_.data(), A.mn, N);
        norm_backward(dx_.data(), dnorm_.data(), A.res, P.mlp_norm_w, P.mlp_norm_b, A.mean2, A.rstd2, N);
        // res = xin + dropout(Wo attention(rope(Wqkv attn_norm(xin)))); dx_ is d(res).
        dtmp_ = dx_;
        dropout_apply(dtmp_.data(), N * C, t.dropout ? c.attention_dropout : 0.0f, dropout_site_seed(t.seed, l, site_attn_out));
        zero(dctx_);
        P.wo->backward(dctx_.data(), dtmp_.data(), A.ctx, N);
        zero(dqkv_);
        attention_shape as = attn_shape(l, B, T, t.dropout, t.seed);
        attention_backward(dqkv_.data(), dqkv_.data() + C, dqkv_.data() + 2 * C, datt_.data(),
                           as.dropout > 0 ? scratch_.data() : nullptr, dctx_.data(), A.qkv, A.qkv + C, A.qkv + 2 * C,
                           A.att, as);
        rope(dqkv_.data(), l, B, T, true);
        if (P.attn_norm_w < 0) {  // the projection read xin itself
            P.wqkv->backward(dx_.data(), dqkv_.data(), xin, N);
            return;
        }
        zero(dnorm_);
        P.wqkv->backward(dnorm_.data(), dqkv_.data(), A.an, N);
        norm_backward(dx_.data(), dnorm_.data(), xin, P.attn_norm_w, P.attn_norm_b, A.mean1, A.rstd1, N);
    }

    modernbert_options o_;
    Embedding* tok_;
    MlmHead head_;
    int64_t emb_norm_w_, emb_norm_b_ = -1, final_norm_w_, final_norm_b_ = -1;
    std::vector<modernbert_layer> layers_;
    std::vector<float> cos_global_, sin_global_, cos_local_, sin_local_;

    int64_t B_ = 0, T_ = 0;
    std::vector<int32_t> span_ids_, span_positions_;
    std::vector<float> states_, final_, emb_raw_, proj_, scratch_, acts_buf_;
    std::vector<float> emb_mean_, emb_rstd_, final_mean_, final_rstd_;
    std::vector<modernbert_acts> acts_;
    // training
    std::vector<int64_t> rows_;
    std::vector<int32_t> targets_;
    std::vector<float> weights_, row_loss_, dfinal_, dx_, dtmp_, dnorm_, dctx_, dqkv_, dg_, dwi_, datt_;
};

// ModernBertConfig's keys (norm_eps, hidden_activation, the *_dropout rates, ...); the
// rest (rope thetas, window, biases) is read by the model from the kept JSON.
void modernbert_config_read(const nlohmann::ordered_json& j, ModelConfig& c, const std::string& where) {
    c.hidden_size = config_require<int64_t>(j, "hidden_size", where);
    c.num_layers = config_require<int64_t>(j, "num_hidden_layers", where);
    c.num_heads = config_require<int64_t>(j, "num_attention_heads", where);
    c.intermediate_size = config_require<int64_t>(j, "intermediate_size", where);
    c.mlp_matrices = 3;  // GeGLU: Wi holds input and gate
    c.max_positions = config_get<int64_t>(j, "max_position_embeddings", 8192, where);
    c.layer_norm_eps = config_get<float>(j, "norm_eps", 1e-5f, where);
    c.activation = activation_parse(config_get<std::string>(j, "hidden_activation", "gelu", where), where);
    c.embedding_dropout = config_get<float>(j, "embedding_dropout", 0.0f, where);
    c.attention_dropout = config_get<float>(j, "attention_dropout", 0.0f, where);
    c.hidden_dropout = config_get<float>(j, "mlp_dropout", 0.0f, where);
    c.pad_token_id = config_get<int32_t>(j, "pad_token_id", 50283, where);
    c.bos_token_id = config_get<int32_t>(j, "bos_token_id", 50281, where);
    c.eos_token_id = config_get<int32_t>(j, "eos_token_id", 50282, where);
    if (c.num_heads > 0 && (c.hidden_size / c.num_heads) % 2 != 0)
        fail("{}: rotary embeddings need an even head size, got {}", where, c.hidden_size / c.num_heads);
    modernbert_options_read(j, where);  // validated here, where the file is named
}

void modernbert_config_write(const ModelConfig& c, nlohmann::ordered_json& j) {
    j["hidden_size"] = c.hidden_size;
    j["num_hidden_layers"] = c.num_layers;
    j["num_attention_heads"] = c.num_heads;
    j["intermediate_size"] = c.intermediate_size;
    j["max_position_embeddings"] = c.max_positions;
    j["hidden_activation"] = activation_name(c.activation);
}

std::unique_ptr<Model> modernbert_create(const ModelConfig& c) { return std::make_unique<ModernBertModel>(c); }

}  // namespace

const Architecture& modernbert_architecture() {
    static const Architecture a{"ModernBertForMaskedLM", "modernbert", modernbert_config_read, modernbert_config_write,
                                modernbert_create};
    return a;
}

}  // namespace dlm
