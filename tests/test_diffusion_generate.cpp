// The diffusion samplers' bookkeeping, with a fake model whose logits are known:
// how many tokens each step commits, that the context never changes, that nothing is
// left masked, block order, the sliding window, determinism, and that only the logits
// a sampler reads are asked for.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/error.h"
#include "diffusion/generate.h"
#include "models/model.h"

namespace {

constexpr int32_t kMask = 3;
constexpr int64_t kVocab = 64;

// Position p prefers token 10 + p % 50. Its confidence depends on p: even positions
// are sure (logit gap 20), odd ones unsure (gap 0.5). Logits depend only on the
// position inside the window and the canvas row, never on other samples.
class FakeDenoiser : public dlm::Denoiser {
public:
    int64_t vocab_size() const override { return kVocab; }
    void logits(const int32_t* ids, int64_t batch, int64_t seq, std::span<const int64_t> rows, float* out) override {
        ++calls;
        last_seq = seq;
        rows_asked.push_back(static_cast<int64_t>(rows.size()));
        last_rows.assign(rows.begin(), rows.end());
        for (size_t i = 0; i < rows.size(); ++i) {
            const int64_t t = rows[i] % seq, b = rows[i] / seq;
            EXPECT_LT(b, batch);
            asked_masked &= ids[rows[i]] == kMask;
            float* o = out + i * kVocab;
            for (int64_t j = 0; j < kVocab; ++j) o[j] = 0.0f;
            o[10 + t % 50] = t % 2 == 0 ? 20.0f : 0.5f;
        }
    }
    // The cache: the same logits (they depend on the position only), with the calls
    // recorded; a span pass may only ask for rows inside its span.
    void logits_kv(const int32_t* ids, int64_t batch, int64_t seq, std::span<const int64_t> rows, float* out) override {
        ++kv_calls;
        logits(ids, batch, seq, rows, out);
    }
    void logits_span(const int32_t* ids, int64_t batch, int64_t seq, int64_t q0, int64_t q1,
                     std::span<const int64_t> rows, float* out) override {
        spans.push_back({q0, q1});
        for (int64_t r : rows) EXPECT_TRUE(r % seq >= q0 && r % seq < q1) << "row " << r << " outside the span";
        logits(ids, batch, seq, rows, out);
    }
    int64_t calls = 0, last_seq = 0, kv_calls = 0;
    std::vector<int64_t> rows_asked, last_rows;
    std::vector<std::pair<int64_t, int64_t>> spans;
    bool asked_masked = true;
};

std::vector<int32_t> prompt_then_masks(int64_t prompt, int64_t masks) {
    std::vector<int32_t> s;
    for (int64_t i = 0; i < prompt; ++i) s.push_back(static_cast<int32_t>(40 + i));
    s.insert(s.end(), static_cast<size_t>(masks), kMask);
    return s;
}

dlm::DiffusionOptions options(dlm::SamplerKind k, int64_t steps) {
    dlm::DiffusionOptions o;
    o.sampler = k;
    o.steps = steps;
    o.mask_id = kMask;
    o.window = 256;
    return o;
}

int64_t count_masks(std::span<const int32_t> s) { return std::count(s.begin(), s.end(), kMask); }

}  // namespace

TEST(diffusion_generate, remask_follows_the_rate_schedule) {
    FakeDenoiser fake;
    auto start = prompt_then_masks(16, 240);
    std::vector<int64_t> masks_after;
    auto res = dlm::diffusion_generate(fake, start, options(dlm::SamplerKind::remask, 10),
                                       [&](const dlm::GenerationStep& s) {
                                           masks_after.push_back(count_masks(s.tokens));
                                           EXPECT_EQ(s.changed.size(), 240u);
                                           // The logits asked for are exactly the positions
                                           // that hold a token after the step: nothing read is
                                           // re-masked, nothing kept goes unread.
                                           std::vector<int64_t> kept;
                                           for (int64_t p = 16; p < 256; ++p)
                                               if (s.tokens[p] != kMask) kept.push_back(p);
                                           EXPECT_EQ(fake.last_rows, kept) << "step " << s.step;
                                       });
    ASSERT_EQ(masks_after.size(), 10u);
    for (int64_t s = 0; s < 10; ++s) {
        EXPECT_EQ(masks_after[s], std::llround((0.9 - 0.1 * s) * 240)) << "step " << s;
        EXPECT_EQ(fake.rows_asked[s], 240 - masks_after[s]) << "step " << s;  // the LM head only where it is kept
    }
    EXPECT_EQ(count_masks(res.tokens[0]), 0);
    EXPECT_TRUE(std::equal(start.begin(), start.begin() + 16, res.tokens[0].begin()));
    EXPECT_EQ(res.stats.forward_passes, 10);
    EXPECT_EQ(res.stats.new_tokens, 240);
}

