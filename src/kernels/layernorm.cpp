#include "kernels/layernorm.h"

#include <cmath>

namespace dlm {

namespace {

// Two passes (mean, then variance of the centred values), as torch does for
// accuracy; biased variance.
inline void layernorm_row(float* o, float* mean_out, float* rstd_out, const float* x, const float* w,
                          const float* b, int64_t c, float eps) {
    float m = 0.0f;
    for (int64_t j = 0; j < c; ++j) m += x[j];
    m /= static_cast<float>(c);
    float v = 0.0f;
    for (int64_t j = 0; j < c; ++j) {
        float d = x[j] - m;
        v += d * d;
    }
    v /= static_cast<float>(c);
    float r = 1.0f / std::sqrt(v + eps);
    for (int64_t j = 0; j < c; ++j) o[j] = (x[j] - m) * r * w[j] + b[j];
    if (mean_out) *mean_out = m;
    if (rstd_out) *rstd_out = r;
}

}  // namespace

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int64_t n, int64_t c, float eps) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i)
        layernorm_row(out + i * c, mean ? mean + i : nullptr, rstd ? rstd + i : nullptr, inp + i * c,
                      weight, bias, c, eps);
}

void residual_layernorm_forward(float* out, float* sum, float* mean, float* rstd, const float* a,
                                const float* b, const float* weight, const float* bias, int64_t n,
                                int64_t c, float eps) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
        float* s = sum + i * c;
        for (int64_t j = 0; j < c; ++j) s[j] = a[i * c + j] + b[i * c + j];
        layernorm_row(out + i * c, mean ? mean + i : nullptr, rstd ? rstd + i : nullptr, s, weight,
                      bias, c, eps);
    }
}

}  // namespace dlm
