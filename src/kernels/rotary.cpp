#include "kernels/rotary.h"

#include <cmath>

#include "core/error.h"
#include "core/profile.h"
#include "kernels/isa.h"

namespace dlm {
DLM_ISA_BEGIN

void rotary_table_build(float* cos, float* sin, int64_t positions, int64_t head_dim, float theta) {
    DLM_ASSERT(head_dim % 2 == 0);
    const int64_t half = head_dim / 2;
    for (int64_t p = 0; p < positions; ++p) {
        float* c = cos + p * head_dim;
        float* s = sin + p * head_dim;
        for (int64_t i = 0; i < half; ++i) {
            // HF: 1.0 / (theta ** (arange(0, HD, 2).float() / HD)), then position.float() * inv_freq.
            const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
            const float inv_freq = 1.0f / std::pow(theta, exponent);
            const float angle = static_cast<float>(p) * inv_freq;
            c[i] = c[i + half] = std::cos(angle);
            s[i] = s[i + half] = std::sin(angle);
        }
    }
}

namespace {

// sign = +1: the forward rotation; -1: its transpose (the backward pass).
void rotary_rows(float* x, const float* cos, const float* sin, const int32_t* positions, const rotary_shape& s,
                 float sign) {
    const int64_t HD = s.head_dim, half = HD / 2;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < s.batch * s.seq; ++r) {
        const int64_t p = positions ? positions[r] : r % s.seq;
        DLM_ASSERT(p >= 0 && p < s.table_rows);
        const float* c = cos + p * HD;
        const float* sn = sin + p * HD;
        float* row = x + r * s.ld;
        for (int64_t h = 0; h < s.heads; ++h) {
            float* lo = row + h * HD;
            float* hi = lo + half;
#pragma omp simd
            for (int64_t i = 0; i < half; ++i) {
                const float a = lo[i], b = hi[i];
                lo[i] = a * c[i] - b * (sign * sn[i]);
                hi[i] = b * c[i + half] + a * (sign * sn[i + half]);
            }
        }
    }
}

}  // namespace

void rotary_forward(float* x, const float* cos, const float* sin, const int32_t* positions, const rotary_shape& s) {
    DLM_PROFILE("rotary");
    rotary_rows(x, cos, sin, positions, s, 1.0f);
}

void rotary_backward(float* dx, const float* cos, const float* sin, const int32_t* positions,
                     const rotary_shape& s) {
    DLM_PROFILE("rotary_backward");
    rotary_rows(dx, cos, sin, positions, s, -1.0f);
}

DLM_ISA_END
}  // namespace dlm
