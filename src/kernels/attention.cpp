#include "kernels/attention.h"

#include "core/profile.h"

#include <algorithm>
#include <cmath>

#include "kernels/vector_math.h"
#include <limits>

#include "core/error.h"
#include "kernels/dropout.h"
#include "kernels/gemm.h"
#include "kernels/isa.h"

namespace dlm {
DLM_ISA_BEGIN

void softmax_row(float* x, int64_t d) {
    // The max is exact in any order, so it may run in vector lanes (the exponentials'
    // sum is in lanes too, as before).
    float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
    for (int64_t j = 0; j < d; ++j) mx = x[j] > mx ? x[j] : mx;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < d; ++j) {
        x[j] = expf(x[j] - mx);
        sum += x[j];
    }
    float inv = 1.0f / sum;
    for (int64_t j = 0; j < d; ++j) x[j] *= inv;
}

void softmax_forward(float* x, int64_t n, int64_t d) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) softmax_row(x + i * d, d);
}

void softmax_backward(float* dx, const float* y, const float* dy, int64_t n, int64_t d) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
        const float* yr = y + i * d;
        const float* gr = dy + i * d;
        float dot = 0.0f;
        for (int64_t j = 0; j < d; ++j) dot += gr[j] * yr[j];
        float* o = dx + i * d;
        for (int64_t j = 0; j < d; ++j) o[j] = yr[j] * (gr[j] - dot);
    }
}

namespace {

// Adds finfo.min to the scores row[Tk] of the keys query position pos must not see: padded
// keys (km[j] == 0, km may be nullptr) and, when window > 0, keys farther than window.
// Branch-free, so that the loops run in vector lanes.
void key_mask_add(float* row, const int32_t* km, int64_t pos, int64_t window, int64_t tk) {
    const float lowest = std::numeric_limits<float>::lowest();
    if (window == 0) {
        if (!km) return;
#pragma omp simd
        for (int64_t j = 0; j < tk; ++j) row[j] = km[j] == 0 ? row[j] + lowest : row[j];
        return;
    }
    const int64_t lo = pos - window, hi = pos + window;
    if (km) {
#pragma omp simd
        for (int64_t j = 0; j < tk; ++j) row[j] = (j < lo) | (j > hi) | (km[j] == 0) ? row[j] + lowest : row[j];
    } else {
#pragma omp simd
        for (int64_t j = 0; j < tk; ++j) row[j] = (j < lo) | (j > hi) ? row[j] + lowest : row[j];
    }
}

// att[B, NH, Tq, Tk] holds q k^T; scaled, masked as HF eager masks, and softmaxed in place.
// probs_bf16 (same shape, or nullptr) gets the probabilities rounded to bf16, each row
// while it is still in L1.
void scores_softmax(float* att, const int32_t* key_mask, const attention_shape& s, uint16_t* probs_bf16 = nullptr) {
    const int64_t B = s.batch, Tq = s.tq, Tk = s.tk, NH = s.heads;
    const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
    const float lowest = std::numeric_limits<float>::lowest();
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; ++b) {
        for (int64_t h = 0; h < NH; ++h) {
            const int32_t* km = key_mask ? key_mask + b * Tk : nullptr;
            for (int64_t i = 0; i < Tq; ++i) {
                float* row = att + ((b * NH + h) * Tq + i) * Tk;
                const int64_t last = std::min(Tk - 1, s.causal ? s.q_offset + i : Tk - 1);
                // HF eager: where(causal, s, finfo.min) + (1 - mask) * finfo.min; a key both
                // hidden and padded overflows to -inf, as there.
#pragma omp simd
                for (int64_t j = 0; j <= last; ++j) row[j] *= scale;
                for (int64_t j = last + 1; j < Tk; ++j) row[j] = lowest;
                key_mask_add(row, km, s.q_offset + i, s.window, Tk);
                softmax_row(row, Tk);
                if (probs_bf16) {
                    uint16_t* pb = probs_bf16 + (row - att);
#pragma omp simd
                    for (int64_t j = 0; j < Tk; ++j) pb[j] = bf16_round(row[j]);
                }
            }
        }
    }
}

}  // namespace

