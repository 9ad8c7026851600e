#include "kernels/attention.h"

#include <cmath>
#include <limits>

#include "kernels/gemm.h"

namespace dlm {

namespace {

inline void softmax_row(float* x, int64_t d) {
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < d; ++j) mx = x[j] > mx ? x[j] : mx;
    float sum = 0.0f;
    for (int64_t j = 0; j < d; ++j) {
        x[j] = std::exp(x[j] - mx);
        sum += x[j];
    }
    float inv = 1.0f / sum;
    for (int64_t j = 0; j < d; ++j) x[j] *= inv;
}

}  // namespace

void softmax_forward(float* x, int64_t n, int64_t d) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) softmax_row(x + i * d, d);
}

void attention_forward(float* out, float* att, const float* q, const float* k, const float* v,
                       const int32_t* key_mask, const attention_shape& s) {
    const int64_t B = s.batch, Tq = s.tq, Tk = s.tk, NH = s.heads, HD = s.head_dim, C = NH * HD;
    // att[b, h] = q[b, :, h, :] x k[b, :, h, :]^T
    gemm_view qv{B, NH, Tq, HD, Tq * s.ldq, HD, s.ldq, 1};
    gemm_view kt{B, NH, HD, Tk, Tk * s.ldkv, HD, 1, s.ldkv};
    gemm_view av{B, NH, Tq, Tk, NH * Tq * Tk, Tq * Tk, Tk, 1};
    gemm_f32(q, qv, k, kt, att, av);

    const float scale = 1.0f / std::sqrt(static_cast<float>(HD));
    const float lowest = std::numeric_limits<float>::lowest();
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; ++b) {
        for (int64_t h = 0; h < NH; ++h) {
            const int32_t* km = key_mask ? key_mask + b * Tk : nullptr;
            for (int64_t i = 0; i < Tq; ++i) {
                float* row = att + ((b * NH + h) * Tq + i) * Tk;
                const int64_t last = s.causal ? s.q_offset + i : Tk - 1;
                for (int64_t j = 0; j < Tk; ++j) {
                    // HF eager: where(causal, s, finfo.min) + (1 - mask) * finfo.min;
                    // a key both hidden and padded overflows to -inf, as there.
                    float x = j > last ? lowest : row[j] * scale;
                    if (km && km[j] == 0) x += lowest;
                    row[j] = x;
                }
                softmax_row(row, Tk);
            }
        }
    }
    // out[b, :, h, :] = att[b, h] x v[b, :, h, :]
    gemm_view vv{B, NH, Tk, HD, Tk * s.ldkv, HD, s.ldkv, 1};
    gemm_view ov{B, NH, Tq, HD, Tq * C, HD, C, 1};
    gemm_f32(att, av, v, vv, out, ov);
}

}  // namespace dlm
