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
// Training: dropout after wte + wpe (embd_pdrop), on the attention probabilities
// (attn_pdrop) and on both sublayer outputs before their residual add (resid_pdrop).
#include <cmath>
#include <cstring>

#include "core/cpu.h"
#include "core/error.h"
#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/gemv.h"
#include "kernels/embedding.h"
#include "kernels/gemm.h"
#include "kernels/layernorm.h"
#include "kernels/residual.h"
#include "kernels/cross_entropy.h"
#include "kernels/dropout.h"
#include "models/architecture.h"
#include "models/activation_slots.h"
#include "models/lm_head.h"
#include "models/model.h"

namespace dlm {

namespace {

struct gpt2_block {
    int64_t ln1_w, ln1_b, ln2_w, ln2_b;
    Linear *attn, *proj, *fc, *fc_proj;  // Conv1D [in, out]
};

// What one block's forward leaves for its backward (shared slot in inference).
struct gpt2_acts {
    float *n1, *mean1, *rstd1, *qkv, *att, *ctx, *res, *n2, *mean2, *rstd2, *fc_pre, *fc_act;
};

const std::string kPrefix = "transformer.";

// Up to this many rows (a decoding step of a batch of samples, or a short prompt) the
// LM head runs on exactly those rows and attention uses the per-query loop over the
// KV cache: a handful of oneDNN shapes at most, and no [32, V] padded logits (which
// would make the head compute-bound).
constexpr int64_t kDecodeRows = 16;

class Gpt2Model final : public Model {
public:
    explicit Gpt2Model(const ModelConfig& c) : Model(c) {
        const int64_t C = c.hidden_size, F = c.intermediate_size, V = c.vocab_size;
        auto& p = params_;
        // Every matrix is streamed once per decoded token: column tiles in inference.
        // HF init: the residual projections (c_proj) start at std / sqrt(2 n_layer).
        const float residual_divisor = std::sqrt(2.0f * static_cast<float>(c.num_layers));
        auto conv1d = [&](const std::string& name, int64_t in, int64_t out, float divisor = 1.0f) {
            const int64_t w = p.declare(name + ".weight", {in, out}, ParamRole::matrix, {divisor, -1});
            return arena_.linear_add(w, p.declare(name + ".bias", {out}, ParamRole::bias), in, out, WeightLayout::in_out,
                                     WeightUse::streamed);
        };
        const int64_t wte = p.declare(kPrefix + "wte.weight", {V, C}, ParamRole::embedding);
        wpe_ = arena_.embedding_add(p.declare(kPrefix + "wpe.weight", {c.max_positions, C}, ParamRole::embedding), c.max_positions, C);
        for (int64_t i = 0; i < c.num_layers; ++i) {
            const std::string h = fmt::format("{}h.{}.", kPrefix, i);
            gpt2_block b;
            layer_params_begin();
            b.ln1_w = p.declare(h + "ln_1.weight", {C}, ParamRole::norm);
            b.ln1_b = p.declare(h + "ln_1.bias", {C}, ParamRole::bias);
            b.attn = conv1d(h + "attn.c_attn", C, 3 * C);
            b.proj = conv1d(h + "attn.c_proj", C, C, residual_divisor);
            b.ln2_w = p.declare(h + "ln_2.weight", {C}, ParamRole::norm);
            b.ln2_b = p.declare(h + "ln_2.bias", {C}, ParamRole::bias);
            b.fc = conv1d(h + "mlp.c_fc", C, F);
            b.fc_proj = conv1d(h + "mlp.c_proj", F, C, residual_divisor);
            blocks_.push_back(b);
        }
        lnf_w_ = p.declare(kPrefix + "ln_f.weight", {C}, ParamRole::norm);
        lnf_b_ = p.declare(kPrefix + "ln_f.bias", {C}, ParamRole::bias);
        const int64_t head = c.tie_word_embeddings ? wte : p.declare("lm_head.weight", {V, C}, ParamRole::matrix);
        head_ = arena_.linear_add(head, -1, C, V, WeightLayout::out_in, WeightUse::streamed);
        // Tied: lookups follow the head's tiles.
        wte_ = arena_.embedding_add(wte, V, C, head == wte ? head_ : nullptr);
        p.allocate();
    }

    void forward(const ForwardInput& in) override { forward_impl(in, false, false, 0); }