void attention_forward(float* out, float* att, float* scratch, const float* q, const float* k, const float* v,
                       const int32_t* key_mask, const attention_shape& s) {
    DLM_PROFILE("attention");
    const int64_t B = s.batch, Tq = s.tq, Tk = s.tk, NH = s.heads, HD = s.head_dim, C = NH * HD;
    // att[b, h] = q[b, :, h, :] x k[b, :, h, :]^T
    gemm_view qv{B, NH, Tq, HD, Tq * s.ldq, HD, s.ldq, 1};
    gemm_view kt{B, NH, HD, Tk, Tk * s.ldkv, HD, 1, s.ldkv};
    gemm_view av{B, NH, Tq, Tk, NH * Tq * Tk, Tq * Tk, Tk, 1};
    gemm_f32(q, qv, k, kt, att, av);
    scores_softmax(att, key_mask, s);
    // out[b, :, h, :] = dropout(att)[b, h] x v[b, :, h, :]
    const float* probs = att;
    if (s.dropout > 0.0f) {
        DLM_ASSERT(scratch != nullptr);
        dropout_copy(scratch, att, B * NH * Tq * Tk, s.dropout, s.seed);
        probs = scratch;
    }
    gemm_view vv{B, NH, Tk, HD, Tk * s.ldkv, HD, s.ldkv, 1};
    gemm_view ov{B, NH, Tq, HD, Tq * C, HD, C, 1};
    gemm_f32(probs, av, v, vv, out, ov);
}

int64_t attention_bf16_scratch(const attention_shape& s) {
    const int64_t C = s.heads * s.head_dim;
    return s.batch * (s.tq * C + 2 * s.tk * C + s.heads * s.tq * s.tk);
}

void attention_forward_bf16(float* out, float* att, uint16_t* scratch, const float* q, const float* k, const float* v,
                            const int32_t* key_mask, const attention_shape& s) {
    DLM_PROFILE("attention");
    DLM_ASSERT_MSG(s.dropout == 0.0f, "the bf16 attention is for inference (no dropout)");
    const int64_t B = s.batch, Tq = s.tq, Tk = s.tk, NH = s.heads, HD = s.head_dim, C = NH * HD;
    uint16_t* qb = scratch;               // [B, Tq, C]
    uint16_t* kb = qb + B * Tq * C;       // [B, Tk, C]
    uint16_t* vb = kb + B * Tk * C;       // [B, Tk, C]
    uint16_t* pb = vb + B * Tk * C;       // [B, NH, Tq, Tk]
    f32_to_bf16_convert_rows(qb, q, B * Tq, C, s.ldq);
    f32_to_bf16_convert_rows(kb, k, B * Tk, C, s.ldkv);
    f32_to_bf16_convert_rows(vb, v, B * Tk, C, s.ldkv);
    gemm_view qv{B, NH, Tq, HD, Tq * C, HD, C, 1};
    gemm_view kt{B, NH, HD, Tk, Tk * C, HD, 1, C};
    gemm_view av{B, NH, Tq, Tk, NH * Tq * Tk, Tq * Tk, Tk, 1};
    gemm_bf16(qb, qv, kb, kt, att, av);
    scores_softmax(att, key_mask, s, pb);
    gemm_view vv{B, NH, Tk, HD, Tk * C, HD, C, 1};
    gemm_view ov{B, NH, Tq, HD, Tq * C, HD, C, 1};
    gemm_bf16(pb, av, vb, vv, out, ov);
}

