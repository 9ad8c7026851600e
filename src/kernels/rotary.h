// Rotary position embeddings (RoPE) in HuggingFace's "rotate_half" convention (ModernBERT,
// Llama, GPT-NeoX): in each head of HD values, the pair (i, i + HD/2), i < HD/2, turns by
// the angle position * inv_freq[i], inv_freq[i] = 1 / theta^(2i / HD):
//   x'[i]        = x[i] cos - x[i + HD/2] sin
//   x'[i + HD/2] = x[i + HD/2] cos + x[i] sin
// (HF: x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x[HD/2:], x[:HD/2])).
//
// The angles come from a cos/sin table built once per (theta, HD), so that the forward
// pass is a lookup. A packed qkv row [q | k | v] (kernels/attention.h) holds q's NH heads
// then k's NH heads: rotating its first 2 NH heads turns q and k and leaves v alone.
#pragma once

#include <cstdint>

namespace dlm {

struct rotary_shape {
    int64_t batch, seq;       // x has B * T rows
    int64_t heads, head_dim;  // heads rotated per row, from column 0 (2 NH for q and k of packed qkv)
    int64_t ld;               // row stride of x (3C for packed qkv)
    int64_t table_rows;       // rows P of the cos/sin table; every position must be < P
};

// cos, sin [P, HD]: row p holds cos/sin(cat(f, f)), f[i] = float(p) * inv_freq[i], all in
// fp32 in HF's order (exponent float(2i) / HD, then theta^exponent, then its reciprocal).
void rotary_table_build(float* cos, float* sin, int64_t positions, int64_t head_dim, float theta);

// Rotates x [B, T, ld] in place: the first heads * HD columns of each row, by the angle of
// positions[b, t] ([B, T]; nullptr: t).
void rotary_forward(float* x, const float* cos, const float* sin, const int32_t* positions, const rotary_shape& s);

// Backward: the transpose rotation (the angle negated) of the gradient dx [B, T, ld], in
// place on the same columns (dq and dk of a packed dqkv; dv is untouched).
void rotary_backward(float* dx, const float* cos, const float* sin, const int32_t* positions,
                     const rotary_shape& s);

}  // namespace dlm
