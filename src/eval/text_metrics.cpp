#include "eval/text_metrics.h"

#include <cmath>
#include <unordered_map>
#include <unordered_set>

namespace dlm {

namespace {

// An n-gram (n <= 4) of unit ids, padded with -1.
struct Gram {
    std::array<int64_t, 4> u{-1, -1, -1, -1};
    bool operator==(const Gram& o) const { return u == o.u; }
};
struct GramHash {
    size_t operator()(const Gram& g) const {
        uint64_t h = 0x9e3779b97f4a7c15ull;
        for (int64_t x : g.u) h = (h ^ static_cast<uint64_t>(x)) * 0xff51afd7ed558ccdull, h ^= h >> 32;
        return static_cast<size_t>(h);
    }
};
using GramSet = std::unordered_set<Gram, GramHash>;

Gram gram_at(const std::vector<int64_t>& s, size_t i, int n) {
    Gram g;
    for (int k = 0; k < n; ++k) g.u[k] = s[i + k];
    return g;
}

// Everything but the mask/special shares, from samples already turned into unit ids.
TextMetrics metrics_of_units(const std::vector<std::vector<int64_t>>& samples) {
    TextMetrics m;
    m.samples = static_cast<int64_t>(samples.size());
    std::array<GramSet, 3> corpus;
    std::array<double, 3> mean_sum{};
    std::array<int64_t, 3> mean_count{};
    std::unordered_map<int64_t, int64_t> unigram;
    double repeat_sum = 0;
    for (const auto& s : samples) {
        m.units += static_cast<int64_t>(s.size());
        for (int64_t u : s) ++unigram[u];
        for (int n = 1; n <= 3; ++n) {
            if (s.size() < static_cast<size_t>(n)) continue;
            GramSet own;
            const size_t count = s.size() - n + 1;
            for (size_t i = 0; i < count; ++i) {
                Gram g = gram_at(s, i, n);
                own.insert(g);
                corpus[n - 1].insert(g);
            }
            m.ngrams[n - 1] += static_cast<int64_t>(count);
            mean_sum[n - 1] += static_cast<double>(own.size()) / static_cast<double>(count);
            ++mean_count[n - 1];
        }
        if (s.size() >= 4) {
            GramSet seen;
            const size_t count = s.size() - 3;
            int64_t repeats = 0;
            for (size_t i = 0; i < count; ++i) repeats += !seen.insert(gram_at(s, i, 4)).second;
            repeat_sum += static_cast<double>(repeats) / static_cast<double>(count);
            ++m.samples_with_4grams;
        }
    }
    for (int n = 0; n < 3; ++n) {
        if (m.ngrams[n] > 0) m.distinct[n] = static_cast<double>(corpus[n].size()) / static_cast<double>(m.ngrams[n]);
        if (mean_count[n] > 0) m.distinct_mean[n] = mean_sum[n] / static_cast<double>(mean_count[n]);
    }
    for (const auto& [u, c] : unigram) {
        const double p = static_cast<double>(c) / static_cast<double>(m.units);
        m.unigram_entropy_bits -= p * std::log2(p);
    }
    if (m.samples_with_4grams > 0) m.repeated_4gram_rate = repeat_sum / static_cast<double>(m.samples_with_4grams);
    return m;
}

}  // namespace

TokenClasses token_classes_make(const Tokenizer& tok) {
    TokenClasses c;
    c.mask_id = tok.mask_id();
    c.special.assign(static_cast<size_t>(tok.vocab_size()), false);
    for (int32_t id = 0; id < tok.vocab_size(); ++id) c.special[id] = tok.is_special(id);
    return c;
}

TextMetrics text_metrics_tokens(std::span<const std::vector<int32_t>> samples, const TokenClasses& classes) {
    std::vector<std::vector<int64_t>> units;
    int64_t with_mask = 0, with_special = 0;
    for (const auto& s : samples) {
        units.emplace_back(s.begin(), s.end());
        bool mask = false, special = false;
        for (int32_t id : s) {
            mask |= id == classes.mask_id && id >= 0;
            special |= id >= 0 && static_cast<size_t>(id) < classes.special.size() && classes.special[id];
        }
        with_mask += mask;
        with_special += mask || special;
    }
    TextMetrics m = metrics_of_units(units);
    if (m.samples > 0) {
        m.share_with_mask = static_cast<double>(with_mask) / static_cast<double>(m.samples);
        m.share_with_special = static_cast<double>(with_special) / static_cast<double>(m.samples);
    }
    return m;
}

std::vector<std::string> text_split_words(std::string_view text) {
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; };
    std::vector<std::string> words;
    size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && space(text[i])) ++i;
        size_t j = i;
        while (j < text.size() && !space(text[j])) ++j;
        if (j > i) words.emplace_back(text.substr(i, j - i));
        i = j;
    }
    return words;
}

TextMetrics text_metrics_words(std::span<const std::string> samples, std::span<const std::string> special_texts) {
    std::unordered_map<std::string, int64_t> vocab;  // word -> unit id, in order of appearance
    std::vector<std::vector<int64_t>> units;
    int64_t with_mask = 0, with_special = 0;
    for (const auto& text : samples) {
        auto& s = units.emplace_back();
        for (auto& w : text_split_words(text)) s.push_back(vocab.emplace(w, static_cast<int64_t>(vocab.size())).first->second);
        bool mask = false, special = false;
        for (size_t k = 0; k < special_texts.size(); ++k) {
            if (special_texts[k].empty() || text.find(special_texts[k]) == std::string::npos) continue;
            special = true;
            mask |= k == 0;
        }
        with_mask += mask;
        with_special += special;
    }
    TextMetrics m = metrics_of_units(units);
    if (m.samples > 0) {
        m.share_with_mask = static_cast<double>(with_mask) / static_cast<double>(m.samples);
        m.share_with_special = static_cast<double>(with_special) / static_cast<double>(m.samples);
    }
    return m;
}

}  // namespace dlm
