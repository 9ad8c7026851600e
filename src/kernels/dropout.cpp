#include "kernels/dropout.h"

#include "core/profile.h"

#include <cmath>
#include "kernels/isa.h"

namespace dlm {
DLM_ISA_BEGIN

namespace {
uint32_t threshold_of(float p) {
    return static_cast<uint32_t>(std::min(4294967295.0, std::ldexp(static_cast<double>(p), 32)));
}
}  // namespace

void dropout_apply(float* x, int64_t n, float p, uint64_t seed) {
    DLM_PROFILE("dropout");
    if (p <= 0.0f) return;
    const uint32_t th = threshold_of(p);
    const float scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) x[i] = dropout_keep(seed, i, th) ? x[i] * scale : 0.0f;
}

void dropout_copy(float* out, const float* inp, int64_t n, float p, uint64_t seed) {
    DLM_PROFILE("dropout");
    const uint32_t th = threshold_of(p);
    const float scale = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) out[i] = (p <= 0.0f || dropout_keep(seed, i, th)) ? inp[i] * scale : 0.0f;
}

DLM_ISA_END
}  // namespace dlm
