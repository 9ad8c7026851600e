#include "kernels/embedding.h"

#include "core/profile.h"
#include "kernels/gemm.h"

#include <omp.h>

#include <cstring>
#include "kernels/isa.h"

namespace dlm {
DLM_ISA_BEGIN

namespace {

template <typename T>
void embedding_rows(float* out, const int32_t* ids, const T* table, int64_t n, int64_t c, bool accumulate) {
    DLM_PROFILE("embedding");
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
        const T* row = table + static_cast<int64_t>(ids[i]) * c;
        float* o = out + i * c;
        if (accumulate)
            for (int64_t j = 0; j < c; ++j) o[j] += bf16_widen(row[j]);
        else
            for (int64_t j = 0; j < c; ++j) o[j] = bf16_widen(row[j]);
    }
}

}  // namespace

void embedding_forward(float* out, const int32_t* ids, const float* table, int64_t n, int64_t c,
                       bool accumulate) {
    embedding_rows(out, ids, table, n, c, accumulate);
}

void embedding_forward_bf16(float* out, const int32_t* ids, const uint16_t* table, int64_t n, int64_t c,
                            bool accumulate) {
    embedding_rows(out, ids, table, n, c, accumulate);
}

void embedding_backward(float* dtable, const float* dout, const int32_t* ids, int64_t n, int64_t c,
                        int32_t padding_idx) {
    DLM_PROFILE("embedding_backward");
    // Threads own column slices, so repeated ids never race and the sums do not
    // depend on the thread count.
#pragma omp parallel
    {
        const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
        const int64_t j0 = c * t / nt, j1 = c * (t + 1) / nt;
        for (int64_t i = 0; i < n; ++i) {
            if (ids[i] == padding_idx) continue;
            float* row = dtable + static_cast<int64_t>(ids[i]) * c;
            const float* g = dout + i * c;
            for (int64_t j = j0; j < j1; ++j) row[j] += g[j];
        }
    }
}

DLM_ISA_END
}  // namespace dlm
