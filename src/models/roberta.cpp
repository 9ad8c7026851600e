// RoBERTa and BERT masked language models (HF RobertaForMaskedLM, BertForMaskedLM).
//
// Tensors (C hidden, F intermediate, V vocab, P positions, TT token types), with
// P = "roberta" or "bert" and H = "lm_head" or "cls.predictions" (BERT puts dense and
// LayerNorm under "cls.predictions.transform"):
//   P.embeddings.word_embeddings.weight        [V, C]
//   P.embeddings.position_embeddings.weight    [P, C]
//   P.embeddings.token_type_embeddings.weight  [TT, C]
//   P.embeddings.LayerNorm.{weight,bias}       [C]
//   P.encoder.layer.{i}.attention.self.{query,key,value}.weight [C, C]  (nn.Linear: [out, in])
//   P.encoder.layer.{i}.attention.self.{query,key,value}.bias   [C]
//   P.encoder.layer.{i}.attention.output.dense.{weight [C, C], bias [C]}
//   P.encoder.layer.{i}.attention.output.LayerNorm.{weight,bias} [C]
//   P.encoder.layer.{i}.intermediate.dense.{weight [F, C], bias [F]}
//   P.encoder.layer.{i}.output.dense.{weight [C, F], bias [C]}
//   P.encoder.layer.{i}.output.LayerNorm.{weight,bias} [C]
//   H.dense.{weight [C, C], bias}, H.layer_norm.{weight,bias} (BERT: transform.LayerNorm)
//   H.decoder.weight [V, C]  tied to the word embeddings (absent from most files)
//   H.bias [V]
//
// Post-LN encoder layer: x = LN(x + attn(x)); x = LN(x + W2 gelu(W1 x)).
// Position ids: RoBERTa counts non-padding tokens from pad_token_id + 1 (padding gets
// pad_token_id); BERT uses 0..T-1. Token type ids are all 0.
#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/embedding.h"
#include "kernels/gemm.h"
#include "kernels/layernorm.h"
#include "models/model.h"

namespace dlm {

namespace {

struct encoder_layer {
    int64_t qkv_w, qkv_b;  // query, key, value declared back to back: one [3C, C] matrix
    int64_t attn_out_w, attn_out_b, attn_ln_w, attn_ln_b;
    int64_t ffn_in_w, ffn_in_b, ffn_out_w, ffn_out_b, ffn_ln_w, ffn_ln_b;
};

class RobertaModel final : public Model {
public:
    explicit RobertaModel(const ModelConfig& c) : Model(c) {
        roberta_ = c.model_type == "roberta";
        base_ = roberta_ ? "roberta." : "bert.";
        head_ = roberta_ ? "lm_head." : "cls.predictions.";
        const int64_t C = c.hidden_size, F = c.intermediate_size, V = c.vocab_size;
        auto& p = params_;
        const std::string e = base_ + "embeddings.";
        word_ = p.declare(e + "word_embeddings.weight", {V, C});
        pos_ = p.declare(e + "position_embeddings.weight", {c.max_positions, C});
        type_ = p.declare(e + "token_type_embeddings.weight", {c.type_vocab_size, C});
        emb_ln_w_ = p.declare(e + "LayerNorm.weight", {C});
        emb_ln_b_ = p.declare(e + "LayerNorm.bias", {C});
        for (int64_t i = 0; i < c.num_layers; ++i) {
            const std::string l = fmt::format("{}encoder.layer.{}.", base_, i);
            encoder_layer L;
            L.qkv_w = p.declare(l + "attention.self.query.weight", {C, C});
            p.declare(l + "attention.self.key.weight", {C, C});
            p.declare(l + "attention.self.value.weight", {C, C});
            L.qkv_b = p.declare(l + "attention.self.query.bias", {C});
            p.declare(l + "attention.self.key.bias", {C});
            p.declare(l + "attention.self.value.bias", {C});
            L.attn_out_w = p.declare(l + "attention.output.dense.weight", {C, C});
            L.attn_out_b = p.declare(l + "attention.output.dense.bias", {C});
            L.attn_ln_w = p.declare(l + "attention.output.LayerNorm.weight", {C});
            L.attn_ln_b = p.declare(l + "attention.output.LayerNorm.bias", {C});
            L.ffn_in_w = p.declare(l + "intermediate.dense.weight", {F, C});
            L.ffn_in_b = p.declare(l + "intermediate.dense.bias", {F});
            L.ffn_out_w = p.declare(l + "output.dense.weight", {C, F});
            L.ffn_out_b = p.declare(l + "output.dense.bias", {C});
            L.ffn_ln_w = p.declare(l + "output.LayerNorm.weight", {C});
            L.ffn_ln_b = p.declare(l + "output.LayerNorm.bias", {C});
            layers_.push_back(L);
        }
        const std::string t = roberta_ ? head_ : head_ + "transform.";
        head_dense_w_ = p.declare(t + "dense.weight", {C, C});
        head_dense_b_ = p.declare(t + "dense.bias", {C});
        head_ln_w_ = p.declare(t + (roberta_ ? "layer_norm.weight" : "LayerNorm.weight"), {C});
        head_ln_b_ = p.declare(t + (roberta_ ? "layer_norm.bias" : "LayerNorm.bias"), {C});
        decoder_ = c.tie_word_embeddings ? word_ : p.declare(head_ + "decoder.weight", {V, C});
        head_bias_ = p.declare(head_ + "bias", {V});
        p.allocate();
    }

