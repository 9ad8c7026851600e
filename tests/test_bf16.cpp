// The bf16 inference path against the fp32 reference path on the same weights.
// bf16 keeps 8 significant bits (relative rounding 2^-9 = 2e-3 per operand); after two
// layers and the LM head the logits stay within 3e-2 * max|fp32 logits|, and the
// top-1 token agrees at (almost) every position.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "io/safetensors.h"
#include "kernels/decode.h"
#include "kernels/gemm.h"
#include "models/model.h"

namespace {

void check_bf16_close(const std::string& name) {
    auto m = dlm::model_load(std::string(DLM_TEST_DATA) + "/models/" + name);
    const int64_t B = 2, T = 20, V = m->config().vocab_size;
    std::vector<int32_t> ids(B * T);
    for (int64_t i = 0; i < B * T; ++i) ids[i] = static_cast<int32_t>(3 + (i * 37) % (V - 3));
    std::vector<int64_t> rows(B * T);
    std::iota(rows.begin(), rows.end(), 0);
    std::vector<float> ref(B * T * V), got(B * T * V);
    m->forward({ids.data(), nullptr, nullptr, B, T});
    m->logits(rows, ref.data());
    m->compute_dtype_set(dlm::DType::BF16);
    m->forward({ids.data(), nullptr, nullptr, B, T});
    m->logits(rows, got.data());
    double md = 0, mr = 0;
    int agree = 0;
    for (int64_t r = 0; r < B * T; ++r) {
        const float* a = ref.data() + r * V;
        const float* b = got.data() + r * V;
        for (int64_t j = 0; j < V; ++j) {
            md = std::max(md, std::fabs(double(a[j]) - b[j]));
            mr = std::max(mr, std::fabs(double(a[j])));
        }
        agree += std::max_element(a, a + V) - a == std::max_element(b, b + V) - b;
    }
    EXPECT_LE(md, 3e-2 * mr) << name;
    EXPECT_GT(md, 0.0) << name << ": the bf16 path did not run";
    EXPECT_GE(agree, B * T * 9 / 10) << name;
    std::printf("  %s: bf16 max|diff|/max|ref| = %.3g, top-1 agreement %d/%ld\n", name.c_str(), md / mr, agree,
                static_cast<long>(B * T));
    // Back to fp32: the reference numbers again, exactly.
    m->compute_dtype_set(dlm::DType::F32);
    m->forward({ids.data(), nullptr, nullptr, B, T});
    m->logits(rows, got.data());
    EXPECT_EQ(got, ref) << name;
}

}  // namespace

TEST(bf16, roberta_logits_close_to_fp32) { check_bf16_close("tiny-roberta"); }
TEST(bf16, bert_logits_close_to_fp32) { check_bf16_close("tiny-bert"); }

TEST(bf16, gpt2_logits_close_to_fp32) { check_bf16_close("tiny-gpt2"); }

// Decoding one token at a time (the bf16 GEMV kernels) stays close to the fp32 full forward.
TEST(bf16, gpt2_kv_cache_decoding_close_to_fp32) {
    auto m = dlm::model_load(std::string(DLM_TEST_DATA) + "/models/tiny-gpt2");
    const int64_t T = 12, V = m->config().vocab_size;
    std::vector<int32_t> ids(T);
    for (int64_t t = 0; t < T; ++t) ids[t] = static_cast<int32_t>(5 + 41 * t % 900);
    m->forward({ids.data(), nullptr, nullptr, 1, T});
    std::vector<float> ref(V), got(V);
    std::vector<int64_t> last{T - 1};
    m->logits(last, ref.data());
    m->compute_dtype_set(dlm::DType::BF16);
    dlm::KvCache cache;
    m->kv_cache_init(cache, 1, T);
    m->forward_cached(cache, ids.data(), nullptr, T - 1);
    m->forward_cached(cache, ids.data() + T - 1, nullptr, 1);
    std::vector<int64_t> row{0};
    m->logits(row, got.data());
    double md = 0, mr = 0;
    for (int64_t j = 0; j < V; ++j) {
        md = std::max(md, std::fabs(double(ref[j]) - got[j]));
        mr = std::max(mr, std::fabs(double(ref[j])));
    }
    EXPECT_LE(md, 3e-2 * mr);
    EXPECT_GT(md, 0.0) << "the bf16 path did not run";
}

// The bf16 GEMV kernels against fp32 products of the same (bf16-rounded) weights:
// only the summation order differs, so 1e-5 relative. Widths cover full 128-column
// tiles, 16-column groups and a ragged tail.
TEST(bf16, gemv_kernels_match_fp32_on_rounded_weights) {
    for (int64_t n : {128, 300, 768 + 17}) {
        const int64_t k = 40;
        std::vector<float> x(k), w(k * n), b(n), ref(n), got(n);
        for (int64_t i = 0; i < k; ++i) x[i] = std::sin(0.3 * i);
        for (int64_t i = 0; i < k * n; ++i) w[i] = dlm::bf16_to_f32(dlm::f32_to_bf16(std::cos(0.01 * i)));
        for (int64_t j = 0; j < n; ++j) b[j] = 0.1f * j;
        std::vector<uint16_t> wb(k * n);
        dlm::f32_to_bf16_convert(wb.data(), w.data(), k * n);
        dlm::conv1d_forward(ref.data(), x.data(), w.data(), b.data(), 1, k, n);  // w as [K, N]
        dlm::conv1d_forward_gemv_bf16(got.data(), x.data(), wb.data(), b.data(), 1, k, n);
        for (int64_t j = 0; j < n; ++j) EXPECT_NEAR(got[j], ref[j], 1e-5 * (std::fabs(ref[j]) + 1)) << "conv1d n=" << n << " j=" << j;
        dlm::linear_forward(ref.data(), x.data(), w.data(), nullptr, 1, k, n);   // w as [N, K] (first n*k values)
        dlm::linear_forward_gemv_bf16(got.data(), x.data(), wb.data(), nullptr, 1, k, n);
        for (int64_t j = 0; j < n; ++j) EXPECT_NEAR(got[j], ref[j], 1e-5 * (std::fabs(ref[j]) + 1)) << "linear n=" << n << " j=" << j;
    }
}
