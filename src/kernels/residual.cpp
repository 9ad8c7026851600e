#include "kernels/residual.h"

#include "core/profile.h"
#include "kernels/isa.h"

namespace dlm {
DLM_ISA_BEGIN

void residual_forward(float* out, const float* a, const float* b, int64_t n) {
    DLM_PROFILE("residual");
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

DLM_ISA_END
}  // namespace dlm
