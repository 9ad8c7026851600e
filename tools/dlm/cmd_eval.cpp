// dlm eval: evaluation of trained models.
//   dlm eval likelihood   masked LMs: loss per mask rate + the NELBO bound; causal LMs:
//                         exact perplexity; both in bits per byte (src/eval/likelihood.h)
//   dlm eval generation   samples from held-out prompts: generative perplexity, diversity,
//                         speed, over sweeps of samplers / steps / thresholds
//                         (src/eval/generation_eval.h)
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <optional>

#include "command.h"
#include "core/error.h"
#include "core/file.h"
#include "core/progress.h"
#include "data/dataset.h"
#include "ar/generate_ar.h"
#include "diffusion/generate.h"
#include "diffusion/prompt.h"
#include "eval/generation_eval.h"
#include "eval/likelihood.h"
#include "eval/report.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace dlm::cli {
namespace {

struct likelihood_options {
    std::string model, tokenizer, format = "auto", json, markdown, plot, dtype = "auto", estimator = "count", cache_dir, wrap;
    std::vector<std::string> files;
    std::vector<double> rates = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};
    int64_t block_size = 256, prefix = 16, samples = 4, batch = 8, max_blocks = 0, unit_max_tokens = -1;
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
    const DType dtype = dtype_option_resolve(o.dtype);
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

