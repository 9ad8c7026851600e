// Whole-model gradients against central finite differences of the loss, for both
// architectures, with dropout off and on (a fixed dropout stream makes the loss a
// deterministic function of the weights). h = 1e-2 in fp32; tolerance
// |fd - analytic| <= 2e-2 * max|analytic over the sampled entries| + 2e-4.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/rng.h"
#include "models/lm_head.h"
#include "models/model.h"

namespace {

struct grad_case {
    std::string model;
    bool dropout;
    bool causal;
};

void check_grads(const grad_case& gc) {
    auto m = dlm::model_load(std::string(DLM_TEST_DATA) + "/models/" + gc.model);
    const auto& c = m->config();
    const int64_t B = 2, T = 9;
    std::mt19937 rng(5);
    std::vector<int32_t> ids(B * T), mask(B * T, 1), targets(B * T, dlm::kIgnoreTarget);
    for (auto& x : ids) x = 3 + static_cast<int32_t>(rng() % (c.vocab_size - 3));
    if (!gc.causal) {  // right padding in the second row
        for (int64_t t = 7; t < T; ++t) {
            ids[T + t] = c.pad_token_id;
            mask[T + t] = 0;
        }
    }
    for (int64_t r = 0; r < B * T; ++r) {
        if (gc.causal) {
            if (r % T != T - 1 && mask[r + 1]) targets[r] = ids[r + 1];
        } else if (mask[r] && rng() % 3 == 0) {
            targets[r] = ids[r];
            ids[r] = 4;  // a "mask" token
        }
    }
    dlm::TrainInput t{{ids.data(), mask.data(), nullptr, B, T}, targets.data(), nullptr, gc.dropout, 99, {}};
    m->params().grads_zero();
    m->forward_backward(t);
    std::vector<float> analytic(m->params().grads().begin(), m->params().grads().end());

    auto& p = m->params().data();
    std::vector<int64_t> picks;
    for (auto& e : m->params().entries())  // two entries of every tensor
        for (int k = 0; k < 2; ++k) picks.push_back(e.offset + static_cast<int64_t>(rng() % e.numel()));
    // Embedding rows that the batch uses (most rows of the tables get no gradient).
    const auto& wte = m->params().entries()[0];
    picks.push_back(wte.offset + static_cast<int64_t>(ids[0]) * c.hidden_size + 1);
    picks.push_back(wte.offset + static_cast<int64_t>(ids[5]) * c.hidden_size + 3);

    const float h = 1e-2f;
    double max_an = 0;
    for (auto i : picks) max_an = std::max(max_an, std::fabs(double(analytic[i])));
    ASSERT_GT(max_an, 0.0);
    int checked = 0;
    for (auto i : picks) {
        const float x0 = p[i];
        p[i] = x0 + h;
        m->params().grads_zero();
        double lp = m->forward_backward(t);
        p[i] = x0 - h;
        m->params().grads_zero();
        double lm = m->forward_backward(t);
        p[i] = x0;
        double fd = (lp - lm) / (2.0 * h);
        EXPECT_NEAR(analytic[i], fd, 2e-2 * max_an + 2e-4) << "parameter index " << i;
        ++checked;
    }
    EXPECT_GT(checked, 40);
}

}  // namespace

TEST(model_grads, roberta_matches_finite_differences) { check_grads({"tiny-roberta", false, false}); }
TEST(model_grads, roberta_with_dropout_matches_finite_differences) { check_grads({"tiny-roberta", true, false}); }
TEST(model_grads, bert_matches_finite_differences) { check_grads({"tiny-bert", false, false}); }
TEST(model_grads, modernbert_matches_finite_differences) { check_grads({"tiny-modernbert", false, false}); }
TEST(model_grads, gpt2_matches_finite_differences) { check_grads({"tiny-gpt2", false, true}); }
TEST(model_grads, gpt2_with_dropout_matches_finite_differences) { check_grads({"tiny-gpt2", true, true}); }

