#include "kernels/activation.h"

#include "core/profile.h"

#include <algorithm>
#include <cmath>

#include "kernels/gemm.h"
#include "kernels/isa.h"
#include "kernels/vector_math.h"


namespace dlm {
DLM_ISA_BEGIN

namespace {

constexpr float kSqrtHalf = 0.70710678118654752440f;
constexpr float kSqrt2OverPi = 0.79788456080286535588f;

inline float gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * kSqrtHalf)); }
inline float gelu_tanh(float x) {
    return 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
}

inline float gelu_erf_grad(float x) {
    constexpr float kInvSqrt2Pi = 0.39894228040143267794f;
    return 0.5f * (1.0f + erff(x * kSqrtHalf)) + x * kInvSqrt2Pi * expf(-0.5f * x * x);
}
inline float gelu_tanh_grad(float x) {
    const float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
    const float t = tanhf(u);
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * x * x);
}

}  // namespace

void gelu_forward(float* out, const float* inp, int64_t n, Activation act) {
    DLM_PROFILE("gelu");
    if (act == Activation::gelu_erf) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; ++i) out[i] = gelu_erf(inp[i]);
    } else {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; ++i) out[i] = gelu_tanh(inp[i]);
    }
}

namespace {

// The shared loop of the bias + GELU kernels: v = x + bias per row, then
// store(k, v, act(v)) at flat index k; the variants differ only in what they store.
// Work items are pieces of kGeluPiece columns of a row, so that one row (a decoding
// step) spreads over the threads too; each piece is one vectorised loop whose ragged
// end falls at the same columns whatever the row count or thread count, and so does
// the choice between the vector and the scalar libm function.
constexpr int64_t kGeluPiece = 256;

template <class Store>
void bias_gelu_rows(const float* x, const float* bias, int64_t n, int64_t c, Activation act, Store store) {
    const int64_t pieces = (c + kGeluPiece - 1) / kGeluPiece;
#pragma omp parallel for schedule(static)
    for (int64_t item = 0; item < n * pieces; ++item) {
        const int64_t i = item / pieces, j0 = item % pieces * kGeluPiece, j1 = std::min(c, j0 + kGeluPiece);
        const float* xr = x + i * c;
        if (act == Activation::gelu_erf) {
#pragma omp simd
            for (int64_t j = j0; j < j1; ++j) {
                const float v = xr[j] + bias[j];
                store(i * c + j, v, gelu_erf(v));
            }
        } else {
#pragma omp simd
            for (int64_t j = j0; j < j1; ++j) {
                const float v = xr[j] + bias[j];
                store(i * c + j, v, gelu_tanh(v));
            }
        }
    }
}

}  // namespace

void bias_gelu_forward(float* x, const float* bias, int64_t n, int64_t c, Activation act) {
    DLM_PROFILE("bias_gelu");
    bias_gelu_rows(x, bias, n, c, act, [x](int64_t k, float, float g) { x[k] = g; });
}

void bias_gelu_forward_keep(float* out, float* pre, const float* bias, int64_t n, int64_t c, Activation act) {
    DLM_PROFILE("bias_gelu");
    bias_gelu_rows(pre, bias, n, c, act, [out, pre](int64_t k, float v, float g) {
        pre[k] = v;
        out[k] = g;
    });
}

void bias_gelu_forward_bf16(uint16_t* out, const float* x, const float* bias, int64_t n, int64_t c, Activation act) {
    DLM_PROFILE("bias_gelu");
    bias_gelu_rows(x, bias, n, c, act, [out](int64_t k, float, float g) { out[k] = bf16_round(g); });
}

void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n, Activation act) {
    DLM_PROFILE("gelu_backward");
    if (act == Activation::gelu_erf) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; ++i) dinp[i] = dout[i] * gelu_erf_grad(inp[i]);
    } else {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; ++i) dinp[i] = dout[i] * gelu_tanh_grad(inp[i]);
    }
}

// ---- GeGLU ----

namespace {

// Work items are pieces of kPiece columns of a row (one row, a decoding step, still
// spreads over the threads); each piece is one vectorised loop.
constexpr int64_t kPiece = 256;

// For each (i, j < F): u = input + bias, g = gate + bias; visit(i, j, u, g). Without a
// bias the additions are left out (not + 0, which would turn -0 into +0).
template <class Visit>
void geglu_rows(const float* x, const float* bias, int64_t n, int64_t f, Visit visit) {
    const int64_t pieces = (f + kPiece - 1) / kPiece;
#pragma omp parallel for schedule(static)
    for (int64_t item = 0; item < n * pieces; ++item) {
        const int64_t i = item / pieces, j0 = item % pieces * kPiece, j1 = std::min(f, j0 + kPiece);
        const float* in = x + i * 2 * f;
        const float* gate = in + f;
        if (bias) {
#pragma omp simd
            for (int64_t j = j0; j < j1; ++j) visit(i, j, in[j] + bias[j], gate[j] + bias[f + j]);
        } else {
#pragma omp simd
            for (int64_t j = j0; j < j1; ++j) visit(i, j, in[j], gate[j]);
        }
    }
}

// The GELU forms as functors (value and derivative), so that a loop inlines them.
struct gelu_erf_fn {
    float operator()(float x) const { return gelu_erf(x); }
    float grad(float x) const { return gelu_erf_grad(x); }
};
struct gelu_tanh_fn {
    float operator()(float x) const { return gelu_tanh(x); }
    float grad(float x) const { return gelu_tanh_grad(x); }
};

// Calls body(act) with the activation functor act names, so that it inlines.
template <class Body>
void with_activation(Activation act, Body body) {
    if (act == Activation::gelu_erf) body(gelu_erf_fn{});
    else body(gelu_tanh_fn{});
}

}  // namespace

void geglu_forward(float* out, const float* x, const float* bias, int64_t n, int64_t f, Activation act) {
    DLM_PROFILE("geglu");
    with_activation(act, [&](auto gelu) {
        geglu_rows(x, bias, n, f, [&](int64_t i, int64_t j, float u, float g) { out[i * f + j] = gelu(u) * g; });
    });
}

void geglu_forward_bf16(uint16_t* out, const float* x, const float* bias, int64_t n, int64_t f, Activation act) {
    DLM_PROFILE("geglu");
    with_activation(act, [&](auto gelu) {
        geglu_rows(x, bias, n, f,
                   [&](int64_t i, int64_t j, float u, float g) { out[i * f + j] = bf16_round(gelu(u) * g); });
    });
}

void geglu_backward(float* dx, const float* dout, const float* x, const float* bias, int64_t n, int64_t f,
                    Activation act) {
    DLM_PROFILE("geglu_backward");
    // Each (i, j) reads x[i, j], x[i, F + j] before writing the same two places of dx.
    with_activation(act, [&](auto gelu) {
        geglu_rows(x, bias, n, f, [&](int64_t i, int64_t j, float u, float g) {
            const float d = dout[i * f + j];
            dx[i * 2 * f + j] = d * g * gelu.grad(u);
            dx[i * 2 * f + f + j] = d * gelu(u);
        });
    });
}

DLM_ISA_END
}  // namespace dlm
