// Models computing in q8 (int8 weights, kernels/quant.h) against the same models in
// fp32, on the shipped models' real weights and a real sentence: the logits at every
// position within a stated relative error, and the same top token almost everywhere.
// Both model kinds: the masked LM's products go through the int8 matmul, the causal
// LM's streamed weights through the int8 GEMV.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace {

const std::string kModels = std::string(DLM_SOURCE_DIR) + "/models/";

struct logits_pair {
    std::vector<float> f32, q8;
    int64_t rows = 0, vocab = 0;
};

logits_pair logits_both(const std::string& name) {
    const std::string dir = kModels + name;
    const auto tok = dlm::Tokenizer::from_folder(dir);
    const std::vector<int32_t> ids = tok.encode(
        "The city was founded in the twelfth century as a market town on the river, and it grew "
        "quickly once the railway arrived in 1850.",
        true);
    logits_pair p;
    p.rows = static_cast<int64_t>(ids.size());
    for (dlm::DType t : {dlm::DType::F32, dlm::DType::I8}) {
        auto m = dlm::model_load(dir, t);
        p.vocab = m->config().vocab_size;
        m->forward({ids.data(), nullptr, nullptr, 1, p.rows});
        std::vector<int64_t> rows(p.rows);
        for (int64_t i = 0; i < p.rows; ++i) rows[i] = i;
        std::vector<float>& out = t == dlm::DType::F32 ? p.f32 : p.q8;
        out.resize(static_cast<size_t>(p.rows * p.vocab));
        m->logits(rows, out.data());
    }
    return p;
}

// max |q8 - f32| over the largest |f32| logit; RMS error over the RMS logit; the share of
// positions whose top token is the same.
void expect_close_to_f32(const logits_pair& p, double max_rel, double rms_rel, double top1) {
    double d = 0, m = 0, e2 = 0, r2 = 0;
    int64_t same = 0;
    for (int64_t r = 0; r < p.rows; ++r) {
        int64_t a = 0, b = 0;
        for (int64_t v = 0; v < p.vocab; ++v) {
            const double x = p.f32[r * p.vocab + v], y = p.q8[r * p.vocab + v];
            d = std::max(d, std::fabs(y - x));
            m = std::max(m, std::fabs(x));
            e2 += (y - x) * (y - x);
            r2 += x * x;
            if (x > p.f32[r * p.vocab + a]) a = v;
            if (y > p.q8[r * p.vocab + b]) b = v;
        }
        same += a == b;
    }
    EXPECT_LT(d / m, max_rel);
    EXPECT_LT(std::sqrt(e2 / r2), rms_rel);
    EXPECT_GE(static_cast<double>(same) / static_cast<double>(p.rows), top1);
    std::printf("q8 against f32: max error %.4f of the largest logit, RMS %.4f, top-1 agreement %.3f\n", d / m,
                std::sqrt(e2 / r2), static_cast<double>(same) / static_cast<double>(p.rows));
}

}  // namespace

TEST(q8_models, masked_lm_logits_near_f32) {
    expect_close_to_f32(logits_both("dlm-diffusion"), 0.05, 0.02, 0.9);
}

TEST(q8_models, causal_lm_logits_near_f32) {
    expect_close_to_f32(logits_both("dlm-ar"), 0.05, 0.02, 0.9);
}
