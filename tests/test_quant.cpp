// The int8 ("q8") kernels (kernels/quant.h) against independent references: the codes
// against the rounding rule, the GEMV against double-precision sums of the same codes
// (exact block dot products, so only the float sum over blocks may differ), and against
// the fp32 product within the bound the two roundings allow.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/quant.h"
#include "test_util.h"

namespace {

struct q8_matrix {
    std::vector<int8_t> q;
    std::vector<float> scale;
};

q8_matrix quantized(const std::vector<float>& w, int64_t n, int64_t k, bool transposed = false) {
    q8_matrix m{std::vector<int8_t>(n * k), std::vector<float>(n)};
    dlm::q8_weights_quantize(m.q.data(), m.scale.data(), w.data(), n, k, transposed);
    return m;
}

// The block of position i, and the start and end of block b.
int64_t block_of(int64_t i) { return i / dlm::kQ8Block; }
int64_t block_end(int64_t b, int64_t k) { return std::min(k, (b + 1) * dlm::kQ8Block); }

// Activations with a few large values (as real ones have), so blocks differ in scale.
std::vector<float> activations(int64_t m, int64_t k, uint32_t seed) {
    auto x = random_floats(m * k, seed);
    for (int64_t i = 0; i < m * k; i += 37) x[i] *= 20.0f;
    return x;
}

}  // namespace

// Every code is round(w / scale) within [-127, 127], the largest |w| of a row gets
// +-127, and a row of zeros gets scale 0; a Conv1D weight [K, N] gives the codes of its
// transpose.
TEST(quant, weights_follow_the_rounding_rule) {
    const int64_t n = 5, k = 96;
    auto w = random_floats(n * k, 1);
    for (int64_t c = 0; c < k; ++c) w[3 * k + c] = 0.0f;
    w[k + 7] = -3.0f;  // row 1's largest
    const auto m = quantized(w, n, k);
    for (int64_t r = 0; r < n; ++r) {
        float amax = 0;
        for (int64_t c = 0; c < k; ++c) amax = std::max(amax, std::fabs(w[r * k + c]));
        EXPECT_FLOAT_EQ(m.scale[r], amax / 127.0f);
        for (int64_t c = 0; c < k; ++c) {
            const int code = m.q[r * k + c];
            ASSERT_GE(code, -127);
            ASSERT_LE(code, 127);
            if (amax > 0) EXPECT_LE(std::fabs(w[r * k + c] / m.scale[r] - code), 0.5f + 1e-4f) << r << " " << c;
            else EXPECT_EQ(code, 0);
        }
    }
    EXPECT_EQ(m.q[k + 7], -127);
    EXPECT_EQ(m.scale[3], 0.0f);
    // Transposed source, same codes.
    std::vector<float> wt(k * n);
    for (int64_t r = 0; r < n; ++r)
        for (int64_t c = 0; c < k; ++c) wt[c * n + r] = w[r * k + c];
    const auto mt = quantized(wt, n, k, true);
    EXPECT_EQ(mt.q, m.q);
    EXPECT_EQ(mt.scale, m.scale);
    // Dequantized: within half a step of the original.
    std::vector<float> back(n * k);
    dlm::q8_weights_dequantize(back.data(), m.q.data(), m.scale.data(), n, k);
    for (int64_t i = 0; i < n * k; ++i) EXPECT_LE(std::fabs(back[i] - w[i]), m.scale[i / k] * 0.5f + 1e-7f);
}

