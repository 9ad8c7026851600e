#include "kernels/embedding.h"

#include <cstring>

namespace dlm {

void embedding_forward(float* out, const int32_t* ids, const float* table, int64_t n, int64_t c,
                       bool accumulate) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
        const float* row = table + static_cast<int64_t>(ids[i]) * c;
        float* o = out + i * c;
        if (accumulate) {
            for (int64_t j = 0; j < c; ++j) o[j] += row[j];
        } else {
            std::memcpy(o, row, static_cast<size_t>(c) * sizeof(float));
        }
    }
}

}  // namespace dlm
