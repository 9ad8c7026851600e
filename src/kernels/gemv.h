// Matrix-vector products for incremental decoding (GEMV on plain and column-tiled
// weights, and the tiles' layout): a handful of rows (one new token per sample) go
// through the model, so every weight matrix is read once per step and memory
// bandwidth, not arithmetic, sets the speed. These stream the weights exactly once,
// need no oneDNN primitive (no per-shape JIT), and compute each output row with the
// same summation order whatever the number of rows or threads, so a sample's logits
// do not depend on the batch it is decoded in.
#pragma once

#include <cstdint>

namespace dlm {

// Rows up to which the GEMV kernels beat oneDNN's matmul (bench/bench_ar.cpp, 2
// threads): at M = 1 they match it on the trunk's matrices and read the LM head twice
// as fast; from M = 2 oneDNN's blocked kernels win. The kernels accept any M but
// stream the weights once per row.
constexpr int64_t kGemvMaxRows = 1;

// GPT-2 Conv1D layout: out[M, N] = inp[M, K] x weight[K, N] + bias[N] (bias may be nullptr).
// The K rows are summed in kGemvChunks fixed chunks (whole rows stream contiguously),
// scratch[kGemvChunks * N] holding their partial sums. The plain-layout kernels serve
// when prepacking is off; decoding otherwise runs on column tiles (below).
constexpr int64_t kGemvChunks = 8;
void conv1d_forward_gemv(float* out, float* scratch, const float* inp, const float* weight, const float* bias,
                         int64_t m, int64_t k, int64_t n);

// nn.Linear layout: out[M, N] = inp[M, K] x weight[N, K]^T + bias[N] (bias may be nullptr).
void linear_forward_gemv(float* out, const float* inp, const float* weight, const float* bias, int64_t m,
                         int64_t k, int64_t n);

// The same two with bf16 weights (widened to fp32 as they stream; fp32 sums): half the
// bytes per token, which is what bounds decoding.
void conv1d_forward_gemv_bf16(float* out, const float* inp, const uint16_t* weight, const float* bias, int64_t m,
                              int64_t k, int64_t n);
void linear_forward_gemv_bf16(float* out, const float* inp, const uint16_t* weight, const float* bias, int64_t m,
                              int64_t k, int64_t n);

// Column tiles: the bf16 layout decoding streams fastest. A [K, N] matrix (GPT-2's
// Conv1D weight, or the transpose of an nn.Linear weight [N, K]) is stored as
// floor(N / 128) tiles, each the [K, 128] slab of its columns (contiguous), then the
// last N % 128 columns as a plain [K, N % 128] block: the same size as the plain
// layout. A thread computing a tile then reads one contiguous run, where the plain
// layouts make it read 256 bytes per row (Conv1D) or 8 interleaved rows (Linear):
// 19 -> 33 GB/s over GPT-2's trunk and 17 -> 33 GB/s on its LM head (2 threads, this
// machine, weights not in cache; plain streaming reads 30-35 GB/s in the same runs).
constexpr int64_t kTileCols = 128;

// fp32 tiles are as wide in bytes: 64 columns.
constexpr int64_t kTileColsF32 = 64;

// Where element (kk, j) of a tiled [K, N] matrix lives (tiles of tile_cols columns).
inline int64_t tiled_index(int64_t kk, int64_t j, int64_t k, int64_t n, int64_t tile_cols = kTileCols) {
    const int64_t full = n / tile_cols * tile_cols;
    if (j < full) return (j / tile_cols) * k * tile_cols + kk * tile_cols + j % tile_cols;
    return full * k + kk * (n - full) + (j - full);
}

// Rewrites a matrix in place into column tiles: w holds [K, N] (transposed = false) or
// [N, K] (true: an nn.Linear weight, whose transpose is tiled). scratch holds
// tiled_pack_scratch(k, n, transposed, tile_cols) elements (kTileCols for bf16,
// kTileColsF32 for fp32). tiled_unpack_f32 is the inverse: the plain layout again.
int64_t tiled_pack_scratch(int64_t k, int64_t n, bool transposed, int64_t tile_cols = kTileCols);
void tiled_pack_bf16(uint16_t* w, uint16_t* scratch, int64_t k, int64_t n, bool transposed);
void tiled_pack_f32(float* w, float* scratch, int64_t k, int64_t n, bool transposed);
void tiled_unpack_f32(float* w, float* scratch, int64_t k, int64_t n, bool transposed);

// out[M, N] = inp[M, K] x tiled[K, N] + bias[N] (bias may be nullptr), streaming the
// weights once per row; each column is summed as conv1d_forward_gemv_bf16 sums it
// (bias, then k ascending), so the two agree bit for bit on a Conv1D weight.
void tiled_gemv_bf16(float* out, const float* inp, const uint16_t* tiled, const float* bias, int64_t m, int64_t k,
                     int64_t n);

// out[I, K] (=, or += when accumulate) columns ids[i] of tiled[K, N], widened to fp32:
// the embedding lookup of a tied table [N, K] stored tiled for the LM head.
void tiled_columns_gather_bf16(float* out, const int32_t* ids, const uint16_t* tiled, int64_t count, int64_t k,
                               int64_t n, bool accumulate);

// The fp32 tiles: the same GEMV, each column summed as conv1d_forward_gemv sums it (bias,
// then the kGemvChunks chunks of rows in order, each k ascending), so the two agree bit
// for bit on a Conv1D weight; on the plain layout the LM head (nn.Linear, 8 rows in
// flight) sums in another order. The whole tiled matrix is one contiguous stream per
// thread: over GPT-2's weights (AVX2, 2 threads, alternating with a streaming read) 35
// -> 49 GB/s against reads at 59-63 GB/s; dlm bench's AR f32 67-70% -> 88-91% of its
// read bound.
void tiled_gemv_f32(float* out, const float* inp, const float* tiled, const float* bias, int64_t m, int64_t k,
                    int64_t n);
void tiled_columns_gather_f32(float* out, const int32_t* ids, const float* tiled, int64_t count, int64_t k, int64_t n,
                              bool accumulate);

}  // namespace dlm
