// The instruction-set levels of a portable build (kernels/isa.h): every level this CPU
// runs gives the baseline's (x86-64-v2) results up to the order of float sums (vector
// widths and fused multiply-adds differ), and DLM_CPU picks a level but never one the
// CPU lacks. In a native build there is one level and the comparisons are skipped.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "cli_run.h"
#include "core/cpu.h"
#include "generation/sampling.h"
#include "kernels/gemv.h"
#include "kernels/quant.h"
#include "test_util.h"
#include "kernels/gemm.h"
#include "models/model.h"

namespace {

const std::string kModels = std::string(DLM_TEST_DATA) + "/models/";
// Sums of up to a few thousand fp32 products in another order, with or without fused
// multiply-adds: a few ulps of the largest value.
constexpr double kLevelTol = 1e-5;

// The levels this CPU can run, lowest first.
std::vector<dlm::CpuLevel> levels_here() {
    std::vector<dlm::CpuLevel> out;
    for (auto l : {dlm::CpuLevel::v2, dlm::CpuLevel::v3, dlm::CpuLevel::v4})
        if (static_cast<int>(l) <= static_cast<int>(dlm::cpu_level_supported())) out.push_back(l);
    return out;
}

// Runs f once per level (the level forced), and restores the level in force before.
template <typename F>
std::vector<std::vector<float>> per_level(F&& f) {
    const dlm::CpuLevel before = dlm::cpu_level();
    std::vector<std::vector<float>> out;
    for (auto l : levels_here()) {
        EXPECT_EQ(dlm::cpu_level_force(l), l);
        out.push_back(f());
    }
    dlm::cpu_level_force(before);
    return out;
}

void expect_levels_agree(const std::vector<std::vector<float>>& r, const std::string& what) {
    const auto levels = levels_here();
    for (size_t i = 1; i < r.size(); ++i)
        EXPECT_LE(rel_diff(r[i], r[0]), kLevelTol) << what << ": " << dlm::cpu_level_name(levels[i]) << " against "
                                                   << dlm::cpu_level_name(levels[0]);
}

}  // namespace

TEST(cpu_levels, the_level_in_force_is_one_the_cpu_has) {
    const dlm::CpuLevel l = dlm::cpu_level();
    EXPECT_LE(static_cast<int>(l), static_cast<int>(dlm::cpu_level_supported()));
    for (auto x : {dlm::CpuLevel::v2, dlm::CpuLevel::v3, dlm::CpuLevel::v4})
        EXPECT_FALSE(std::string(dlm::cpu_level_name(x)).empty());
    if (!dlm::cpu_portable_build()) {
        EXPECT_EQ(dlm::cpu_level_force(dlm::CpuLevel::v2), l) << "native: one level";
    }
    // Asking for more than the CPU has gives its best.
    if (dlm::cpu_portable_build()) {
        EXPECT_EQ(dlm::cpu_level_force(dlm::CpuLevel::v4), dlm::cpu_level_supported());
        dlm::cpu_level_force(l);
    }
}

TEST(cpu_levels, decode_kernels_agree_across_levels) {
    if (!dlm::cpu_portable_build()) GTEST_SKIP() << "native build: one level";
    // Shapes with and without tile, pass and lane tails.
    for (auto [k, n] : {std::pair<int64_t, int64_t>{768, 2304}, {96, 200}, {33, 17}, {64, 384}}) {
        SCOPED_TRACE("k " + std::to_string(k) + " n " + std::to_string(n));
        const auto x = random_floats(k, 1), xn = random_floats(n, 4), w = random_floats(k * n, 2), bias = random_floats(n, 3);
        std::vector<uint16_t> w16(w.size()), tiled(w.size()), scratch16(w.size());
        dlm::f32_to_bf16_convert(w16.data(), w.data(), static_cast<int64_t>(w.size()));
        tiled = w16;
        dlm::tiled_pack_bf16(tiled.data(), scratch16.data(), k, n, false);
        std::vector<float> scratch(dlm::kGemvChunks * n);
        expect_levels_agree(per_level([&] {
            std::vector<float> out(n);
            dlm::conv1d_forward_gemv(out.data(), scratch.data(), x.data(), w.data(), bias.data(), 1, k, n);
            return out;
        }), "conv1d gemv f32");
        expect_levels_agree(per_level([&] {
            std::vector<float> out(k);
            dlm::linear_forward_gemv(out.data(), xn.data(), w.data(), nullptr, 1, n, k);  // w as [k, n]
            return out;
        }), "linear gemv f32");
        expect_levels_agree(per_level([&] {
            std::vector<float> out(n);
            dlm::conv1d_forward_gemv_bf16(out.data(), x.data(), w16.data(), bias.data(), 1, k, n);
            return out;
        }), "conv1d gemv bf16");
        expect_levels_agree(per_level([&] {
            std::vector<float> out(n);
            dlm::tiled_gemv_bf16(out.data(), x.data(), tiled.data(), bias.data(), 1, k, n);
            return out;
        }), "tiled gemv bf16");
        if (k % 32 == 0)
            expect_levels_agree(per_level([&] {
                std::vector<int8_t> q(n * k);
                std::vector<float> scale(n), out(2 * n);
                std::vector<float> scratch8(dlm::q8_gemv_scratch(2, k) / 4 + 1);
                dlm::q8_weights_quantize(q.data(), scale.data(), w.data(), n, k, true);
                const auto x2 = random_floats(2 * k, 5);
                dlm::q8_gemv(out.data(), scratch8.data(), x2.data(), q.data(), scale.data(), bias.data(), 2, k, n);
                return out;
            }), "q8 gemv");
    }
}