TEST(diffusion_generate, confidence_commits_sure_positions_and_at_least_one) {
    FakeDenoiser fake;
    auto start = prompt_then_masks(4, 20);
    auto o = options(dlm::SamplerKind::confidence, 0);
    o.sampling = {0.8f, 0, 1.0f};
    std::vector<std::vector<int64_t>> committed;
    std::map<int64_t, int32_t> final_token;
    auto res = dlm::diffusion_generate(fake, start, o, [&](const dlm::GenerationStep& s) {
        committed.emplace_back(s.committed.begin(), s.committed.end());
        for (int64_t p : s.committed) {
            EXPECT_FALSE(final_token.count(p)) << "position committed twice";
            final_token[p] = s.tokens[p];
        }
        for (auto [p, id] : final_token) EXPECT_EQ(s.tokens[p], id) << "committed tokens stay";
    });
    // Step 1: the 10 sure positions (even positions 4, 6, ..., 22); then one unsure per step.
    ASSERT_GE(committed.size(), 2u);
    EXPECT_EQ(committed[0].size(), 10u);
    for (int64_t p : committed[0]) EXPECT_EQ(p % 2, 0);
    for (size_t i = 1; i < committed.size(); ++i) EXPECT_EQ(committed[i].size(), 1u);
    EXPECT_EQ(committed.size(), 11u);
    EXPECT_EQ(count_masks(res.tokens[0]), 0);
    EXPECT_TRUE(fake.asked_masked) << "logits were computed at positions that were not masked";
}

// The other commit rules on the same canvas: factor 1 and an entropy bound of 0.5 nats
// commit the 10 sure positions first (confidence ~1, entropy ~0), then one unsure
// position per step (top probability 0.03, entropy ~4.1 nats, so neither rule takes it
// and at least one is committed); a large factor or bound takes everything at once. A
// step's commits are the most confident first, so they are the threshold rule's here.
TEST(diffusion_generate, factor_and_entropy_rules_commit_by_confidence) {
    auto start = prompt_then_masks(4, 20);
    struct rule_case {
        dlm::CommitRule rule;
        float value;
        size_t first, steps;
    };
    for (auto [rule, value, first, steps] : {rule_case{dlm::CommitRule::factor, 1.0f, 10, 11},
                                              rule_case{dlm::CommitRule::entropy, 0.5f, 10, 11},
                                              rule_case{dlm::CommitRule::factor, 100.0f, 20, 1},
                                              rule_case{dlm::CommitRule::entropy, 1000.0f, 20, 1}}) {
        SCOPED_TRACE(std::string(dlm::commit_name(rule)) + " " + std::to_string(value));
        FakeDenoiser fake;
        auto o = options(dlm::SamplerKind::confidence, 0);
        o.sampling = {0.8f, 0, 1.0f};
        o.commit = rule;
        o.factor = value;
        o.entropy_bound = value;
        std::vector<size_t> counts;
        auto res = dlm::diffusion_generate(fake, start, o,
                                           [&](const dlm::GenerationStep& s) { counts.push_back(s.committed.size()); });
        ASSERT_EQ(counts.size(), steps);
        EXPECT_EQ(counts[0], first);
        for (size_t i = 1; i < counts.size(); ++i) EXPECT_EQ(counts[i], 1u);
        EXPECT_EQ(count_masks(res.tokens[0]), 0);
        EXPECT_EQ(res.stats.forward_passes, static_cast<int64_t>(steps));
    }
    EXPECT_EQ(dlm::commit_parse("entropy"), dlm::CommitRule::entropy);
    EXPECT_THROW(dlm::commit_parse("greedy"), dlm::Error);
}

TEST(diffusion_generate, confidence_finishes_within_the_step_budget) {
    FakeDenoiser fake;
    auto start = prompt_then_masks(4, 20);
    auto o = options(dlm::SamplerKind::confidence, 3);
    o.threshold = 1.1f;  // nothing is ever sure: the budget alone decides
    auto res = dlm::diffusion_generate(fake, start, o);
    EXPECT_EQ(res.stats.forward_passes, 3);
    EXPECT_EQ(count_masks(res.tokens[0]), 0);
}

