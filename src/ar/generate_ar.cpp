#include "ar/generate_ar.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "core/error.h"

namespace dlm {

namespace {

// out = the batch-1 cache `one` repeated for `batch` samples (out already sized by
// kv_cache_init with the same capacity); layout [L, B, capacity, C].
void kv_cache_repeat(KvCache& out, const KvCache& one, int64_t layers) {
    DLM_ASSERT(one.batch == 1 && out.capacity == one.capacity);
    const int64_t B = out.batch, cap = one.capacity;
    const int64_t block = static_cast<int64_t>(one.k.size()) / layers;  // cap * C: one sample of one layer
    const auto bytes = static_cast<size_t>(block) * sizeof(float);
    for (int64_t l = 0; l < layers; ++l)
        for (int64_t b = 0; b < B; ++b) {
            std::memcpy(out.k.data() + (l * B + b) * block, one.k.data() + l * block, bytes);
            std::memcpy(out.v.data() + (l * B + b) * block, one.v.data() + l * block, bytes);
        }
    for (int64_t b = 0; b < B; ++b) std::copy(one.mask.begin(), one.mask.end(), out.mask.begin() + b * cap);
    out.length = one.length;
}

// Who gets what: the batch, each sample's prompt length and how many tokens it may
// add (max_new_tokens, and the positions left after its prompt). Throws dlm::Error for
// bad input.
struct ar_plan {
    bool shared = false;               // one prompt for the whole batch
    int64_t batch = 0, prompt_max = 0, steps_max = 0;
    std::vector<int64_t> prompt_len, limit;
};

ar_plan ar_plan_make(const ModelConfig& c, const std::vector<std::vector<int32_t>>& prompts, const ArOptions& opt) {
    ar_plan p;
    if (prompts.empty()) fail("ar_generate: no prompt given");
    p.shared = prompts.size() == 1;
    p.batch = p.shared ? opt.batch : static_cast<int64_t>(prompts.size());
    if (p.batch < 1) fail("ar_generate: batch must be at least 1 (got {})", opt.batch);
    if (!p.shared && opt.batch != 1 && opt.batch != p.batch)
        fail("ar_generate: {} prompts but batch {}: give one prompt per sample, or one prompt for all", p.batch,
             opt.batch);
    if (opt.max_new_tokens < 0) fail("ar_generate: max_new_tokens must be >= 0 (got {})", opt.max_new_tokens);
    for (int64_t b = 0; b < p.batch; ++b) {
        const auto len = static_cast<int64_t>(prompts[p.shared ? 0 : b].size());
        if (len == 0)
            fail("prompt {} is empty: generation needs at least one token to continue (e.g. <|endoftext|>)", b);
        if (len >= c.max_positions)
            fail("prompt {} has {} tokens but the model has {} positions: no room for a new token", b, len,
                 c.max_positions);
        p.prompt_len.push_back(len);
        p.limit.push_back(std::min(opt.max_new_tokens, c.max_positions - len));
        p.prompt_max = std::max(p.prompt_max, len);
        p.steps_max = std::max(p.steps_max, p.limit.back());
    }
    return p;
}

// The prompt through the model into the cache: once for a shared one, else each
// left-padded to P tokens (pad slots masked out); the logits at each prompt's last
// position into logits (row_of[b]: sample b's row there).
void prompt_prefill(CausalDecoder& decoder, KvCache& cache, const ArResult& res, int64_t P, std::vector<int32_t>& ids,
                    std::vector<int32_t>& mask, std::vector<int64_t>& row_of, std::vector<float>& logits) {
    const int64_t Bp = cache.batch, B = static_cast<int64_t>(res.tokens.size());
    ids.assign(static_cast<size_t>(Bp * P), 0);
    mask.assign(static_cast<size_t>(Bp * P), 0);
    for (int64_t b = 0; b < Bp; ++b) {
        const int64_t len = res.prompt_len[b], pad = P - len;
        std::copy(res.tokens[b].begin(), res.tokens[b].end(), ids.begin() + b * P + pad);
        std::fill(mask.begin() + b * P + pad, mask.begin() + (b + 1) * P, 1);
    }
    std::vector<int64_t> rows;  // a shared prompt: one row for all samples
    for (int64_t b = 0; b < Bp; ++b) rows.push_back(b * P + P - 1);
    for (int64_t b = 0; b < B; ++b) row_of[b] = Bp == 1 ? 0 : b;
    logits.resize(rows.size() * static_cast<size_t>(decoder.config().vocab_size));
    decoder.step(cache, ids.data(), mask.data(), P, rows, logits.data());
}

// Tells on_step that sample b appended the last token of seq at step s.
void step_report(const step_callback& on_step, int64_t b, int64_t s, const std::vector<int32_t>& seq,
                 double seconds, int64_t passes) {
    const int64_t pos = static_cast<int64_t>(seq.size()) - 1;
    GenerationStep st;
    st.sample = b;
    st.step = s;
    st.tokens = seq;
    st.committed = std::span<const int64_t>(&pos, 1);
    st.changed = st.committed;
    st.mask_id = -1;
    st.seconds = seconds;
    st.forward_passes = passes;
    on_step(st);
}

}  // namespace

ArResult ar_generate(CausalDecoder& decoder, const std::vector<std::vector<int32_t>>& prompts, const ArOptions& opt,
                     const step_callback& on_step) {
    const auto t_start = std::chrono::steady_clock::now();
    auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count(); };
    const ModelConfig& c = decoder.config();
    const int64_t V = c.vocab_size;
    const ar_plan plan = ar_plan_make(c, prompts, opt);
    const bool shared = plan.shared;
    const int64_t B = plan.batch, P = plan.prompt_max, steps_max = plan.steps_max;
    const std::vector<int64_t>& limit = plan.limit;

