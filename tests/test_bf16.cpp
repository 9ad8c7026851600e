// The bf16 inference path against the fp32 reference path on the same weights.
// bf16 keeps 8 significant bits (relative rounding 2^-9 = 2e-3 per operand); after two
// layers and the LM head the logits stay within 3e-2 * max|fp32 logits|, and the
// top-1 token agrees at (almost) every position.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "io/safetensors.h"
#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/gemv.h"
#include "kernels/embedding.h"
#include "kernels/gemm.h"
#include "core/rng.h"
#include "models/model.h"
#include "train/adamw.h"

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
TEST(bf16, modernbert_logits_close_to_fp32) { check_bf16_close("tiny-modernbert"); }

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

// gemm_bf16 against a double-precision sum of the exact products, on oneDNN's bf16
// kernels (where the CPU has them) and on the fp32 emulation (forced): transposed B,
// bias, beta 1, batches with a broadcast operand, and sizes past the emulation's 2^22-
// element widening blocks on A and on B. Tolerance: 1e-5 of sum |a*b| per element
// (fp32 accumulation of exact products), plus 1e-6.
TEST(bf16, gemm_matches_exact_products) {
    struct gemm_case { const char* what; dlm::gemm_view av, bv, cv; bool bias; float beta; };
    auto batched = [](int64_t b0, int64_t b1, int64_t r, int64_t c) {
        return dlm::gemm_view{b0, b1, r, c, b1 * r * c, r * c, c, 1};
    };
    const std::vector<gemm_case> cases{
        {"plain, B transposed, bias", dlm::gemm_matrix(7, 33, 33), dlm::gemm_matrix_t(33, 19, 33), dlm::gemm_matrix(7, 19, 19), true, 0.0f},
        {"beta 1", dlm::gemm_matrix(5, 16, 16), dlm::gemm_matrix(16, 9, 9), dlm::gemm_matrix(5, 9, 9), false, 1.0f},
        {"batched, B broadcast over batch0", batched(2, 3, 6, 8), batched(1, 3, 8, 5), batched(2, 3, 6, 5), false, 0.0f},
        {"batched, A broadcast over batch1", batched(2, 1, 4, 8), batched(2, 3, 8, 7), batched(2, 3, 4, 7), true, 1.0f},
        {"A past one widening block", dlm::gemm_matrix(2100, 2048, 2048), dlm::gemm_matrix_t(2048, 5, 2048), dlm::gemm_matrix(2100, 5, 5), true, 0.0f},
        {"B past one widening block", dlm::gemm_matrix(3, 2048, 2048), dlm::gemm_matrix_t(2048, 2100, 2048), dlm::gemm_matrix(3, 2100, 2100), true, 1.0f},
    };
    auto extent = [](const dlm::gemm_view& v) {
        return (v.batch0 - 1) * v.stride_b0 + (v.batch1 - 1) * v.stride_b1 + (v.rows - 1) * v.stride_row +
               (v.cols - 1) * v.stride_col + 1;
    };
    std::vector<bool> modes{true};
    if (dlm::gemm_bf16_native()) modes.insert(modes.begin(), false);
    for (const gemm_case& g : cases) {
        std::vector<uint16_t> a(extent(g.av)), b(extent(g.bv));
        for (size_t i = 0; i < a.size(); ++i) a[i] = dlm::f32_to_bf16(static_cast<float>(std::sin(0.7 * i) * 1.5));
        for (size_t i = 0; i < b.size(); ++i) b[i] = dlm::f32_to_bf16(static_cast<float>(std::cos(0.3 * i + 1.0)));
        std::vector<float> bias(g.cv.cols), c0(extent(g.cv));
        for (size_t j = 0; j < bias.size(); ++j) bias[j] = 0.25f * static_cast<float>(j % 7) - 0.5f;
        for (size_t i = 0; i < c0.size(); ++i) c0[i] = static_cast<float>(std::sin(1.3 * i));
        for (bool emulated : modes) {
            dlm::gemm_bf16_emulation_force(emulated);
            std::vector<float> c = c0;
            dlm::gemm_bf16(a.data(), g.av, b.data(), g.bv, c.data(), g.cv, g.bias ? bias.data() : nullptr, g.beta);
            dlm::gemm_bf16_emulation_force(false);
            double worst = 0;
            for (int64_t i0 = 0; i0 < g.cv.batch0; ++i0)
                for (int64_t i1 = 0; i1 < g.cv.batch1; ++i1)
                    for (int64_t r = 0; r < g.cv.rows; ++r)
                        for (int64_t j = 0; j < g.cv.cols; ++j) {
                            const int64_t ao = (g.av.batch0 == 1 ? 0 : i0) * g.av.stride_b0 + (g.av.batch1 == 1 ? 0 : i1) * g.av.stride_b1;
                            const int64_t bo = (g.bv.batch0 == 1 ? 0 : i0) * g.bv.stride_b0 + (g.bv.batch1 == 1 ? 0 : i1) * g.bv.stride_b1;
                            double sum = 0, mag = 0;
                            for (int64_t k = 0; k < g.av.cols; ++k) {
                                const double p = double(dlm::bf16_to_f32(a[ao + r * g.av.stride_row + k * g.av.stride_col])) *
                                                 dlm::bf16_to_f32(b[bo + k * g.bv.stride_row + j * g.bv.stride_col]);
                                sum += p;
                                mag += std::fabs(p);
                            }
                            const int64_t ci = i0 * g.cv.stride_b0 + i1 * g.cv.stride_b1 + r * g.cv.stride_row + j * g.cv.stride_col;
                            if (g.bias) sum += bias[j];
                            sum += g.beta * c0[ci];
                            const double err = std::fabs(c[ci] - sum) / (1e-5 * mag + 1e-6);
                            worst = std::max(worst, err);
                        }
            EXPECT_LE(worst, 1.0) << g.what << (emulated ? " (emulated)" : " (native)");
        }
    }
}

