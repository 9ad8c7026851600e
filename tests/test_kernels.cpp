// Kernels against PyTorch (tests/data/ref/kernels.safetensors, written by
// tests/ref/make_reference.py; formulas in kernels.json). Tolerance per tensor:
// max |dlm - ref| <= 1e-4 * max |ref| in fp32.
#include <gtest/gtest.h>

#include "test_util.h"

#include <cmath>
#include <cstring>

#include "io/safetensors.h"
#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/embedding.h"
#include "kernels/gemm.h"
#include "kernels/layernorm.h"
#include "kernels/residual.h"

namespace {

constexpr double kRelTol = 1e-4;

const dlm::SafetensorsReader& fixtures() {
    static dlm::SafetensorsReader st(std::string(DLM_TEST_DATA) + "/ref/kernels.safetensors");
    return st;
}

std::vector<float> fixture(const std::string& name) { return fixture_f32(fixtures(), name); }

std::vector<int32_t> fixture_ids(const std::string& name) { return fixture_i32(fixtures(), name); }

#define EXPECT_CLOSE(got, want) expect_close((got), (want), kRelTol, #got)

}  // namespace

TEST(kernels, layernorm_forward) {
    auto x = fixture("layernorm.x"), w = fixture("layernorm.weight"), b = fixture("layernorm.bias");
    std::vector<float> y(x.size()), mean(10), rstd(10);
    dlm::layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), 10, 8, 1e-5f);
    EXPECT_CLOSE(y, fixture("layernorm.y"));
}

TEST(kernels, residual_layernorm_forward_equals_add_then_layernorm) {
    auto x = fixture("layernorm.x"), w = fixture("layernorm.weight"), b = fixture("layernorm.bias");
    std::vector<float> half(x.size()), sum(x.size()), y(x.size());
    for (size_t i = 0; i < x.size(); ++i) half[i] = 0.5f * x[i];
    dlm::residual_layernorm_forward(y.data(), sum.data(), nullptr, nullptr, half.data(), half.data(), w.data(),
                                    b.data(), 10, 8, 1e-5f);
    EXPECT_CLOSE(sum, x);
    EXPECT_CLOSE(y, fixture("layernorm.y"));
}

// Layer norm works on groups of rows (the sums of several rows interleaved) and on the
// rows left over one at a time: both must give the same bits as one row per call.
TEST(kernels, layernorm_row_groups_equal_single_rows) {
    for (int64_t n : {7, 8, 9, 17, 33}) {
        for (int64_t c : {5, 64, 768}) {
            std::vector<float> x(n * c), a(n * c), w(c), b(c);
            for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(std::sin(0.37 * i) * (1 + i % 7));
            for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(std::cos(0.23 * i));
            for (int64_t j = 0; j < c; ++j) {
                w[j] = 1.0f + 0.01f * static_cast<float>(j % 11);
                b[j] = 0.02f * static_cast<float>(j % 5);
            }
            std::vector<float> y(n * c), m(n), r(n), y1(n * c), m1(n), r1(n);
            dlm::layernorm_forward(y.data(), m.data(), r.data(), x.data(), w.data(), b.data(), n, c, 1e-5f);
            for (int64_t i = 0; i < n; ++i)
                dlm::layernorm_forward(y1.data() + i * c, m1.data() + i, r1.data() + i, x.data() + i * c, w.data(),
                                       b.data(), 1, c, 1e-5f);
            EXPECT_EQ(y, y1) << "n " << n << ", c " << c;
            EXPECT_EQ(m, m1) << "n " << n << ", c " << c;
            EXPECT_EQ(r, r1) << "n " << n << ", c " << c;
            // The fused residual form, in place on its first input as the models call it.
            std::vector<float> s = a, z(n * c), s1 = a, z1(n * c);
            dlm::residual_layernorm_forward(z.data(), s.data(), nullptr, nullptr, s.data(), x.data(), w.data(), b.data(),
                                            n, c, 1e-5f);
            for (int64_t i = 0; i < n; ++i)
                dlm::residual_layernorm_forward(z1.data() + i * c, s1.data() + i * c, nullptr, nullptr, s1.data() + i * c,
                                                x.data() + i * c, w.data(), b.data(), 1, c, 1e-5f);
            EXPECT_EQ(s, s1) << "n " << n << ", c " << c;
            EXPECT_EQ(z, z1) << "n " << n << ", c " << c;
        }
    }
}

