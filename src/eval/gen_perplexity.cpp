#include "eval/gen_perplexity.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "eval/likelihood.h"

namespace dlm {

GenPerplexity generative_perplexity(Model& scorer, const Tokenizer& tok, std::span<const std::string> prompts,
                                    std::span<const std::string> continuations, int64_t batch) {
    const ModelConfig& c = scorer.config();
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
    if (prompts.size() != continuations.size())
        fail("{} prompts but {} continuations", prompts.size(), continuations.size());
    if (batch < 1) fail("the batch must hold at least one sample");

    const int64_t n = static_cast<int64_t>(prompts.size()), window = c.max_sequence();
    GenPerplexity g;
    g.samples = n;
    g.nats.assign(static_cast<size_t>(n), 0.0);
    g.tokens.assign(static_cast<size_t>(n), 0);
    // Tokens of each sample and where its continuation starts.
    std::vector<std::vector<int32_t>> ids(static_cast<size_t>(n));
    std::vector<int64_t> first(static_cast<size_t>(n));
    const int32_t bos = tok.bos_id();
    for (int64_t i = 0; i < n; ++i) {
        auto body = tok.encode(prompts[i] + continuations[i]);
        if (bos >= 0) ids[i].push_back(bos);
        const int64_t lead = static_cast<int64_t>(ids[i].size());
        ids[i].insert(ids[i].end(), body.begin(), body.end());
        size_t end = 0;
        first[i] = static_cast<int64_t>(ids[i].size());
        for (size_t j = 0; j < body.size(); ++j) {
            end += tok.token_text(body[j]).size();
            if (end > prompts[i].size()) {
                first[i] = lead + static_cast<int64_t>(j);
                break;
            }
        }
        first[i] = std::max<int64_t>(first[i], 1);  // token 0 has no context
        if (static_cast<int64_t>(ids[i].size()) > window)
            fail("sample {} is {} tokens long for the scorer, more than its window of {}", i, ids[i].size(), window);
    }

    int64_t T = 1;
    for (auto& s : ids) T = std::max<int64_t>(T, static_cast<int64_t>(s.size()));
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
            const auto& s = ids[i0 + b];
            const int64_t len = static_cast<int64_t>(s.size());
            std::copy(s.begin(), s.end(), in.begin() + b * T);
            std::fill(mask.begin() + b * T, mask.begin() + b * T + len, 1);
            for (int64_t j = first[i0 + b]; j < len; ++j) {
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
    double total = 0, mean = 0;
    int64_t with_tokens = 0;
    for (int64_t i = 0; i < n; ++i) {
        total += g.nats[i];
        g.tokens_total += g.tokens[i];
        if (g.tokens[i] > 0) {
            mean += std::exp(g.nats[i] / static_cast<double>(g.tokens[i]));
            ++with_tokens;
        }
    }
    if (g.tokens_total > 0) g.perplexity = std::exp(total / static_cast<double>(g.tokens_total));
    if (with_tokens > 0) g.mean_sample_perplexity = mean / static_cast<double>(with_tokens);
    return g;
}

}  // namespace dlm
