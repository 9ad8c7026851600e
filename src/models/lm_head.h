// The output side shared by the architectures: logits at chosen rows and the fused
// cross-entropy + backward, in row chunks so that [rows, V] logits never need to
// exist all at once (3840 masked rows x 50265 would be 770 MB).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace dlm {

// How many rows of logits are materialised at once during training.
constexpr int64_t kHeadChunkRows = 512;

// GEMM row counts are rounded up to a multiple of this: each distinct row count
// costs a oneDNN primitive (JIT-compiled, ~0.1 s), and the number of rows to score
// changes at every step (masked positions, sampler commits). Pad rows are copies of a
// real row with zero loss weight, so they change nothing.
constexpr int64_t kHeadRowQuantum = 32;
inline int64_t rows_padded(int64_t n) { return (n + kHeadRowQuantum - 1) / kHeadRowQuantum * kHeadRowQuantum; }

// Runs `chunk(r0, r1)` over [0, n) in chunks of kHeadChunkRows.
inline void rows_chunked(int64_t n, const std::function<void(int64_t r0, int64_t r1)>& chunk) {
    for (int64_t r0 = 0; r0 < n; r0 += kHeadChunkRows) chunk(r0, std::min(n, r0 + kHeadChunkRows));
}

// out[rows_padded(n), C] = src[rows[i], :], pad rows repeating rows[0].
void rows_gather(float* out, const float* src, const int64_t* rows, int64_t n, int64_t c);
// dst[rows[i], :] += src[i, :] (rows distinct).
void rows_scatter_add(float* dst, const float* src, const int64_t* rows, int64_t n, int64_t c);

}  // namespace dlm
