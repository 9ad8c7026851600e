// Diversity and sanity metrics of generated samples, on token ids or on words.
//
//   std::vector<std::vector<int32_t>> samples = ...;            // continuations only
//   dlm::TextMetrics m = dlm::text_metrics_tokens(samples, dlm::token_classes_make(tok));
//   dlm::TextMetrics w = dlm::text_metrics_words(texts, {"<mask>", "<s>", "</s>"});
//
// Definitions (a "unit" is a token id, or a word = a maximal run of bytes that are not
// ASCII whitespace " \t\n\v\f\r"; n-grams never cross sample boundaries):
//   distinct-n (corpus)  = number of distinct n-grams over all samples
//                          / number of n-grams over all samples          (Li et al. 2016)
//   distinct-n (mean)    = mean over samples with at least one n-gram of
//                          (distinct n-grams of the sample / n-grams of the sample)
//   unigram entropy      = -sum_u p(u) log2 p(u), p = the pooled unit frequencies (bits)
//   repeated 4-gram rate = mean over samples with at least one 4-gram of
//                          (4-grams equal to an earlier 4-gram of the same sample / 4-grams)
//   share with mask      = samples containing the mask token / samples
//   share with special   = samples containing any special token (mask included) / samples
// A ratio over nothing (no samples, no n-grams) is 0; the counts say when that happened.
// Token-level: every id given counts (strip the prompt first if it should not).
// Word-level: a sample "contains" a special token when the token's text occurs in it
// as a substring.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace dlm {

struct TextMetrics {
    int64_t samples = 0;
    int64_t units = 0;                       // tokens or words over all samples
    std::array<double, 3> distinct{};        // distinct-1/2/3, corpus level
    std::array<double, 3> distinct_mean{};   // distinct-1/2/3, mean per sample
    std::array<int64_t, 3> ngrams{};         // n-grams counted, n = 1, 2, 3
    double unigram_entropy_bits = 0;
    double repeated_4gram_rate = 0;
    int64_t samples_with_4grams = 0;         // the samples the 4-gram rate averages over
    double share_with_mask = 0;
    double share_with_special = 0;
};

// Which ids are special and which one is <mask> (-1: none).
struct TokenClasses {
    int32_t mask_id = -1;
    std::vector<bool> special;  // special[id]; ids beyond the end are not special
};
TokenClasses token_classes_make(const Tokenizer& tok);

TextMetrics text_metrics_tokens(std::span<const std::vector<int32_t>> samples, const TokenClasses& classes);

// special_texts: the special tokens' strings (mask first; "" = no mask token given),
// e.g. {"<mask>", "<s>", "</s>", "<pad>"}.
TextMetrics text_metrics_words(std::span<const std::string> samples, std::span<const std::string> special_texts);

// Words of a text: maximal runs of non-whitespace bytes (ASCII whitespace, as
// Python's bytes.split()).
std::vector<std::string> text_split_words(std::string_view text);

}  // namespace dlm