// A weight packed into a copy of its own (the tied decoder's way): the packed product
// equals the plain one to summation order (1e-5 relative), for widths whose packed
// layout is larger than the plain one, and the plain weight is left as it was.
TEST(bf16, weight_packed_into_a_copy_matches_the_plain_product) {
    if (!dlm::gemm_bf16_native()) GTEST_SKIP() << "no oneDNN bf16 kernels on this CPU: nothing is packed";
    for (int64_t oc : {1003, 50265 / 15}) {
        const int64_t n = 37, c = 48;
        std::vector<float> x(n * c), b(oc), plain(n * oc), packed(n * oc);
        for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(std::sin(0.11 * i));
        for (int64_t j = 0; j < oc; ++j) b[j] = 0.01f * static_cast<float>(j % 13);
        std::vector<uint16_t> w(oc * c), act(n * c);
        for (size_t i = 0; i < w.size(); ++i) w[i] = dlm::f32_to_bf16(static_cast<float>(std::cos(0.07 * i)));
        const std::vector<uint16_t> w0 = w;
        const int64_t size = dlm::linear_weight_packed_size_bf16(c, oc);
        ASSERT_GE(size, oc * c);
        std::vector<uint16_t> wp(size);
        dlm::linear_weight_pack_bf16_copy(wp.data(), w.data(), c, oc);
        EXPECT_EQ(w, w0) << "the plain weight changed";
        dlm::linear_forward_bf16(plain.data(), act.data(), x.data(), w.data(), b.data(), n, c, oc);
        dlm::linear_forward_bf16_packed(packed.data(), act.data(), x.data(), wp.data(), b.data(), n, c, oc);
        for (size_t i = 0; i < plain.size(); ++i)
            ASSERT_NEAR(packed[i], plain[i], 1e-5 * (std::fabs(plain[i]) + 1)) << "oc " << oc << ", element " << i;
    }
}

