#include "kernels/quant.h"
#ifndef PREFETCH_ROWS
#define PREFETCH_ROWS 16
#endif

// GCC 12 takes the AVX-512 intrinsics' own placeholders (_mm512_undefined_ps) for
// uninitialized values.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/profile.h"
#include "kernels/isa.h"

namespace dlm {
DLM_ISA_BEGIN

namespace {

// Weight rows ahead of the one in work that are prefetched: 8 rows (6 KB for K = 768).
// With them a thread's rows stream at the read bandwidth (GPT-2's LM head, Zen 4, 2
// threads: 33-57 GB/s where bf16 tiles read 35-55 in the same runs; the machine
// drifts). Several rows in flight at once (4, 8) read slower: 12-20 GB/s.
constexpr int64_t kAhead = 8;

inline void prefetch(const int8_t* p) { _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0); }

// The code of x at 1 / step (step > 0): round to nearest even, within [-127, 127].
inline int8_t q8_code(float x, float inv_step) {
    const float q = std::nearbyint(x * inv_step);
    return static_cast<int8_t>(std::clamp(q, -127.0f, 127.0f));
}

// The codes of x[0, len) at one step, their amax / 127, into q; returns the step.
inline float run_quantize(int8_t* q, const float* x, int64_t len) {
    float amax = 0.0f;
    for (int64_t i = 0; i < len; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    for (int64_t i = 0; i < len; ++i) q[i] = q8_code(x[i], inv);
    return amax / 127.0f;
}

// One weight row against one activation row, block by block:
// out = scale * sum_b xs[b] * (x_b . q_b) + bias. A block's dot products stay int32
// until its one conversion. One row at a time streams fastest (kAhead).
#if defined(__AVX512BW__)
// 64 bytes per step, a block's tail of 32 a masked load (zeros add nothing). The sign of
// x moves onto w, so that |x| is the unsigned operand: vpdpbusd with VNNI, else the
// products summed in pairs into int16 (no saturation: codes are within +-127), then
// into int32.
inline __m512i dot_add(__m512i dot, __m512i xa, __m512i ws) {
#if defined(__AVX512VNNI__)
    return _mm512_dpbusd_epi32(dot, xa, ws);
#else
    return _mm512_add_epi32(dot, _mm512_madd_epi16(_mm512_maddubs_epi16(xa, ws), _mm512_set1_epi16(1)));
#endif
}

float row_dot(const int8_t* x, const float* xs, const int8_t* q, int64_t k) {
    __m512 acc = _mm512_setzero_ps();
    const __m512i zero = _mm512_setzero_si512();
    for (int64_t k0 = 0, b = 0; k0 < k; k0 += kQ8Block, ++b) {
        const int64_t k1 = std::min(k, k0 + kQ8Block);
        __m512i dot = zero;
        for (int64_t c = k0; c < k1; c += 64) {
            const __mmask64 lm = k1 - c >= 64 ? ~0ULL : (1ULL << (k1 - c)) - 1;
            const __m512i xv = _mm512_maskz_loadu_epi8(lm, x + c);
            prefetch(q + kAhead * k + c);
            const __m512i w = _mm512_maskz_loadu_epi8(lm, q + c);
            dot = dot_add(dot, _mm512_abs_epi8(xv), _mm512_mask_sub_epi8(w, _mm512_movepi8_mask(xv), zero, w));
        }
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_set1_ps(xs[b]), acc);
    }
    return _mm512_reduce_add_ps(acc);
}
#elif defined(__AVX2__)
// As above, 32 bytes per step (K is a multiple of 32), through maddubs.
inline float lanes_sum(__m256 v) {
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

float row_dot(const int8_t* x, const float* xs, const int8_t* q, int64_t k) {
    __m256 acc = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t k0 = 0, b = 0; k0 < k; k0 += kQ8Block, ++b) {
        const int64_t k1 = std::min(k, k0 + kQ8Block);
        __m256i dot = _mm256_setzero_si256();
        for (int64_t c = k0; c < k1; c += 32) {
            const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + c));
            if ((c & 63) == 0) prefetch(q + kAhead * k + c);
            const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + c));
            const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(xv, xv), _mm256_sign_epi8(w, xv));
            dot = _mm256_add_epi32(dot, _mm256_madd_epi16(p, ones));
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(xs[b]), acc);
    }
    return lanes_sum(acc);
}
#else
float row_dot(const int8_t* x, const float* xs, const int8_t* q, int64_t k) {
    float acc = 0.0f;
    for (int64_t k0 = 0, b = 0; k0 < k; k0 += kQ8Block, ++b) {
        int32_t d = 0;
        for (int64_t i = k0; i < std::min(k, k0 + kQ8Block); ++i) d += int32_t{x[i]} * int32_t{q[i]};
        acc += static_cast<float>(d) * xs[b];
    }
    return acc;
}
#endif

}  // namespace