TEST(kernels, gelu_forward_both_forms) {
    for (auto [name, act] : {std::pair{"gelu_erf", dlm::Activation::gelu_erf},
                             std::pair{"gelu_tanh", dlm::Activation::gelu_tanh}}) {
        SCOPED_TRACE(name);
        auto x = fixture(std::string(name) + ".x");
        std::vector<float> y(x.size());
        dlm::gelu_forward(y.data(), x.data(), static_cast<int64_t>(x.size()), act);
        EXPECT_CLOSE(y, fixture(std::string(name) + ".y"));
        // bias + gelu fused, with a zero bias, is the same function.
        std::vector<float> z = x, zero(8, 0.0f);
        dlm::bias_gelu_forward(z.data(), zero.data(), 10, 8, act);
        EXPECT_CLOSE(z, y);
    }
}

TEST(kernels, softmax_forward) {
    auto x = fixture("softmax.x");
    dlm::softmax_forward(x.data(), 10, 8);
    EXPECT_CLOSE(x, fixture("softmax.y"));
}

TEST(kernels, linear_forward) {
    auto x = fixture("linear.x"), w = fixture("linear.weight"), b = fixture("linear.bias");
    std::vector<float> y(10 * 6);
    dlm::linear_forward(y.data(), x.data(), w.data(), b.data(), 10, 8, 6);
    EXPECT_CLOSE(y, fixture("linear.y"));
    // The same product with the weight stored [in, out] (GPT-2 Conv1D).
    std::vector<float> wt(8 * 6);
    for (int o = 0; o < 6; ++o)
        for (int i = 0; i < 8; ++i) wt[i * 6 + o] = w[o * 8 + i];
    std::vector<float> y2(10 * 6);
    dlm::conv1d_forward(y2.data(), x.data(), wt.data(), b.data(), 10, 8, 6);
    EXPECT_CLOSE(y2, fixture("linear.y"));
}

TEST(kernels, gemm_accumulates_with_beta_one) {
    auto x = fixture("linear.x"), w = fixture("linear.weight"), b = fixture("linear.bias");
    std::vector<float> y(10 * 6, 0.0f);
    dlm::linear_forward(y.data(), x.data(), w.data(), b.data(), 10, 8, 6);
    std::vector<float> twice = y;
    dlm::gemm_f32(x.data(), dlm::gemm_matrix(10, 8, 8), w.data(), dlm::gemm_matrix_t(8, 6, 8), twice.data(),
                  dlm::gemm_matrix(10, 6, 6), b.data(), 1.0f);
    for (size_t i = 0; i < y.size(); ++i) y[i] *= 2;
    EXPECT_CLOSE(twice, y);
}

TEST(kernels, embedding_forward) {
    auto ids = fixture_ids("embedding.ids");
    auto table = fixture("embedding.table");
    std::vector<float> y(10 * 8, 1.0f);
    dlm::embedding_forward(y.data(), ids.data(), table.data(), 10, 8, false);
    EXPECT_CLOSE(y, fixture("embedding.y"));
    dlm::embedding_forward(y.data(), ids.data(), table.data(), 10, 8, true);
    auto twice = fixture("embedding.y");
    for (auto& v : twice) v *= 2;
    EXPECT_CLOSE(y, twice);
}

TEST(kernels, attention_forward_padded) {
    auto q = fixture("attention_padded.q"), k = fixture("attention_padded.k"), v = fixture("attention_padded.v");
    auto mask = fixture_ids("attention_padded.mask");
    std::vector<float> out(2 * 5 * 8), att(2 * 2 * 5 * 5);
    dlm::attention_shape s{2, 5, 5, 2, 4, 8, 8, false, 0};
    dlm::attention_forward(out.data(), att.data(), nullptr, q.data(), k.data(), v.data(), mask.data(), s);
    EXPECT_CLOSE(out, fixture("attention_padded.out"));
}

TEST(kernels, attention_forward_causal) {
    auto q = fixture("attention_causal.q"), k = fixture("attention_causal.k"), v = fixture("attention_causal.v");
    std::vector<float> out(2 * 5 * 8), att(2 * 2 * 5 * 5);
    dlm::attention_shape s{2, 5, 5, 2, 4, 8, 8, true, 0};
    dlm::attention_forward(out.data(), att.data(), nullptr, q.data(), k.data(), v.data(), nullptr, s);
    EXPECT_CLOSE(out, fixture("attention_causal.out"));
}