    const float* hidden() const override { return final_.data(); }

    const float* hidden_state(int64_t l) const override {
        DLM_ASSERT(l >= 0 && l <= config_.num_layers && !states_.empty());
        if (l == config_.num_layers) return final_.data();  // HF: the last entry is after ln_f
        return states_.data() + l * B_ * T_ * config_.hidden_size;
    }

    void logits(std::span<const int64_t> rows, float* out) override {
        const int64_t n = static_cast<int64_t>(rows.size()), C = config_.hidden_size, V = config_.vocab_size;
        for (int64_t i = 0; i < n; ++i) DLM_ASSERT(rows[i] >= 0 && rows[i] < B_ * T_);
        const int64_t np = rows_padded(n);
        if (static_cast<int64_t>(head_in_.size()) < np * C) head_in_.resize(static_cast<size_t>(np * C));
        rows_gather(head_in_.data(), hidden(), rows.data(), n, C);
        if (n <= kGemvMaxRows) {  // decoding one sample: the head streamed once at full bandwidth
            head_->gemv(out, head_in_.data(), n);
            return;
        }
        if (np == n || n <= kDecodeRows) {
            head_->forward(out, head_in_.data(), n);
            return;
        }
        logits_by_row_groups(out, n, V, logits_buf_, [&](float* dst, int64_t r0, int64_t m) {
            head_->forward(dst, head_in_.data() + r0 * C, m);
        });
    }

    double forward_backward(const TrainInput& t) override {
        const auto& c = config_;
        const int64_t B = t.in.batch, T = t.in.seq, N = B * T, C = c.hidden_size, NH = c.num_heads;
        const int64_t F = c.intermediate_size, L = c.num_layers, V = c.vocab_size;
        TrainScope scope = train_scope();  // matrix products in the training dtype until the end
        targets_gather(t, rows_, targets_, weights_);
        forward_impl(t.in, true, t.dropout, t.seed);
        auto& g = params_;
        g.grads();

        // Head: logits = final[rows] wte^T, chunked; d(final) lands in dfinal_.
        const int64_t chunk = head_chunk_rows(static_cast<int64_t>(rows_.size()));
        dfinal_.assign(static_cast<size_t>(N * C), 0.0f);
        if (static_cast<int64_t>(head_in_.size()) < chunk * C) head_in_.resize(static_cast<size_t>(chunk * C));
        head_din_.resize(static_cast<size_t>(chunk * C));
        if (static_cast<int64_t>(logits_buf_.size()) < chunk * V) logits_buf_.resize(static_cast<size_t>(chunk * V));
        const double loss = head_loss_backward(
            {rows_, targets_, weights_}, final_.data(), dfinal_.data(), C, V, head_in_.data(), logits_buf_.data(),
            row_loss_, [&](int64_t mp) { head_->forward(logits_buf_.data(), head_in_.data(), mp); },
            [&](int64_t mp) {
                std::fill(head_din_.begin(), head_din_.begin() + mp * C, 0.0f);
                head_->backward(head_din_.data(), logits_buf_.data(), head_in_.data(), mp);
                return head_din_.data();
            });
        // final = ln_f(x_L)
        dx_.assign(static_cast<size_t>(N * C), 0.0f);
        layernorm_backward(dx_.data(), g.grad(lnf_w_), g.grad(lnf_b_), dfinal_.data(), states_.data() + L * N * C,
                           params_.get(lnf_w_), lnf_mean_.data(), lnf_rstd_.data(), N, C);

        dtmp_.resize(static_cast<size_t>(N * C));
        dnorm_.resize(static_cast<size_t>(N * C));
        dctx_.resize(static_cast<size_t>(N * C));
        dqkv_.resize(static_cast<size_t>(N * 3 * C));
        dffn_.resize(static_cast<size_t>(N * F));
        datt_.resize(static_cast<size_t>(B * NH * T * T));
        const float p_resid = t.dropout ? c.hidden_dropout : 0.0f;
        for (int64_t l = L - 1; l >= 0; --l) {
            const gpt2_block& P = blocks_[l];
            const gpt2_acts& A = acts_[l];
            const float* xin = states_.data() + l * N * C;
            // x_out = res + dropout(mlp(ln_2(res))); dx_ is d(x_out), and stays as the residual path.
            dtmp_ = dx_;
            dropout_apply(dtmp_.data(), N * C, p_resid, dropout_site_seed(t.seed, l, site_mlp_out));
            zero(dffn_);
            P.fc_proj->backward(dffn_.data(), dtmp_.data(), A.fc_act, N);
            gelu_backward(dffn_.data(), A.fc_pre, dffn_.data(), N * F, c.activation);
            zero(dnorm_);
            P.fc->backward(dnorm_.data(), dffn_.data(), A.n2, N);
            layernorm_backward(dx_.data(), g.grad(P.ln2_w), g.grad(P.ln2_b), dnorm_.data(), A.res,
                               params_.get(P.ln2_w), A.mean2, A.rstd2, N, C);
            // res = xin + dropout(attn(ln_1(xin))); dx_ is now d(res).
            dtmp_ = dx_;
            dropout_apply(dtmp_.data(), N * C, p_resid, dropout_site_seed(t.seed, l, site_attn_out));
            zero(dctx_);
            P.proj->backward(dctx_.data(), dtmp_.data(), A.ctx, N);
            zero(dqkv_);
            attention_shape as = attn_shape(B, T, t.dropout, t.seed, l);
            attention_backward(dqkv_.data(), dqkv_.data() + C, dqkv_.data() + 2 * C, datt_.data(),
                               as.dropout > 0 ? scratch_.data() : nullptr, dctx_.data(), A.qkv, A.qkv + C,
                               A.qkv + 2 * C, A.att, as);
            zero(dnorm_);
            P.attn->backward(dnorm_.data(), dqkv_.data(), A.n1, N);
            layernorm_backward(dx_.data(), g.grad(P.ln1_w), g.grad(P.ln1_b), dnorm_.data(), xin, params_.get(P.ln1_w),
                               A.mean1, A.rstd1, N, C);
            grads_final_after_layer(t, l);
        }
        // x_0 = dropout(wte[ids] + wpe[positions])
        dropout_apply(dx_.data(), N * C, t.dropout ? c.embedding_dropout : 0.0f, dropout_site_seed(t.seed, 0, site_embeddings));
        wte_->backward(dx_.data(), t.in.ids, N);
        wpe_->backward(dx_.data(), positions_.data(), N);
        return loss;
    }