TEST(cpu_levels, models_agree_across_levels) {
    if (!dlm::cpu_portable_build()) GTEST_SKIP() << "native build: one level";
    for (const char* name : {"tiny-gpt2", "tiny-roberta"}) {
        SCOPED_TRACE(name);
        auto m = dlm::model_load(kModels + name);
        const int64_t B = 2, T = 9, V = m->config().vocab_size;
        std::vector<int32_t> ids(B * T);
        for (int64_t i = 0; i < B * T; ++i) ids[i] = static_cast<int32_t>((i * 37 + 5) % V);
        std::vector<int64_t> rows(B * T);
        for (int64_t i = 0; i < B * T; ++i) rows[i] = i;
        expect_levels_agree(per_level([&] {
            m->forward({ids.data(), nullptr, nullptr, B, T});
            std::vector<float> logits(static_cast<size_t>(B * T * V));
            m->logits(rows, logits.data());
            return logits;
        }), "logits");
    }
}

TEST(cpu_levels, sampling_scans_agree_across_levels) {
    if (!dlm::cpu_portable_build()) GTEST_SKIP() << "native build: one level";
    const int64_t V = 50265;
    auto logits = random_floats(V, 9);
    for (auto& x : logits) x *= 8;
    dlm::SamplingScratch s;
    for (dlm::SamplingParams p : {dlm::SamplingParams{1.0f, 0, 1.0f}, {0.8f, 50, 0.95f}, {1.0f, 0, 0.9f}}) {
        expect_levels_agree(per_level([&] {
            std::vector<float> probs(V);
            const float top = dlm::token_top_prob(logits.data(), V, p, s);
            dlm::softmax_temperature(logits.data(), V, p.temperature, probs.data());
            probs.push_back(top);
            return probs;
        }), "top probability and softmax");
    }
}

TEST(cpu_levels, dlm_cpu_chooses_a_level_the_cpu_has) {
    auto r = cli_run("--version", "DLM_CPU=sse4.2");
    ASSERT_EQ(r.code, 0) << r.err;
    if (dlm::cpu_portable_build()) {
        EXPECT_NE(r.out.find("portable build, kernels sse4.2"), std::string::npos) << r.out;
        auto best = cli_run("--version", "DLM_CPU=avx512");
        EXPECT_NE(best.out.find(std::string("kernels ") + dlm::cpu_level_name(dlm::cpu_level_supported())),
                  std::string::npos)
            << best.out;
        if (dlm::cpu_level_supported() != dlm::CpuLevel::v4) {
            EXPECT_NE(best.err.find("supports"), std::string::npos) << "a level the CPU lacks is refused: " << best.err;
        }
    } else {
        EXPECT_NE(r.out.find("native build"), std::string::npos) << r.out;
    }
    auto bad = cli_run("--version", "DLM_CPU=pentium");
    EXPECT_EQ(bad.code, 0);
    if (dlm::cpu_portable_build()) {
        EXPECT_NE(bad.err.find("DLM_CPU=pentium is not a level"), std::string::npos) << bad.err;
    }
}
