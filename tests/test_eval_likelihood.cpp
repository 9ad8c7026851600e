// Likelihood evaluation: the causal NLL and masked cross-entropies against the PyTorch
// fixture (tests/ref/make_eval_reference.py), the NELBO estimators against the exact
// bound computed by brute force over every mask set, the per-rate masking, the
// summary statistics, and generative perplexity.
#include <gtest/gtest.h>

#include <omp.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "eval/gen_perplexity.h"
#include "eval/likelihood.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace {

const std::string kData = DLM_TEST_DATA;

nlohmann::json eval_fixture() { return nlohmann::json::parse(dlm::file_read(kData + "/ref/eval-reference.json")); }

std::vector<int32_t> flat_ids(const nlohmann::json& rows) {
    std::vector<int32_t> out;
    for (auto& r : rows)
        for (auto& x : r) out.push_back(x.get<int32_t>());
    return out;
}

// tiny-roberta has no tokenizer: ids 0..2 are <s> <pad> </s>, 999 stands in for <mask>.
dlm::EvalVocab tiny_vocab() {
    dlm::EvalVocab v;
    v.mask_id = 999;
    v.special.assign(1000, false);
    v.special[0] = v.special[1] = v.special[2] = v.special[999] = true;
    v.bytes.assign(1000, 3);
    for (int id : {0, 1, 2, 999}) v.bytes[id] = 0;
    return v;
}

// Tests of many tiny forward passes run on one thread: two would only wait for each
// other (and ctest runs tests side by side). Restored after, for the tests that follow
// in the same process.
struct one_thread {
    int saved = omp_get_max_threads();
    one_thread() { omp_set_num_threads(1); }
    ~one_thread() { omp_set_num_threads(saved); }
};

}  // namespace

TEST(eval_likelihood, causal_nll_matches_pytorch) {
    auto fx = eval_fixture()["causal"];
    auto model = dlm::model_load(kData + "/models/tiny-gpt2");
    const auto ids = flat_ids(fx["ids"]);
    const int64_t T = fx["block_size"];
    dlm::EvalBlocks blocks{ids.data(), 2, T};
    dlm::EvalVocab v;  // no specials: every token from the prefix on is scored
    v.bytes.assign(1000, 2);
    dlm::LikelihoodOptions o;
    o.prefix = fx["prefix"];
    for (int64_t batch : {1, 2}) {
        o.batch = batch;
        auto r = dlm::causal_nll(*model, blocks, v, o);
        ASSERT_EQ(r.nats.size(), 2u);
        for (int b = 0; b < 2; ++b) {
            const double ref = fx["nll_per_block"][b];
            EXPECT_NEAR(r.nats[b], ref, 1e-5 * std::fabs(ref)) << "block " << b << " batch " << batch;
            EXPECT_EQ(r.tokens[b], T - o.prefix);
            EXPECT_EQ(r.bytes[b], 2 * (T - o.prefix));
        }
        auto s = dlm::nll_summarize(r);
        const double total = fx["nll_total"];
        EXPECT_NEAR(s.nats, total, 1e-5 * total);
        EXPECT_EQ(s.tokens, fx["tokens_scored"].get<int64_t>());
        EXPECT_NEAR(s.perplexity, std::exp(total / s.tokens), 1e-4 * s.perplexity);
        EXPECT_NEAR(s.bits_per_byte, total / std::log(2.0) / (2.0 * s.tokens), 1e-5);
    }
}