    ArResult res;
    res.prompt_len = plan.prompt_len;
    for (int64_t b = 0; b < B; ++b) {
        res.tokens.push_back(prompts[shared ? 0 : b]);
        res.tokens[b].reserve(static_cast<size_t>(res.prompt_len[b] + limit[b]));
    }

    KvCache cache;
    decoder.cache_init(cache, shared ? 1 : B, P + steps_max);  // throws for a model that is not a causal LM
    if (steps_max == 0) return res;
    std::vector<int32_t> ids, mask;
    std::vector<int64_t> rows, row_of(static_cast<size_t>(B));
    std::vector<float> logits;
    prompt_prefill(decoder, cache, res, P, ids, mask, row_of, logits);
    int64_t passes = 1;

    std::vector<Rng> rngs;
    for (int64_t b = 0; b < B; ++b) rngs.push_back(Rng::derive(opt.seed, static_cast<uint64_t>(opt.first_stream + b)));
    std::vector<char> running(static_cast<size_t>(B), 1);
    SamplingScratch scratch;
    for (int64_t s = 0; s < steps_max; ++s) {
        // The logits (of the samples still running) came with the last step.
        for (int64_t b = 0; b < B; ++b) {
            if (!running[b]) continue;
            const TokenChoice tc = token_sample(logits.data() + row_of[b] * V, V, opt.sampling, rngs[b], scratch);
            auto& seq = res.tokens[b];
            seq.push_back(tc.id);
            ++res.stats.new_tokens;
            const int64_t generated = static_cast<int64_t>(seq.size()) - res.prompt_len[b];
            if (tc.id == opt.eos_id || generated == limit[b]) running[b] = 0;
            if (on_step) step_report(on_step, b, s, seq, elapsed(), passes);
        }
        res.stats.steps = s + 1;
        if (std::none_of(running.begin(), running.end(), [](char r) { return r != 0; })) break;

        if (s == 0 && shared && B > 1) {
            KvCache full;
            decoder.cache_init(full, B, cache.capacity);
            kv_cache_repeat(full, cache, c.num_layers);
            cache = std::move(full);
        }
        // Finished samples still occupy their row (the step costs the same: it is bound
        // by reading the weights); they feed a masked token that nothing reads.
        ids.assign(static_cast<size_t>(B), 0);
        mask.assign(static_cast<size_t>(B), 0);
        rows.clear();
        for (int64_t b = 0; b < B; ++b)
            if (running[b]) {
                ids[b] = res.tokens[b].back();
                mask[b] = 1;
                row_of[b] = static_cast<int64_t>(rows.size());
                rows.push_back(b);
            }
        logits.resize(rows.size() * static_cast<size_t>(V));
        decoder.step(cache, ids.data(), mask.data(), 1, rows, logits.data());
        ++passes;
    }
    res.stats.forward_passes = passes;
    res.stats.seconds = elapsed();
    return res;
}

}  // namespace dlm