// Training-mode forward without dropout computes the same loss as inference + CE.
TEST(model_grads, train_forward_without_dropout_equals_inference) {
    auto m = dlm::model_load(std::string(DLM_TEST_DATA) + "/models/tiny-roberta");
    const int64_t T = 10;
    std::vector<int32_t> ids(T), targets(T, dlm::kIgnoreTarget);
    for (int64_t t = 0; t < T; ++t) ids[t] = static_cast<int32_t>(5 + 7 * t);
    targets[3] = 17;
    targets[8] = 900;
    dlm::TrainInput ti{{ids.data(), nullptr, nullptr, 1, T}, targets.data(), nullptr, false, 0, {}};
    double loss = m->forward_backward(ti);
    m->forward(ti.in);
    std::vector<int64_t> rows{3, 8};
    std::vector<float> logits(2 * m->config().vocab_size);
    m->logits(rows, logits.data());
    double want = 0;
    for (int r = 0; r < 2; ++r) {
        const float* x = logits.data() + r * m->config().vocab_size;
        double mx = *std::max_element(x, x + m->config().vocab_size), s = 0;
        for (int64_t j = 0; j < m->config().vocab_size; ++j) s += std::exp(x[j] - mx);
        want += (mx + std::log(s) - x[r == 0 ? 17 : 900]) / 2;
    }
    EXPECT_NEAR(loss, want, 1e-5 * want);
}

// Losses are weighted sums over target rows, so the gradient of all targets at once
// equals the sum of the gradients of any split of them. With more targets than one
// LM-head chunk (kHeadChunkRows) this checks that chunks accumulate into the same
// gradients and route d(hidden) to the right positions.
TEST(model_grads, many_targets_equal_the_sum_of_their_halves) {
    for (const char* name : {"tiny-roberta", "tiny-gpt2"}) {
        auto m = dlm::model_load(std::string(DLM_TEST_DATA) + "/models/" + name);
        const auto& c = m->config();
        const int64_t T = std::min<int64_t>(c.max_sequence(), 32), B = (2 * dlm::kHeadChunkRows + 100) / T + 1;
        dlm::Rng rng(11);
        std::vector<int32_t> ids(B * T), all(B * T), half1(B * T, dlm::kIgnoreTarget), half2(B * T, dlm::kIgnoreTarget);
        std::vector<float> w(B * T);
        for (int64_t i = 0; i < B * T; ++i) {
            ids[i] = 3 + static_cast<int32_t>(rng.below(static_cast<uint64_t>(c.vocab_size - 3)));
            all[i] = 3 + static_cast<int32_t>(rng.below(static_cast<uint64_t>(c.vocab_size - 3)));
            (rng.below(2) ? half1 : half2)[i] = all[i];
            w[i] = 1.0f / static_cast<float>(B * T);
        }
        ASSERT_GT(B * T, 2 * dlm::kHeadChunkRows);
        auto grads_of = [&](const std::vector<int32_t>& targets) {
            m->params().grads_zero();
            m->forward_backward({{ids.data(), nullptr, nullptr, B, T}, targets.data(), w.data(), false, 0, {}});
            return m->params().grads();
        };
        auto g_all = grads_of(all), g1 = grads_of(half1), g2 = grads_of(half2);
        double max_ref = 0, max_diff = 0;
        for (size_t i = 0; i < g_all.size(); ++i) {
            max_ref = std::max(max_ref, std::abs(static_cast<double>(g_all[i])));
            max_diff = std::max(max_diff, std::abs(static_cast<double>(g_all[i]) - g1[i] - g2[i]));
        }
        EXPECT_GT(max_ref, 0.0) << name;
        EXPECT_LE(max_diff, 1e-4 * max_ref) << name << ": max|diff| " << max_diff << " of max|grad| " << max_ref;
    }
}