TEST(diffusion_generate, lowconf_commits_an_even_split_most_confident_first) {
    FakeDenoiser fake;
    auto start = prompt_then_masks(4, 10);
    auto o = options(dlm::SamplerKind::lowconf, 4);
    o.sampling.temperature = 0;
    std::vector<std::vector<int64_t>> committed;
    auto res = dlm::diffusion_generate(fake, start, o, [&](const dlm::GenerationStep& s) {
        committed.emplace_back(s.committed.begin(), s.committed.end());
    });
    ASSERT_EQ(committed.size(), 4u);
    EXPECT_EQ(committed[0].size(), 3u);
    EXPECT_EQ(committed[1].size(), 3u);
    EXPECT_EQ(committed[2].size(), 2u);
    EXPECT_EQ(committed[3].size(), 2u);
    for (int64_t p : committed[0]) EXPECT_EQ(p % 2, 0) << "the sure (even) positions come first";
    EXPECT_EQ(count_masks(res.tokens[0]), 0);
    for (int64_t p = 4; p < 14; ++p) EXPECT_EQ(res.tokens[0][p], 10 + p % 50);  // greedy picks the argmax
    const std::vector<int64_t> ten_in_four = {3, 3, 2, 2}, two_in_four = {1, 1, 0, 0};
    EXPECT_EQ(dlm::tokens_per_step(10, 4), ten_in_four);
    EXPECT_EQ(dlm::tokens_per_step(2, 4), two_in_four);
}

TEST(diffusion_generate, lowconf_skips_forward_passes_of_empty_steps) {
    FakeDenoiser fake;
    auto res = dlm::diffusion_generate(fake, prompt_then_masks(4, 2), options(dlm::SamplerKind::lowconf, 8));
    EXPECT_EQ(res.stats.forward_passes, 2);
}

TEST(diffusion_generate, blocks_are_filled_left_to_right) {
    for (auto k : {dlm::SamplerKind::remask, dlm::SamplerKind::confidence, dlm::SamplerKind::lowconf}) {
        FakeDenoiser fake;
        auto start = prompt_then_masks(4, 24);
        auto o = options(k, 3);
        o.block = 8;
        int64_t highest_done_block = -1;
        dlm::diffusion_generate(fake, start, o, [&](const dlm::GenerationStep& s) {
            for (int64_t p : s.committed) {
                const int64_t blk = (p - 4) / 8;
                EXPECT_GE(blk, highest_done_block) << dlm::sampler_name(k);
                highest_done_block = std::max(highest_done_block, blk);
                for (int64_t q = 4 + 8 * (blk + 1); q < 28; ++q) EXPECT_EQ(s.tokens[q], kMask) << "later block touched";
            }
        });
        EXPECT_EQ(highest_done_block, 2) << dlm::sampler_name(k);
    }
}

TEST(diffusion_generate, long_outputs_slide_through_the_window) {
    FakeDenoiser fake;
    auto start = prompt_then_masks(8, 100);
    auto o = options(dlm::SamplerKind::lowconf, 2);
    o.window = 32;
    o.block = 16;
    auto res = dlm::diffusion_generate(fake, start, o);
    EXPECT_EQ(fake.last_seq, 32);
    EXPECT_EQ(count_masks(res.tokens[0]), 0);
    EXPECT_EQ(res.tokens[0].size(), 108u);
    // Without blocks the sequence must fit the window.
    o.block = 0;
    EXPECT_THROW(dlm::diffusion_generate(fake, start, o), dlm::Error);
}

TEST(diffusion_generate, infilling_keeps_the_given_text) {
    FakeDenoiser fake;
    std::vector<int32_t> start = {40, 41, 42, kMask, kMask, kMask, 43, 44, kMask, 45};
    for (auto k : {dlm::SamplerKind::remask, dlm::SamplerKind::confidence, dlm::SamplerKind::lowconf}) {
        auto res = dlm::diffusion_generate(fake, start, options(k, 4));
        for (size_t p = 0; p < start.size(); ++p) {
            if (start[p] != kMask) EXPECT_EQ(res.tokens[0][p], start[p]) << dlm::sampler_name(k);
            else EXPECT_NE(res.tokens[0][p], kMask) << dlm::sampler_name(k);
        }
    }
}

TEST(diffusion_generate, same_seed_same_output_and_batch_equals_alone) {
    FakeDenoiser fake;
    auto start = prompt_then_masks(4, 30);
    for (auto k : {dlm::SamplerKind::remask, dlm::SamplerKind::confidence, dlm::SamplerKind::lowconf}) {
        auto o = options(k, 5);
        o.sampling = {1.5f, 0, 1.0f};  // hot enough that sampling matters
        o.seed = 7;
        auto a = dlm::diffusion_generate(fake, start, o);
        auto b = dlm::diffusion_generate(fake, start, o);
        EXPECT_EQ(a.tokens, b.tokens) << dlm::sampler_name(k);
        o.batch = 3;
        auto c = dlm::diffusion_generate(fake, start, o);
        EXPECT_EQ(c.tokens[0], a.tokens[0]) << dlm::sampler_name(k) << ": sample 0 differs in a batch";
        EXPECT_NE(c.tokens[1], c.tokens[0]) << dlm::sampler_name(k);
        o.batch = 1;
        o.seed = 8;
        EXPECT_NE(dlm::diffusion_generate(fake, start, o).tokens, a.tokens) << dlm::sampler_name(k);
    }
}

