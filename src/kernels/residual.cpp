#include "kernels/residual.h"

#include "core/profile.h"

namespace dlm {

void residual_forward(float* out, const float* a, const float* b, int64_t n) {
    DLM_PROFILE("residual");
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

}  // namespace dlm