TEST(eval_likelihood, masked_rows_match_pytorch) {
    auto fx = eval_fixture()["masked"];
    auto model = dlm::model_load(kData + "/models/tiny-roberta");
    const int64_t T = fx["block_size"];
    auto ids = flat_ids(fx["ids"]);
    std::vector<int64_t> rows;
    std::vector<int32_t> targets;
    for (int b = 0; b < 2; ++b)
        for (auto& p : fx["masked"][b]) {
            const int64_t r = b * T + p.get<int64_t>();
            rows.push_back(r);
            targets.push_back(ids[r]);
        }
    for (int64_t r : rows) ids[r] = fx["mask_id"];
    std::vector<double> ce(rows.size());
    std::vector<uint8_t> correct(rows.size());
    dlm::model_rows_score(*model, dlm::ForwardInput{ids.data(), nullptr, nullptr, 2, T}, rows, targets, ce.data(),
                          correct.data());
    size_t i = 0;
    for (int b = 0; b < 2; ++b)
        for (size_t k = 0; k < fx["masked"][b].size(); ++k, ++i) {
            const double ref = fx["ce"][b][k];
            EXPECT_NEAR(ce[i], ref, 1e-5 * std::max(1.0, ref)) << "row " << rows[i];
            EXPECT_EQ(correct[i], fx["argmax"][b][k].get<int32_t>() == targets[i]) << "row " << rows[i];
        }
}

TEST(eval_likelihood, bound_estimators_match_brute_force) {
    one_thread guard;
    // One short block: <s> a b | x1 x2 x3 x4 | </s>, prefix 3: L = 4 eligible tokens.
    auto model = dlm::model_load(kData + "/models/tiny-roberta");
    const auto v = tiny_vocab();
    const std::vector<int32_t> block = {0, 417, 23, 88, 901, 250, 640, 2};
    const int64_t T = 8, P = 3, L = 4;
    // S(M) = sum over i in M of CE_i with exactly M masked, for all 15 non-empty M.
    std::vector<int32_t> ids;
    std::vector<int64_t> rows;
    std::vector<int32_t> targets;
    for (int M = 1; M < 16; ++M) {
        ids.insert(ids.end(), block.begin(), block.end());
        for (int i = 0; i < L; ++i)
            if (M >> i & 1) {
                const int64_t r = (M - 1) * T + P + i;
                ids[r] = v.mask_id;
                rows.push_back(r);
                targets.push_back(block[P + i]);
            }
    }
    std::vector<double> ce(rows.size());
    std::vector<uint8_t> correct(rows.size());
    dlm::model_rows_score(*model, dlm::ForwardInput{ids.data(), nullptr, nullptr, 15, T}, rows, targets, ce.data(),
                          correct.data());
    std::vector<double> S(16, 0.0);
    for (size_t k = 0; k < rows.size(); ++k) S[rows[k] / T + 1] += ce[k];

    // E_t[(1/t) S(M_t)] with P(M | t) = t^m (1-t)^(L-m): integral of t^(m-1) (1-t)^(L-m)
    // = Beta(m, L-m+1) = (m-1)! (L-m)! / L!.
    auto fact = [](int n) { return std::tgamma(n + 1.0); };
    double exact = 0, by_count = 0, quadrature = 0;
    std::vector<double> by_size(L + 1, 0.0);
    std::vector<int> n_size(L + 1, 0);
    for (int M = 1; M < 16; ++M) {
        const int m = __builtin_popcount(M);
        exact += fact(m - 1) * fact(L - m) / fact(L) * S[M];
        by_size[m] += S[M];
        ++n_size[m];
    }
    // The same as sum over m of (1/m) E_{|M|=m}[S(M)] (what the count estimator samples) ...
    for (int m = 1; m <= L; ++m) by_count += by_size[m] / n_size[m] / m;
    EXPECT_NEAR(by_count, exact, 1e-9 * exact);
    // ... and as Gauss-Legendre quadrature over t (4 nodes: exact for the degree-3 integrand).
    const double nodes[4] = {-0.8611363115940526, -0.3399810435848563, 0.3399810435848563, 0.8611363115940526};
    const double wts[4] = {0.3478548451374538, 0.6521451548625461, 0.6521451548625461, 0.3478548451374538};
    for (int q = 0; q < 4; ++q) {
        const double t = 0.5 * (nodes[q] + 1);
        double integrand = 0;
        for (int M = 1; M < 16; ++M) {
            const int m = __builtin_popcount(M);
            integrand += std::pow(t, m) * std::pow(1 - t, L - m) / t * S[M];
        }
        quadrature += 0.5 * wts[q] * integrand;
    }
    EXPECT_NEAR(quadrature, exact, 1e-9 * exact);

    // The stochastic estimators on 600 copies of the block (independent u and masks per
    // copy): within 4 standard errors of the exact bound per token.
    const int64_t copies = 600;
    std::vector<int32_t> many;
    for (int64_t c = 0; c < copies; ++c) many.insert(many.end(), block.begin(), block.end());
    dlm::EvalBlocks blocks{many.data(), copies, T};
    dlm::LikelihoodOptions o;
    o.prefix = P;
    o.samples = 8;
    o.batch = 64;
    o.seed = 5;
    for (auto est : {dlm::BoundEstimator::time, dlm::BoundEstimator::mask_count}) {
        o.estimator = est;
        auto r = dlm::nelbo_bound(*model, blocks, v, o);
        auto s = dlm::nll_summarize(r);
        EXPECT_EQ(s.tokens, copies * L);
        EXPECT_EQ(s.samples, copies * 8);
        EXPECT_EQ(s.bytes, copies * L * 3);
        EXPECT_GT(s.se_nats_per_token, 0);
        EXPECT_LT(std::fabs(s.nats_per_token - exact / L), 4 * s.se_nats_per_token)
            << dlm::bound_estimator_name(est) << ": " << s.nats_per_token << " ± " << s.se_nats_per_token
            << " vs exact " << exact / L;
        // Measured over 30 seeds: se 1.2-2.2% (t: heavy-tailed, 1/t has infinite variance)
        // and 0.07% (count) of the bound.
        EXPECT_LT(s.se_nats_per_token, (est == dlm::BoundEstimator::time ? 0.03 : 0.002) * exact / L)
            << dlm::bound_estimator_name(est);
    }
}

