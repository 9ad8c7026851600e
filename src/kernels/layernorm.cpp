#include "kernels/layernorm.h"

#include "core/profile.h"

#include <omp.h>

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
    DLM_PROFILE("layernorm");
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i)
        layernorm_row(out + i * c, mean ? mean + i : nullptr, rstd ? rstd + i : nullptr, inp + i * c,
                      weight, bias, c, eps);
}

void residual_layernorm_forward(float* out, float* sum, float* mean, float* rstd, const float* a,
                                const float* b, const float* weight, const float* bias, int64_t n,
                                int64_t c, float eps) {
    DLM_PROFILE("residual_layernorm");
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
        float* s = sum + i * c;
        for (int64_t j = 0; j < c; ++j) s[j] = a[i * c + j] + b[i * c + j];
        layernorm_row(out + i * c, mean ? mean + i : nullptr, rstd ? rstd + i : nullptr, s, weight,
                      bias, c, eps);
    }
}

}  // namespace dlm

namespace dlm {

void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t n, int64_t c) {
    DLM_PROFILE("layernorm_backward");
    // dinp = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dout * weight.
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
        const float* dy = dout + i * c;
        const float* x = inp + i * c;
        const float m = mean[i], r = rstd[i];
        float sum_g = 0.0f, sum_gx = 0.0f;
        for (int64_t j = 0; j < c; ++j) {
            float g = dy[j] * weight[j];
            sum_g += g;
            sum_gx += g * (x[j] - m) * r;
        }
        sum_g /= static_cast<float>(c);
        sum_gx /= static_cast<float>(c);
        float* dx = dinp + i * c;
        for (int64_t j = 0; j < c; ++j) {
            float xhat = (x[j] - m) * r;
            dx[j] += r * (dy[j] * weight[j] - sum_g - xhat * sum_gx);
        }
    }
    // Parameter gradients: each thread owns a slice of columns and walks the rows
    // through it (contiguous reads, no shared writes, sums independent of the thread
    // count).
#pragma omp parallel
    {
        const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
        const int64_t j0 = c * t / nt, j1 = c * (t + 1) / nt;
        for (int64_t i = 0; i < n; ++i) {
            const float* dy = dout + i * c;
            const float* x = inp + i * c;
            const float m = mean[i], r = rstd[i];
#pragma omp simd
            for (int64_t j = j0; j < j1; ++j) {
                dweight[j] += dy[j] * (x[j] - m) * r;
                dbias[j] += dy[j];
            }
        }
    }
}

}  // namespace dlm
