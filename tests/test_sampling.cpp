// Token sampling: the filters keep the right support and the draws follow the
// renormalised distribution (frequencies over 40000 draws within 5 standard errors).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "generation/sampling.h"

namespace {

const std::vector<float> kLogits = {2.0f, 1.0f, 0.5f, -1.0f, 3.0f, 0.0f};

std::vector<double> softmax(const std::vector<float>& l, double t) {
    std::vector<double> p(l.size());
    double mx = *std::max_element(l.begin(), l.end()), s = 0;
    for (size_t i = 0; i < l.size(); ++i) s += p[i] = std::exp((l[i] - mx) / t);
    for (auto& x : p) x /= s;
    return p;
}

std::vector<double> frequencies(const std::function<int32_t(dlm::Rng&)>& draw, int n = 40000) {
    std::vector<double> f(kLogits.size(), 0.0);
    dlm::Rng rng(123);
    for (int i = 0; i < n; ++i) f[draw(rng)] += 1.0 / n;
    return f;
}

void expect_freq(const std::vector<double>& got, const std::vector<double>& want, int n = 40000) {
    for (size_t i = 0; i < want.size(); ++i)
        EXPECT_NEAR(got[i], want[i], 5 * std::sqrt(want[i] * (1 - want[i]) / n) + 1e-9) << "token " << i;
}

}  // namespace

TEST(sampling, temperature_sampling_follows_the_softmax) {
    dlm::SamplingScratch s;
    auto f = frequencies([&](dlm::Rng& r) { return dlm::token_sample(kLogits.data(), 6, {0.7f, 0, 1.0f}, r, s).id; });
    expect_freq(f, softmax(kLogits, 0.7));
}

TEST(sampling, top_k_keeps_the_k_best_renormalised) {
    dlm::SamplingScratch s;
    auto f = frequencies([&](dlm::Rng& r) { return dlm::token_sample(kLogits.data(), 6, {1.0f, 2, 1.0f}, r, s).id; });
    auto p = softmax(kLogits, 1.0);
    const double z = p[4] + p[0];
    std::vector<double> want(6, 0.0);
    want[4] = p[4] / z;
    want[0] = p[0] / z;
    expect_freq(f, want);
}

// On a vocabulary-sized row (the scan skips blocks of 16 below the heap's minimum) the
// top-k candidates are exactly the k best by logit, ties to the lower id, whatever k
// and however many logits tie at the cut.
TEST(sampling, top_k_candidates_are_the_k_best_on_a_large_vocabulary) {
    const int64_t v = 5003;
    std::vector<float> l(v);
    dlm::Rng gen(7);
    for (int64_t j = 0; j < v; ++j) l[j] = std::round(static_cast<float>(gen.uniform_double()) * 400.0f) / 8.0f;
    std::vector<int32_t> ref(v);
    std::iota(ref.begin(), ref.end(), 0);
    std::sort(ref.begin(), ref.end(), [&](int32_t a, int32_t b) { return l[a] > l[b] || (l[a] == l[b] && a < b); });
    for (int k : {1, 7, 50, 300}) {
        dlm::SamplingScratch s;
        dlm::Rng r(1);
        dlm::token_sample(l.data(), v, {1.0f, k, 1.0f}, r, s);
        EXPECT_EQ(s.order, std::vector<int32_t>(ref.begin(), ref.begin() + k)) << "k=" << k;
    }
}

TEST(sampling, top_p_keeps_the_smallest_set_reaching_p) {
    dlm::SamplingScratch s;
    auto p = softmax(kLogits, 1.0);  // sorted: 4 (0.56), 0 (0.21), 1 (0.08), 2 (0.05), ...
    // top_p 0.7: token 4 alone has 0.56 < 0.7, so token 0 joins; 0.77 >= 0.7 stops.
    auto f = frequencies([&](dlm::Rng& r) { return dlm::token_sample(kLogits.data(), 6, {1.0f, 0, 0.7f}, r, s).id; });
    std::vector<double> want(6, 0.0);
    want[4] = p[4] / (p[4] + p[0]);
    want[0] = p[0] / (p[4] + p[0]);
    expect_freq(f, want);
}