// With a cache, a block's first pass refreshes it (the whole window) and its later passes
// run only the block (dual) or the block and what follows (prefix), asking only for
// still-masked rows; with logits that do not depend on the rest of the canvas the
// tokens are those of no cache.
TEST(diffusion_generate, cache_refreshes_once_per_block_and_runs_only_the_span) {
    const auto start = prompt_then_masks(4, 24);
    for (auto k : {dlm::SamplerKind::remask, dlm::SamplerKind::confidence, dlm::SamplerKind::lowconf}) {
        auto o = options(k, 4);
        o.block = 8;
        o.batch = 2;
        o.seed = 3;
        FakeDenoiser plain;
        const auto ref = dlm::diffusion_generate(plain, start, o);
        EXPECT_EQ(plain.kv_calls, 0);
        EXPECT_TRUE(plain.spans.empty());
        for (auto mode : {dlm::CacheMode::dual, dlm::CacheMode::prefix}) {
            SCOPED_TRACE(std::string(dlm::sampler_name(k)) + ", cache " + dlm::cache_name(mode));
            FakeDenoiser fake;
            o.cache = mode;
            const auto got = dlm::diffusion_generate(fake, start, o);
            EXPECT_EQ(got.tokens, ref.tokens);
            EXPECT_EQ(got.stats.forward_passes, ref.stats.forward_passes);
            EXPECT_EQ(fake.kv_calls, 3) << "one refresh per block";
            EXPECT_EQ(fake.kv_calls + static_cast<int64_t>(fake.spans.size()), got.stats.forward_passes);
            for (auto [q0, q1] : fake.spans) {
                EXPECT_TRUE(q0 == 4 || q0 == 12 || q0 == 20) << q0;
                EXPECT_EQ(q1, mode == dlm::CacheMode::dual ? q0 + 8 : 28);
            }
            if (k != dlm::SamplerKind::remask) {
                EXPECT_TRUE(fake.asked_masked);
            }
        }
        o.cache = dlm::CacheMode::none;
    }
    EXPECT_EQ(dlm::cache_parse("dual"), dlm::CacheMode::dual);
    EXPECT_THROW(dlm::cache_parse("full"), dlm::Error);
}

// On a real model: a block finished in its first pass (threshold 0 commits every masked
// position) only ever sees the refreshed cache, so any cache mode gives the tokens of
// no cache; with more passes per block the tokens may differ (the cache is stale
// inside a block) but the canvas is still filled and the prompt kept.
TEST(diffusion_generate, cache_on_a_real_model) {
    auto m = dlm::model_load(std::string(DLM_TEST_DATA) + "/models/tiny-roberta");
    dlm::ModelDenoiser den(*m);
    const int32_t mask = static_cast<int32_t>(m->config().vocab_size - 1);
    std::vector<int32_t> start = {0, 17, 230, 41};
    start.insert(start.end(), 20, mask);
    auto o = options(dlm::SamplerKind::confidence, 0);
    o.mask_id = mask;
    o.block = 8;
    o.seed = 5;
    o.threshold = 0.0f;
    const auto none = dlm::diffusion_generate(den, start, o);
    for (auto mode : {dlm::CacheMode::dual, dlm::CacheMode::prefix}) {
        o.cache = mode;
        o.threshold = 0.0f;
        EXPECT_EQ(dlm::diffusion_generate(den, start, o).tokens, none.tokens) << dlm::cache_name(mode);
        o.threshold = 2.0f;  // one token per pass: 8 passes per block, 7 of them on the cache
        const auto r = dlm::diffusion_generate(den, start, o);
        EXPECT_EQ(r.stats.forward_passes, 20);
        EXPECT_EQ(std::count(r.tokens[0].begin(), r.tokens[0].end(), mask), 0);
        EXPECT_TRUE(std::equal(start.begin(), start.begin() + 4, r.tokens[0].begin()));
    }
}

TEST(diffusion_generate, bad_options_fail_clearly) {
    FakeDenoiser fake;
    auto start = prompt_then_masks(4, 8);
    auto expect = [&](dlm::DiffusionOptions o, std::vector<int32_t> s, const std::string& part) {
        try {
            dlm::diffusion_generate(fake, s, o);
            ADD_FAILURE() << "expected: " << part;
        } catch (const dlm::Error& e) {
            EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
        }
    };
    expect(options(dlm::SamplerKind::remask, 0), start, "--steps");
    expect(options(dlm::SamplerKind::lowconf, 0), start, "--steps");
    expect(options(dlm::SamplerKind::remask, 4), prompt_then_masks(4, 0), "nothing to generate");
    auto o = options(dlm::SamplerKind::remask, 4);
    o.mask_id = -1;
    expect(o, start, "<mask>");
    EXPECT_THROW(dlm::sampler_parse("beam"), dlm::Error);
}
