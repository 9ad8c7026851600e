// Diffusion generation: iterative denoising of <mask> positions in a sequence.
//
//   start: the sequence to complete, <mask> (mask_id) at every position to fill:
//          [<s> prompt ... <mask> x N] to continue a prompt, or masks inside the text
//          to infill. Every other token is fixed context and never changes.
//
// Samplers:
//   remask     the original recipe: `steps` steps with mask rates 1 - (s+1)/steps
//              (0.9, 0.8, ..., 0.0 for 10); each step samples every position to fill
//              (top-k / top-p / temperature), then re-masks a random fraction equal to
//              the step's rate; the last step reveals everything.
//   confidence parallel decoding: each step ranks the masked positions by their top
//              probability (at the temperature) and commits the first k, at least one,
//              and enough to finish the block within `steps` when steps > 0 (at least
//              ceil(masked / steps left)); committed tokens stay. k by `commit`:
//                threshold  those whose top probability reaches `threshold` (Fast-dLLM)
//                factor     the largest n with (n + 1)(1 - c_n) < `factor`, c_n the n-th
//                           largest top probability (Fast-dLLM's factor rule)
//                entropy    the largest n whose entropies (of the first n) sum to at most
//                           `entropy_bound` nats (EB-sampler)
//   lowconf    low-confidence remasking (LLaDA): `steps` steps, each commits the k most
//              confident masked positions (k splits the masks evenly over the steps);
//              candidates by Gumbel-max sampling at the temperature.
//
// Semi-autoregressive blocks: with block > 0 the positions to fill are taken `block`
// at a time, left to right; each block is finished (with the sampler's steps) before
// the next. The model sees a window of at most `window` tokens: the whole sequence if
// it fits, else the `window` tokens ending with the current block, so outputs can be
// longer than the window with the finished text sliding into the context.
//
// Only the logits the sampler reads are computed: remask reads every position of the
// current block, the others only its still-masked positions.
//
// Key/value cache (cache != none; Fast-dLLM's scheme): a block's first pass runs the whole
// window and keeps every layer's keys and values; its later passes run the layers only
// on the block (dual: keys and values of the prefix and of the masked suffix from the
// cache) or on the block and everything after it (prefix: only the prefix's from the
// cache). Exact at a block's first pass, approximate after it: the cached keys and
// values do not see the tokens committed since. none runs the whole window every pass.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "generation/events.h"
#include "generation/sampling.h"
#include "models/model.h"

namespace dlm {

// What a sampler needs of a masked LM: logits at chosen rows of a batch of canvases.
class Denoiser {
public:
    virtual ~Denoiser() = default;
    virtual int64_t vocab_size() const = 0;
    // ids[B, T]; rows are b * T + t; out[rows.size(), V].
    virtual void logits(const int32_t* ids, int64_t batch, int64_t seq, std::span<const int64_t> rows,
                        float* out) = 0;
    // The cache (see the top of this file): logits_kv is logits() that also keeps the
    // keys and values of the whole canvas; logits_span computes only positions [q0, q1)
    // of every sample against them. rows stay b * T + t, inside the span. The default
    // throws dlm::Error (a denoiser without a cache).
    virtual void logits_kv(const int32_t* ids, int64_t batch, int64_t seq, std::span<const int64_t> rows, float* out);
    virtual void logits_span(const int32_t* ids, int64_t batch, int64_t seq, int64_t q0, int64_t q1,
                             std::span<const int64_t> rows, float* out);
};

// The Denoiser of a loaded masked LM (attention mask all ones, as the recipe).
class ModelDenoiser final : public Denoiser {
public:
    explicit ModelDenoiser(Model& m) : m_(m) {}
    int64_t vocab_size() const override { return m_.config().vocab_size; }
    void logits(const int32_t* ids, int64_t batch, int64_t seq, std::span<const int64_t> rows, float* out) override;
    void logits_kv(const int32_t* ids, int64_t batch, int64_t seq, std::span<const int64_t> rows, float* out) override;
    void logits_span(const int32_t* ids, int64_t batch, int64_t seq, int64_t q0, int64_t q1,
                     std::span<const int64_t> rows, float* out) override;

private:
    Model& m_;
    EncoderKv kv_;
    std::vector<int64_t> span_rows_;
};

// Their names (the *_parse / *_name functions) are tables in generate.cpp in the order
// of the values: a new value goes into both.
enum class SamplerKind { remask, confidence, lowconf };
enum class CacheMode { none, prefix, dual };
enum class CommitRule { threshold, factor, entropy };
CommitRule commit_parse(const std::string& name);  // throws dlm::Error for unknown names
const char* commit_name(CommitRule r);
CacheMode cache_parse(const std::string& name);  // throws dlm::Error for unknown names
const char* cache_name(CacheMode c);
SamplerKind sampler_parse(const std::string& name);  // throws dlm::Error for unknown names
const char* sampler_name(SamplerKind k);

struct DiffusionOptions {
    SamplerKind sampler = SamplerKind::remask;
    int64_t steps = 10;         // per block; confidence: an upper bound (0 = as many as needed)
    float threshold = 0.9f;     // confidence
    CommitRule commit = CommitRule::threshold;  // confidence: how many to commit per step
    float factor = 1.0f;        // confidence, commit factor
    float entropy_bound = 0.5f;  // confidence, commit entropy (nats)
    SamplingParams sampling{1.0f, 50, 0.95f};
    int64_t block = 0;          // semi-AR block length (0: all positions at once)
    CacheMode cache = CacheMode::none;  // keys and values kept over a block's passes
    int64_t window = 256;       // tokens the model sees at once
    uint64_t seed = 0;
    int64_t batch = 1;          // samples generated together; sample i uses stream (seed, i)
    int64_t first_stream = 0;   // ... (seed, first_stream + i): batches of one long run
    int32_t mask_id = -1;
};

struct DiffusionResult {
    std::vector<std::vector<int32_t>> tokens;  // per sample: the completed sequence
    GenerationStats stats;
};

// A sampler's defaults (the first of a request's layers, request/diffusion_request.h): the recipe
// (remask) samples 10 steps at temperature 1 with top-k 50 / top-p 0.95; lowconf takes
// 64 steps, confidence as many as it needs; both at temperature 0.8, no top-k / top-p.
DiffusionOptions diffusion_options_default(SamplerKind k);

// Throws dlm::Error for options that cannot work (no mask id, steps < 1 for remask and
// lowconf, nothing to fill, a window the sequence or block does not fit).
DiffusionResult diffusion_generate(Denoiser& model, const std::vector<int32_t>& start, const DiffusionOptions& opt,
                                   const step_callback& on_step = {});

// Different starts (for example different prompts) generated as one batch, sample i
// from starts[i] with stream (seed, i), so it gets what it would get alone with
// batch 1 (opt.batch is ignored). The starts must have the same length and their
// <mask> positions at the same places (prompts of equal token count).
DiffusionResult diffusion_generate(Denoiser& model, const std::vector<std::vector<int32_t>>& starts,
                                   const DiffusionOptions& opt, const step_callback& on_step = {});

// Bookkeeping helpers (exposed for tests).
// LLaDA's split of n masked tokens over `steps` steps: n / steps each, the first
// n % steps steps one more.
std::vector<int64_t> tokens_per_step(int64_t n, int64_t steps);
// The remask sampler's rate after step s of `steps`: 1 - (s + 1) / steps.
double remask_rate(int64_t s, int64_t steps);

}  // namespace dlm
