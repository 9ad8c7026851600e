// Dropout with a counter-based random stream: the keep/drop decision of element i
// is a hash of (seed, i), so it does not depend on the thread count or the order of
// evaluation, and the backward pass recomputes the mask instead of storing it.
// Every call site passes its own seed (derived from the step, the layer and the site).
#pragma once

#include <cstdint>

namespace dlm {

// A 64-bit mix (splitmix64 finaliser); used to derive per-site seeds too.
inline uint64_t hash_mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

inline bool dropout_keep(uint64_t seed, int64_t i, uint32_t threshold) {
    return static_cast<uint32_t>(hash_mix(seed ^ (static_cast<uint64_t>(i) * 0xd6e8feb86659fd93ull)) >> 32) >= threshold;
}

// The seed of one dropout site of a model's micro-batch: the batch's seed mixed with the
// layer and the site (embeddings, attention probabilities, a sublayer's output, ...),
// so that the backward pass finds the forward's masks again.
enum dropout_site : uint64_t { site_embeddings = 1, site_attention = 2, site_attn_out = 3, site_mlp_out = 4 };
inline uint64_t dropout_site_seed(uint64_t seed, int64_t layer, dropout_site s) {
    return hash_mix(seed ^ hash_mix(static_cast<uint64_t>(layer) * 16 + s));
}

// x[n] = keep ? x / (1 - p) : 0, in place (inverted dropout, as torch.nn.Dropout).
// Also used backward: the gradient goes through the same mask and scale.
void dropout_apply(float* x, int64_t n, float p, uint64_t seed);

// out[n] = dropout(inp) without touching inp.
void dropout_copy(float* out, const float* inp, int64_t n, float p, uint64_t seed);

}  // namespace dlm
