// Kernels for incremental decoding: a handful of rows (one new token per sample) go
// through the model, so every weight matrix is read once per step and memory
// bandwidth, not arithmetic, sets the speed. These stream the weights exactly once,
// need no oneDNN primitive (no per-shape JIT), and compute each output row with the
// same summation order whatever the number of rows or threads, so a sample's logits
// do not depend on the batch it is decoded in.
#pragma once

#include <cstdint>

#include "kernels/attention.h"

namespace dlm {

// Rows up to which the GEMV kernels beat oneDNN's matmul (bench/bench_ar.cpp, 2
// threads): at M = 1 they match it on the trunk's matrices and read the LM head twice
// as fast; from M = 2 oneDNN's blocked kernels win. The kernels accept any M but
// stream the weights once per row.
constexpr int64_t kGemvMaxRows = 1;

// GPT-2 Conv1D layout: out[M, N] = inp[M, K] x weight[K, N] + bias[N] (bias may be nullptr).
void conv1d_forward_gemv(float* out, const float* inp, const float* weight, const float* bias, int64_t m,
                         int64_t k, int64_t n);

// nn.Linear layout: out[M, N] = inp[M, K] x weight[N, K]^T + bias[N] (bias may be nullptr).
void linear_forward_gemv(float* out, const float* inp, const float* weight, const float* bias, int64_t m,
                         int64_t k, int64_t n);

// The same two with bf16 weights (widened to fp32 as they stream; fp32 sums): half the
// bytes per token, which is what bounds decoding.
void conv1d_forward_gemv_bf16(float* out, const float* inp, const uint16_t* weight, const float* bias, int64_t m,
                              int64_t k, int64_t n);
void linear_forward_gemv_bf16(float* out, const float* inp, const uint16_t* weight, const float* bias, int64_t m,
                              int64_t k, int64_t n);

// Causal attention of Tq new queries over a KV cache (HF eager semantics, as
// attention_forward; masked keys get + finfo.min):
//   q    [B, Tq, C] row stride s.ldq
//   k, v [B, s.tk, C] the cache of one layer (s.tk = capacity, row stride s.ldkv)
//   key_mask [B, s.tk] 1 = real token (slots not yet written are hidden causally)
//   query i sits at slot s.q_offset + i and sees slots j <= s.q_offset + i
//   att  [B, NH, Tq, s.tk] scratch (probabilities of the visible slots on return)
//   out  [B, Tq, C] contiguous
// Only the visible slots are touched, so the cost grows with the filled length, not
// the capacity.
void attention_forward_cached(float* out, float* att, const float* q, const float* k, const float* v,
                              const int32_t* key_mask, const attention_shape& s);

}  // namespace dlm
