#include "eval/gen_perplexity.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "eval/likelihood.h"

namespace dlm {

namespace {

// A scorer that cannot score these samples: not causal, or another model's tokenizer.
void scorer_check(const ModelConfig& c, const Tokenizer& tok) {
    if (!c.is_causal())
        fail("the scorer is a {}, not a causal LM: generative perplexity needs one such as GPT2LMHeadModel",
             c.architecture);
    if (tok.vocab_size() > c.vocab_size)
        fail("the scorer's tokenizer has {} tokens but the scorer's vocabulary has {}: the tokenizer belongs to "
             "another model",
             tok.vocab_size(), c.vocab_size);
    if (c.eos_token_id >= 0 && tok.eos_id() >= 0 && c.eos_token_id != tok.eos_id())
        fail("the scorer's end-of-text id is {} but its tokenizer's is {}: the tokenizer belongs to another model",
             c.eos_token_id, tok.eos_id());
}

// One sample as the scorer reads it: <s> (if any) + prompt + continuation, and the
// first position scored (the continuation's first token; never token 0, which has no
// context).
struct scored_sample {
    std::vector<int32_t> ids;
    int64_t first = 0;
};

scored_sample sample_encode(const Tokenizer& tok, const std::string& prompt, const std::string& continuation) {
    scored_sample s;
    auto body = tok.encode(prompt + continuation);
    if (tok.bos_id() >= 0) s.ids.push_back(tok.bos_id());
    const int64_t lead = static_cast<int64_t>(s.ids.size());
    s.ids.insert(s.ids.end(), body.begin(), body.end());
    size_t end = 0;
    s.first = static_cast<int64_t>(s.ids.size());
    for (size_t j = 0; j < body.size(); ++j) {
        end += tok.token_text(body[j]).size();
        if (end > prompt.size()) {
            s.first = lead + static_cast<int64_t>(j);
            break;
        }
    }
    s.first = std::max<int64_t>(s.first, 1);
    return s;
}

// Each sample's summed NLL and scored tokens into g, `batch` samples per forward pass.
void samples_score(Model& scorer, const Tokenizer& tok, const std::vector<scored_sample>& samples, int64_t batch,
                   GenPerplexity& g) {
    const int64_t n = static_cast<int64_t>(samples.size());
    int64_t T = 1;
    for (auto& s : samples) T = std::max<int64_t>(T, static_cast<int64_t>(s.ids.size()));
    const int32_t pad = std::max(tok.eos_id(), 0);
    std::vector<int32_t> in, mask;
    std::vector<int64_t> rows, owner;
    std::vector<int32_t> targets;
    std::vector<double> ce;
    std::vector<uint8_t> correct;
    for (int64_t i0 = 0; i0 < n; i0 += batch) {
        const int64_t B = std::min(batch, n - i0);
        // Right padding: causal attention keeps real rows blind to it.
        in.assign(static_cast<size_t>(B * T), pad);
        mask.assign(static_cast<size_t>(B * T), 0);
        rows.clear();
        owner.clear();
        targets.clear();
        for (int64_t b = 0; b < B; ++b) {
            const auto& s = samples[i0 + b].ids;
            const int64_t len = static_cast<int64_t>(s.size());
            std::copy(s.begin(), s.end(), in.begin() + b * T);
            std::fill(mask.begin() + b * T, mask.begin() + b * T + len, 1);
            for (int64_t j = samples[i0 + b].first; j < len; ++j) {
                rows.push_back(b * T + j - 1);
                targets.push_back(s[j]);
                owner.push_back(i0 + b);
            }
        }
        ce.resize(rows.size());
        correct.resize(rows.size());
        model_rows_score(scorer, ForwardInput{in.data(), mask.data(), nullptr, B, T}, rows, targets, ce.data(),
                         correct.data());
        for (size_t r = 0; r < rows.size(); ++r) {
            g.nats[owner[r]] += ce[r];
            ++g.tokens[owner[r]];
        }
    }
}

// The corpus perplexity and the mean of the per-sample ones (samples with tokens).
void perplexity_summarize(GenPerplexity& g) {
    double total = 0, mean = 0;
    int64_t with_tokens = 0;
    for (int64_t i = 0; i < g.samples; ++i) {
        total += g.nats[i];
        g.tokens_total += g.tokens[i];
        if (g.tokens[i] > 0) {
            mean += std::exp(g.nats[i] / static_cast<double>(g.tokens[i]));
            ++with_tokens;
        }
    }
    if (g.tokens_total > 0) g.perplexity = std::exp(total / static_cast<double>(g.tokens_total));
    if (with_tokens > 0) g.mean_sample_perplexity = mean / static_cast<double>(with_tokens);
}

}  // namespace

GenPerplexity generative_perplexity(Model& scorer, const Tokenizer& tok, std::span<const std::string> prompts,
                                    std::span<const std::string> continuations, int64_t batch) {
    const ModelConfig& c = scorer.config();
    scorer_check(c, tok);
    if (prompts.size() != continuations.size())
        fail("{} prompts but {} continuations", prompts.size(), continuations.size());
    if (batch < 1) fail("the batch must hold at least one sample");

    const int64_t n = static_cast<int64_t>(prompts.size()), window = c.max_sequence();
    GenPerplexity g;
    g.samples = n;
    g.nats.assign(static_cast<size_t>(n), 0.0);
    g.tokens.assign(static_cast<size_t>(n), 0);
    std::vector<scored_sample> samples;
    for (int64_t i = 0; i < n; ++i) {
        samples.push_back(sample_encode(tok, prompts[i], continuations[i]));
        if (static_cast<int64_t>(samples.back().ids.size()) > window)
            fail("sample {} is {} tokens long for the scorer, more than its window of {}", i, samples.back().ids.size(),
                 window);
    }
    samples_score(scorer, tok, samples, batch, g);
    perplexity_summarize(g);
    return g;
}

}  // namespace dlm