    void kv_cache_init(KvCache& cache, int64_t batch, int64_t capacity) const override {
        const auto& c = config_;
        if (batch < 1 || capacity < 1)
            fail("KV cache: batch ({}) and capacity ({}) must be at least 1", batch, capacity);
        const auto n = static_cast<size_t>(c.num_layers * batch * capacity * c.hidden_size);
        cache.batch = batch;
        cache.capacity = capacity;
        cache.length = 0;
        // Zero pages, faulted in as the tokens arrive (not written here).
        cache.k = HugePageVector<float>(n);
        cache.v = HugePageVector<float>(n);
        cache.mask.assign(static_cast<size_t>(batch * capacity), 0);
    }

    void forward_cached(KvCache& cache, const int32_t* ids, const int32_t* mask, int64_t T) override {
        KvCache* one = &cache;
        cached_forward(std::span<KvCache* const>(&one, 1), ids, mask, T);
    }

    void forward_cached_multi(std::span<KvCache* const> caches, const int32_t* ids, const int32_t* mask) override {
        cached_forward(caches, ids, mask, 1);
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
    // forward_cached over caches stacked along the batch: T tokens for every sample of
    // each (ids, mask [N, T], N their batches summed); positions, key/value slots and
    // attention per cache, the products over all rows at once.
    // forward_cached over caches stacked along the batch: T tokens for every sample of
    // each (ids, mask [N, T], N their batches summed); positions, key/value slots and
    // attention per cache, the products over all rows at once.
    void cached_forward(std::span<KvCache* const> caches, const int32_t* ids, const int32_t* mask, int64_t T) {
        const auto& c = config_;
        const int64_t C = c.hidden_size, NH = c.num_heads, L = c.num_layers;
        if (T < 1) fail("forward_cached: no tokens to append (T = {})", T);
        int64_t B = 0;  // samples over all caches
        for (const KvCache* k : caches) {
            if (k->batch < 1) fail("forward_cached: the KV cache is empty (call kv_cache_init first)");
            if (k->length + T > k->capacity)
                fail("KV cache full: {} slots used + {} new tokens exceed its capacity of {}", k->length, T,
                     k->capacity);
            DLM_ASSERT(static_cast<int64_t>(k->k.size()) == L * k->batch * k->capacity * C &&
                       static_cast<int64_t>(k->mask.size()) == k->batch * k->capacity);
            B += k->batch;
        }
        const int64_t N = B * T;
        check_ids({ids, mask, nullptr, B, T});
        // HF prepare_inputs_for_generation: position_ids = cumsum(attention_mask) - 1,
        // and 1 where the mask is 0; checked before any cache changes.
        positions_.resize(static_cast<size_t>(N));
        for (int64_t r0 = 0; const KvCache* k : caches) {
            for (int64_t b = 0; b < k->batch; ++b) {
                int32_t seen = 0;
                for (int64_t j = 0; j < k->length; ++j) seen += k->mask[b * k->capacity + j] != 0;
                for (int64_t t = 0; t < T; ++t) {
                    const int64_t row = (r0 + b) * T + t;
                    const bool real = !mask || mask[row] != 0;
                    const int32_t pos = real ? seen++ : 1;
                    if (pos >= c.max_positions)
                        fail("sequence too long: sample {} reaches position {}, outside the model's {} positions",
                             r0 + b, pos, c.max_positions);
                    positions_[row] = pos;
                }
            }
            r0 += k->batch;
        }
        for (int64_t r0 = 0; KvCache* k : caches) {
            for (int64_t b = 0; b < k->batch; ++b)
                for (int64_t t = 0; t < T; ++t)
                    k->mask[b * k->capacity + k->length + t] = !mask || mask[(r0 + b) * T + t] != 0;
            r0 += k->batch;
        }

        B_ = B;
        T_ = T;
        acts_layout(B, T, false);
        // A decoding step or short prompt: the per-query attention loop over the
        // visible slots (GEMV kernels for one row); a long prompt: oneDNN, with the
        // cache's capacity as the key length.
        const bool few = T <= kDecodeRows;
        int64_t att = 0;
        for (const KvCache* k : caches) att = std::max(att, k->batch * NH * T * k->capacity);
        cache_att_.resize(static_cast<size_t>(att));
        trunk_forward(ids, N, false, false, 0, N <= kGemvMaxRows, [&](int64_t l, const gpt2_acts& A) {
            for (int64_t r0 = 0; KvCache* k : caches) {
                const int64_t Bk = k->batch, cap = k->capacity, t0 = k->length;
                float* kc = k->k.data() + l * Bk * cap * C;
                float* vc = k->v.data() + l * Bk * cap * C;
                const float* qkv = A.qkv + r0 * T * 3 * C;
                for (int64_t b = 0; b < Bk; ++b)
                    for (int64_t t = 0; t < T; ++t) {
                        const float* row = qkv + (b * T + t) * 3 * C;
                        std::memcpy(kc + (b * cap + t0 + t) * C, row + C, static_cast<size_t>(C) * sizeof(float));
                        std::memcpy(vc + (b * cap + t0 + t) * C, row + 2 * C, static_cast<size_t>(C) * sizeof(float));
                    }
                attention_shape as{Bk, T, cap, NH, c.head_dim(), 3 * C, C, true, t0};
                float* ctx = A.ctx + r0 * T * C;
                if (few) attention_forward_cached(ctx, cache_att_.data(), qkv, kc, vc, k->mask.data(), as);
                else attention(ctx, cache_att_.data(), nullptr, qkv, kc, vc, k->mask.data(), as, false);
                r0 += Bk;
            }
        });
        for (KvCache* k : caches) k->length += T;
    }

    static void zero(std::vector<float>& v) { std::fill(v.begin(), v.end(), 0.0f); }

    attention_shape attn_shape(int64_t B, int64_t T, bool dropout, uint64_t seed, int64_t l) const {
        const int64_t C = config_.hidden_size;
        attention_shape as{B, T, T, config_.num_heads, config_.head_dim(), 3 * C, 3 * C, true, 0};
        if (dropout && config_.attention_dropout > 0.0f) {
            as.dropout = config_.attention_dropout;
            as.seed = dropout_site_seed(seed, l, site_attention);
        }
        return as;
    }

    void acts_layout(int64_t B, int64_t T, bool train) {
        const auto& c = config_;
        const int64_t N = B * T, C = c.hidden_size, F = c.intermediate_size, NH = c.num_heads;
        const int64_t slot = 4 * N * C + N * 3 * C + B * NH * T * T + 2 * N * F + 4 * N;
        acts_.resize(static_cast<size_t>(c.num_layers));
        activation_slots_layout(acts_buf_, slot, c.num_layers, train, [&](int64_t l, auto take) {
            gpt2_acts& A = acts_[l];
            A.n1 = take(N * C);
            A.ctx = take(N * C);
            A.res = take(N * C);
            A.n2 = take(N * C);
            A.qkv = take(N * 3 * C);
            A.att = take(B * NH * T * T);
            A.fc_pre = take(N * F);
            A.fc_act = take(N * F);
            A.mean1 = take(N);
            A.rstd1 = take(N);
            A.mean2 = take(N);
            A.rstd2 = take(N);
        });
    }

    void forward_impl(const ForwardInput& in, bool train, bool dropout, uint64_t seed) {
        const auto& c = config_;
        const int64_t B = in.batch, T = in.seq, N = B * T, NH = c.num_heads;
        check_ids(in);
        denormals_flush_enable();
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
        acts_layout(B, T, train);
        if (dropout && c.attention_dropout > 0.0f) scratch_.resize(static_cast<size_t>(B * NH * T * T));
        trunk_forward(in.ids, N, train, dropout, seed, false, [&](int64_t l, const gpt2_acts& A) {
            attention_shape as = attn_shape(B, T, dropout, seed, l);
            attention(A.ctx, A.att, as.dropout > 0 ? scratch_.data() : nullptr, A.qkv, A.qkv + c.hidden_size,
                      A.qkv + 2 * c.hidden_size, in.mask, as, train);
        });
    }

    // out[n, out] = inp[n, in] x W + b in the compute dtype; `streamed` for decoding
    // steps (the weight streamed once per row).
    static void conv1d_mm(Linear* w, float* out, const float* inp, int64_t n, bool streamed, bool with_bias = true) {
        if (streamed) w->gemv(out, inp, n, with_bias);
        else w->forward(out, inp, n, with_bias);
    }

    // Embeddings of ids at positions_, the blocks and ln_f on N rows (acts_ laid out);
    // attend(l, A) fills A.ctx from A.qkv: the only step that differs between a full
    // sequence and a KV-cache step.
    template <typename Attend>
    void trunk_forward(const int32_t* ids, int64_t N, bool train, bool dropout, uint64_t seed, bool gemv,
                       Attend&& attend) {
        const auto& c = config_;
        const int64_t C = c.hidden_size, F = c.intermediate_size, L = c.num_layers;
        states_.resize(static_cast<size_t>((L + 1) * N * C));
        final_.resize(static_cast<size_t>(N * C));
        lnf_mean_.resize(static_cast<size_t>(N));
        lnf_rstd_.resize(static_cast<size_t>(N));
        proj_.resize(static_cast<size_t>(N * C));
        const float p_resid = dropout ? c.hidden_dropout : 0.0f;

        float* x = states_.data();
        wte_->lookup(x, ids, N, false, train);
        wpe_->lookup(x, positions_.data(), N, true, train);
        if (dropout) dropout_apply(x, N * C, c.embedding_dropout, dropout_site_seed(seed, 0, site_embeddings));

        for (int64_t l = 0; l < L; ++l) {
            const gpt2_block& P = blocks_[l];
            const gpt2_acts& A = acts_[l];
            const float* xin = states_.data() + l * N * C;
            float* xout = states_.data() + (l + 1) * N * C;
            layernorm_forward(A.n1, A.mean1, A.rstd1, xin, params_.get(P.ln1_w), params_.get(P.ln1_b), N, C,
                              c.layer_norm_eps);
            conv1d_mm(P.attn, A.qkv, A.n1, N, gemv);
            attend(l, A);
            conv1d_mm(P.proj, proj_.data(), A.ctx, N, gemv);
            if (dropout) dropout_apply(proj_.data(), N * C, p_resid, dropout_site_seed(seed, l, site_attn_out));
            residual_forward(A.res, xin, proj_.data(), N * C);
            layernorm_forward(A.n2, A.mean2, A.rstd2, A.res, params_.get(P.ln2_w), params_.get(P.ln2_b), N, C,
                              c.layer_norm_eps);
            conv1d_mm(P.fc, A.fc_pre, A.n2, N, gemv, false);
            bias_gelu_forward_keep(A.fc_act, A.fc_pre, P.fc->bias(), N, F, c.activation);
            conv1d_mm(P.fc_proj, proj_.data(), A.fc_act, N, gemv);
            if (dropout) dropout_apply(proj_.data(), N * C, p_resid, dropout_site_seed(seed, l, site_mlp_out));
            residual_forward(xout, A.res, proj_.data(), N * C);
        }
        layernorm_forward(final_.data(), lnf_mean_.data(), lnf_rstd_.data(), states_.data() + L * N * C,
                          params_.get(lnf_w_), params_.get(lnf_b_), N, C, c.layer_norm_eps);
    }

    Embedding *wte_, *wpe_;
    Linear* head_;
    int64_t lnf_w_, lnf_b_;
    std::vector<gpt2_block> blocks_;

    int64_t B_ = 0, T_ = 0;
    std::vector<int32_t> positions_;
    std::vector<float> states_, final_, lnf_mean_, lnf_rstd_, proj_, scratch_, acts_buf_, head_in_, cache_att_;
    std::vector<gpt2_acts> acts_;
    // training
    std::vector<int64_t> rows_;
    std::vector<int32_t> targets_;
    std::vector<float> weights_, row_loss_, logits_buf_, head_din_, dfinal_, dx_, dtmp_, dnorm_, dctx_, dqkv_, dffn_,
        datt_;
};

// GPT2Config's keys.
void gpt2_config_read(const nlohmann::ordered_json& j, ModelConfig& c, const std::string& where) {
    c.causal = true;
    c.hidden_size = config_require<int64_t>(j, "n_embd", where);
    c.num_layers = config_require<int64_t>(j, "n_layer", where);
    c.num_heads = config_require<int64_t>(j, "n_head", where);
    c.intermediate_size = config_get<int64_t>(j, "n_inner", 4 * c.hidden_size, where);
    c.max_positions = config_require<int64_t>(j, "n_positions", where);
    c.layer_norm_eps = config_get<float>(j, "layer_norm_epsilon", 1e-5f, where);
    c.activation = activation_parse(config_get<std::string>(j, "activation_function", "gelu_new", where), where);
    c.hidden_dropout = config_get<float>(j, "resid_pdrop", 0.1f, where);
    c.embedding_dropout = config_get<float>(j, "embd_pdrop", 0.1f, where);
    c.attention_dropout = config_get<float>(j, "attn_pdrop", 0.1f, where);
    c.bos_token_id = config_get<int32_t>(j, "bos_token_id", static_cast<int32_t>(c.vocab_size - 1), where);
    c.eos_token_id = config_get<int32_t>(j, "eos_token_id", static_cast<int32_t>(c.vocab_size - 1), where);
    c.pad_token_id = config_get<int32_t>(j, "pad_token_id", -1, where);
    if (!config_get<bool>(j, "scale_attn_weights", true, where)) fail("{}: scale_attn_weights=false is not supported", where);
    if (config_get<bool>(j, "scale_attn_by_inverse_layer_idx", false, where))
        fail("{}: scale_attn_by_inverse_layer_idx=true is not supported", where);
    if (config_get<bool>(j, "add_cross_attention", false, where))
        fail("{}: add_cross_attention=true is not supported", where);
}

void gpt2_config_write(const ModelConfig& c, nlohmann::ordered_json& j) {
    j["n_embd"] = c.hidden_size;
    j["n_layer"] = c.num_layers;
    j["n_head"] = c.num_heads;
    j["n_inner"] = c.intermediate_size;
    j["n_positions"] = c.max_positions;
    if (!j.contains("layer_norm_epsilon")) j["layer_norm_epsilon"] = static_cast<double>(c.layer_norm_eps);
    j["activation_function"] = activation_name(c.activation);
}

std::unique_ptr<Model> gpt2_create(const ModelConfig& c) { return std::make_unique<Gpt2Model>(c); }

}  // namespace

const Architecture& gpt2_architecture() {
    static const Architecture a{"GPT2LMHeadModel", "gpt2", gpt2_config_read, gpt2_config_write, gpt2_create};
    return a;
}

}  // namespace dlm
