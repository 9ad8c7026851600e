#include "models/lm_head.h"

#include <cstring>

namespace dlm {

void rows_gather(float* out, const float* src, const int64_t* rows, int64_t n, int64_t c) {
    const int64_t np = rows_padded(n);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < np; ++i)
        std::memcpy(out + i * c, src + rows[i < n ? i : 0] * c, static_cast<size_t>(c) * sizeof(float));
}

void rows_scatter_add(float* dst, const float* src, const int64_t* rows, int64_t n, int64_t c) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
        float* d = dst + rows[i] * c;
        const float* s = src + i * c;
        for (int64_t j = 0; j < c; ++j) d[j] += s[j];
    }
}

}  // namespace dlm
