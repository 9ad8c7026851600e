// Choosing tokens from logits, shared by the diffusion samplers and the
// autoregressive decoder. All functions work on one row of V logits.
//
// HF generate semantics for sampling: logits / temperature, then top-k (keep the k
// largest), then top-p (keep the smallest set of most likely tokens whose probability
// reaches p, always at least one), then sample from the renormalised rest.
#pragma once

#include <cstdint>
#include <vector>

#include "core/rng.h"

namespace dlm {

struct SamplingParams {
    float temperature = 1.0f;  // <= 0: greedy (argmax)
    int64_t top_k = 0;         // 0: off
    float top_p = 1.0f;        // >= 1: off
};

struct TokenChoice {
    int32_t id = 0;
    float prob = 0;        // probability of id under the filtered, renormalised distribution
    float top_prob = 0;    // largest probability at this temperature (before filtering)
};

// Scratch reused across calls so that sampling a row allocates nothing.
struct SamplingScratch {
    std::vector<float> probs;
    std::vector<int32_t> order;
};

// Samples one token from logits[V] (or takes the argmax when temperature <= 0).
TokenChoice token_sample(const float* logits, int64_t v, const SamplingParams& p, Rng& rng, SamplingScratch& s);

// What token_sample(logits, v, p, ...) returns as top_prob, bit for bit, without drawing:
// a sampler that ranks positions by it draws only at the positions it keeps.
float token_top_prob(const float* logits, int64_t v, const SamplingParams& p, SamplingScratch& s);

// Entropy (nats) of softmax(logits / temperature) (temperature <= 0: 1), the
// distribution token_top_prob's probability is taken from.
float token_entropy(const float* logits, int64_t v, float temperature);

// Argmax of logits[V].
int32_t token_argmax(const float* logits, int64_t v);

// Softmax of logits[V] / temperature into probs[V]; returns the max probability.
float softmax_temperature(const float* logits, int64_t v, float temperature, float* probs);

// LLaDA's candidate choice: argmax over logits / temperature + Gumbel noise
// (temperature 0: plain argmax); returns the id and its softmax probability
// (temperature 1) as the confidence.
TokenChoice token_gumbel(const float* logits, int64_t v, float temperature, Rng& rng, SamplingScratch& s);

}  // namespace dlm