TEST(eval_likelihood, bound_is_reproducible_and_batch_independent) {
    one_thread guard;
    auto model = dlm::model_load(kData + "/models/tiny-roberta");
    const auto v = tiny_vocab();
    auto fx = eval_fixture()["masked"];
    const auto ids = flat_ids(fx["ids"]);
    dlm::EvalBlocks blocks{ids.data(), 2, fx["block_size"].get<int64_t>()};
    dlm::LikelihoodOptions o;
    o.prefix = 4;
    o.samples = 3;
    o.batch = 1;
    auto a = dlm::nelbo_bound(*model, blocks, v, o);
    o.batch = 5;
    auto b = dlm::nelbo_bound(*model, blocks, v, o);
    for (int i = 0; i < 2; ++i) EXPECT_NEAR(a.nats[i], b.nats[i], 1e-6 * a.nats[i]);
    EXPECT_EQ(a.tokens, (std::vector<int64_t>{24 - 4 - 1, 24 - 4 - 1}));  // </s> is not eligible
    o.seed = 1;
    auto c = dlm::nelbo_bound(*model, blocks, v, o);
    EXPECT_NE(a.nats[0], c.nats[0]);
}

TEST(eval_likelihood, mask_rates) {
    one_thread guard;
    auto model = dlm::model_load(kData + "/models/tiny-roberta");
    const auto v = tiny_vocab();
    auto fx = eval_fixture()["masked"];
    auto ids = flat_ids(fx["ids"]);
    ids[10] = 2;  // a special token inside the block is never masked
    dlm::EvalBlocks blocks{ids.data(), 2, 24};
    dlm::LikelihoodOptions o;
    o.prefix = 4;
    o.rates = {0.3, 1.0};
    auto r = dlm::masked_ce_by_rate(*model, blocks, v, o);
    ASSERT_EQ(r.size(), 2u);
    const int64_t eligible = (24 - 4 - 1) + (24 - 4 - 1) - 1;
    EXPECT_EQ(r[0].eligible, eligible);
    EXPECT_EQ(r[1].masked, eligible);  // rate 1: every eligible token
    EXPECT_GT(r[0].masked, 0);
    EXPECT_LT(r[0].masked, eligible);
    EXPECT_GT(r[1].ce(), 0);
    EXPECT_GE(r[1].accuracy(), 0);
    EXPECT_LE(r[1].accuracy(), 1);
    // Rate 1 by hand: mask every eligible position of both blocks, score them.
    std::vector<int32_t> in = ids;
    std::vector<int64_t> rows;
    std::vector<int32_t> targets;
    for (int64_t i = 0; i < 48; ++i)
        if (i % 24 >= 4 && !v.special[ids[i]]) {
            rows.push_back(i);
            targets.push_back(ids[i]);
            in[i] = v.mask_id;
        }
    std::vector<double> ce(rows.size());
    std::vector<uint8_t> ok(rows.size());
    dlm::model_rows_score(*model, dlm::ForwardInput{in.data(), nullptr, nullptr, 2, 24}, rows, targets, ce.data(), ok.data());
    double sum = 0;
    int64_t correct = 0;
    for (size_t i = 0; i < ce.size(); ++i) sum += ce[i], correct += ok[i];
    EXPECT_NEAR(r[1].ce_sum, sum, 1e-6 * sum);
    EXPECT_EQ(r[1].correct, correct);
    // Neither the order of the rates nor the batch size changes anything.
    o.rates = {1.0, 0.3};
    auto swapped = dlm::masked_ce_by_rate(*model, blocks, v, o);
    EXPECT_EQ(swapped[1].masked, r[0].masked);
    EXPECT_NEAR(swapped[1].ce_sum, r[0].ce_sum, 1e-6 * r[0].ce_sum);
    o.rates = {0.3, 1.0};
    o.batch = 1;
    auto r1 = dlm::masked_ce_by_rate(*model, blocks, v, o);
    EXPECT_EQ(r1[0].masked, r[0].masked);
    EXPECT_NEAR(r1[0].ce_sum, r[0].ce_sum, 1e-6 * r[0].ce_sum);
}

