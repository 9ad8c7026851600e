// dlm eval: evaluation of trained models.
//   dlm eval likelihood   masked LMs: loss per mask rate + the NELBO bound; causal LMs:
//                         exact perplexity; both in bits per byte (src/eval/likelihood.h)
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <optional>

#include "command.h"
#include "core/error.h"
#include "core/file.h"
#include "core/progress.h"
#include "data/dataset.h"
#include "eval/likelihood.h"
#include "eval/report.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace dlm::cli {
namespace {

struct likelihood_options {
    std::string model, tokenizer, format = "auto", json, markdown, plot, dtype = "f32", estimator = "count", cache_dir;
    std::vector<std::string> files;
    std::vector<double> rates = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};
    int64_t block_size = 256, prefix = 16, samples = 4, batch = 8, max_blocks = 0, unit_max_tokens = 256;
    uint64_t seed = 0;
    int threads = 0;
    bool no_cache = false, quiet = false;
};

std::string files_name(const std::vector<std::string>& files) {
    std::string s;
    for (size_t i = 0; i < files.size(); ++i) s += (i ? ", " : "") + files[i];
    return s;
}

void likelihood_cmd(const likelihood_options& o) {
    threads_apply(o.threads);
    if (o.dtype != "f32" && o.dtype != "bf16") fail("--dtype must be f32 or bf16, not '{}'", o.dtype);
    if (o.block_size < 2) fail("--block-size must be at least 2, not {}", o.block_size);
    if (o.prefix < 0 || o.prefix >= o.block_size)
        fail("--prefix must be in [0, {}) (shorter than the block), not {}", o.block_size, o.prefix);
    if (o.samples < 1) fail("--samples must be at least 1");
    for (double r : o.rates)
        if (!(r > 0 && r <= 1)) fail("--rates: mask rate {} is not in (0, 1]", r);
    if (o.batch < 1) fail("--batch must be at least 1");
    if (o.max_blocks < 0) fail("--max-blocks must be 0 (all) or more");
    if (!o.plot.empty()) plot_terminal_for(o.plot);  // a bad extension fails before the work
    const BoundEstimator estimator = bound_estimator_parse(o.estimator);

    auto model = model_load(o.model);
    model->compute_dtype_set(o.dtype == "bf16" ? DType::BF16 : DType::F32);
    const ModelConfig& c = model->config();
    if (o.block_size > model_window(c))
        fail("--block-size {} is longer than the window of {} ({} tokens)", o.block_size, o.model, model_window(c));
    if (c.is_causal() && o.prefix < 1)
        fail("--prefix must be at least 1 for a causal LM: the first token of a block has no context");
    const std::string tok_dir = o.tokenizer.empty() ? o.model : o.tokenizer;
    std::optional<Tokenizer> tok_loaded;
    try {
        tok_loaded = Tokenizer::from_folder(tok_dir);
    } catch (const Error& e) {
        if (!o.tokenizer.empty()) throw;
        fail("{}; pass --tokenizer DIR", e.what());
    }
    const Tokenizer& tok = *tok_loaded;
    if (tok.vocab_size() > c.vocab_size)
        fail("the tokenizer in {} has {} tokens but the model's vocabulary has {}: they do not belong together", tok_dir,
             tok.vocab_size(), c.vocab_size);

    // The blocks as training cuts them (the recipe: <s> line </s>, concatenated).
    DatasetOptions d;
    d.corpus.format = corpus_format_parse(o.format);
    d.block_size = o.block_size;
    d.unit_max_tokens = o.unit_max_tokens;
    d.threads = o.threads;
    d.use_cache = !o.no_cache;
    d.cache_dir = o.cache_dir;
    Dataset ds = dataset_build(o.files, tok, d);
    if (ds.blocks == 0)
        fail("{} holds no complete block of {} tokens ({} tokens in all): give more text or a smaller --block-size",
             files_name(o.files), o.block_size, ds.stats.tokens);
    const int64_t blocks = o.max_blocks > 0 ? std::min(o.max_blocks, ds.blocks) : ds.blocks;
    EvalBlocks eb{ds.ids.data(), blocks, ds.block_size};
    EvalVocab vocab = eval_vocab_make(tok);

    LikelihoodOptions lo;
    lo.prefix = o.prefix;
    lo.rates = o.rates;
    lo.samples = o.samples;
    lo.estimator = estimator;
    lo.batch = o.batch;
    lo.seed = o.seed;

    LikelihoodReport r;
    r.model = o.model;
    r.architecture = c.architecture;
    r.causal = c.is_causal();
    r.files = o.files;
    r.block_size = o.block_size;
    r.prefix = o.prefix;
    r.blocks = blocks;
    r.blocks_in_files = ds.blocks;
    r.seed = o.seed;
    r.dtype = o.dtype;
    r.estimator = lo.estimator;
    r.samples_per_block = o.samples;
    const auto t0 = std::chrono::steady_clock::now();
    // One progress bar per stage, counting sequences.
    auto run_stage = [&](const char* label, int64_t sequences, auto&& stage) {
        std::optional<Progress> bar;
        if (!o.quiet) bar.emplace(label, sequences);
        lo.progress = [&](int64_t done, int64_t) {
            if (bar) bar->update(done);
        };
        auto result = stage();
        if (bar) bar->finish();
        lo.progress = nullptr;
        return result;
    };
    if (r.causal) {
        r.exact = nll_summarize(run_stage("exact NLL", blocks, [&] { return causal_nll(*model, eb, vocab, lo); }));
    } else {
        const int64_t n_rates = static_cast<int64_t>(lo.rates.size());
        r.rates = run_stage("mask rates", blocks * n_rates, [&] { return masked_ce_by_rate(*model, eb, vocab, lo); });
        r.bound = nll_summarize(
            run_stage("NELBO bound", blocks * lo.samples, [&] { return nelbo_bound(*model, eb, vocab, lo); }));
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    const std::string md = likelihood_report_markdown(r);
    fmt::print("{}", md);
    std::fflush(stdout);
    if (!o.markdown.empty()) file_write_atomic(o.markdown, md);
    if (!o.json.empty()) file_write_atomic(o.json, likelihood_report_json(r).dump(2) + "\n");
    if (!o.plot.empty()) {
        PlotResult p = likelihood_report_plot(r, o.plot);
        if (p.ok) fmt::print(stderr, "dlm: plot written to {}\n", o.plot);
        else fmt::print(stderr, "dlm: warning: no plot: {}\n", p.message);
    }
    fmt::print(stderr, "dlm: evaluated {} blocks in {}\n", blocks, duration_format(r.seconds));
}

command_registration reg(50, "eval", "Evaluate models: likelihood per mask rate and bounds, perplexity, bits per byte",
                         [](CLI::App& sub) {
    sub.require_subcommand(1);
    auto o = std::make_shared<likelihood_options>();
    auto* lik = sub.add_subcommand(
        "likelihood", "Masked LMs: cross-entropy per mask rate and the NELBO bound; causal LMs: exact perplexity");
    lik->add_option("-m,--model", o->model, "Model folder")->required();
    lik->add_option("--tokenizer", o->tokenizer, "Tokenizer folder (default: the model folder)");
    lik->add_option("-f,--file", o->files, "Held-out text files or folders")->required();
    lik->add_option("--format", o->format, "Input format: auto, wikitext, text, wikiextractor, jsonl")->capture_default_str();
    lik->add_option("--block-size", o->block_size, "Tokens per block (as in training)")->capture_default_str();
    lik->add_option("--unit-max-tokens", o->unit_max_tokens, "Truncate each line/record to this many tokens (0: no limit)")->capture_default_str();
    lik->add_option("--prefix", o->prefix, "Context tokens at the start of each block, never scored")->capture_default_str();
    lik->add_option("--rates", o->rates, "Mask rates for the per-rate table")->delimiter(',')->capture_default_str();
    lik->add_option("--samples", o->samples, "Bound: samples of t per block (stratified)")->capture_default_str();
    lik->add_option("--estimator", o->estimator, "NELBO estimator: count (default: sums over mask sizes, finite variance) or t (t ~ U(0,1] with the 1/t weight: same expectation, infinite variance, so its standard error is unreliable)")->capture_default_str();
    lik->add_option("-b,--batch", o->batch, "Sequences per forward pass")->capture_default_str();
    lik->add_option("--max-blocks", o->max_blocks, "Evaluate only the first N blocks (0: all)")->capture_default_str();
    lik->add_option("-s,--seed", o->seed, "Seed of the masks and of t")->capture_default_str();
    lik->add_option("--json", o->json, "Write the report as JSON to this file");
    lik->add_option("--markdown", o->markdown, "Write the Markdown table to this file (it is also printed)");
    lik->add_option("--plot", o->plot, "Draw the loss per mask rate to this .png or .svg (gnuplot)");
    lik->add_option("--dtype", o->dtype, "Matrix products in f32 (the reference) or bf16 (faster)")->capture_default_str();
    add_threads_option(*lik, o->threads);
    lik->add_option("--cache-dir", o->cache_dir, "Token cache folder (default ~/.cache/dlm)");
    lik->add_flag("--no-cache", o->no_cache, "Do not read or write the token cache");
    lik->add_flag("-q,--quiet", o->quiet, "No progress bar");
    lik->callback([o] { likelihood_cmd(*o); });
});

}  // namespace
}  // namespace dlm::cli