void attention_backward(float* dq, float* dk, float* dv, float* datt, float* scratch, const float* dout,
                        const float* q, const float* k, const float* v, const float* att, const attention_shape& s) {
    DLM_PROFILE("attention_backward");
    const int64_t B = s.batch, Tq = s.tq, Tk = s.tk, NH = s.heads, HD = s.head_dim, C = NH * HD;
    gemm_view av{B, NH, Tq, Tk, NH * Tq * Tk, Tq * Tk, Tk, 1};   // P, dP [Tq, Tk]
    gemm_view at{B, NH, Tk, Tq, NH * Tq * Tk, Tq * Tk, 1, Tk};   // P^T, dS^T
    gemm_view ov{B, NH, Tq, HD, Tq * C, HD, C, 1};               // dout
    gemm_view qv{B, NH, Tq, HD, Tq * s.ldq, HD, s.ldq, 1};
    gemm_view kv{B, NH, Tk, HD, Tk * s.ldkv, HD, s.ldkv, 1};     // k, v, dk, dv
    gemm_view vt{B, NH, HD, Tk, Tk * s.ldkv, HD, 1, s.ldkv};     // v^T

    const float* probs = att;
    if (s.dropout > 0.0f) {  // the same mask as the forward pass, recomputed
        DLM_ASSERT(scratch != nullptr);
        dropout_copy(scratch, att, B * NH * Tq * Tk, s.dropout, s.seed);
        probs = scratch;
    }
    gemm_f32(probs, at, dout, ov, dv, kv, nullptr, 1.0f);  // dv += P^T dout
    gemm_f32(dout, ov, v, vt, datt, av);                  // dP = dout v^T
    if (s.dropout > 0.0f) dropout_apply(datt, B * NH * Tq * Tk, s.dropout, s.seed);

    // Softmax backward and the score scale; causally hidden keys were constants
    // (torch.where), so no gradient reaches their scores.
    const float scale = 1.0f / std::sqrt(static_cast<float>(HD));
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; ++b) {
        for (int64_t h = 0; h < NH; ++h) {
            for (int64_t i = 0; i < Tq; ++i) {
                const int64_t off = ((b * NH + h) * Tq + i) * Tk;
                const float* p = att + off;
                float* g = datt + off;
                float dot = 0.0f;
                for (int64_t j = 0; j < Tk; ++j) dot += g[j] * p[j];
                const int64_t last = s.causal ? s.q_offset + i : Tk - 1;
                for (int64_t j = 0; j < Tk; ++j) g[j] = j > last ? 0.0f : p[j] * (g[j] - dot) * scale;
            }
        }
    }
    gemm_f32(datt, av, k, kv, dq, qv, nullptr, 1.0f);  // dq += dS k
    gemm_f32(datt, at, q, qv, dk, kv, nullptr, 1.0f);  // dk += dS^T q
}

void attention_forward_cached(float* out, float* att, const float* q, const float* k, const float* v,
                              const int32_t* key_mask, const attention_shape& s) {
    DLM_PROFILE("attention_cached");
    const int64_t B = s.batch, Tq = s.tq, Tk = s.tk, NH = s.heads, HD = s.head_dim, C = NH * HD;
    DLM_ASSERT(s.q_offset + Tq <= Tk);
    const float scale = 1.0f / std::sqrt(static_cast<float>(HD));
    const float lowest = std::numeric_limits<float>::lowest();
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; ++b) {
        for (int64_t h = 0; h < NH; ++h) {
            const int32_t* km = key_mask ? key_mask + b * Tk : nullptr;
            const float* kb = k + b * Tk * s.ldkv + h * HD;
            const float* vb = v + b * Tk * s.ldkv + h * HD;
            for (int64_t i = 0; i < Tq; ++i) {
                const float* qr = q + (b * Tq + i) * s.ldq + h * HD;
                float* row = att + ((b * NH + h) * Tq + i) * Tk;
                const int64_t visible = s.q_offset + i + 1;
                for (int64_t j = 0; j < visible; ++j) {
                    const float* kr = kb + j * s.ldkv;
                    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
                    for (int64_t d = 0; d < HD; ++d) dot += qr[d] * kr[d];
                    // HF eager: padded keys get + finfo.min (a query that sees only
                    // padding averages it, as there).
                    float x = dot * scale;
                    if (km && km[j] == 0) x += lowest;
                    row[j] = x;
                }
                softmax_row(row, visible);
                float* o = out + (b * Tq + i) * C + h * HD;
                for (int64_t d = 0; d < HD; ++d) o[d] = 0.0f;
                for (int64_t j = 0; j < visible; ++j) {
                    const float p = row[j];
                    const float* vr = vb + j * s.ldkv;
#pragma omp simd
                    for (int64_t d = 0; d < HD; ++d) o[d] += p * vr[d];
                }
            }
        }
    }
}

DLM_ISA_END
}  // namespace dlm
