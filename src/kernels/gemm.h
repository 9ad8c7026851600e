// The GEMM seam: every matrix product in dlm goes through here, implemented with
// oneDNN's matmul primitive (cached per shape and layout, so a shape pays the
// primitive creation once).
//
// A view describes a (batch0, batch1, rows, cols) array of floats by its strides
// in elements, so transposes and head-split layouts need no copies:
//   C[b0,b1] = A[b0,b1] (rows M, cols K) x B[b0,b1] (rows K, cols N)  (+ beta * C)
// A batch dimension of size 1 is broadcast on A or B.
#pragma once

#include <cstdint>
#include <cstring>

namespace dlm {

struct gemm_view {
    int64_t batch0 = 1, batch1 = 1, rows = 0, cols = 0;
    int64_t stride_b0 = 0, stride_b1 = 0, stride_row = 0, stride_col = 1;
};

// Row-major matrix [rows, cols] with leading dimension ld.
inline gemm_view gemm_matrix(int64_t rows, int64_t cols, int64_t ld) {
    return {1, 1, rows, cols, rows * ld, rows * ld, ld, 1};
}
// The transpose of a row-major matrix stored as [cols, rows] with leading dimension ld.
inline gemm_view gemm_matrix_t(int64_t rows, int64_t cols, int64_t ld) {
    return {1, 1, rows, cols, cols * ld, cols * ld, 1, ld};
}

// C = A x B (+ bias broadcast over rows, bias[N] or nullptr) (+ beta * C, beta 0 or 1).
void gemm_f32(const float* a, const gemm_view& av, const float* b, const gemm_view& bv, float* c,
              const gemm_view& cv, const float* bias = nullptr, float beta = 0.0f);

// The same with bf16 inputs (a and b) and fp32 accumulation and output.
void gemm_bf16(const uint16_t* a, const gemm_view& av, const uint16_t* b, const gemm_view& bv, float* c,
               const gemm_view& cv, const float* bias = nullptr, float beta = 0.0f);

// Whether gemm_bf16 runs on oneDNN's bf16 kernels. Without them (a CPU without
// AVX-512, DLM_BF16_EMULATE=1 in the environment, or emulation forced) it widens the operands to fp32 and runs the fp32 GEMM:
// the same products (a bf16 x bf16 product is exact in fp32), slower; weights are not
// prepacked then.
bool gemm_bf16_native();
// Forces the emulation on (tests compare it with the native kernels); off restores
// the CPU's choice.
void gemm_bf16_emulation_force(bool on);

// fp32 of a bf16 value (its top half), exact; the fp32 overload lets code templated on
// the weight type read either.
inline float bf16_widen(uint16_t h) {
    const uint32_t u = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}
inline float bf16_widen(float x) { return x; }

// bf16 of a finite fp32 value, rounded to nearest even (activations are finite).
inline uint16_t bf16_round(float x) {
    uint32_t u;
    std::memcpy(&u, &x, sizeof u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return static_cast<uint16_t>(u >> 16);
}

// out[n] = bf16(in[n]), round to nearest even.
void f32_to_bf16_convert(uint16_t* out, const float* in, int64_t n);
// out[rows, cols] (contiguous) = bf16(in[rows, cols] with row stride ld).
void f32_to_bf16_convert_rows(uint16_t* out, const float* in, int64_t rows, int64_t cols, int64_t ld);

// bf16 fast path of linear_forward / conv1d_forward: the input is rounded to bf16 into
// inp_bf16[N, C] (scratch), the weight is already bf16; accumulation in fp32. With inp
// nullptr, inp_bf16 already holds the rounded input (written by the kernel that made
// it, which saves a pass over it); the same holds for the packed and tiled forms below.
void linear_forward_bf16(float* out, uint16_t* inp_bf16, const float* inp, const uint16_t* weight, const float* bias,
                         int64_t n, int64_t c, int64_t oc);
void conv1d_forward_bf16(float* out, uint16_t* inp_bf16, const float* inp, const uint16_t* weight, const float* bias,
                         int64_t n, int64_t c, int64_t oc);

// Prepacked weights. oneDNN's matmul reads weights fastest in a blocked layout of its
// own choice; for bf16 that layout has the same size as the plain one, so a weight
// that only ever goes through matrix products can be rewritten in place once:
// linear_weight_pack_bf16 turns weight[OC, C] (nn.Linear, plain bf16) into it and
// returns false (weight untouched) if the layout would not fit; the packed weight then
// serves linear_forward_bf16_packed for any number of rows (measured 1.15-1.25x over the
// plain layout at 240-4096 rows on this machine).
bool linear_weight_pack_bf16(uint16_t* weight, int64_t c, int64_t oc);
// The same layout written to a separate buffer, for weights that must also stay plain
// (a decoder tied to the word embeddings, which lookups read row by row) or whose
// packed layout is larger than the plain one: packed[linear_weight_packed_size_bf16(c,
// oc)] = pack(weight[OC, C]). Returns 0 without oneDNN's bf16 kernels (nothing to pack for).
int64_t linear_weight_packed_size_bf16(int64_t c, int64_t oc);
void linear_weight_pack_bf16_copy(uint16_t* packed, const uint16_t* weight, int64_t c, int64_t oc);
void linear_forward_bf16_packed(float* out, uint16_t* inp_bf16, const float* inp, const uint16_t* packed_weight,
                                const float* bias, int64_t n, int64_t c, int64_t oc);

// The bf16 product on column-tiled weights (kernels/gemv.h), for any number of rows:
// out[N, OC] = inp[N, C] x tiled[C, OC] + bias[OC]. One batched matmul over the tiles
// (the input broadcast to each) writes each tile's columns in place, and a plain one
// the last OC % 128 columns.
void tiled_forward_bf16(float* out, uint16_t* inp_bf16, const float* inp, const uint16_t* tiled, const float* bias,
                        int64_t n, int64_t c, int64_t oc);
// The same on fp32 tiles of kTileColsF32 columns (kernels/gemv.h).
void tiled_forward_f32(float* out, const float* inp, const float* tiled, const float* bias, int64_t n, int64_t c,
                       int64_t oc);

// int8 products for many rows (prompts, denoising; kernels/quant.h has the codes):
//   out[N, OC] = xs[n] * scale[o] * (xq[N, C] . q[OC, C]) + bias[OC]
// with the input quantized per row on the way in (q8_rows_quantize into inp_q8[N, C]
// and row_scale[N], scratch) and the codes plain. oneDNN's s8 x s8 matmul applies
// scale[o]; the row scales and the bias follow in one pass. Where oneDNN's s8 product is
// not exact (gemm_q8_native false: no VNNI; held to AVX2, oneDNN 2.6 returned sums off by
// ~127x) the same quantized product runs in fp32 on the widened codes: the same values,
// no faster than fp32.
bool gemm_q8_native();
void linear_forward_q8(float* out, int8_t* inp_q8, float* row_scale, const float* inp, const int8_t* q,
                       const float* scale, const float* bias, int64_t n, int64_t c, int64_t oc);

// Linear layer as in torch.nn.Linear: out[N, OC] = inp[N, C] x weight[OC, C]^T + bias[OC].
void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t n,
                    int64_t c, int64_t oc);
// GPT-2 Conv1D layout: out[N, OC] = inp[N, C] x weight[C, OC] + bias[OC].
void conv1d_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t n,
                    int64_t c, int64_t oc);

// Backward of linear_forward (all accumulate, +=; any of the outputs may be nullptr):
//   dinp[N, C] += dout[N, OC] x weight[OC, C];  dweight[OC, C] += dout^T x inp;  dbias[OC] += sum over rows.
void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int64_t n, int64_t c, int64_t oc);
// Backward of conv1d_forward (weight [C, OC]); accumulates like linear_backward.
void conv1d_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int64_t n, int64_t c, int64_t oc);
// Mixed-precision backward (bf16 training): as linear_backward / conv1d_backward, with
// dout and inp rounded to bf16 into scratch[N*OC + N*C], the weight already bf16 (the
// rounded master weight), fp32 accumulation; dbias from the fp32 dout.
void linear_backward_bf16(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                          const uint16_t* weight, uint16_t* scratch, int64_t n, int64_t c, int64_t oc);
void conv1d_backward_bf16(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                          const uint16_t* weight, uint16_t* scratch, int64_t n, int64_t c, int64_t oc);
// dbias[OC] += column sums of dout[N, OC].
void bias_backward(float* dbias, const float* dout, int64_t n, int64_t oc);

// Number of cached primitives (for tests and the benchmark report).
int64_t gemm_cache_size();

}  // namespace dlm