// Kernels that write the next product's bf16 input themselves give exactly what
// converting their fp32 output gives: GELU, and the products told (inp nullptr) that
// the rounded input is already in place.
TEST(bf16, producers_writing_bf16_match_the_converted_fp32) {
    const int64_t n = 37, c = 96, oc = 80;
    std::vector<float> x(n * c), bias(c);
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(std::sin(0.13 * i) * 3.0);
    for (int64_t j = 0; j < c; ++j) bias[j] = 0.05f * static_cast<float>(j % 9) - 0.2f;
    for (auto act : {dlm::Activation::gelu_erf, dlm::Activation::gelu_tanh}) {
        std::vector<float> y = x;
        dlm::bias_gelu_forward(y.data(), bias.data(), n, c, act);
        std::vector<uint16_t> want(n * c), got(n * c);
        dlm::f32_to_bf16_convert(want.data(), y.data(), n * c);
        dlm::bias_gelu_forward_bf16(got.data(), x.data(), bias.data(), n, c, act);
        EXPECT_EQ(got, want) << "gelu form " << static_cast<int>(act);
    }
    std::vector<uint16_t> w(oc * c), act(n * c), act2(n * c);
    for (size_t i = 0; i < w.size(); ++i) w[i] = dlm::f32_to_bf16(static_cast<float>(std::cos(0.07 * i)));
    std::vector<float> b(oc, 0.25f), want(n * oc), got(n * oc, -1.0f);
    dlm::linear_forward_bf16(want.data(), act.data(), x.data(), w.data(), b.data(), n, c, oc);
    dlm::f32_to_bf16_convert(act2.data(), x.data(), n * c);
    dlm::linear_forward_bf16(got.data(), act2.data(), nullptr, w.data(), b.data(), n, c, oc);
    EXPECT_EQ(got, want) << "linear, input already rounded";
    if (dlm::gemm_bf16_native()) {
        std::vector<uint16_t> wp(dlm::linear_weight_packed_size_bf16(c, oc));
        dlm::linear_weight_pack_bf16_copy(wp.data(), w.data(), c, oc);
        dlm::linear_forward_bf16_packed(want.data(), act.data(), x.data(), wp.data(), b.data(), n, c, oc);
        std::fill(got.begin(), got.end(), -1.0f);
        dlm::linear_forward_bf16_packed(got.data(), act2.data(), nullptr, wp.data(), b.data(), n, c, oc);
        EXPECT_EQ(got, want) << "packed linear, input already rounded";
    }
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

// Column tiles (the decoding layout) hold the same matrix: every element where
// tiled_index says, the GEMV bit for bit what the plain Conv1D GEMV gives (same
// summation order), the oneDNN product on tiles what it gives on the plain layout
// (1e-5 relative: only its blocking differs), the column gather exactly the embedding
// rows of the plain [N, K] table. Widths: less than a tile, one tile, tiles + a
// ragged block; both source layouts.
TEST(bf16, tiled_layout_matches_the_plain_layout) {
    for (int64_t n : {40, 128, 300, 768 + 17}) {
        for (bool transposed : {false, true}) {
            const int64_t k = 48, m = 5;
            std::vector<float> w(k * n), x(m * k), b(n);
            for (int64_t i = 0; i < k * n; ++i) w[i] = std::cos(0.01 * i + n);
            for (int64_t i = 0; i < m * k; ++i) x[i] = std::sin(0.3 * i);
            for (int64_t j = 0; j < n; ++j) b[j] = 0.1f * j;
            std::vector<uint16_t> plain(k * n);  // [K, N], or [N, K] when transposed
            dlm::f32_to_bf16_convert(plain.data(), w.data(), k * n);
            std::vector<uint16_t> tiled = plain, scratch(dlm::tiled_pack_scratch(k, n, transposed));
            dlm::tiled_pack_bf16(tiled.data(), scratch.data(), k, n, transposed);
            const std::string what = "n=" + std::to_string(n) + (transposed ? " linear" : " conv1d");
            for (int64_t kk = 0; kk < k; ++kk)
                for (int64_t j = 0; j < n; ++j)
                    ASSERT_EQ(tiled[dlm::tiled_index(kk, j, k, n)], transposed ? plain[j * k + kk] : plain[kk * n + j])
                        << what << " element (" << kk << ", " << j << ")";
            std::vector<float> ref(m * n), got(m * n);
            std::vector<uint16_t> act(m * k);
            if (transposed) dlm::linear_forward_bf16(ref.data(), act.data(), x.data(), plain.data(), b.data(), m, k, n);
            else dlm::conv1d_forward_bf16(ref.data(), act.data(), x.data(), plain.data(), b.data(), m, k, n);
            dlm::tiled_forward_bf16(got.data(), act.data(), x.data(), tiled.data(), b.data(), m, k, n);
            for (int64_t i = 0; i < m * n; ++i)
                ASSERT_NEAR(got[i], ref[i], 1e-5 * (std::fabs(ref[i]) + 1)) << what << " product, element " << i;
            dlm::tiled_gemv_bf16(got.data(), x.data(), tiled.data(), b.data(), m, k, n);
            if (!transposed) {
                dlm::conv1d_forward_gemv_bf16(ref.data(), x.data(), plain.data(), b.data(), m, k, n);
                EXPECT_EQ(got, ref) << what << ": the tiled GEMV sums as the plain one";
            } else {  // against the fp32 product of the rounded weights
                std::vector<float> wr(k * n);
                for (int64_t i = 0; i < k * n; ++i) wr[i] = dlm::bf16_to_f32(plain[i]);
                dlm::linear_forward(ref.data(), x.data(), wr.data(), b.data(), m, k, n);
                for (int64_t i = 0; i < m * n; ++i)
                    ASSERT_NEAR(got[i], ref[i], 1e-5 * (std::fabs(ref[i]) + 1)) << what << " GEMV, element " << i;
                // The tied embedding lookup: rows of the [N, K] table, = and +=.
                const std::vector<int32_t> ids{0, static_cast<int32_t>(n - 1), 7, static_cast<int32_t>(n / 2)};
                const int64_t c = static_cast<int64_t>(ids.size());
                std::vector<float> e_ref(c * k, 1.5f), e_got(c * k, 1.5f);
                for (bool acc : {true, false}) {
                    dlm::embedding_forward_bf16(e_ref.data(), ids.data(), plain.data(), c, k, acc);
                    dlm::tiled_columns_gather_bf16(e_got.data(), ids.data(), tiled.data(), c, k, n, acc);
                    EXPECT_EQ(e_got, e_ref) << what << " gather, accumulate " << acc;
                }
            }
        }
    }
}

// The bf16 attention (inference) against the fp32 kernel on the same inputs: causal and
// padded keys masked the same way, probabilities and outputs within bf16 rounding of
// the operands (2^-9 relative each; 1e-2 of the largest magnitude after the sums).
TEST(bf16, attention_close_to_fp32) {
    for (bool causal : {false, true}) {
        const int64_t B = 2, T = 20, NH = 2, HD = 16, C = NH * HD;
        std::vector<float> qkv(B * T * 3 * C);
        for (size_t i = 0; i < qkv.size(); ++i) qkv[i] = static_cast<float>(std::sin(0.37 * i) * 2.0);
        std::vector<int32_t> mask(B * T, 1);
        for (int64_t t = 15; t < T; ++t) mask[T + t] = 0;  // sample 1 padded at the end
        dlm::attention_shape s{B, T, T, NH, HD, 3 * C, 3 * C, causal, 0};
        std::vector<float> out32(B * T * C), att32(B * NH * T * T), out16(B * T * C), att16(B * NH * T * T);
        std::vector<uint16_t> scratch(dlm::attention_bf16_scratch(s));
        const float* q = qkv.data();
        dlm::attention_forward(out32.data(), att32.data(), nullptr, q, q + C, q + 2 * C, mask.data(), s);
        dlm::attention_forward_bf16(out16.data(), att16.data(), scratch.data(), q, q + C, q + 2 * C, mask.data(), s);
        double mo = 0, da = 0, dout = 0;
        for (size_t i = 0; i < out32.size(); ++i) {
            mo = std::max(mo, std::fabs(double(out32[i])));
            dout = std::max(dout, std::fabs(double(out32[i]) - out16[i]));
        }
        for (size_t i = 0; i < att32.size(); ++i) {
            da = std::max(da, std::fabs(double(att32[i]) - att16[i]));
            if (att32[i] == 0.0f) {
                EXPECT_EQ(att16[i], 0.0f) << "a masked key got weight, causal " << causal;
            }
        }
        EXPECT_LE(da, 1e-2) << "probabilities, causal " << causal;
        EXPECT_LE(dout, 1e-2 * mo) << "outputs, causal " << causal;
        EXPECT_GT(dout, 0.0) << "the bf16 kernel did not round";
    }
}

// model_load(dir, BF16) never makes fp32 matrices, yet computes exactly what an fp32 load
// switched to bf16 computes (full forward, and KV-cache decoding for GPT-2), and refuses
// what needs the fp32 weights (f32 compute, training, saving) with a message.
TEST(bf16, bf16_only_load_matches_fp32_load_switched_to_bf16) {
    for (const std::string name : {"tiny-roberta", "tiny-bert", "tiny-modernbert", "tiny-gpt2"}) {
        const std::string dir = std::string(DLM_TEST_DATA) + "/models/" + name;
        auto a = dlm::model_load(dir);
        a->compute_dtype_set(dlm::DType::BF16);
        auto b = dlm::model_load(dir, dlm::DType::BF16);
        EXPECT_EQ(b->compute_dtype(), dlm::DType::BF16);
        EXPECT_FALSE(b->has_f32_matrices());
        const int64_t B = 2, T = 9, V = a->config().vocab_size;
        std::vector<int32_t> ids(B * T);
        for (int64_t i = 0; i < B * T; ++i) ids[i] = static_cast<int32_t>(3 + (i * 53) % (V - 3));
        std::vector<int64_t> rows(B * T);
        std::iota(rows.begin(), rows.end(), 0);
        std::vector<float> la(B * T * V), lb(B * T * V);
        a->forward({ids.data(), nullptr, nullptr, B, T});
        a->logits(rows, la.data());
        b->forward({ids.data(), nullptr, nullptr, B, T});
        b->logits(rows, lb.data());
        EXPECT_EQ(la, lb) << name;
        // The fp32 matrices of the bf16-only model were never written (the first one
        // declared: the word embeddings, in every architecture).
        const dlm::ParamEntry* word = nullptr;
        for (const auto& e : b->params().entries())
            if (!word && e.shape.size() == 2) word = &e;
        ASSERT_NE(word, nullptr) << name;
        const float* w = b->params().get(word->offset);
        EXPECT_TRUE(std::all_of(w, w + word->numel(), [](float x) { return x == 0.0f; })) << name;

        if (name == "tiny-gpt2") {
            std::vector<float> ca(V), cb(V);
            std::vector<int64_t> row{0};
            for (auto* m : {a.get(), b.get()}) {
                dlm::KvCache cache;
                m->kv_cache_init(cache, 1, T);
                m->forward_cached(cache, ids.data(), nullptr, T - 1);
                m->forward_cached(cache, ids.data() + T - 1, nullptr, 1);
                m->logits(row, (m == a.get() ? ca : cb).data());
            }
            EXPECT_EQ(ca, cb);
        }
        EXPECT_THROW(b->compute_dtype_set(dlm::DType::F32), dlm::Error) << name;
        EXPECT_THROW(b->save(testing::TempDir() + "/bf16_only_save"), dlm::Error) << name;
        std::vector<int32_t> targets(B * T, 5);
        EXPECT_THROW(b->forward_backward({{ids.data(), nullptr, nullptr, B, T}, targets.data(), nullptr, false, 0, {}}),
                     dlm::Error)
            << name;
    }
}

// Mixed-precision training (train_dtype BF16) against the fp32 reference on the tiny
// models: the gradients of one batch agree to bf16 accuracy (cosine > 0.999, max
// |diff| <= 3% of max |g|), and 30 AdamW steps on a fixed batch (memorising it) follow
// the fp32 loss trajectory within 2% at every step while the loss falls by half.
TEST(bf16, mixed_precision_training_follows_fp32) {
    for (const std::string name : {"tiny-roberta", "tiny-gpt2"}) {
        const std::string dir = std::string(DLM_TEST_DATA) + "/models/" + name;
        const bool causal = name == "tiny-gpt2";
        const int64_t B = 4, T = 16;
        auto probe = dlm::model_load(dir);
        const int64_t V = probe->config().vocab_size;
        std::vector<int32_t> ids(B * T), targets(B * T, dlm::kIgnoreTarget);
        dlm::Rng rng(7);
        for (auto& x : ids) x = static_cast<int32_t>(4 + rng.below(static_cast<uint64_t>(V - 4)));
        for (int64_t r = 0; r < B * T; ++r) {
            if (causal) {
                if ((r + 1) % T) targets[r] = ids[r + 1];
            } else if (rng.uniform() < 0.4f) {
                targets[r] = ids[r];
                ids[r] = 3;  // any fixed id stands for <mask> here
            }
        }
        const dlm::TrainInput in{{ids.data(), nullptr, nullptr, B, T}, targets.data(), nullptr, false, 0, {}};

        auto run = [&](dlm::DType dt, std::vector<float>* first_grads) {
            auto m = dlm::model_load(dir);
            m->train_dtype_set(dt);
            dlm::AdamW opt(m->params(), {});
            std::vector<double> losses;
            for (int step = 0; step < 30; ++step) {
                m->params().grads_zero();
                losses.push_back(m->forward_backward(in));
                if (step == 0 && first_grads) first_grads->assign(m->params().grads().begin(), m->params().grads().end());
                opt.step(m->params(), 3e-3f);
            }
            return losses;
        };
        std::vector<float> g32, g16;
        const auto l32 = run(dlm::DType::F32, &g32), l16 = run(dlm::DType::BF16, &g16);
        double dot = 0, n32 = 0, n16 = 0, md = 0, mg = 0;
        for (size_t i = 0; i < g32.size(); ++i) {
            dot += double(g32[i]) * g16[i];
            n32 += double(g32[i]) * g32[i];
            n16 += double(g16[i]) * g16[i];
            md = std::max(md, std::fabs(double(g32[i]) - g16[i]));
            mg = std::max(mg, std::fabs(double(g32[i])));
        }
        const double cosine = dot / std::sqrt(n32 * n16);
        EXPECT_GT(cosine, 0.999) << name;
        EXPECT_LE(md, 0.03 * mg) << name;
        EXPECT_GT(md, 0.0) << name << ": the bf16 products did not run";
        for (size_t s = 0; s < l32.size(); ++s) EXPECT_NEAR(l16[s], l32[s], 0.02 * l32[s]) << name << " step " << s;
        EXPECT_LT(l32.back(), 0.5 * l32.front()) << name << ": the run does not learn, so the comparison says little";
        std::printf("  %s: grad cosine %.6f, max|diff|/max|g| %.3g; loss %.4f -> %.4f (fp32) vs %.4f -> %.4f (bf16)\n",
                    name.c_str(), cosine, md / mg, l32.front(), l32.back(), l16.front(), l16.back());
    }
}

// Prepacked weights (bf16 inference, RoBERTa/BERT encoder matrices): packing happens on
// first use, changes only the summation order (logits within 1e-5 of the plain layout,
// relative to the largest), and retraining in bf16 goes back to plain copies. Without
// oneDNN's bf16 kernels (emulation, forced here on any CPU) nothing goes to oneDNN's
// packed layout; GPT-2's column tiles (dlm's own layout) stay.
TEST(bf16, prepacked_weights_match_the_plain_layout) {
    std::vector<bool> modes{true};
    if (dlm::gemm_bf16_native()) modes.insert(modes.begin(), false);
    else std::printf("  no oneDNN bf16 kernels on this CPU: only the emulated mode is checked\n");
    for (bool emulated : modes)
    for (const std::string name : {"tiny-roberta", "tiny-bert", "tiny-modernbert", "tiny-gpt2"}) {
        SCOPED_TRACE(emulated ? "emulated bf16" : "native bf16");
        dlm::gemm_bf16_emulation_force(emulated);
        struct restore { ~restore() { dlm::gemm_bf16_emulation_force(false); } } restore_mode;
        auto m = dlm::model_load(std::string(DLM_TEST_DATA) + "/models/" + name);
        const int64_t B = 2, T = 11, V = m->config().vocab_size;
        std::vector<int32_t> ids(B * T);
        for (int64_t i = 0; i < B * T; ++i) ids[i] = static_cast<int32_t>(5 + (i * 71) % (V - 5));
        std::vector<int64_t> rows(B * T);
        std::iota(rows.begin(), rows.end(), 0);
        std::vector<float> plain(B * T * V), packed(B * T * V);
        m->compute_dtype_set(dlm::DType::BF16);
        m->prepack_set(false);
        m->forward({ids.data(), nullptr, nullptr, B, T});
        m->logits(rows, plain.data());
        EXPECT_EQ(m->prepacked_count(), 0) << name;
        m->prepack_set(true);
        m->forward({ids.data(), nullptr, nullptr, B, T});
        m->logits(rows, packed.data());
        // Candidates: 4 per layer + the head's dense (RoBERTa, BERT; shapes whose packed
        // layout would be larger than the plain one stay plain), or + the LM head (GPT-2's
        // column tiles, which always fit).
        if (emulated && name != "tiny-gpt2") {
            EXPECT_EQ(m->prepacked_count(), 0) << name;
        } else {
            EXPECT_GT(m->prepacked_count(), 0) << name;
            EXPECT_LE(m->prepacked_count(), 4 * m->config().num_layers + 1) << name;
        }
        double md = 0, mr = 0;
        for (size_t i = 0; i < plain.size(); ++i) {
            md = std::max(md, std::fabs(double(plain[i]) - packed[i]));
            mr = std::max(mr, std::fabs(double(plain[i])));
        }
        EXPECT_LE(md, 1e-5 * mr) << name;
        m->prepack_set(false);
        EXPECT_EQ(m->prepacked_count(), 0) << name;
        m->forward({ids.data(), nullptr, nullptr, B, T});
        m->logits(rows, packed.data());
        EXPECT_EQ(packed, plain) << name << ": unpacking restores the plain copies exactly";
    }
}

// GPT-2 decoding on column tiles (prompt through oneDNN on the tiles, then one token at
// a time through the tiled GEMV, embeddings gathered from the tiled tied table) gives
// the logits of the plain layout, to summation order.
TEST(bf16, gpt2_decoding_on_tiles_matches_the_plain_layout) {
    auto m = dlm::model_load(std::string(DLM_TEST_DATA) + "/models/tiny-gpt2");
    const int64_t T = 12, V = m->config().vocab_size;
    std::vector<int32_t> ids(T);
    for (int64_t t = 0; t < T; ++t) ids[t] = static_cast<int32_t>(5 + 83 * t % 990);
    m->compute_dtype_set(dlm::DType::BF16);
    std::vector<float> logits[2];
    for (bool tiles : {false, true}) {
        m->prepack_set(tiles);
        dlm::KvCache cache;
        m->kv_cache_init(cache, 1, T);
        m->forward_cached(cache, ids.data(), nullptr, 4);
        for (int64_t t = 4; t < T; ++t) {
            m->forward_cached(cache, ids.data() + t, nullptr, 1);
            std::vector<float> l(V);
            m->logits(std::vector<int64_t>{0}, l.data());
            logits[tiles].insert(logits[tiles].end(), l.begin(), l.end());
        }
        EXPECT_EQ(m->prepacked_count(), tiles ? 4 * m->config().num_layers + 1 : 0);
    }
    double md = 0, mr = 0;
    for (size_t i = 0; i < logits[0].size(); ++i) {
        md = std::max(md, std::fabs(double(logits[0][i]) - logits[1][i]));
        mr = std::max(mr, std::fabs(double(logits[0][i])));
    }
    EXPECT_LE(md, 1e-5 * mr);
}
