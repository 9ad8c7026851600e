// Generation quality and speed on prompts cut from held-out text: what
// `dlm eval generation` measures for one model over a list of settings (sampler x
// steps x threshold for diffusion models, the KV-cache decoder for causal ones).
//
//   auto prompts = dlm::eval_prompts_pick(corpus, tok, 32, 16, 239);
//   for (auto& s : settings)
//       results.push_back(dlm::generation_setting_evaluate(s, prompts, 8, generate_fn, tok, scorer));
//
// Prompts: the units (paragraphs / lines) of the held-out text with at least
// 2 x prompt_tokens tokens, n of them evenly spaced over the file (unit i * M / n of the
// M that qualify); a prompt is the first prompt_tokens tokens of its unit (the model's
// tokenizer, no special tokens) and its reference is the text that follows in the same
// document (the rest of the unit, then the next units), at most new_tokens tokens. The reference row of a report scores that held-out text the
// way samples are scored: a yardstick for the numbers of the models.
//
// Per setting: the text metrics of the continuations (eval/text_metrics.h, token
// level, the model's tokenizer), their generative perplexity under the scorer when one
// is given (eval/gen_perplexity.h; texts decoded without special tokens), seconds per
// sample (wall time of the whole setting / samples, so batching counts), forward passes
// per sample (the model evaluations each sample took part in: denoising steps, or
// tokens for a causal LM) and generated tokens per second.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "eval/gen_perplexity.h"
#include "eval/plot.h"
#include "eval/text_metrics.h"
#include "generation/events.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace dlm {

struct EvalPrompt {
    std::vector<int32_t> ids;            // prompt tokens (no special tokens)
    std::string text;                    // their text
    std::vector<int32_t> reference_ids;  // the held-out continuation (<= new_tokens tokens)
    std::string reference;               // its text
};

// Throws dlm::Error when no unit is long enough ("<what> has no line or paragraph of
// at least K tokens"). Returns fewer than n prompts when fewer units qualify.
std::vector<EvalPrompt> eval_prompts_pick(const Corpus& corpus, const Tokenizer& tok, int64_t n,
                                          int64_t prompt_tokens, int64_t new_tokens, const std::string& what);

// One generation setting. method: "remask", "confidence", "lowconf" (diffusion
// samplers), "autoregressive", or "reference" (the held-out text itself).
struct GenSetting {
    std::string method;
    int64_t steps = 0;        // diffusion: steps per block (confidence: a budget, 0 = none)
    double threshold = 0;     // confidence, commit "threshold"
    int64_t block = 0;        // diffusion: semi-autoregressive block (0: the whole canvas)
    std::string cache = "none";        // diffusion: none, prefix, dual
    std::string commit = "threshold";  // confidence: threshold, factor, entropy
    double factor = 0, entropy_bound = 0;  // confidence, commit factor / entropy
    std::string model = {};   // autoregressive: the model's folder when not the one evaluated (the AR twin)
    // "remask, 10 steps", "confidence, threshold 0.9, block 32, dual cache", ...
    std::string label() const;
    // The plot's curve: the method and everything but the swept value.
    std::string curve() const;
};

// Generates continuations for a batch of prompts: one id list per prompt (the new
// tokens only) and the per-sample forward passes.
struct GenBatchOutput {
    std::vector<std::vector<int32_t>> continuations;
    std::vector<int64_t> forward_passes;  // per sample
};
using gen_batch_fn = std::function<GenBatchOutput(std::span<const EvalPrompt>)>;

struct GenScorer {
    Model* model = nullptr;
    const Tokenizer* tokenizer = nullptr;
    std::string name;
};

struct GenSettingResult {
    GenSetting setting;
    int64_t samples = 0;
    TextMetrics metrics;
    std::optional<GenPerplexity> perplexity;  // with a scorer
    double seconds = 0;                       // generation wall time, all samples
    double seconds_per_sample = 0, forward_passes_per_sample = 0, tokens_per_second = 0;
    double new_tokens_per_sample = 0, tokens_per_pass = 0;
    std::vector<std::string> texts;           // continuations, decoded without special tokens
};

// Runs `generate` over the prompts in batches of `batch` (the reference setting
// generates nothing: it scores the prompts' references). progress(done, total) after
// each batch.
GenSettingResult generation_setting_evaluate(const GenSetting& setting, std::span<const EvalPrompt> prompts,
                                             int64_t batch, const gen_batch_fn& generate, const Tokenizer& tok,
                                             const std::optional<GenScorer>& scorer,
                                             const std::function<void(int64_t, int64_t)>& progress = {});

// The report of `dlm eval generation`.
struct GenerationReport {
    std::string model, architecture, scorer, dtype = "bf16";
    std::vector<std::string> files;
    int64_t prompts = 0, prompt_tokens = 0, new_tokens = 0, batch = 0, threads = 0;
    uint64_t seed = 0;
    nlohmann::ordered_json sampling;  // the sampling parameters per method
    std::vector<GenSettingResult> results;  // the reference first when present
};

// {"format": "dlm-eval-generation-1", "model", "architecture", "scorer" (or null),
//  "files", "prompts", "prompt_tokens", "new_tokens", "batch", "threads", "seed",
//  "dtype", "sampling", "settings": [{"method", "steps", "threshold", "block", "cache",
//  "commit", "factor", "entropy_bound", "label", "model" (the AR twin's folder, or
//  null), "samples", "seconds", "seconds_per_sample", "forward_passes_per_sample",
//  "tokens_per_second", "new_tokens_per_sample", "tokens_per_pass" (new tokens per
//  forward pass), "gen_perplexity" (null without a
//  scorer), "mean_sample_perplexity", "scored_tokens", "unigram_entropy_bits",
//  "distinct": [d1, d2, d3], "distinct_mean": [...], "repeated_4gram_rate",
//  "share_with_mask", "share_with_special", "texts": [...]}, ...]}
nlohmann::ordered_json generation_report_json(const GenerationReport& r);
std::string generation_report_markdown(const GenerationReport& r);

// Two panels drawn by scripts/plot-tradeoff.gp: quality against forward passes per
// sample (one curve per sampler, the causal model as a point) and quality against
// seconds per sample; quality is the generative perplexity (lower is better) when
// scored, else the unigram entropy. The data goes next to `out` (.dat).
PlotResult generation_report_plot(const GenerationReport& r, const std::string& out);

}  // namespace dlm
