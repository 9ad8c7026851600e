// Generative perplexity: how likely a scorer (a causal LM, usually a larger GPT-2)
// finds generated continuations, given their prompts (as in MDLM/SEDD evaluations).
//
//   auto scorer = dlm::model_load("gpt2-large");
//   auto stok = dlm::Tokenizer::from_folder("gpt2-large");
//   dlm::GenPerplexity g = dlm::generative_perplexity(*scorer, stok, prompts, continuations);
//   // g.perplexity: exp(sum of continuation NLLs / number of continuation tokens)
//
// Definition, per sample i: ids = [bos] + scorer_tok.encode(prompt_i + continuation_i)
// (bos = the tokenizer's bos, <|endoftext|> for GPT-2, so the first token has a context;
// left out when the tokenizer has none, and then the first token is not scored).
// Tokenizing the joined text (not the two parts) gives the tokens the scorer would have
// produced itself. A token is a continuation token when its text ends after the
// prompt's bytes (a token straddling the boundary counts as continuation).
//   nats_i   = -sum over continuation tokens x_j of log p(x_j | ids before j)
//   perplexity             = exp(sum_i nats_i / sum_i tokens_i)      (token-weighted)
//   mean_sample_perplexity = mean over samples with tokens of exp(nats_i / tokens_i)
// Errors (dlm::Error): the scorer is not causal; the tokenizer's ids do not fit the
// scorer's vocabulary (another model's tokenizer); a sample longer than the scorer's
// window; prompts and continuations of different counts.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace dlm {

struct GenPerplexity {
    std::vector<double> nats;      // per sample
    std::vector<int64_t> tokens;   // per sample: continuation tokens scored
    int64_t samples = 0, tokens_total = 0;
    double perplexity = 0;
    double mean_sample_perplexity = 0;
};

// batch: samples per forward pass (right-padded to the longest sample).
GenPerplexity generative_perplexity(Model& scorer, const Tokenizer& scorer_tok, std::span<const std::string> prompts,
                                    std::span<const std::string> continuations, int64_t batch = 8);

}  // namespace dlm