    void forward(const ForwardInput& in) override {
        const auto& c = config_;
        const int64_t B = in.batch, T = in.seq, N = B * T, C = c.hidden_size, NH = c.num_heads;
        const int64_t F = c.intermediate_size, L = c.num_layers;
        check_ids(in);
        B_ = B;
        T_ = T;
        // Position ids (create_position_ids_from_input_ids in HF for RoBERTa).
        positions_.resize(static_cast<size_t>(N));
        for (int64_t b = 0; b < B; ++b) {
            int32_t count = 0;
            for (int64_t t = 0; t < T; ++t) {
                int32_t& out = positions_[b * T + t];
                if (in.positions) {
                    out = in.positions[b * T + t];
                } else if (roberta_) {
                    bool real = in.ids[b * T + t] != c.pad_token_id;
                    count += real;
                    out = real ? c.pad_token_id + count : c.pad_token_id;
                } else {
                    out = static_cast<int32_t>(t);
                }
                if (out < 0 || out >= c.max_positions)
                    fail("sequence too long: position id {} at (batch {}, position {}) is outside the model's {} positions (at most {} tokens)",
                         out, b, t, c.max_positions, c.max_positions - (roberta_ ? c.pad_token_id + 1 : 0));
            }
        }
        states_.resize(static_cast<size_t>((L + 1) * N * C));
        qkv_.resize(static_cast<size_t>(N * 3 * C));
        att_.resize(static_cast<size_t>(B * NH * T * T));
        ctx_.resize(static_cast<size_t>(N * C));
        proj_.resize(static_cast<size_t>(N * C));
        ffn_.resize(static_cast<size_t>(N * F));

        float* x = states_.data();
        embedding_forward(x, in.ids, params_.get(word_), N, C, false);
        embedding_forward(x, positions_.data(), params_.get(pos_), N, C, true);
        const float* type0 = params_.get(type_);
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < N; ++i)
            for (int64_t j = 0; j < C; ++j) x[i * C + j] += type0[j];
        layernorm_forward(x, nullptr, nullptr, x, params_.get(emb_ln_w_), params_.get(emb_ln_b_), N, C,
                          c.layer_norm_eps);

        attention_shape as{B, T, T, NH, c.head_dim(), 3 * C, 3 * C, false, 0};
        for (int64_t l = 0; l < L; ++l) {
            const encoder_layer& P = layers_[l];
            const float* xin = states_.data() + l * N * C;
            float* xout = states_.data() + (l + 1) * N * C;
            linear_forward(qkv_.data(), xin, params_.get(P.qkv_w), params_.get(P.qkv_b), N, C, 3 * C);
            attention_forward(ctx_.data(), att_.data(), nullptr, qkv_.data(), qkv_.data() + C, qkv_.data() + 2 * C,
                              in.mask, as);
            linear_forward(proj_.data(), ctx_.data(), params_.get(P.attn_out_w), params_.get(P.attn_out_b), N,
                           C, C);
            // xout holds the attention block's output until the FFN overwrites it.
            residual_layernorm_forward(xout, proj_.data(), nullptr, nullptr, proj_.data(), xin,
                                       params_.get(P.attn_ln_w), params_.get(P.attn_ln_b), N, C,
                                       c.layer_norm_eps);
            linear_forward(ffn_.data(), xout, params_.get(P.ffn_in_w), nullptr, N, C, F);
            bias_gelu_forward(ffn_.data(), params_.get(P.ffn_in_b), N, F, c.activation);
            linear_forward(proj_.data(), ffn_.data(), params_.get(P.ffn_out_w), params_.get(P.ffn_out_b), N,
                           F, C);
            residual_layernorm_forward(xout, proj_.data(), nullptr, nullptr, proj_.data(), xout,
                                       params_.get(P.ffn_ln_w), params_.get(P.ffn_ln_b), N, C,
                                       c.layer_norm_eps);
        }
    }