// Blocks of kQ8Block, the last one shorter (K = 1152 = 4.5 blocks, ModernBERT's).
TEST(quant, activation_blocks_follow_the_rounding_rule) {
    const int64_t m = 2, k = 1152, kb = dlm::q8_blocks(k);
    ASSERT_EQ(kb, 5);
    const auto x = activations(m, k, 2);
    std::vector<int8_t> xq(m * k);
    std::vector<float> xs(m * kb);
    dlm::q8_blocks_quantize(xq.data(), xs.data(), x.data(), m, k);
    for (int64_t r = 0; r < m; ++r)
        for (int64_t b = 0; b < kb; ++b) {
            float amax = 0;
            for (int64_t i = b * dlm::kQ8Block; i < block_end(b, k); ++i) amax = std::max(amax, std::fabs(x[r * k + i]));
            EXPECT_FLOAT_EQ(xs[r * kb + b], amax / 127.0f);
            for (int64_t i = b * dlm::kQ8Block; i < block_end(b, k); ++i)
                EXPECT_LE(std::fabs(x[r * k + i] / xs[r * kb + b] - xq[r * k + i]), 0.5f + 1e-4f);
        }
}

// out = scale[n] * sum_b xs[b] * dot_b + bias: against double sums of the same codes,
// for row counts with and without the 4-row tile's tail, K with and without a 64-byte
// tail, M of 1 and 3, with and without bias; the same bits with 1 and 2 threads.
TEST(quant, gemv_matches_the_sum_of_its_codes) {
    for (auto [m, k, n] : {std::tuple<int64_t, int64_t, int64_t>{1, 32, 1}, {1, 96, 5}, {3, 768, 17}, {1, 3072, 768},
                           {2, 256, 1027}, {2, 1152, 9}, {1, 288, 4}}) {
        SCOPED_TRACE("m " + std::to_string(m) + " k " + std::to_string(k) + " n " + std::to_string(n));
        const int64_t kb = dlm::q8_blocks(k);
        const auto w = quantized(random_floats(n * k, 3), n, k);
        const auto x = activations(m, k, 4);
        const auto bias = random_floats(n, 5);
        std::vector<int8_t> xq(m * k);
        std::vector<float> xs(m * kb);
        dlm::q8_blocks_quantize(xq.data(), xs.data(), x.data(), m, k);
        for (const float* b : {static_cast<const float*>(nullptr), bias.data()}) {
            std::vector<float> want(m * n), got(m * n), got1(m * n);
            for (int64_t r = 0; r < m; ++r)
                for (int64_t j = 0; j < n; ++j) {
                    double s = 0;
                    for (int64_t blk = 0; blk < kb; ++blk) {
                        int64_t d = 0;
                        for (int64_t i = blk * dlm::kQ8Block; i < block_end(blk, k); ++i)
                            d += int64_t{xq[r * k + i]} * int64_t{w.q[j * k + i]};
                        s += static_cast<double>(xs[r * kb + blk]) * static_cast<double>(d);
                    }
                    want[r * n + j] = static_cast<float>(s * w.scale[j] + (b ? b[j] : 0.0));
                }
            dlm::q8_gemv_blocks(got.data(), xq.data(), xs.data(), w.q.data(), w.scale.data(), b, m, k, n);
            EXPECT_LE(rel_diff(got, want), 1e-5);
            const int threads = omp_get_max_threads();
            omp_set_num_threads(1);
            dlm::q8_gemv_blocks(got1.data(), xq.data(), xs.data(), w.q.data(), w.scale.data(), b, m, k, n);
            omp_set_num_threads(threads);
            EXPECT_EQ(got1, got) << "depends on the thread count";
        }
    }
}

