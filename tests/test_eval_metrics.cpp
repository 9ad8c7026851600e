// Text metrics on hand-made samples whose distinct-n, entropy and repetition are
// counted by hand in the comments.
#include <gtest/gtest.h>

#include <cmath>

#include "eval/text_metrics.h"

namespace {

double h_bits(std::initializer_list<double> counts) {
    double total = 0, h = 0;
    for (double c : counts) total += c;
    for (double c : counts) h -= c / total * std::log2(c / total);
    return h;
}

}  // namespace

TEST(eval_metrics, tokens_distinct_entropy_repetition) {
    // s1 = 1 2 3 1 2 3, s2 = 4 4 4 4 4
    std::vector<std::vector<int32_t>> s = {{1, 2, 3, 1, 2, 3}, {4, 4, 4, 4, 4}};
    auto m = dlm::text_metrics_tokens(s, {});
    EXPECT_EQ(m.samples, 2);
    EXPECT_EQ(m.units, 11);
    // unigrams: {1,2,3,4} of 11; bigrams 12 23 31 12 23 | 44 44 44 44: {12,23,31,44} of 9;
    // trigrams 123 231 312 123 | 444 444 444: {123,231,312,444} of 7.
    EXPECT_DOUBLE_EQ(m.distinct[0], 4.0 / 11);
    EXPECT_DOUBLE_EQ(m.distinct[1], 4.0 / 9);
    EXPECT_DOUBLE_EQ(m.distinct[2], 4.0 / 7);
    EXPECT_EQ(m.ngrams[0], 11);
    EXPECT_EQ(m.ngrams[1], 9);
    EXPECT_EQ(m.ngrams[2], 7);
    // per sample: s1 3/6, 3/5, 3/4; s2 1/5, 1/4, 1/3
    EXPECT_DOUBLE_EQ(m.distinct_mean[0], (3.0 / 6 + 1.0 / 5) / 2);
    EXPECT_DOUBLE_EQ(m.distinct_mean[1], (3.0 / 5 + 1.0 / 4) / 2);
    EXPECT_DOUBLE_EQ(m.distinct_mean[2], (3.0 / 4 + 1.0 / 3) / 2);
    // pooled unigram counts 2, 2, 2, 5
    EXPECT_NEAR(m.unigram_entropy_bits, h_bits({2, 2, 2, 5}), 1e-12);
    // s1: 1231 2312 3123, none repeated: 0; s2: 4444 4444, the second repeats: 1/2
    EXPECT_DOUBLE_EQ(m.repeated_4gram_rate, 0.25);
    EXPECT_EQ(m.samples_with_4grams, 2);
    EXPECT_EQ(m.share_with_mask, 0.0);
    EXPECT_EQ(m.share_with_special, 0.0);
}

TEST(eval_metrics, tokens_mask_and_special_shares) {
    dlm::TokenClasses c;
    c.mask_id = 9;
    c.special = {true, false, false, false, false, false, false, false, false, true};  // 0 and 9
    std::vector<std::vector<int32_t>> s = {{1, 9, 2}, {0, 3}, {4, 5}, {6, 7, 8, 1000}};
    auto m = dlm::text_metrics_tokens(s, c);
    EXPECT_DOUBLE_EQ(m.share_with_mask, 1.0 / 4);
    EXPECT_DOUBLE_EQ(m.share_with_special, 2.0 / 4);  // ids beyond the table are not special
}

TEST(eval_metrics, short_and_empty_samples) {
    // One token: no bigram and no 4-gram; an empty sample counts as a sample only.
    std::vector<std::vector<int32_t>> s = {{7}, {}};
    auto m = dlm::text_metrics_tokens(s, {});
    EXPECT_EQ(m.samples, 2);
    EXPECT_DOUBLE_EQ(m.distinct[0], 1.0);
    EXPECT_DOUBLE_EQ(m.distinct_mean[0], 1.0);  // the empty sample has no unigram: not averaged
    EXPECT_EQ(m.distinct[1], 0.0);
    EXPECT_EQ(m.ngrams[1], 0);
    EXPECT_EQ(m.unigram_entropy_bits, 0.0);
    EXPECT_EQ(m.samples_with_4grams, 0);
    EXPECT_EQ(m.repeated_4gram_rate, 0.0);
    auto none = dlm::text_metrics_tokens(std::vector<std::vector<int32_t>>{}, {});
    EXPECT_EQ(none.samples, 0);
    EXPECT_EQ(none.distinct[0], 0.0);
    EXPECT_EQ(none.share_with_mask, 0.0);
}

TEST(eval_metrics, words) {
    EXPECT_EQ(dlm::text_split_words("  the\tcat\n sat  "), (std::vector<std::string>{"the", "cat", "sat"}));
    EXPECT_TRUE(dlm::text_split_words(" \n ").empty());
    // w1: the cat sat on the mat; w2: the x5; w3: nothing
    std::vector<std::string> s = {"the cat sat on the mat", "the the  the\nthe the", "   "};
    auto m = dlm::text_metrics_words(s, std::vector<std::string>{"<mask>", "</s>"});
    EXPECT_EQ(m.samples, 3);
    EXPECT_EQ(m.units, 11);
    EXPECT_DOUBLE_EQ(m.distinct[0], 5.0 / 11);  // the cat sat on mat
    // bigrams: the-cat cat-sat sat-on on-the the-mat | the-the x4: 6 distinct of 9
    EXPECT_DOUBLE_EQ(m.distinct[1], 6.0 / 9);
    // trigrams: 4 distinct | the-the-the x3: 5 of 7
    EXPECT_DOUBLE_EQ(m.distinct[2], 5.0 / 7);
    EXPECT_DOUBLE_EQ(m.distinct_mean[0], (5.0 / 6 + 1.0 / 5) / 2);
    EXPECT_NEAR(m.unigram_entropy_bits, h_bits({7, 1, 1, 1, 1}), 1e-12);
    // w1: 3 four-grams, no repeat; w2: 2 four-grams, 1 repeat
    EXPECT_DOUBLE_EQ(m.repeated_4gram_rate, (0.0 + 0.5) / 2);
    EXPECT_EQ(m.share_with_mask, 0.0);

    std::vector<std::string> t = {"a <mask> b", "end</s>", "plain"};
    auto k = dlm::text_metrics_words(t, std::vector<std::string>{"<mask>", "</s>"});
    EXPECT_DOUBLE_EQ(k.share_with_mask, 1.0 / 3);
    EXPECT_DOUBLE_EQ(k.share_with_special, 2.0 / 3);
    // Words are byte strings: the same letters in another case are another word.
    auto u = dlm::text_metrics_words(std::vector<std::string>{"Été été été"}, {});
    EXPECT_DOUBLE_EQ(u.distinct[0], 2.0 / 3);
}