void q8_weights_quantize(int8_t* q, float* scale, const float* w, int64_t n, int64_t k, bool transposed) {
    if (!transposed) {
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < n; ++r) scale[r] = run_quantize(q + r * k, w + r * k, k);
        return;
    }
    // w [K, N]: 64 output rows (columns of w) at a time, so that both passes read w's rows
    // contiguously and the 64 rows of codes being written stay in cache.
    constexpr int64_t kCols = 64;
#pragma omp parallel for schedule(static)
    for (int64_t r0 = 0; r0 < n; r0 += kCols) {
        const int64_t cols = std::min(kCols, n - r0);
        float amax[kCols] = {}, inv[kCols];
        for (int64_t c = 0; c < k; ++c)
            for (int64_t j = 0; j < cols; ++j) amax[j] = std::max(amax[j], std::fabs(w[c * n + r0 + j]));
        for (int64_t j = 0; j < cols; ++j) {
            scale[r0 + j] = amax[j] / 127.0f;
            inv[j] = amax[j] > 0.0f ? 127.0f / amax[j] : 0.0f;
        }
        for (int64_t c = 0; c < k; ++c)
            for (int64_t j = 0; j < cols; ++j) q[(r0 + j) * k + c] = q8_code(w[c * n + r0 + j], inv[j]);
    }
}

void q8_weights_dequantize(float* w, const int8_t* q, const float* scale, int64_t n, int64_t k) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < n; ++r)
        for (int64_t c = 0; c < k; ++c) w[r * k + c] = scale[r] * static_cast<float>(q[r * k + c]);
}

void q8_blocks_quantize(int8_t* xq, float* xs, const float* x, int64_t m, int64_t k) {
    DLM_ASSERT(k % 32 == 0);
    const int64_t kb = q8_blocks(k);
    for (int64_t r = 0; r < m; ++r)
        for (int64_t b = 0; b < kb; ++b) {
            const int64_t k0 = r * k + b * kQ8Block;
            xs[r * kb + b] = run_quantize(xq + k0, x + k0, std::min(kQ8Block, k - b * kQ8Block));
        }
}

void q8_rows_quantize(int8_t* xq, float* xs, const float* x, int64_t m, int64_t k) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < m; ++r) xs[r] = run_quantize(xq + r * k, x + r * k, k);
}

void q8_gemv_blocks(float* out, const int8_t* xq, const float* xs, const int8_t* q, const float* scale,
                    const float* bias, int64_t m, int64_t k, int64_t n) {
    DLM_PROFILE("gemv_q8");
    DLM_ASSERT(k % 32 == 0);
    const int64_t kb = q8_blocks(k);
#pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < n; ++j)
        for (int64_t r = 0; r < m; ++r)
            out[r * n + j] = row_dot(xq + r * k, xs + r * kb, q + j * k, k) * scale[j] + (bias ? bias[j] : 0.0f);
}

void q8_gemv(float* out, void* scratch, const float* inp, const int8_t* q, const float* scale, const float* bias,
             int64_t m, int64_t k, int64_t n) {
    auto* xs = static_cast<float*>(scratch);
    auto* xq = reinterpret_cast<int8_t*>(xs + m * q8_blocks(k));
    q8_blocks_quantize(xq, xs, inp, m, k);
    q8_gemv_blocks(out, xq, xs, q, scale, bias, m, k, n);
}

DLM_ISA_END
}  // namespace dlm