// Against the fp32 product: each output within the bound the roundings allow,
// sum_k |x||dw| + |w||dx| + |dx||dw| with |dw| <= scale / 2 and |dx| <= xs / 2; and on
// the whole no larger than rounding noise: the RMS error within 1.5x of what
// independent errors uniform over half a step give (variance sum_k x^2 dw^2 / 3 +
// w^2 dx^2 / 3).
TEST(quant, gemv_is_within_the_rounding_bound_of_fp32) {
    const int64_t m = 2, k = 768, n = 300, kb = dlm::q8_blocks(k);
    const auto wf = random_floats(n * k, 6);
    const auto w = quantized(wf, n, k);
    const auto x = activations(m, k, 7);
    std::vector<int8_t> xq(m * k);
    std::vector<float> xs(m * kb);
    dlm::q8_blocks_quantize(xq.data(), xs.data(), x.data(), m, k);
    std::vector<char> scratch(dlm::q8_gemv_scratch(m, k) + 4);
    void* aligned = scratch.data() + (4 - reinterpret_cast<uintptr_t>(scratch.data()) % 4) % 4;
    std::vector<float> got(m * n);
    dlm::q8_gemv(got.data(), aligned, x.data(), w.q.data(), w.scale.data(), nullptr, m, k, n);
    double err2 = 0, noise2 = 0;
    for (int64_t r = 0; r < m; ++r)
        for (int64_t j = 0; j < n; ++j) {
            double ref = 0, bound = 0, noise = 0;
            for (int64_t i = 0; i < k; ++i) {
                const double xv = x[r * k + i], wv = wf[j * k + i];
                const double dw = w.scale[j] / 2.0, dx = xs[r * kb + block_of(i)] / 2.0;
                ref += xv * wv;
                bound += std::fabs(xv) * dw + std::fabs(wv) * dx + dx * dw;
                noise += (xv * xv * dw * dw + wv * wv * dx * dx) / 3.0;
            }
            const double e = got[r * n + j] - ref;
            EXPECT_LE(std::fabs(e), bound * 1.0001 + 1e-5) << r << " " << j;
            err2 += e * e;
            noise2 += noise;
        }
    EXPECT_LT(std::sqrt(err2 / noise2), 1.5);
}

// The many-row int8 product (oneDNN s8 x s8, kernels/gemm.h) against double sums of the
// same codes: random values, and the worst cases for 16-bit pair sums (every product
// +127 * 127, or of alternating signs that all come out positive), which a CPU without
// VNNI could saturate; with and without bias; any row count.
TEST(quant, gemm_matches_the_sum_of_its_codes) {
    for (auto [n, c, oc] : {std::tuple<int64_t, int64_t, int64_t>{1, 64, 17}, {7, 768, 768}, {256, 768, 300}}) {
        for (int pattern = 0; pattern < 3; ++pattern) {
            SCOPED_TRACE("n " + std::to_string(n) + " c " + std::to_string(c) + " oc " + std::to_string(oc) +
                         " pattern " + std::to_string(pattern));
            auto x = activations(n, c, 8);
            auto wf = random_floats(oc * c, 9);
            if (pattern > 0)
                for (int64_t i = 0; i < n * c; ++i) x[i] = pattern == 1 || i % 2 == 0 ? 1.0f : -1.0f;
            if (pattern > 0)
                for (int64_t i = 0; i < oc * c; ++i) wf[i] = pattern == 1 || i % 2 == 0 ? 1.0f : -1.0f;
            const auto w = quantized(wf, oc, c);
            const auto bias = random_floats(oc, 10);
            std::vector<int8_t> xq(n * c);
            std::vector<float> xs(n), got(n * oc), want(n * oc);
            for (const float* b : {static_cast<const float*>(nullptr), bias.data()}) {
                dlm::linear_forward_q8(got.data(), xq.data(), xs.data(), x.data(), w.q.data(), w.scale.data(), b, n,
                                       c, oc);
                for (int64_t r = 0; r < n; ++r)
                    for (int64_t j = 0; j < oc; ++j) {
                        int64_t d = 0;
                        for (int64_t i = 0; i < c; ++i) d += int64_t{xq[r * c + i]} * int64_t{w.q[j * c + i]};
                        want[r * oc + j] =
                            static_cast<float>(static_cast<double>(d) * xs[r] * w.scale[j] + (b ? b[j] : 0.0));
                    }
                EXPECT_LE(rel_diff(got, want), 1e-5);
            }
            if (pattern > 0) {
                EXPECT_EQ(xq[0], 127);
                EXPECT_EQ(xq[1], pattern == 1 ? 127 : -127);
            }
        }
    }
}