TEST(eval_likelihood, summary_statistics) {
    dlm::BlockNll b;
    b.nats = {10, 20};
    b.tokens = {5, 5};
    b.bytes = {20, 20};
    b.samples = 8;
    auto s = dlm::nll_summarize(b);
    EXPECT_DOUBLE_EQ(s.nats_per_token, 3.0);
    // residuals 10 - 15 and 20 - 15: sqrt(50 / (2 * 1)) / 5 = 1
    EXPECT_DOUBLE_EQ(s.se_nats_per_token, 1.0);
    EXPECT_DOUBLE_EQ(s.perplexity, std::exp(3.0));
    EXPECT_DOUBLE_EQ(s.se_perplexity, std::exp(3.0));
    EXPECT_DOUBLE_EQ(s.bits_per_byte, 30.0 / 40.0 / std::log(2.0));
    EXPECT_DOUBLE_EQ(s.se_bits_per_byte, 0.25 / std::log(2.0));
    EXPECT_EQ(s.samples, 8);
    b.nats.resize(1), b.tokens.resize(1), b.bytes.resize(1);
    EXPECT_TRUE(std::isnan(dlm::nll_summarize(b).se_nats_per_token));  // one block: unknown
}

TEST(eval_likelihood, wrong_model_kinds_and_sizes_are_errors) {
    auto roberta = dlm::model_load(kData + "/models/tiny-roberta");
    auto gpt2 = dlm::model_load(kData + "/models/tiny-gpt2");
    const auto v = tiny_vocab();
    std::vector<int32_t> ids(200, 5);
    dlm::EvalBlocks blocks{ids.data(), 1, 48};
    dlm::LikelihoodOptions o;
    o.prefix = 4;
    EXPECT_THROW(dlm::causal_nll(*gpt2, dlm::EvalBlocks{ids.data(), 1, 65}, v, o), dlm::Error);  // window 64
    EXPECT_THROW(dlm::nelbo_bound(*gpt2, blocks, v, o), dlm::Error);
    EXPECT_THROW(dlm::causal_nll(*roberta, dlm::EvalBlocks{ids.data(), 2, 24}, v, o), dlm::Error);
    EXPECT_THROW(dlm::nelbo_bound(*roberta, blocks, v, o), dlm::Error);  // 48 > 38 tokens
    o.prefix = 24;
    EXPECT_THROW(dlm::masked_ce_by_rate(*roberta, dlm::EvalBlocks{ids.data(), 2, 24}, v, o), dlm::Error);
    o.prefix = 0;
    EXPECT_THROW(dlm::causal_nll(*gpt2, blocks, v, o), dlm::Error);
}