TEST(kernels, attention_forward_packed_qkv_equals_separate) {
    // q, k, v interleaved in one [B, T, 3C] buffer (row stride 3C), as the models use it.
    auto q = fixture("attention_causal.q"), k = fixture("attention_causal.k"), v = fixture("attention_causal.v");
    std::vector<float> qkv(2 * 5 * 24);
    for (int r = 0; r < 10; ++r)
        for (int j = 0; j < 8; ++j) {
            qkv[r * 24 + j] = q[r * 8 + j];
            qkv[r * 24 + 8 + j] = k[r * 8 + j];
            qkv[r * 24 + 16 + j] = v[r * 8 + j];
        }
    std::vector<float> out(2 * 5 * 8), att(2 * 2 * 5 * 5);
    dlm::attention_shape s{2, 5, 5, 2, 4, 24, 24, true, 0};
    dlm::attention_forward(out.data(), att.data(), nullptr, qkv.data(), qkv.data() + 8, qkv.data() + 16, nullptr, s);
    EXPECT_CLOSE(out, fixture("attention_causal.out"));
}

TEST(kernels, attention_forward_with_query_offset_equals_last_rows) {
    // Queries for the last 2 positions only (KV-cache style) give the last 2 rows of
    // the full causal attention.
    auto q = fixture("attention_causal.q"), k = fixture("attention_causal.k"), v = fixture("attention_causal.v");
    auto full = fixture("attention_causal.out");
    std::vector<float> q2(2 * 2 * 8);
    for (int b = 0; b < 2; ++b)
        for (int t = 0; t < 2; ++t)
            std::memcpy(&q2[(b * 2 + t) * 8], &q[(b * 5 + 3 + t) * 8], 8 * sizeof(float));
    std::vector<float> out(2 * 2 * 8), att(2 * 2 * 2 * 5);
    dlm::attention_shape s{2, 2, 5, 2, 4, 8, 8, true, 3};
    dlm::attention_forward(out.data(), att.data(), nullptr, q2.data(), k.data(), v.data(), nullptr, s);
    std::vector<float> want(2 * 2 * 8);
    for (int b = 0; b < 2; ++b)
        for (int t = 0; t < 2; ++t)
            std::memcpy(&want[(b * 2 + t) * 8], &full[(b * 5 + 3 + t) * 8], 8 * sizeof(float));
    EXPECT_CLOSE(out, want);
}

TEST(kernels, residual_forward) {
    std::vector<float> a{1, 2, 3}, b{10, 20, 30}, o(3);
    dlm::residual_forward(o.data(), a.data(), b.data(), 3);
    EXPECT_EQ(o, (std::vector<float>{11, 22, 33}));
}

TEST(kernels, half_precision_conversions) {
    // Exactly representable values survive; rounding is to nearest even.
    for (float f : {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.960464477539063e-08f}) {
        EXPECT_EQ(dlm::f16_to_f32(dlm::f32_to_f16(f)), f) << f;
        EXPECT_EQ(dlm::bf16_to_f32(dlm::f32_to_bf16(f)), dlm::bf16_to_f32(dlm::f32_to_bf16(f)));
    }
    EXPECT_EQ(dlm::f32_to_f16(1.0f + 1.0f / 2048), 0x3c00);   // tie -> even (down)
    EXPECT_EQ(dlm::f32_to_f16(1.0f + 3.0f / 2048), 0x3c02);   // tie -> even (up)
    EXPECT_EQ(dlm::f32_to_f16(1e6f), 0x7c00);                 // overflow -> inf
    EXPECT_EQ(dlm::f32_to_bf16(1.0f), 0x3f80);
    EXPECT_EQ(dlm::f32_to_bf16(1.0f + 1.0f / 256), 0x3f80);   // tie -> even
    EXPECT_EQ(dlm::f32_to_bf16(1.0f + 3.0f / 256), 0x3f82);
    EXPECT_TRUE(std::isnan(dlm::bf16_to_f32(dlm::f32_to_bf16(NAN))));
    EXPECT_TRUE(std::isnan(dlm::f16_to_f32(dlm::f32_to_f16(NAN))));
}
