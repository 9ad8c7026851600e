// GPT-2 causal language model (HF GPT2LMHeadModel).
//
// Tensors (C hidden, F = n_inner or 4C, V vocab, P n_positions); Conv1D weights are
// stored [in, out] (y = x W + b), unlike nn.Linear:
//   transformer.wte.weight [V, C]        transformer.wpe.weight [P, C]
//   transformer.h.{i}.ln_1.{weight,bias} [C]
//   transformer.h.{i}.attn.c_attn.{weight [C, 3C], bias [3C]}   (q, k, v side by side)
//   transformer.h.{i}.attn.c_proj.{weight [C, C], bias [C]}
//   transformer.h.{i}.ln_2.{weight,bias} [C]
//   transformer.h.{i}.mlp.c_fc.{weight [C, F], bias [F]}
//   transformer.h.{i}.mlp.c_proj.{weight [F, C], bias [C]}
//   transformer.ln_f.{weight,bias} [C]
//   lm_head.weight [V, C]  tied to wte (absent from the file)
// The hub's gpt2 files store the trunk without the "transformer." prefix and carry the
// causal-mask buffers attn.bias / attn.masked_bias; both are accepted.
//
// Pre-LN block: x = x + attn(ln_1(x)); x = x + mlp(ln_2(x)); logits = ln_f(x) wte^T.
#include <cstring>

#include "core/error.h"
#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/embedding.h"
#include "kernels/gemm.h"
#include "kernels/layernorm.h"
#include "kernels/residual.h"
#include "models/model.h"

namespace dlm {

namespace {

struct gpt2_block {
    int64_t ln1_w, ln1_b, attn_w, attn_b, proj_w, proj_b, ln2_w, ln2_b, fc_w, fc_b, fc_proj_w, fc_proj_b;
};

const std::string kPrefix = "transformer.";

class Gpt2Model final : public Model {
public:
    explicit Gpt2Model(const ModelConfig& c) : Model(c) {
        const int64_t C = c.hidden_size, F = c.intermediate_size, V = c.vocab_size;
        auto& p = params_;
        wte_ = p.declare(kPrefix + "wte.weight", {V, C});
        wpe_ = p.declare(kPrefix + "wpe.weight", {c.max_positions, C});
        for (int64_t i = 0; i < c.num_layers; ++i) {
            const std::string h = fmt::format("{}h.{}.", kPrefix, i);
            gpt2_block b;
            b.ln1_w = p.declare(h + "ln_1.weight", {C});
            b.ln1_b = p.declare(h + "ln_1.bias", {C});
            b.attn_w = p.declare(h + "attn.c_attn.weight", {C, 3 * C});
            b.attn_b = p.declare(h + "attn.c_attn.bias", {3 * C});
            b.proj_w = p.declare(h + "attn.c_proj.weight", {C, C});
            b.proj_b = p.declare(h + "attn.c_proj.bias", {C});
            b.ln2_w = p.declare(h + "ln_2.weight", {C});
            b.ln2_b = p.declare(h + "ln_2.bias", {C});
            b.fc_w = p.declare(h + "mlp.c_fc.weight", {C, F});
            b.fc_b = p.declare(h + "mlp.c_fc.bias", {F});
            b.fc_proj_w = p.declare(h + "mlp.c_proj.weight", {F, C});
            b.fc_proj_b = p.declare(h + "mlp.c_proj.bias", {C});
            blocks_.push_back(b);
        }
        lnf_w_ = p.declare(kPrefix + "ln_f.weight", {C});
        lnf_b_ = p.declare(kPrefix + "ln_f.bias", {C});
        head_ = c.tie_word_embeddings ? wte_ : p.declare("lm_head.weight", {V, C});
        p.allocate();
    }

