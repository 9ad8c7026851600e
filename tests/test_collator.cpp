// The diffusion collator's bookkeeping.
#include <gtest/gtest.h>

#include <cmath>

#include "diffusion/collator.h"

namespace {

constexpr int32_t kMask = 99, kPad = 1, kBos = 0, kEos = 2;

dlm::CollatorVocab vocab() {
    dlm::CollatorVocab v;
    v.mask_id = kMask;
    v.pad_id = kPad;
    v.special.assign(100, false);
    for (int id : {kBos, kPad, kEos, kMask}) v.special[id] = true;
    return v;
}

// B rows of T tokens: <s> words... </s> words ..., with ids 10..89.
std::vector<int32_t> blocks(int64_t B, int64_t T) {
    std::vector<int32_t> b(B * T);
    for (int64_t i = 0; i < B * T; ++i) b[i] = 10 + static_cast<int32_t>((i * 7) % 80);
    for (int64_t r = 0; r < B; ++r) {
        b[r * T] = kBos;
        b[r * T + T / 2] = kEos;
        b[r * T + T / 2 + 1] = kBos;
    }
    return b;
}

}  // namespace

TEST(collator, recipe_masks_only_after_the_prefix_and_never_specials) {
    auto src = blocks(4, 64);
    dlm::Rng rng(1);
    for (int rep = 0; rep < 50; ++rep) {
        auto c = dlm::collate_diffusion(src.data(), 4, 64, vocab(), {}, rng);
        for (int64_t b = 0; b < 4; ++b) {
            EXPECT_EQ(c.rates[b], c.rates[0]);  // one rate per batch
            for (int64_t t = 0; t < 64; ++t) {
                const int64_t r = b * 64 + t;
                if (t < 16 || src[r] == kBos || src[r] == kEos) {
                    EXPECT_EQ(c.ids[r], src[r]);
                    EXPECT_EQ(c.targets[r], -100);
                } else if (c.ids[r] == kMask) {
                    EXPECT_EQ(c.targets[r], src[r]);
                } else {
                    EXPECT_EQ(c.ids[r], src[r]);
                    EXPECT_EQ(c.targets[r], -100);
                }
            }
        }
        EXPECT_TRUE(c.weights.empty());  // the recipe's plain mean
        bool rate_in_set = false;
        for (float p : dlm::CollatorOptions{}.rates) rate_in_set |= p == c.rates[0];
        EXPECT_TRUE(rate_in_set);
    }
}

TEST(collator, masked_fraction_follows_the_rate) {
    auto src = blocks(16, 256);
    dlm::CollatorOptions opt;
    opt.rates = {0.3f};
    dlm::Rng rng(2);
    auto c = dlm::collate_diffusion(src.data(), 16, 256, vocab(), opt, rng);
    int64_t eligible = 0;
    for (int64_t b = 0; b < 16; ++b)
        for (int64_t t = 16; t < 256; ++t) eligible += !vocab().special[src[b * 256 + t]];
    const double frac = static_cast<double>(c.masked) / eligible;
    EXPECT_NEAR(frac, 0.3, 4 * std::sqrt(0.3 * 0.7 / eligible));
    opt.rates = {1.0f};
    c = dlm::collate_diffusion(src.data(), 16, 256, vocab(), opt, rng);
    EXPECT_EQ(c.masked, eligible);
}

TEST(collator, per_sequence_rates_differ) {
    auto src = blocks(32, 32);
    dlm::CollatorOptions opt;
    opt.mode = dlm::MaskRateMode::per_sequence;
    dlm::Rng rng(3);
    auto c = dlm::collate_diffusion(src.data(), 32, 32, vocab(), opt, rng);
    bool differ = false;
    for (auto p : c.rates) differ |= p != c.rates[0];
    EXPECT_TRUE(differ);
}