    const float* hidden() const override { return hidden_state(config_.num_layers); }

    const float* hidden_state(int64_t l) const override {
        DLM_ASSERT(l >= 0 && l <= config_.num_layers && !states_.empty());
        return states_.data() + l * B_ * T_ * config_.hidden_size;
    }

    void logits(std::span<const int64_t> rows, float* out) override {
        const auto& c = config_;
        const int64_t n = static_cast<int64_t>(rows.size()), C = c.hidden_size, V = c.vocab_size;
        head_in_.resize(static_cast<size_t>(n * C));
        head_h_.resize(static_cast<size_t>(n * C));
        const float* h = hidden();
        for (int64_t i = 0; i < n; ++i) {
            DLM_ASSERT(rows[i] >= 0 && rows[i] < B_ * T_);
            std::memcpy(head_in_.data() + i * C, h + rows[i] * C, static_cast<size_t>(C) * sizeof(float));
        }
        linear_forward(head_h_.data(), head_in_.data(), params_.get(head_dense_w_), nullptr, n, C, C);
        // HF's RobertaLMHead calls the erf gelu whatever hidden_act says; BERT's head uses hidden_act.
        bias_gelu_forward(head_h_.data(), params_.get(head_dense_b_), n, C,
                          roberta_ ? Activation::gelu_erf : c.activation);
        layernorm_forward(head_h_.data(), nullptr, nullptr, head_h_.data(), params_.get(head_ln_w_),
                          params_.get(head_ln_b_), n, C, c.layer_norm_eps);
        linear_forward(out, head_h_.data(), params_.get(decoder_), params_.get(head_bias_), n, C, V);
    }

protected:
    std::vector<std::string> name_aliases(const std::string& name) const override {
        auto out = Model::name_aliases(name);
        // Checkpoints saved from the bare encoder (RobertaModel) lack the prefix.
        if (name.rfind(base_, 0) == 0) {
            std::string bare = name.substr(base_.size());
            out.push_back(bare);
            for (auto& a : Model::name_aliases(bare)) out.push_back(a);
        }
        // The output bias is shared with the decoder in HF; some files store only that copy.
        if (name == head_ + "bias") out.push_back(head_ + "decoder.bias");
        return out;
    }

    bool name_ignored(const std::string& name) const override {
        auto ends_with = [&](const char* s) {
            std::string_view n(name), v(s);
            return n.size() >= v.size() && n.substr(n.size() - v.size()) == v;
        };
        return ends_with("position_ids") || name.find("pooler.") != std::string::npos ||
               name.rfind("cls.seq_relationship", 0) == 0 ||
               (config_.tie_word_embeddings && name == head_ + "decoder.weight") ||
               name == head_ + "decoder.bias";  // the same tensor as head bias in HF
    }

private:
    bool roberta_ = true;
    std::string base_, head_;
    int64_t word_, pos_, type_, emb_ln_w_, emb_ln_b_;
    int64_t head_dense_w_, head_dense_b_, head_ln_w_, head_ln_b_, decoder_, head_bias_;
    std::vector<encoder_layer> layers_;

    int64_t B_ = 0, T_ = 0;
    std::vector<int32_t> positions_;
    std::vector<float> states_, qkv_, att_, ctx_, proj_, ffn_, head_in_, head_h_;
};

}  // namespace

std::unique_ptr<Model> roberta_create(const ModelConfig& c) { return std::make_unique<RobertaModel>(c); }

}  // namespace dlm
