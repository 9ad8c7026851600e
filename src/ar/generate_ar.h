// Autoregressive generation for causal LMs (GPT-2) with a KV cache.
//
//   auto m = dlm::model_load("gpt2");
//   dlm::ArOptions opt;                 // 240 new tokens, T 0.8, top-k 50, top-p 0.95
//   opt.eos_id = m->config().eos_token_id;
//   opt.batch = 4;                      // four samples of one prompt
//   dlm::ArResult r = dlm::ar_generate(*m, {prompt_ids}, opt, on_step);
//   r.tokens[i]                         // prompt + generated ids of sample i
//
// The prompt runs through the model in one pass, then one token per step; logits are
// computed only at the last position of the samples still running. Prompts of
// different lengths are left-padded (HF generation's positions, so each sample gets
// what it would get alone). Sample i draws from its own stream Rng::derive(seed, i):
// its output does not depend on the batch size.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "generation/events.h"
#include "generation/sampling.h"
#include "models/model.h"

namespace dlm {

struct ArOptions {
    int64_t max_new_tokens = 240;         // per sample; also bounded by n_positions - prompt length
    SamplingParams sampling{0.8f, 50, 0.95f};  // temperature <= 0: greedy
    uint64_t seed = 0;
    int32_t eos_id = -1;                  // stop token (kept in the output); -1: none
    int64_t batch = 1;                    // samples of one shared prompt
    int64_t first_stream = 0;             // sample i draws from stream first_stream + i
};

struct ArResult {
    std::vector<std::vector<int32_t>> tokens;  // per sample: prompt + generated (eos included if hit)
    std::vector<int64_t> prompt_len;
    GenerationStats stats;
};

// What ar_generate needs of a causal LM: a cache, and a step that appends tokens and
// gives the logits at chosen rows. A server's decoder batches the steps of concurrent
// generations (server/step_batcher.h); ModelDecoder calls the model directly.
class CausalDecoder {
public:
    virtual ~CausalDecoder() = default;
    virtual const ModelConfig& config() const = 0;
    virtual void cache_init(KvCache& cache, int64_t batch, int64_t capacity) = 0;
    // Model::forward_cached(cache, ids, mask, T), then the logits at rows (b * T + t) into
    // out[rows.size(), V].
    virtual void step(KvCache& cache, const int32_t* ids, const int32_t* mask, int64_t T,
                      std::span<const int64_t> rows, float* out) = 0;
};

class ModelDecoder final : public CausalDecoder {
public:
    explicit ModelDecoder(Model& m) : m_(m) {}
    const ModelConfig& config() const override { return m_.config(); }
    void cache_init(KvCache& cache, int64_t batch, int64_t capacity) override { m_.kv_cache_init(cache, batch, capacity); }
    void step(KvCache& cache, const int32_t* ids, const int32_t* mask, int64_t T, std::span<const int64_t> rows,
              float* out) override {
        m_.forward_cached(cache, ids, mask, T);
        m_.logits(rows, out);
    }

private:
    Model& m_;
};

// prompts: one per sample, or one shared by opt.batch samples. Reports one
// GenerationStep per generated token per sample (committed = changed = {its
// position}); a sample that hit eos reports no more. Throws dlm::Error for an empty
// prompt, a prompt that leaves no room in the model's positions, a batch that
// disagrees with the prompts, or a model that is not a causal LM.
ArResult ar_generate(CausalDecoder& decoder, const std::vector<std::vector<int32_t>>& prompts, const ArOptions& opt,
                     const step_callback& on_step = {});
inline ArResult ar_generate(Model& model, const std::vector<std::vector<int32_t>>& prompts, const ArOptions& opt,
                            const step_callback& on_step = {}) {
    ModelDecoder d(model);
    return ar_generate(d, prompts, opt, on_step);
}

}  // namespace dlm