TEST(collator, continuous_rates_carry_the_mdlm_weight) {
    auto src = blocks(8, 64);
    dlm::CollatorOptions opt;
    opt.mode = dlm::MaskRateMode::continuous;
    dlm::Rng rng(4);
    auto c = dlm::collate_diffusion(src.data(), 8, 64, vocab(), opt, rng);
    ASSERT_EQ(c.weights.size(), src.size());
    for (int64_t b = 0; b < 8; ++b) {
        EXPECT_GT(c.rates[b], opt.eps);
        EXPECT_LE(c.rates[b], 1.0f);
        int64_t eligible = 0;
        for (int64_t t = 16; t < 64; ++t) eligible += !vocab().special[src[b * 64 + t]];
        for (int64_t t = 0; t < 64; ++t) {
            const int64_t r = b * 64 + t;
            if (c.targets[r] == -100) EXPECT_EQ(c.weights[r], 0.0f);
            else EXPECT_FLOAT_EQ(c.weights[r], 1.0f / (c.rates[b] * eligible * 8));
        }
    }
}

TEST(collator, random_prefix_stays_in_range_and_is_respected) {
    auto src = blocks(64, 48);
    dlm::CollatorOptions opt;
    opt.random_prefix = true;
    opt.prefix_min = 2;
    opt.prefix_max = 20;
    opt.rates = {1.0f};
    dlm::Rng rng(5);
    auto c = dlm::collate_diffusion(src.data(), 64, 48, vocab(), opt, rng);
    int64_t lo = 100, hi = -1;
    for (int64_t b = 0; b < 64; ++b) {
        lo = std::min(lo, c.prefix[b]);
        hi = std::max(hi, c.prefix[b]);
        for (int64_t t = 0; t < c.prefix[b]; ++t) EXPECT_EQ(c.targets[b * 48 + t], -100);
        // rate 1: the first non-special position after the prefix is masked
        int64_t t = c.prefix[b];
        while (vocab().special[src[b * 48 + t]]) ++t;
        EXPECT_EQ(c.ids[b * 48 + t], kMask);
    }
    EXPECT_GE(lo, 2);
    EXPECT_LE(hi, 20);
    EXPECT_LT(lo, hi);
}

TEST(collator, padding_is_a_target_only_when_asked) {
    std::vector<int32_t> src(40, kPad);
    for (int t = 0; t < 25; ++t) src[t] = 10 + t;
    dlm::CollatorOptions opt;
    opt.rates = {1.0f};
    opt.prefix = 4;
    dlm::Rng rng(6);
    auto c = dlm::collate_diffusion(src.data(), 1, 40, vocab(), opt, rng);
    EXPECT_EQ(c.masked, 21);
    opt.mask_padding = true;
    c = dlm::collate_diffusion(src.data(), 1, 40, vocab(), opt, rng);
    EXPECT_EQ(c.masked, 36);
    EXPECT_EQ(c.targets[39], kPad);
    // The same rule, asked directly (dlm train --unigram-bias counts targets with it).
    EXPECT_TRUE(dlm::collator_maskable(vocab(), opt, kPad));
    EXPECT_FALSE(dlm::collator_maskable(vocab(), opt, kEos));
    EXPECT_TRUE(dlm::collator_maskable(vocab(), opt, 10));
    opt.mask_padding = false;
    EXPECT_FALSE(dlm::collator_maskable(vocab(), opt, kPad));
}

TEST(collator, same_seed_same_masks) {
    auto src = blocks(4, 64);
    dlm::Rng a(9), b(9), c(10);
    auto x = dlm::collate_diffusion(src.data(), 4, 64, vocab(), {}, a);
    auto y = dlm::collate_diffusion(src.data(), 4, 64, vocab(), {}, b);
    auto z = dlm::collate_diffusion(src.data(), 4, 64, vocab(), {}, c);
    EXPECT_EQ(x.ids, y.ids);
    EXPECT_NE(x.ids, z.ids);
}