    void forward(const ForwardInput& in) override {
        const auto& c = config_;
        const int64_t B = in.batch, T = in.seq, N = B * T, C = c.hidden_size, NH = c.num_heads;
        const int64_t F = c.intermediate_size, L = c.num_layers;
        check_ids(in);
        B_ = B;
        T_ = T;
        positions_.resize(static_cast<size_t>(N));
        for (int64_t i = 0; i < N; ++i) {
            int32_t pos = in.positions ? in.positions[i] : static_cast<int32_t>(i % T);
            if (pos < 0 || pos >= c.max_positions)
                fail("sequence too long: position {} (batch {}, position {}) is outside the model's {} positions",
                     pos, i / T, i % T, c.max_positions);
            positions_[i] = pos;
        }
        states_.resize(static_cast<size_t>((L + 1) * N * C));
        norm_.resize(static_cast<size_t>(N * C));
        qkv_.resize(static_cast<size_t>(N * 3 * C));
        att_.resize(static_cast<size_t>(B * NH * T * T));
        ctx_.resize(static_cast<size_t>(N * C));
        proj_.resize(static_cast<size_t>(N * C));
        ffn_.resize(static_cast<size_t>(N * F));

        float* x = states_.data();
        embedding_forward(x, in.ids, params_.get(wte_), N, C, false);
        embedding_forward(x, positions_.data(), params_.get(wpe_), N, C, true);

        attention_shape as{B, T, T, NH, c.head_dim(), 3 * C, 3 * C, true, 0};
        for (int64_t l = 0; l < L; ++l) {
            const gpt2_block& P = blocks_[l];
            const float* xin = states_.data() + l * N * C;
            float* xout = states_.data() + (l + 1) * N * C;
            layernorm_forward(norm_.data(), nullptr, nullptr, xin, params_.get(P.ln1_w), params_.get(P.ln1_b),
                              N, C, c.layer_norm_eps);
            conv1d_forward(qkv_.data(), norm_.data(), params_.get(P.attn_w), params_.get(P.attn_b), N, C, 3 * C);
            attention_forward(ctx_.data(), att_.data(), nullptr, qkv_.data(), qkv_.data() + C, qkv_.data() + 2 * C,
                              in.mask, as);
            conv1d_forward(proj_.data(), ctx_.data(), params_.get(P.proj_w), params_.get(P.proj_b), N, C, C);
            residual_forward(xout, xin, proj_.data(), N * C);
            layernorm_forward(norm_.data(), nullptr, nullptr, xout, params_.get(P.ln2_w), params_.get(P.ln2_b),
                              N, C, c.layer_norm_eps);
            conv1d_forward(ffn_.data(), norm_.data(), params_.get(P.fc_w), nullptr, N, C, F);
            bias_gelu_forward(ffn_.data(), params_.get(P.fc_b), N, F, c.activation);
            conv1d_forward(proj_.data(), ffn_.data(), params_.get(P.fc_proj_w), params_.get(P.fc_proj_b), N, F, C);
            residual_forward(xout, xout, proj_.data(), N * C);
        }
        float* last = states_.data() + L * N * C;
        layernorm_forward(last, nullptr, nullptr, last, params_.get(lnf_w_), params_.get(lnf_b_), N, C,
                          c.layer_norm_eps);
    }

    const float* hidden() const override { return hidden_state(config_.num_layers); }

    const float* hidden_state(int64_t l) const override {
        DLM_ASSERT(l >= 0 && l <= config_.num_layers && !states_.empty());
        return states_.data() + l * B_ * T_ * config_.hidden_size;
    }

    void logits(std::span<const int64_t> rows, float* out) override {
        const int64_t n = static_cast<int64_t>(rows.size()), C = config_.hidden_size, V = config_.vocab_size;
        head_in_.resize(static_cast<size_t>(n * C));
        const float* h = hidden();
        for (int64_t i = 0; i < n; ++i) {
            DLM_ASSERT(rows[i] >= 0 && rows[i] < B_ * T_);
            std::memcpy(head_in_.data() + i * C, h + rows[i] * C, static_cast<size_t>(C) * sizeof(float));
        }
        linear_forward(out, head_in_.data(), params_.get(head_), nullptr, n, C, V);
    }

protected:
    std::vector<std::string> name_aliases(const std::string& name) const override {
        auto out = Model::name_aliases(name);
        if (name.rfind(kPrefix, 0) == 0) out.push_back(name.substr(kPrefix.size()));
        return out;
    }

    bool name_ignored(const std::string& name) const override {
        auto ends_with = [&](std::string_view v) {
            return name.size() >= v.size() && std::string_view(name).substr(name.size() - v.size()) == v;
        };
        return ends_with(".attn.bias") || ends_with(".attn.masked_bias") ||
               (config_.tie_word_embeddings && name == "lm_head.weight");
    }

private:
    int64_t wte_, wpe_, lnf_w_, lnf_b_, head_;
    std::vector<gpt2_block> blocks_;

    int64_t B_ = 0, T_ = 0;
    std::vector<int32_t> positions_;
    std::vector<float> states_, norm_, qkv_, att_, ctx_, proj_, ffn_, head_in_;
};

}  // namespace

std::unique_ptr<Model> gpt2_create(const ModelConfig& c) { return std::make_unique<Gpt2Model>(c); }

}  // namespace dlm
