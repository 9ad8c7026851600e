// The output side shared by the architectures: logits at chosen rows and the fused
// cross-entropy + backward, in row chunks so that [rows, V] logits never need to
// exist all at once (3840 masked rows x 50265 would be 770 MB).
#pragma once

#include <algorithm>
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

// Logits of n rows into out[n, v] through `product(dst, r0, m)` (the rows [r0, r0 + m)
// of the head's padded input into dst[m, v]), every call on a multiple of
// kHeadRowQuantum rows: the whole groups straight into out, the last partial group
// padded into `buf`, of which only the real rows are copied (not all n rows, as one
// padded product into a side buffer would need).
void logits_by_row_groups(float* out, int64_t n, int64_t v, std::vector<float>& buf,
                          const std::function<void(float* dst, int64_t r0, int64_t m)>& product);

// Runs `chunk(r0, r1)` over [0, n) in chunks of kHeadChunkRows.
inline void rows_chunked(int64_t n, const std::function<void(int64_t r0, int64_t r1)>& chunk) {
    for (int64_t r0 = 0; r0 < n; r0 += kHeadChunkRows) chunk(r0, std::min(n, r0 + kHeadChunkRows));
}

// The training head's loss, shared by the architectures: the rows with a target (rows,
// targets, weights as Model::targets_gather gives them) of hidden [N, C] go through the
// head in chunks of kHeadChunkRows. For each chunk of m rows (mp = rows_padded(m)):
// in[mp, C] gets the rows, forward(mp) writes logits[mp, V] from in, the fused
// cross-entropy turns them into their gradient (pad rows: zero), backward(mp) returns
// d(in)[mp, C] (parameter gradients added by the model), and that is scattered into
// dhidden [N, C]. in and logits hold head_chunk_rows(n) rows; row_loss [n]. Returns the
// summed weighted loss.
struct HeadLossRows {
    const std::vector<int64_t>& rows;
    const std::vector<int32_t>& targets;
    const std::vector<float>& weights;
};
inline int64_t head_chunk_rows(int64_t n) { return rows_padded(std::min(n, kHeadChunkRows)); }
double head_loss_backward(const HeadLossRows& t, const float* hidden, float* dhidden, int64_t c, int64_t v, float* in,
                          float* logits, std::vector<float>& row_loss, const std::function<void(int64_t mp)>& forward,
                          const std::function<const float*(int64_t mp)>& backward);

// out[rows_padded(n), C] = src[rows[i], :], pad rows repeating rows[0].
void rows_gather(float* out, const float* src, const int64_t* rows, int64_t n, int64_t c);
// dst[rows[i], :] += src[i, :] (rows distinct).
void rows_scatter_add(float* dst, const float* src, const int64_t* rows, int64_t n, int64_t c);

}  // namespace dlm
