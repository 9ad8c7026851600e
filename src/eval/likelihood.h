// Likelihood of held-out text under a masked (diffusion) LM or a causal LM, on the
// same blocks, so that the two kinds compare.
//
//   dlm::Dataset ds = dlm::dataset_build({"wiki.test.raw"}, tok, opt);   // as in training
//   dlm::EvalBlocks blocks{ds.ids.data(), ds.blocks, ds.block_size};
//   dlm::EvalVocab v = dlm::eval_vocab_make(tok);
//   dlm::LikelihoodOptions o;                                   // prefix 16, K = 4
//   auto per_rate = dlm::masked_ce_by_rate(*roberta, blocks, v, o);
//   dlm::NllSummary bound = dlm::nll_summarize(dlm::nelbo_bound(*roberta, blocks, v, o));
//   dlm::NllSummary exact = dlm::nll_summarize(dlm::causal_nll(*gpt2, blocks2, v2, o));
//
// Blocks come from dataset_build with the training options (concat recipe, 256 tokens);
// each model reads the text through its own tokenizer. In every block the first
// `prefix` tokens are context only (the prompt of the diffusion recipe), for both kinds.
//
// Definitions (T = block size, P = prefix; "eligible" = position >= P and not a special
// token: the positions the diffusion collator may mask):
//  * Masked CE at rate r: every eligible position of a block is masked with probability
//    r (a fixed stream per (seed, rate, block)); the model predicts all masked positions
//    at once. CE = sum of cross-entropies / number of masked tokens over all blocks,
//    accuracy = share of masked tokens whose argmax logit is the original token.
//  * NELBO bound (MDLM, Sahoo et al. 2024, eq. 10-11, linear schedule alpha_t = 1 - t):
//    for a block with L eligible tokens,
//        NELBO_b = E_{t~U(0,1]} [ (1/t) sum_{i masked at rate t} CE_i ]   (nats)
//    an upper bound on -log p(eligible tokens | prefix and special tokens). Estimated
//    with K stratified times per block, t_k = (k + u_b) / K, u_b ~ U(0,1] drawn per
//    block (blocks stay independent, so the between-block standard error is valid):
//    NELBO_b ~= (1/K) sum_k (1/t_k) S(M_k), unbiased.
//    Per-token bound = sum_b NELBO_b / sum_b L_b; perplexity bound = exp(that).
//    Note: (1/t) S has infinite variance (for small t one masked token weighs 1/t), so
//    the standard error is optimistic for small K x blocks. The `mask_count` estimator
//    has the same expectation and finite variance: summing the integral in closed form
//    over t for each mask size m gives NELBO_b = sum_{m=1..L} (1/m) E_{|M|=m}[S(M)]
//    (the any-order autoregressive form, Hoogeboom et al. 2022 / Ou et al. 2024), so
//    draw m stratified uniformly in 1..L and M uniform of size m: estimate L S(M) / m.
//  * Causal NLL: per block, -sum_{t=P..T-1} log p(x_t | x_0..x_{t-1}), exact; every
//    token from P on is scored, special ones (GPT-2's <|endoftext|> between documents)
//    included, so it needs P >= 1. Perplexity = exp(sum NLL / number of scored tokens).
//  * Bits per byte = total nats / ln 2 / text bytes of the scored tokens, where a token's
//    bytes are those of its byte-level BPE text (Tokenizer::token_text; 0 for special
//    tokens). That is the UTF-8 length of the decoded scored text, counted per token so
//    that a character cut by a block boundary is not turned into U+FFFD. The same text
//    has the same bytes under RoBERTa's and GPT-2's tokenizers, so bits per byte compare
//    across tokenizers where perplexities do not.
//  * Standard errors: over blocks, the delta method for a ratio of sums:
//    se(R) = sqrt(sum_b (x_b - R y_b)^2 / (n (n - 1))) / mean(y), R = sum x / sum y.
//    It counts both the text and the Monte Carlo noise of the bound; NaN for one block.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace dlm {

// Blocks of token ids, row-major [blocks, block_size] (a Dataset's ids).
struct EvalBlocks {
    const int32_t* ids = nullptr;
    int64_t blocks = 0;
    int64_t block_size = 0;
};

struct EvalVocab {
    int32_t mask_id = -1;
    std::vector<bool> special;    // special[id]: never masked, no text bytes
    std::vector<int32_t> bytes;   // text bytes of each id (0 for special ids)
};
EvalVocab eval_vocab_make(const Tokenizer& tok);

enum class BoundEstimator {
    time,        // t stratified in (0, 1], weight 1/t (the definition)
    mask_count,  // m stratified in 1..L, weight L/m (same expectation, finite variance)
};
BoundEstimator bound_estimator_parse(const std::string& name);  // "t" / "time", "count" / "mask_count"
const char* bound_estimator_name(BoundEstimator e);

struct LikelihoodOptions {
    int64_t prefix = 16;
    std::vector<double> rates = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};
    int64_t samples = 4;       // K: bound samples per block
    BoundEstimator estimator = BoundEstimator::time;
    int64_t batch = 8;         // sequences per forward pass
    uint64_t seed = 0;
    // Called after each forward pass with sequences done / total.
    std::function<void(int64_t done, int64_t total)> progress;
};

struct RateResult {
    double rate = 0;
    int64_t eligible = 0, masked = 0, correct = 0;
    double ce_sum = 0;  // nats
    double ce() const { return masked ? ce_sum / static_cast<double>(masked) : 0.0; }
    double accuracy() const { return masked ? static_cast<double>(correct) / static_cast<double>(masked) : 0.0; }
};

// Negative log-likelihood (or its bound) per block.
struct BlockNll {
    std::vector<double> nats;     // [blocks]
    std::vector<int64_t> tokens;  // [blocks] tokens the NLL covers (L_b, or T - P)
    std::vector<int64_t> bytes;   // [blocks] text bytes of those tokens
    int64_t samples = 0;          // model evaluations behind it: blocks x K, or blocks
};

struct NllSummary {
    int64_t blocks = 0, tokens = 0, bytes = 0, samples = 0;
    double nats = 0;                                   // total
    double nats_per_token = 0, se_nats_per_token = 0;
    double perplexity = 0, se_perplexity = 0;          // se by the delta method: ppl x se
    double bits_per_byte = 0, se_bits_per_byte = 0;
};
NllSummary nll_summarize(const BlockNll& b);

// Masked CE and accuracy at each of o.rates. Needs a masked LM and vocab.mask_id.
std::vector<RateResult> masked_ce_by_rate(Model& model, const EvalBlocks& blocks, const EvalVocab& vocab,
                                          const LikelihoodOptions& o);

// The NELBO bound per block (estimator o.estimator, K = o.samples).
BlockNll nelbo_bound(Model& model, const EvalBlocks& blocks, const EvalVocab& vocab, const LikelihoodOptions& o);

// The exact NLL of a causal LM per block.
BlockNll causal_nll(Model& model, const EvalBlocks& blocks, const EvalVocab& vocab, const LikelihoodOptions& o);

// The primitive under all three: one forward of in, then at each row rows[i]
// (b * T + t) ce[i] = cross-entropy of targets[i] and correct[i] = (argmax == target),
// with logits computed only at those rows, a chunk at a time.
void model_rows_score(Model& model, const ForwardInput& in, std::span<const int64_t> rows,
                      std::span<const int32_t> targets, double* ce, uint8_t* correct);

}  // namespace dlm