TEST(sampling, greedy_and_top1_pick_the_argmax) {
    dlm::SamplingScratch s;
    dlm::Rng rng(1);
    EXPECT_EQ(dlm::token_sample(kLogits.data(), 6, {0.0f, 0, 1.0f}, rng, s).id, 4);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(dlm::token_sample(kLogits.data(), 6, {1.0f, 1, 1.0f}, rng, s).id, 4);
    EXPECT_EQ(dlm::token_argmax(kLogits.data(), 6), 4);
    auto c = dlm::token_sample(kLogits.data(), 6, {1.0f, 0, 1.0f}, rng, s);
    EXPECT_NEAR(c.top_prob, softmax(kLogits, 1.0)[4], 1e-6);
}

TEST(sampling, gumbel_max_samples_the_softmax) {
    dlm::SamplingScratch s;
    auto f = frequencies([&](dlm::Rng& r) { return dlm::token_gumbel(kLogits.data(), 6, 1.3f, r, s).id; });
    expect_freq(f, softmax(kLogits, 1.3));
    dlm::Rng rng(2);
    auto c = dlm::token_gumbel(kLogits.data(), 6, 0.0f, rng, s);
    EXPECT_EQ(c.id, 4);
    EXPECT_NEAR(c.prob, softmax(kLogits, 1.0)[4], 1e-6);
}

// The confidence sampler ranks positions by token_top_prob and draws only where it
// commits: the ranking must be exactly the top_prob a draw reports, for every filter.
TEST(sampling, top_prob_without_a_draw_equals_the_drawn_one) {
    const int64_t v = 50265;
    std::vector<float> logits(v);
    for (int64_t j = 0; j < v; ++j) logits[j] = static_cast<float>(std::sin(0.001 * j * j) * 6.0 + (j % 97) * 0.01);
    logits[4321] = 9.5f;
    logits[7] = -INFINITY;  // a masked id, as the diffusion samplers set <mask>
    const dlm::SamplingParams cases[] = {{1.0f, 0, 1.0f}, {0.8f, 0, 1.0f}, {1.0f, 50, 0.95f},
                                         {0.7f, 0, 0.9f}, {1.3f, 5, 1.0f},  {0.0f, 0, 1.0f}};
    dlm::SamplingScratch s1, s2;
    for (const auto& p : cases) {
        dlm::Rng rng(11);
        const dlm::TokenChoice c = dlm::token_sample(logits.data(), v, p, rng, s1);
        const float top = dlm::token_top_prob(logits.data(), v, p, s2);
        EXPECT_EQ(top, c.top_prob) << "temperature " << p.temperature << ", top-k " << p.top_k << ", top-p " << p.top_p;
        EXPECT_GT(top, 0.0f);
    }
}

// The entropy rule's measure against a double-precision softmax: uniform (and with a
// masked id at -inf), one-hot, and a long row at two temperatures.
TEST(sampling, entropy_matches_the_softmax) {
    auto reference = [](const std::vector<float>& l, double t) {
        const auto p = softmax(l, t);
        double h = 0;
        for (double x : p)
            if (x > 0) h -= x * std::log(x);
        return h;
    };
    std::vector<float> uniform(1000, 0.5f), sharp(64, 0.0f), long_row(50265);
    sharp[3] = 40.0f;
    sharp[5] = -INFINITY;
    for (size_t j = 0; j < long_row.size(); ++j) long_row[j] = static_cast<float>(std::sin(0.37 * j) * 4.0);
    EXPECT_NEAR(dlm::token_entropy(uniform.data(), 1000, 1.0f), std::log(1000.0), 1e-4);
    uniform[7] = -INFINITY;  // a masked id: probability 0, no term
    EXPECT_NEAR(dlm::token_entropy(uniform.data(), 1000, 1.0f), std::log(999.0), 1e-4);
    EXPECT_NEAR(dlm::token_entropy(sharp.data(), 64, 1.0f), reference(sharp, 1.0), 1e-5);
    for (float t : {1.0f, 0.7f})
        EXPECT_NEAR(dlm::token_entropy(long_row.data(), 50265, t), reference(long_row, t), 1e-4 * reference(long_row, t))
            << "temperature " << t;
    EXPECT_NEAR(dlm::token_entropy(kLogits.data(), 6, 0.0f), reference(kLogits, 1.0), 1e-5) << "greedy: temperature 1";
}
