// int8 weights ("q8"): symmetric, one fp32 scale per output row.
//
//   weights  W[N, K] ~ scale[n] * q[n, k],  q int8 in [-127, 127],
//            scale[n] = max_k |W[n, k]| / 127 (0 for a row of zeros); q row-major [N, K]
//            whatever the source layout (an nn.Linear weight is [N, K] already, a GPT-2
//            Conv1D weight [K, N] is transposed on the way in).
//   activations of a GEMV (decoding: a few rows), in blocks of kQ8Block along K (the
//            last one shorter when K is not a multiple), as llama.cpp's Q8_K:
//            x[m, k] ~ xs[m, b] * xq[m, k] for k in block b, the same rule per block.
//   out[m, n] = scale[n] * sum_b xs[m, b] * (xq[m, b, :] . q[n, b, :]) + bias[n]
// Each block's dot product is exact (int32), so the kernels of every CPU level agree up
// to the order of the float sum over blocks. -127 is the lowest code (never -128), so
// |x| fits a u8 and two u8 x s8 products fit an int16 (AVX2's maddubs cannot saturate).
// One plain copy of the codes serves every reader: the GEMV, oneDNN's int8 matmul (which
// reads the plain layout as fast as its own, measured) and row lookups of a tied table.
//
// Why blocks of 256: the int32 sums of a block need no float work, so a block costs one
// conversion and one multiply-add per output; with llama.cpp's Q8_0 blocks of 32 that
// work made the GEMV compute-bound at 13-17 GB/s against bf16's 35 (Zen 4, 2 threads).
// K must be a multiple of 32.
#pragma once

#include <cstdint>

namespace dlm {

constexpr int64_t kQ8Block = 256;

// Rows up to which a product goes through q8_gemv (it streams the codes once for all
// rows, at the read bandwidth, but its arithmetic grows with the rows); more go through
// the int8 matmul (kernels/gemm.h). GPT-2's LM head: 1.0 ms at 1 and 2 rows, 3.7 at 8.
constexpr int64_t kQ8GemvMaxRows = 2;

inline int64_t q8_blocks(int64_t k) { return (k + kQ8Block - 1) / kQ8Block; }

// q[N, K] and scale[N] from w: [N, K] (transposed false: nn.Linear) or [K, N] (true:
// Conv1D, whose transpose is quantized).
void q8_weights_quantize(int8_t* q, float* scale, const float* w, int64_t n, int64_t k, bool transposed);
// w[N, K] = scale[n] * q[n, k].
void q8_weights_dequantize(float* w, const int8_t* q, const float* scale, int64_t n, int64_t k);

// Activations x[M, K] into xq[M, K] and xs[M, q8_blocks(K)].
void q8_blocks_quantize(int8_t* xq, float* xs, const float* x, int64_t m, int64_t k);
// The same with one scale per row, xs[M] (the many-row products: kernels/gemm.h, whose
// oneDNN matmul takes one activation scale per row, applied after).
void q8_rows_quantize(int8_t* xq, float* xs, const float* x, int64_t m, int64_t k);

// out[M, N] from activations already in blocks (q8_blocks_quantize) and q8 weights;
// bias may be nullptr. Streams the weights once for all M rows (decoding: M is
// the number of samples), threads over N; each output's sum has one order whatever the
// thread count.
void q8_gemv_blocks(float* out, const int8_t* xq, const float* xs, const int8_t* q, const float* scale,
                    const float* bias, int64_t m, int64_t k, int64_t n);

// Scratch of q8_gemv: the quantized activations (bytes).
inline int64_t q8_gemv_scratch(int64_t m, int64_t k) {
    return m * k + m * q8_blocks(k) * static_cast<int64_t>(sizeof(float));
}
// out[M, N] = inp[M, K] x W^T + bias, quantizing inp into scratch (q8_gemv_scratch bytes,
// 4-byte aligned) first.
void q8_gemv(float* out, void* scratch, const float* inp, const int8_t* q, const float* scale, const float* bias,
             int64_t m, int64_t k, int64_t n);

}  // namespace dlm
