#include "kernels/cross_entropy.h"

#include "core/profile.h"

#include <cmath>

#include "kernels/isa.h"
#include "kernels/vector_math.h"

namespace dlm {
DLM_ISA_BEGIN

namespace {

inline float row_logsumexp(const float* x, int64_t v, float* max_out) {
    float mx = x[0];
#pragma omp simd reduction(max : mx)
    for (int64_t j = 1; j < v; ++j) mx = x[j] > mx ? x[j] : mx;
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < v; ++j) s += expf(x[j] - mx);
    *max_out = mx;
    return mx + std::log(s);
}

}  // namespace

double cross_entropy_forward_backward(float* x, float* row_loss, const int32_t* target, const float* w, int64_t n,
                                      int64_t v) {
    DLM_PROFILE("cross_entropy");
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < n; ++r) {
        float* row = x + r * v;
        float mx;
        const float lse = row_logsumexp(row, v, &mx);
        const float wr = w ? w[r] : 1.0f;
        row_loss[r] = wr * (lse - row[target[r]]);
#pragma omp simd
        for (int64_t j = 0; j < v; ++j) row[j] = wr * expf(row[j] - lse);
        row[target[r]] -= wr;
    }
    double total = 0.0;
    for (int64_t r = 0; r < n; ++r) total += row_loss[r];
    return total;
}

void cross_entropy_forward(float* row_loss, const float* x, const int32_t* target, int64_t n, int64_t v) {
    DLM_PROFILE("cross_entropy");
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < n; ++r) {
        float mx;
        row_loss[r] = row_logsumexp(x + r * v, v, &mx) - x[r * v + target[r]];
    }
}

DLM_ISA_END
}  // namespace dlm
