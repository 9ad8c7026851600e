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

// Runs `chunk(r0, r1)` over [0, n) in chunks of kHeadChunkRows.
inline void rows_chunked(int64_t n, const std::function<void(int64_t r0, int64_t r1)>& chunk) {
    for (int64_t r0 = 0; r0 < n; r0 += kHeadChunkRows) chunk(r0, std::min(n, r0 + kHeadChunkRows));
}

// out[rows.size(), C] = src[rows[i], :].
void rows_gather(float* out, const float* src, const int64_t* rows, int64_t n, int64_t c);
// dst[rows[i], :] += src[i, :] (rows distinct).
void rows_scatter_add(float* dst, const float* src, const int64_t* rows, int64_t n, int64_t c);

}  // namespace dlm