    auto model = model_load(o.model, dtype);
    const ModelConfig& c = model->config();
    if (o.block_size > c.max_sequence())
        fail("--block-size {} is longer than the window of {} ({} tokens)", o.block_size, o.model, c.max_sequence());
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
    d.unit_max_tokens = o.unit_max_tokens >= 0 ? o.unit_max_tokens
                        : c.json.contains("dlm") ? c.json["dlm"].value("unit_max_tokens", int64_t{256}) : 256;
    // The text is cut as the model was trained (config.json's "dlm" key) unless told.
    std::string wrap = o.wrap;
    if (wrap.empty()) wrap = c.json.contains("dlm") ? c.json["dlm"].value("wrap", "lines") : "lines";
    if (wrap != "lines" && wrap != "documents") fail("--wrap must be lines or documents, not '{}'", wrap);
    d.wrap_documents = wrap == "documents";
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
    r.dtype = dtype_option_name(dtype);
    r.estimator = lo.estimator;
    r.samples_per_block = o.samples;
    dtype_option_report(o.dtype);
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

// ---- dlm eval generation ----------------------------------------------------------

struct generation_options {
    std::string model, tokenizer, scorer, scorer_tokenizer, format = "auto", json, markdown, plot, dtype = "auto", ar;
    std::vector<std::string> files, samplers = {"remask"}, caches = {"none"}, commits = {"threshold"};
    std::vector<int64_t> steps, blocks = {0};
    std::vector<double> thresholds = {0.9}, factors = {1.0}, entropy_bounds = {0.5};
    int64_t prompts = 32, prompt_tokens = 16, new_tokens = 0, batch = 8, top_k = 50;
    float temp = 1.0f, top_p = 0.95f;
    uint64_t seed = 0;
    int threads = 0;
    bool quiet = false;
    CLI::Option *o_steps = nullptr, *o_thresholds = nullptr, *o_samplers = nullptr, *o_temp = nullptr,
                *o_top_k = nullptr, *o_top_p = nullptr, *o_block = nullptr, *o_prompt_tokens = nullptr,
                *o_new_tokens = nullptr, *o_caches = nullptr, *o_commits = nullptr;
};

// A tokenizer folder, with the hint to pass one when the model folder has none.
Tokenizer tokenizer_for(const std::string& dir, bool given, const char* option) {
    try {
        return Tokenizer::from_folder(dir);
    } catch (const Error& e) {
        if (given) throw;
        fail("{}; pass {} DIR", e.what(), option);
    }
}

// The settings to run: the held-out text first, then the samplers' sweeps.
std::vector<GenSetting> generation_settings(const generation_options& o, bool causal) {
    std::vector<GenSetting> out = {{"reference", 0, 0}};
    if (causal) {
        out.push_back({"autoregressive", 0, 0});
        return out;
    }
    if (!o.ar.empty()) {
        GenSetting twin{"autoregressive", 0, 0};
        twin.model = o.ar;
        out.push_back(twin);
    }
    const bool steps_given = o.o_steps->count() > 0, thresholds_given = o.o_thresholds->count() > 0;
    // block x cache x (sampler sweeps); the confidence sampler's commit rules each sweep
    // their own parameter (a step budget applies to the first rule's first value).
    for (int64_t block : o.blocks)
        for (const auto& cache : o.caches)
            for (const auto& name : o.samplers) {
                const SamplerKind k = sampler_parse(name);
                GenSetting base{name, 0, 0};
                base.block = block;
                base.cache = cache;
                auto add = [&](int64_t steps, auto&& set) {
                    GenSetting g = base;
                    g.steps = steps;
                    set(g);
                    out.push_back(g);
                };
                if (k != SamplerKind::confidence) {
                    const std::vector<int64_t> steps =
                        steps_given ? o.steps : std::vector<int64_t>{diffusion_options_default(k).steps};
                    for (int64_t s : steps) add(s, [](GenSetting&) {});
                    continue;
                }
                const std::string& first = o.commits[0];
                auto first_value = [&](GenSetting& g) {
                    g.commit = first;
                    g.threshold = o.thresholds[0];
                    g.factor = o.factors[0];
                    g.entropy_bound = o.entropy_bounds[0];
                };
                if (steps_given)
                    for (int64_t s : o.steps) add(s, first_value);
                if (thresholds_given || !steps_given || o.commits.size() > 1)
                    for (const auto& commit : o.commits) {
                        if (commit == "threshold")
                            for (double t : o.thresholds) add(0, [&](GenSetting& g) { g.threshold = t; });
                        else if (commit == "factor")
                            for (double f : o.factors) add(0, [&](GenSetting& g) { g.commit = commit, g.factor = f; });
                        else
                            for (double e : o.entropy_bounds)
                                add(0, [&](GenSetting& g) { g.commit = commit, g.entropy_bound = e; });
                    }
            }
    return out;
}

void generation_cmd(const generation_options& o) {
    threads_apply(o.threads);
    const DType dtype = dtype_option_resolve(o.dtype);
    if (o.prompts < 1) fail("--prompts must be at least 1, not {}", o.prompts);
    if (o.batch < 1) fail("--batch must be at least 1, not {}", o.batch);
    for (int64_t s : o.steps)
        if (s < 0) fail("--steps: {} is negative", s);
    for (double t : o.thresholds)
        if (!(t > 0 && t <= 1)) fail("--threshold: {} is not in (0, 1]", t);
    for (int64_t b : o.blocks)
        if (b < 0) fail("--block: {} is negative", b);
    for (double f : o.factors)
        if (!(f > 0)) fail("--factor: {} is not above 0", f);
    for (double e : o.entropy_bounds)
        if (!(e >= 0)) fail("--entropy-bound: {} is negative", e);
    if (!o.plot.empty()) plot_terminal_for(o.plot);  // a bad extension fails before the work

    auto model = model_load(o.model, dtype);
    const ModelConfig& c = model->config();
    const bool causal = c.is_causal();
    if (causal)
        for (auto* opt : {o.o_samplers, o.o_steps, o.o_thresholds, o.o_block, o.o_caches, o.o_commits})
            if (opt->count())
                fail("{} applies to diffusion (masked-LM) models; {} is a causal LM ({})", opt->get_name(), o.model,
                     c.architecture);
    const Tokenizer tok = tokenizer_for(o.tokenizer.empty() ? o.model : o.tokenizer, !o.tokenizer.empty(), "--tokenizer");
    if (tok.vocab_size() > c.vocab_size)
        fail("the tokenizer of {} has {} tokens but the model's vocabulary has {}: they do not belong together", o.model,
             tok.vocab_size(), c.vocab_size);
    std::vector<GenSetting> settings = generation_settings(o, causal);

    // The scorer, checked before any generation.
    std::unique_ptr<Model> scorer_model;
    std::optional<Tokenizer> scorer_tok;
    std::optional<GenScorer> scorer;
    if (!o.scorer.empty()) {
        scorer_model = model_load(o.scorer);
        scorer_tok.emplace(tokenizer_for(o.scorer_tokenizer.empty() ? o.scorer : o.scorer_tokenizer,
                                         !o.scorer_tokenizer.empty(), "--scorer-tokenizer"));
        try {
            generative_perplexity(*scorer_model, *scorer_tok, {}, {});  // validates the pair
        } catch (const Error& e) {
            fail("--scorer {}: {}", o.scorer, e.what());
        }
        scorer = GenScorer{scorer_model.get(), &*scorer_tok, o.scorer};
    }

    // Prompt and continuation lengths: the model's training layout by default.
    const auto meta = c.json.contains("dlm") ? c.json["dlm"] : nlohmann::ordered_json::object();
    const int64_t block = std::min<int64_t>(meta.value("block_size", int64_t{256}), c.max_sequence());
    int64_t prompt_tokens = o.prompt_tokens;
    if (!o.o_prompt_tokens->count() && !causal && meta.contains("prefix") && meta["prefix"].is_number_integer())
        prompt_tokens = std::max<int64_t>(1, meta["prefix"].get<int64_t>() - (tok.bos_id() >= 0 ? 1 : 0));
    const int64_t new_tokens = o.o_new_tokens->count() ? o.new_tokens : block - 1 - prompt_tokens;
    if (new_tokens < 1)
        fail("--prompt-tokens {} leaves no room to generate in the model's {} tokens", prompt_tokens, block);
    if (!causal && *std::min_element(o.blocks.begin(), o.blocks.end()) == 0 && 1 + prompt_tokens + new_tokens > block)
        fail("a prompt of {} tokens + {} new tokens does not fit the model's window of {} (use --block for semi-autoregressive generation)",
             prompt_tokens, new_tokens, block);

    Corpus corpus = corpus_read(o.files, CorpusOptions{corpus_format_parse(o.format), "text"});
    std::vector<EvalPrompt> prompts =
        eval_prompts_pick(corpus, tok, o.prompts, prompt_tokens, new_tokens, files_name(o.files));
    if (static_cast<int64_t>(prompts.size()) < o.prompts)
        fmt::print(stderr, "dlm: note: {} has only {} lines of at least {} tokens: using {} prompts, not {}\n",
                   files_name(o.files), prompts.size(), 2 * prompt_tokens, prompts.size(), o.prompts);

    GenerationReport rep;
    rep.model = o.model;
    rep.architecture = c.architecture;
    rep.scorer = o.scorer;
    rep.dtype = dtype_option_name(dtype);
    rep.files = o.files;
    rep.prompts = static_cast<int64_t>(prompts.size());
    rep.prompt_tokens = prompt_tokens;
    rep.new_tokens = new_tokens;
    rep.batch = o.batch;
    rep.threads = threads_effective();
    rep.seed = o.seed;

    // The sampling parameters: each method's defaults unless given.
    auto sampling_for = [&](SamplingParams p) {
        if (o.o_temp->count()) p.temperature = o.temp;
        if (o.o_top_k->count()) p.top_k = o.top_k;
        if (o.o_top_p->count()) p.top_p = o.top_p;
        return p;
    };
    auto sampling_json = [](const SamplingParams& p) {
        return nlohmann::ordered_json{{"temperature", p.temperature}, {"top_k", p.top_k}, {"top_p", p.top_p}};
    };
    dtype_option_report(o.dtype);
    ModelDenoiser denoiser(*model);
    // The AR twin (--ar): its own tokenizer; its continuations are re-encoded with the
    // evaluated model's, so that both are measured on the same tokens.
    std::unique_ptr<Model> twin;
    std::optional<Tokenizer> twin_tok;
    if (!o.ar.empty()) {
        if (causal) fail("--ar names the AR twin of a diffusion model; {} is itself a causal LM", o.model);
        twin = model_load(o.ar, dtype);
        if (!twin->config().is_causal()) fail("--ar {}: {} is not a causal LM", o.ar, twin->config().architecture);
        twin_tok.emplace(tokenizer_for(o.ar, false, "--ar"));
    }
    bool noted = false;
    for (const auto& setting : settings) {
        gen_batch_fn generate;
        int64_t first = 0;  // the first prompt's index in this batch: its random stream
        if (setting.method == "autoregressive" && twin) {
            ArOptions a;
            a.max_new_tokens = new_tokens;
            a.sampling = sampling_for(a.sampling);
            a.seed = o.seed;
            a.eos_id = twin_tok->eos_id();
            rep.sampling["autoregressive"] = sampling_json(a.sampling);
            generate = [&, a](std::span<const EvalPrompt> batch) mutable {
                std::vector<std::vector<int32_t>> ids;
                for (const auto& p : batch) ids.push_back(twin_tok->encode(p.text, false));
                a.batch = static_cast<int64_t>(batch.size());
                a.first_stream = first;
                GenBatchOutput out;
                out.forward_passes.assign(batch.size(), 0);
                ArResult r = ar_generate(*twin, ids, a, [&](const GenerationStep& s) { ++out.forward_passes[s.sample]; });
                for (size_t i = 0; i < batch.size(); ++i) {
                    const std::vector<int32_t> cont(r.tokens[i].begin() + r.prompt_len[i], r.tokens[i].end());
                    out.continuations.push_back(tok.encode(twin_tok->decode(cont, true), false));
                }
                first += a.batch;
                return out;
            };
        } else if (setting.method == "autoregressive") {
            ArOptions a;
            a.max_new_tokens = new_tokens;
            a.sampling = sampling_for(a.sampling);
            a.seed = o.seed;
            a.eos_id = tok.eos_id();
            rep.sampling[setting.method] = sampling_json(a.sampling);
            generate = [&, a](std::span<const EvalPrompt> batch) mutable {
                std::vector<std::vector<int32_t>> ids;
                for (const auto& p : batch) ids.push_back(p.ids);
                a.batch = static_cast<int64_t>(batch.size());
                a.first_stream = first;
                GenBatchOutput out;
                out.forward_passes.assign(batch.size(), 0);
                ArResult r = ar_generate(*model, ids, a, [&](const GenerationStep& s) { ++out.forward_passes[s.sample]; });
                for (size_t i = 0; i < batch.size(); ++i)
                    out.continuations.emplace_back(r.tokens[i].begin() + r.prompt_len[i], r.tokens[i].end());
                first += a.batch;
                return out;
            };
        } else if (setting.method != "reference") {
            DiffusionOptions d = diffusion_options_default(sampler_parse(setting.method));
            d.steps = setting.steps;
            d.threshold = static_cast<float>(setting.threshold);
            d.sampling = sampling_for(d.sampling);
            d.mask_id = tok.mask_id();
            d.seed = o.seed;
            d.block = setting.block;
            d.cache = cache_parse(setting.cache);
            d.commit = commit_parse(setting.commit);
            d.factor = static_cast<float>(setting.factor);
            d.entropy_bound = static_cast<float>(setting.entropy_bound);
            rep.sampling[setting.method] = sampling_json(d.sampling);
            generate = [&, d](std::span<const EvalPrompt> batch) mutable {
                std::vector<std::vector<int32_t>> starts;
                int64_t prompt_len = 0;
                for (const auto& p : batch) {
                    DiffusionPrompt dp = diffusion_prompt_from_ids(tok, c, p.ids, new_tokens);
                    if (!noted)
                        for (auto& n : dp.notes) fmt::print(stderr, "dlm: note: {}\n", n);
                    noted = true;
                    d.window = dp.window;
                    prompt_len = dp.prompt_len;
                    starts.push_back(std::move(dp.tokens));
                }
                d.first_stream = first;
                GenBatchOutput out;
                out.forward_passes.assign(batch.size(), 0);
                DiffusionResult r = diffusion_generate(denoiser, starts, d, [&](const GenerationStep& s) { ++out.forward_passes[s.sample]; });
                for (auto& t : r.tokens) out.continuations.emplace_back(t.begin() + prompt_len, t.end());
                first += static_cast<int64_t>(batch.size());
                return out;
            };
        }
        std::optional<Progress> bar;
        if (!o.quiet) bar.emplace(setting.label(), rep.prompts);
        rep.results.push_back(generation_setting_evaluate(setting, prompts, o.batch, generate, tok, scorer,
                                                          [&](int64_t done, int64_t) {
                                                              if (bar) bar->update(done);
                                                          }));
        if (bar) bar->finish();
    }

    const std::string md = generation_report_markdown(rep);
    fmt::print("{}", md);
    std::fflush(stdout);
    if (!o.markdown.empty()) file_write_atomic(o.markdown, md);
    if (!o.json.empty()) file_write_atomic(o.json, generation_report_json(rep).dump(2) + "\n");
    if (!o.plot.empty()) {
        PlotResult p = generation_report_plot(rep, o.plot);
        if (p.ok) fmt::print(stderr, "dlm: plot written to {}\n", o.plot);
        else fmt::print(stderr, "dlm: warning: no plot: {}\n", p.message);
    }
}

void generation_add(CLI::App& sub) {
    auto o = std::make_shared<generation_options>();
    auto* g = sub.add_subcommand("generation", "Samples from held-out prompts: generative perplexity (--scorer), diversity, speed; sweeps over samplers, steps and thresholds");
    g->add_option("-m,--model", o->model, "Model folder (masked LM: diffusion samplers; causal LM: left to right)")->required();
    g->add_option("--tokenizer", o->tokenizer, "Tokenizer folder (default: the model folder)");
    g->add_option("-f,--file", o->files, "Held-out text files or folders (prompts are cut from them)")->required();
    g->add_option("--format", o->format, "Input format: auto, wikitext, text, wikiextractor, jsonl")->capture_default_str();
    g->add_option("--scorer", o->scorer, "Causal LM folder that scores the samples (generative perplexity)");
    g->add_option("--scorer-tokenizer", o->scorer_tokenizer, "Tokenizer of the scorer (default: the scorer folder)");
    g->add_option("-n,--prompts", o->prompts, "Prompts (samples per setting)")->capture_default_str();
    o->o_prompt_tokens = g->add_option("--prompt-tokens", o->prompt_tokens, "Tokens per prompt (default 16; a fixed-prefix model's prefix minus <s>)");
    o->o_new_tokens = g->add_option("--new-tokens", o->new_tokens, "Tokens to generate per sample (default: the training block minus <s> and the prompt)");
    o->o_samplers = g->add_option("--sampler", o->samplers, "Diffusion samplers: remask, confidence, lowconf (comma list)")->delimiter(',')->capture_default_str();
    o->o_steps = g->add_option("--steps", o->steps, "Steps per sampler, e.g. 1,2,5,10,20,50,100 (default: each sampler's; confidence: a budget)")->delimiter(',');
    o->o_thresholds = g->add_option("--threshold", o->thresholds, "Confidence thresholds to sweep (no step budget), e.g. 0.5,0.7,0.9,0.99")->delimiter(',')->capture_default_str();
    o->o_temp = g->add_option("--temp", o->temp, "Temperature (default: each method's, as dlm generate)");
    o->o_top_k = g->add_option("--top-k", o->top_k, "Top-k (default: each method's)");
    o->o_top_p = g->add_option("--top-p", o->top_p, "Top-p (default: each method's)");
    o->o_block = g->add_option("--block", o->blocks, "Semi-autoregressive block lengths to sweep (0 = whole canvas), e.g. 0,32")
                     ->delimiter(',')->capture_default_str();
    o->o_caches = g->add_option("--cache", o->caches, "Key/value caches to sweep: none, prefix, dual (comma list)")
                      ->delimiter(',')->check(CLI::IsMember({"none", "prefix", "dual"}))->capture_default_str();
    o->o_commits = g->add_option("--commit", o->commits, "confidence: commit rules to sweep: threshold (--threshold), "
                                                         "factor (--factor), entropy (--entropy-bound)")
                       ->delimiter(',')->check(CLI::IsMember({"threshold", "factor", "entropy"}))->capture_default_str();
    g->add_option("--factor", o->factors, "confidence, commit factor: factors to sweep, e.g. 1,2,4")->delimiter(',')->capture_default_str();
    g->add_option("--entropy-bound", o->entropy_bounds, "confidence, commit entropy: bounds (nats) to sweep, e.g. 0.5,1,2")
        ->delimiter(',')->capture_default_str();
    g->add_option("--ar", o->ar, "The AR twin (a causal LM folder): generates on the same prompts, as one more row");
    g->add_option("-b,--batch", o->batch, "Samples generated together")->capture_default_str();
    g->add_option("-s,--seed", o->seed, "Seed (sample i uses stream i whatever the batch)")->capture_default_str();
    add_dtype_option(*g, o->dtype, "Matrix products of the generator in bf16 or f32 (the scorer runs in f32)");
    add_threads_option(*g, o->threads);
    g->add_option("--json", o->json, "Write the report (with every sample's text) as JSON to this file");
    g->add_option("--markdown", o->markdown, "Write the Markdown table to this file (it is also printed)");
    g->add_option("--plot", o->plot, "Draw quality against passes and seconds per sample to this .png or .svg (gnuplot)");
    g->add_flag("-q,--quiet", o->quiet, "No progress bar");
    g->callback([o] { generation_cmd(*o); });
}

command_registration reg(50, "eval", "Evaluate models: likelihood bounds and perplexity; generation quality and speed",
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
    lik->add_option("--unit-max-tokens", o->unit_max_tokens, "Truncate each line/record to this many tokens (0: no limit; default: as the model was trained, else 256)");
    lik->add_option("--wrap", o->wrap, "lines (<s> line </s>) or documents (<s> document </s>); default: as the model was trained");
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
    add_dtype_option(*lik, o->dtype, "Matrix products in f32 (the reference) or bf16 (faster)");
    add_threads_option(*lik, o->threads);
    lik->add_option("--cache-dir", o->cache_dir, "Token cache folder (default ~/.cache/dlm)");
    lik->add_flag("--no-cache", o->no_cache, "Do not read or write the token cache");
    lik->add_flag("-q,--quiet", o->quiet, "No progress bar");
    lik->callback([o] { likelihood_cmd(*o); });
    generation_add(sub);
});

}  // namespace
}  // namespace dlm::cli
