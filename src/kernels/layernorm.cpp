#include "kernels/layernorm.h"

#include "core/profile.h"

#include <omp.h>

#include <cmath>
#include "kernels/isa.h"

namespace dlm {
DLM_ISA_BEGIN

namespace {

// o[C] = (x - m) * r * w + b; without a bias (nullptr, torch's LayerNorm(bias=False)) the
// addition is left out, not + 0.
inline void row_normalise(float* o, const float* x, float m, float r, const float* w, const float* b, int64_t c) {
    if (b) {
        for (int64_t j = 0; j < c; ++j) o[j] = (x[j] - m) * r * w[j] + b[j];
    } else {
        for (int64_t j = 0; j < c; ++j) o[j] = (x[j] - m) * r * w[j];
    }
}

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
    row_normalise(o, x, m, r, w, b, c);
    if (mean_out) *mean_out = m;
    if (rstd_out) *rstd_out = r;
}

// kRows rows at once: each row's sums still run in index order, the same bits as one
// row at a time, but kRows independent chains of adds fill the pipeline where one chain
// waits on each add's latency (the sums were most of layer norm's time).
constexpr int64_t kRows = 8;

void layernorm_rows(float* o, float* mean_out, float* rstd_out, const float* x, const float* w, const float* b,
                    int64_t c, float eps) {
    float m[kRows], v[kRows];
    for (int64_t i = 0; i < kRows; ++i) m[i] = v[i] = 0.0f;
    for (int64_t j = 0; j < c; ++j)
        for (int64_t i = 0; i < kRows; ++i) m[i] += x[i * c + j];
    for (int64_t i = 0; i < kRows; ++i) m[i] /= static_cast<float>(c);
    for (int64_t j = 0; j < c; ++j)
        for (int64_t i = 0; i < kRows; ++i) {
            float d = x[i * c + j] - m[i];
            v[i] += d * d;
        }
    for (int64_t i = 0; i < kRows; ++i) {
        const float r = 1.0f / std::sqrt(v[i] / static_cast<float>(c) + eps);
        const float* xi = x + i * c;
        float* oi = o + i * c;
        row_normalise(oi, xi, m[i], r, w, b, c);
        if (mean_out) mean_out[i] = m[i];
        if (rstd_out) rstd_out[i] = r;
    }
}

// Rows [0, n) of a layer norm, in groups of kRows (then one at a time).
template <class RowInput>
void layernorm_all_rows(float* out, float* mean, float* rstd, const float* weight, const float* bias, int64_t n,
                        int64_t c, float eps, RowInput row_input) {
    const int64_t groups = n / kRows;
#pragma omp parallel for schedule(static)
    for (int64_t g = 0; g < groups + (n - groups * kRows); ++g) {
        const int64_t i0 = g < groups ? g * kRows : groups * kRows + (g - groups);
        const int64_t rows = g < groups ? kRows : 1;
        const float* x = row_input(i0, rows);
        float* mo = mean ? mean + i0 : nullptr;
        float* ro = rstd ? rstd + i0 : nullptr;
        if (rows == kRows) layernorm_rows(out + i0 * c, mo, ro, x, weight, bias, c, eps);
        else layernorm_row(out + i0 * c, mo, ro, x, weight, bias, c, eps);
    }
}

}  // namespace

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int64_t n, int64_t c, float eps) {
    DLM_PROFILE("layernorm");
    layernorm_all_rows(out, mean, rstd, weight, bias, n, c, eps, [&](int64_t i0, int64_t) { return inp + i0 * c; });
}

void residual_layernorm_forward(float* out, float* sum, float* mean, float* rstd, const float* a,
                                const float* b, const float* weight, const float* bias, int64_t n,
                                int64_t c, float eps) {
    DLM_PROFILE("residual_layernorm");
    layernorm_all_rows(out, mean, rstd, weight, bias, n, c, eps, [&](int64_t i0, int64_t rows) {
        float* s = sum + i0 * c;
        const float* ar = a + i0 * c;
        const float* br = b + i0 * c;
#pragma omp simd
        for (int64_t j = 0; j < rows * c; ++j) s[j] = ar[j] + br[j];
        return static_cast<const float*>(s);
    });
}

DLM_ISA_END
}  // namespace dlm

namespace dlm {
DLM_ISA_BEGIN

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
            for (int64_t j = j0; j < j1; ++j) dweight[j] += dy[j] * (x[j] - m) * r;
            if (dbias) {
#pragma omp simd
                for (int64_t j = j0; j < j1; ++j) dbias[j] += dy[j];
            }
        }
    }
}

DLM_ISA_END
}  // namespace dlm
