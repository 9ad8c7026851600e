#include "kernels/activation.h"

#include <cmath>


namespace dlm {

namespace {

constexpr float kSqrtHalf = 0.70710678118654752440f;
constexpr float kSqrt2OverPi = 0.79788456080286535588f;

inline float gelu_erf(float x) { return 0.5f * x * (1.0f + std::erf(x * kSqrtHalf)); }
inline float gelu_tanh(float x) {
    return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
}

}  // namespace

void gelu_forward(float* out, const float* inp, int64_t n, Activation act) {
    if (act == Activation::gelu_erf) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; ++i) out[i] = gelu_erf(inp[i]);
    } else {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; ++i) out[i] = gelu_tanh(inp[i]);
    }
}

void bias_gelu_forward(float* x, const float* bias, int64_t n, int64_t c, Activation act) {
    const bool erf_form = act == Activation::gelu_erf;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
        float* r = x + i * c;
        for (int64_t j = 0; j < c; ++j) {
            float v = r[j] + bias[j];
            r[j] = erf_form ? gelu_erf(v) : gelu_tanh(v);
        }
    }
}

}  // namespace dlm