TEST(eval_likelihood, generative_perplexity) {
    one_thread guard;
    auto scorer = dlm::model_load(kData + "/models/tiny-gpt2-random");
    auto tok = dlm::Tokenizer::from_folder(kData + "/tokenizers/gpt2");
    std::vector<std::string> prompts = {"The city", "Hello", "", "Nothing follows"};
    std::vector<std::string> conts = {" was founded in 1850.", " world", "Once upon a time", ""};
    auto g = dlm::generative_perplexity(*scorer, tok, prompts, conts, 3);
    ASSERT_EQ(g.nats.size(), 4u);
    EXPECT_EQ(g.tokens[3], 0);
    EXPECT_EQ(g.nats[3], 0.0);
    // Sample 0 by hand: <|endoftext|> + tokens of the joined text, the continuation's scored.
    auto body = tok.encode(prompts[0] + conts[0]);
    auto head = tok.encode(prompts[0]);
    ASSERT_EQ(std::vector<int32_t>(body.begin(), body.begin() + head.size()), head);
    std::vector<int32_t> ids = {tok.bos_id()};
    ids.insert(ids.end(), body.begin(), body.end());
    std::vector<int64_t> rows;
    std::vector<int32_t> targets;
    for (size_t j = 1 + head.size(); j < ids.size(); ++j) rows.push_back(j - 1), targets.push_back(ids[j]);
    std::vector<double> ce(rows.size());
    std::vector<uint8_t> ok(rows.size());
    const int64_t T = static_cast<int64_t>(ids.size());
    dlm::model_rows_score(*scorer, dlm::ForwardInput{ids.data(), nullptr, nullptr, 1, T}, rows, targets, ce.data(), ok.data());
    double nats = 0;
    for (double x : ce) nats += x;
    EXPECT_EQ(g.tokens[0], static_cast<int64_t>(rows.size()));
    EXPECT_NEAR(g.nats[0], nats, 1e-5 * nats);
    // The empty prompt: every token scored, the first one after <|endoftext|>.
    EXPECT_EQ(g.tokens[2], static_cast<int64_t>(tok.encode(conts[2]).size()));
    // Batching (right padding) changes nothing.
    auto one = dlm::generative_perplexity(*scorer, tok, prompts, conts, 1);
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(one.nats[i], g.nats[i], 1e-5 * std::max(1.0, g.nats[i]));
    const double total = g.nats[0] + g.nats[1] + g.nats[2];
    EXPECT_NEAR(g.perplexity, std::exp(total / g.tokens_total), 1e-6 * g.perplexity);
}

TEST(eval_likelihood, generative_perplexity_rejects_bad_scorers) {
    auto tok = dlm::Tokenizer::from_folder(kData + "/tokenizers/gpt2");
    std::vector<std::string> p = {"a"}, c = {" b"};
    auto expect_error = [&](dlm::Model& m, const std::string& part) {
        try {
            dlm::generative_perplexity(m, tok, p, c);
            ADD_FAILURE() << "no error, expected: " << part;
        } catch (const dlm::Error& e) {
            EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
        }
    };
    auto roberta = dlm::model_load(kData + "/models/tiny-roberta");
    expect_error(*roberta, "not a causal LM");
    auto small = dlm::model_load(kData + "/models/tiny-gpt2");  // vocab 1000: another vocabulary
    expect_error(*small, "belongs to another model");
    auto scorer = dlm::model_load(kData + "/models/tiny-gpt2-random");
    std::vector<std::string> two = {"a", "b"};
    EXPECT_THROW(dlm::generative_perplexity(*scorer, tok, two, c), dlm::Error);
}
