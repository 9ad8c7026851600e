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
#include "eval/generation_eval.h"
#include "eval/likelihood.h"
#include "eval/report.h"
#include "io/training_metadata.h"
#include "models/model.h"
#include "request/ar_request.h"
#include "request/diffusion_request.h"
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

// A tokenizer folder, with the hint to pass one when the model folder has none.
Tokenizer tokenizer_for(const std::string& dir, bool given, const char* option) {
    try {
        return Tokenizer::from_folder(dir);
    } catch (const Error& e) {
        if (given) throw;
        fail("{}; pass {} DIR", e.what(), option);
    }
}

// The option values alone, before anything is loaded.
void likelihood_options_check(const likelihood_options& o) {
    if (o.block_size < 2) fail("--block-size must be at least 2, not {}", o.block_size);
    if (o.prefix < 0 || o.prefix >= o.block_size)
        fail("--prefix must be in [0, {}) (shorter than the block), not {}", o.block_size, o.prefix);
    if (o.samples < 1) fail("--samples must be at least 1");
    for (double r : o.rates)
        if (!(r > 0 && r <= 1)) fail("--rates: mask rate {} is not in (0, 1]", r);
    if (o.batch < 1) fail("--batch must be at least 1");
    if (o.max_blocks < 0) fail("--max-blocks must be 0 (all) or more");
    if (!o.plot.empty()) plot_terminal_for(o.plot);  // a bad extension fails before the work
}

// A tokenizer of another vocabulary than the model's.
void likelihood_tokenizer_check(const ModelConfig& c, const Tokenizer& tok, const std::string& tok_dir) {
    if (tok.vocab_size() > c.vocab_size)
        fail("the tokenizer in {} has {} tokens but the model's vocabulary has {}: they do not belong together", tok_dir,
             tok.vocab_size(), c.vocab_size);
}

// The blocks as training cut them (the recipe: <s> line </s>, concatenated): lines cut
// and wrapped as config.json's "dlm" key says unless the options say otherwise.
Dataset likelihood_blocks_build(const likelihood_options& o, const ModelConfig& c, const Tokenizer& tok) {
    const TrainingMetadata meta = training_metadata_read(c);
    DatasetOptions d;
    d.corpus.format = corpus_format_parse(o.format);
    d.block_size = o.block_size;
    d.unit_max_tokens = o.unit_max_tokens >= 0 ? o.unit_max_tokens : meta.unit_max_tokens;
    const std::string wrap = o.wrap.empty() ? meta.wrap : o.wrap;
    if (wrap != "lines" && wrap != "documents") fail("--wrap must be lines or documents, not '{}'", wrap);
    d.wrap_documents = wrap == "documents";
    d.threads = o.threads;
    d.use_cache = !o.no_cache;
    d.cache_dir = o.cache_dir;
    Dataset ds = dataset_build(o.files, tok, d);
    if (ds.blocks == 0)
        fail("{} holds no complete block of {} tokens ({} tokens in all): give more text or a smaller --block-size",
             files_name(o.files), o.block_size, ds.stats.tokens);
    return ds;
}

LikelihoodOptions likelihood_run_options(const likelihood_options& o) {
    LikelihoodOptions lo;
    lo.prefix = o.prefix;
    lo.rates = o.rates;
    lo.samples = o.samples;
    lo.estimator = bound_estimator_parse(o.estimator);
    lo.batch = o.batch;
    lo.seed = o.seed;
    return lo;
}

// The report's description of the run (its numbers come later).
LikelihoodReport likelihood_report_start(const likelihood_options& o, const ModelConfig& c, DType dtype,
                                         const LikelihoodOptions& lo, int64_t blocks, int64_t blocks_in_files) {
    LikelihoodReport r;
    r.model = o.model;
    r.architecture = c.architecture;
    r.causal = c.is_causal();
    r.files = o.files;
    r.block_size = o.block_size;
    r.prefix = o.prefix;
    r.blocks = blocks;
    r.blocks_in_files = blocks_in_files;
    r.seed = o.seed;
    r.dtype = dtype_option_name(dtype);
    r.estimator = lo.estimator;
    r.samples_per_block = o.samples;
    return r;
}

// The estimates, one progress bar per stage counting sequences.
void likelihood_measure(const likelihood_options& o, Model& model, const EvalBlocks& eb, const EvalVocab& vocab,
                        LikelihoodOptions& lo, LikelihoodReport& r) {
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
        r.exact = nll_summarize(run_stage("exact NLL", eb.blocks, [&] { return causal_nll(model, eb, vocab, lo); }));
    } else {
        const int64_t n_rates = static_cast<int64_t>(lo.rates.size());
        r.rates = run_stage("mask rates", eb.blocks * n_rates, [&] { return masked_ce_by_rate(model, eb, vocab, lo); });
        r.bound = nll_summarize(
            run_stage("NELBO bound", eb.blocks * lo.samples, [&] { return nelbo_bound(model, eb, vocab, lo); }));
    }
}

// The Markdown on stdout, then the files asked for.
template <typename Plot>
void report_outputs_write(const std::string& md, const nlohmann::ordered_json& json, const std::string& markdown_path,
                          const std::string& json_path, const std::string& plot_path, Plot&& plot) {
    fmt::print("{}", md);
    std::fflush(stdout);
    if (!markdown_path.empty()) file_write_atomic(markdown_path, md);
    if (!json_path.empty()) file_write_atomic(json_path, json.dump(2) + "\n");
    if (!plot_path.empty()) {
        PlotResult p = plot(plot_path);
        if (p.ok) fmt::print(stderr, "dlm: plot written to {}\n", plot_path);
        else fmt::print(stderr, "dlm: warning: no plot: {}\n", p.message);
    }
}

void likelihood_cmd(const likelihood_options& o) {
    threads_apply(o.threads);
    const DType dtype = dtype_option_resolve(o.dtype);
    likelihood_options_check(o);
    LikelihoodOptions lo = likelihood_run_options(o);

    auto model = model_load(o.model, dtype);
    const ModelConfig& c = model->config();
    if (o.block_size > c.max_sequence())
        fail("--block-size {} is longer than the window of {} ({} tokens)", o.block_size, o.model, c.max_sequence());
    if (c.is_causal() && o.prefix < 1)
        fail("--prefix must be at least 1 for a causal LM: the first token of a block has no context");
    const std::string tok_dir = o.tokenizer.empty() ? o.model : o.tokenizer;
    const Tokenizer tok = tokenizer_for(tok_dir, !o.tokenizer.empty(), "--tokenizer");
    likelihood_tokenizer_check(c, tok, tok_dir);

    Dataset ds = likelihood_blocks_build(o, c, tok);
    const int64_t blocks = o.max_blocks > 0 ? std::min(o.max_blocks, ds.blocks) : ds.blocks;
    const EvalBlocks eb{ds.ids.data(), blocks, ds.block_size};
    LikelihoodReport r = likelihood_report_start(o, c, dtype, lo, blocks, ds.blocks);
    dtype_option_report(o.dtype);
    const auto t0 = std::chrono::steady_clock::now();
    likelihood_measure(o, *model, eb, eval_vocab_make(tok), lo, r);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    report_outputs_write(likelihood_report_markdown(r), likelihood_report_json(r), o.markdown, o.json,
                                           o.plot, [&](const std::string& path) { return likelihood_report_plot(r, path); });
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

// The sweep lists' values alone, before anything is loaded.
void generation_options_check(const generation_options& o) {
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
}

// Diffusion's options given for a causal LM.
void diffusion_options_refuse(const generation_options& o, const ModelConfig& c) {
    if (c.is_causal())
        for (auto* opt : {o.o_samplers, o.o_steps, o.o_thresholds, o.o_block, o.o_caches, o.o_commits})
            if (opt->count())
                fail("{} applies to diffusion (masked-LM) models; {} is a causal LM ({})", opt->get_name(), o.model,
                     c.architecture);
}

// A tokenizer of another vocabulary than the model's.
void generation_tokenizer_check(const generation_options& o, const ModelConfig& c, const Tokenizer& tok) {
    if (tok.vocab_size() > c.vocab_size)
        fail("the tokenizer of {} has {} tokens but the model's vocabulary has {}: they do not belong together", o.model,
             tok.vocab_size(), c.vocab_size);
}

// The scorer of the samples (--scorer), checked before any generation.
struct loaded_scorer {
    std::unique_ptr<Model> model;
    std::optional<Tokenizer> tok;
    std::optional<GenScorer> scorer;
};

void scorer_load(const generation_options& o, loaded_scorer& s) {
    if (o.scorer.empty()) return;
    s.model = model_load(o.scorer);
    s.tok.emplace(tokenizer_for(o.scorer_tokenizer.empty() ? o.scorer : o.scorer_tokenizer,
                                !o.scorer_tokenizer.empty(), "--scorer-tokenizer"));
    try {
        generative_perplexity(*s.model, *s.tok, {}, {});  // validates the pair
    } catch (const Error& e) {
        fail("--scorer {}: {}", o.scorer, e.what());
    }
    s.scorer = GenScorer{s.model.get(), &*s.tok, o.scorer};
}

// The AR twin (--ar): its own tokenizer; its continuations are re-encoded with the
// evaluated model's, so that both are measured on the same tokens.
struct loaded_twin {
    std::unique_ptr<Model> model;
    std::optional<Tokenizer> tok;
};

void twin_load(const generation_options& o, bool causal, DType dtype, loaded_twin& t) {
    if (o.ar.empty()) return;
    if (causal) fail("--ar names the AR twin of a diffusion model; {} is itself a causal LM", o.model);
    t.model = model_load(o.ar, dtype);
    if (!t.model->config().is_causal()) fail("--ar {}: {} is not a causal LM", o.ar, t.model->config().architecture);
    t.tok.emplace(tokenizer_for(o.ar, false, "--ar"));
}

struct prompt_lengths {
    int64_t prompt_tokens = 0, new_tokens = 0;
};

// Prompt and continuation lengths: the model's training layout (config.json's "dlm"
// key) unless given.
prompt_lengths prompt_lengths_resolve(const generation_options& o, const ModelConfig& c, const Tokenizer& tok) {
    const TrainingMetadata meta = training_metadata_read(c);
    const int64_t block = training_window(meta, c);
    const bool causal = c.is_causal();
    prompt_lengths l{o.prompt_tokens, 0};
    if (!o.o_prompt_tokens->count() && !causal && meta.prefix_recorded && !meta.random_prefix)
        l.prompt_tokens = std::max<int64_t>(1, meta.prefix - (tok.bos_id() >= 0 ? 1 : 0));
    l.new_tokens = o.o_new_tokens->count() ? o.new_tokens : block - 1 - l.prompt_tokens;
    if (l.new_tokens < 1)
        fail("--prompt-tokens {} leaves no room to generate in the model's {} tokens", l.prompt_tokens, block);
    if (!causal && *std::min_element(o.blocks.begin(), o.blocks.end()) == 0 && 1 + l.prompt_tokens + l.new_tokens > block)
        fail("a prompt of {} tokens + {} new tokens does not fit the model's window of {} (use --block for semi-autoregressive generation)",
             l.prompt_tokens, l.new_tokens, block);
    return l;
}

std::vector<EvalPrompt> prompts_pick(const generation_options& o, const Tokenizer& tok, const prompt_lengths& l) {
    Corpus corpus = corpus_read(o.files, CorpusOptions{corpus_format_parse(o.format), "text"});
    std::vector<EvalPrompt> prompts =
        eval_prompts_pick(corpus, tok, o.prompts, l.prompt_tokens, l.new_tokens, files_name(o.files));
    if (static_cast<int64_t>(prompts.size()) < o.prompts)
        fmt::print(stderr, "dlm: note: {} has only {} lines of at least {} tokens: using {} prompts, not {}\n",
                   files_name(o.files), prompts.size(), 2 * l.prompt_tokens, prompts.size(), o.prompts);
    return prompts;
}

// The report's description of the run (its rows come from the settings).
GenerationReport generation_report_start(const generation_options& o, const ModelConfig& c, DType dtype,
                                         int64_t prompts, const prompt_lengths& l) {
    GenerationReport rep;
    rep.model = o.model;
    rep.architecture = c.architecture;
    rep.scorer = o.scorer;
    rep.dtype = dtype_option_name(dtype);
    rep.files = o.files;
    rep.prompts = prompts;
    rep.prompt_tokens = l.prompt_tokens;
    rep.new_tokens = l.new_tokens;
    rep.batch = o.batch;
    rep.threads = threads_effective();
    rep.seed = o.seed;
    return rep;
}

nlohmann::ordered_json sampling_json(const SamplingParams& p) {
    return nlohmann::ordered_json{{"temperature", p.temperature}, {"top_k", p.top_k}, {"top_p", p.top_p}};
}

// What the generators of one run share.
struct generation_run {
    const generation_options& o;
    Model& model;
    const Tokenizer& tok;
    loaded_twin& twin;
    int64_t new_tokens = 0;
    bool noted = false;  // the prompt placement's notes were printed (once per run)

    // The sampling parameters given on the command line; each method's defaults else.
    SamplingChoices sampling_choices() const {
        SamplingChoices c;
        if (o.o_temp->count()) c.temperature = o.temp;
        if (o.o_top_k->count()) c.top_k = o.top_k;
        if (o.o_top_p->count()) c.top_p = o.top_p;
        return c;
    }
    ArOptions ar_options(int32_t eos_id) const {
        ArChoices c;
        c.sampling = sampling_choices();
        c.length = new_tokens;
        c.seed = o.seed;
        return ar_options_resolve(GenerationDefaults{}, c, eos_id);
    }
};

// Causal LMs: the evaluated model itself (prompts as cut), or the twin (prompts
// re-encoded with its tokenizer, continuations back with the evaluated model's).
gen_batch_fn ar_generator(generation_run& run, Model& model, const Tokenizer* twin_tok, const ArOptions& opt) {
    return [&run, &model, twin_tok, a = opt, first = int64_t{0}](std::span<const EvalPrompt> batch) mutable {
        std::vector<std::vector<int32_t>> ids;
        for (const auto& p : batch) ids.push_back(twin_tok ? twin_tok->encode(p.text, false) : p.ids);
        a.batch = static_cast<int64_t>(batch.size());
        a.first_stream = first;
        GenBatchOutput out;
        out.forward_passes.assign(batch.size(), 0);
        ArResult r = ar_generate(model, ids, a, [&](const GenerationStep& s) { ++out.forward_passes[s.sample]; });
        for (size_t i = 0; i < batch.size(); ++i) {
            const std::vector<int32_t> cont(r.tokens[i].begin() + r.prompt_len[i], r.tokens[i].end());
            out.continuations.push_back(twin_tok ? run.tok.encode(twin_tok->decode(cont, true), false) : cont);
        }
        first += a.batch;
        return out;
    };
}

// A diffusion setting: its sampler and settings over the sampler's defaults (not the
// model's generation_config.json: the sweep says what runs), prompts placed as trained.
gen_batch_fn diffusion_generator(generation_run& run, const GenSetting& setting, GenerationReport& rep) {
    DiffusionChoices c;
    c.sampler = setting.method;
    c.steps = setting.steps;
    c.threshold = static_cast<float>(setting.threshold);
    c.block = setting.block;
    c.cache = setting.cache;
    c.commit = setting.commit;
    c.factor = static_cast<float>(setting.factor);
    c.entropy_bound = static_cast<float>(setting.entropy_bound);
    c.sampling = run.sampling_choices();
    c.length = run.new_tokens;
    c.seed = run.o.seed;
    auto req = std::make_shared<DiffusionRequest>(
        diffusion_request_resolve(run.model, prompt_tokens_of(run.tok), GenerationDefaults{}, c));
    rep.sampling[setting.method] = sampling_json(req->options.sampling);
    return [&run, req, first = int64_t{0}](std::span<const EvalPrompt> batch) mutable {
        std::vector<std::vector<int32_t>> ids;
        for (const auto& p : batch) ids.push_back(p.ids);
        diffusion_request_place(*req, ids, [&](const std::string& n) {
            if (!run.noted) fmt::print(stderr, "dlm: note: {}\n", n);
        });
        run.noted = true;
        req->options.first_stream = first;
        GenBatchOutput out;
        out.forward_passes.assign(batch.size(), 0);
        DiffusionResult r = diffusion_request_run(*req, [&](const GenerationStep& s) { ++out.forward_passes[s.sample]; });
        for (auto& t : r.tokens) out.continuations.emplace_back(t.begin() + req->prompt_len, t.end());
        first += static_cast<int64_t>(batch.size());
        return out;
    };
}

// The generator of one setting; none for the held-out text itself.
gen_batch_fn setting_generator(generation_run& run, const GenSetting& setting, GenerationReport& rep) {
    if (setting.method == "autoregressive" && run.twin.model) {
        const ArOptions a = run.ar_options(run.twin.tok->eos_id());
        rep.sampling["autoregressive"] = sampling_json(a.sampling);
        return ar_generator(run, *run.twin.model, &*run.twin.tok, a);
    }
    if (setting.method == "autoregressive") {
        const ArOptions a = run.ar_options(run.tok.eos_id());
        rep.sampling[setting.method] = sampling_json(a.sampling);
        return ar_generator(run, run.model, nullptr, a);
    }
    if (setting.method != "reference") return diffusion_generator(run, setting, rep);
    return {};
}

GenSettingResult setting_evaluate(generation_run& run, const GenSetting& setting,
                                  const std::vector<EvalPrompt>& prompts, const std::optional<GenScorer>& scorer,
                                  GenerationReport& rep) {
    const gen_batch_fn generate = setting_generator(run, setting, rep);
    std::optional<Progress> bar;
    if (!run.o.quiet) bar.emplace(setting.label(), rep.prompts);
    GenSettingResult result = generation_setting_evaluate(setting, prompts, run.o.batch, generate, run.tok, scorer,
                                                          [&](int64_t done, int64_t) {
                                                              if (bar) bar->update(done);
                                                          });
    if (bar) bar->finish();
    return result;
}

void generation_cmd(const generation_options& o) {
    threads_apply(o.threads);
    const DType dtype = dtype_option_resolve(o.dtype);
    generation_options_check(o);

    auto model = model_load(o.model, dtype);
    const ModelConfig& c = model->config();
    const bool causal = c.is_causal();
    diffusion_options_refuse(o, c);
    const Tokenizer tok = tokenizer_for(o.tokenizer.empty() ? o.model : o.tokenizer, !o.tokenizer.empty(), "--tokenizer");
    generation_tokenizer_check(o, c, tok);
    const std::vector<GenSetting> settings = generation_settings(o, causal);
    loaded_scorer scorer;
    scorer_load(o, scorer);

    const prompt_lengths lengths = prompt_lengths_resolve(o, c, tok);
    const std::vector<EvalPrompt> prompts = prompts_pick(o, tok, lengths);
    GenerationReport rep = generation_report_start(o, c, dtype, static_cast<int64_t>(prompts.size()), lengths);
    dtype_option_report(o.dtype);
    loaded_twin twin;
    twin_load(o, causal, dtype, twin);
    generation_run run{o, *model, tok, twin, lengths.new_tokens};
    for (const auto& setting : settings) rep.results.push_back(setting_evaluate(run, setting, prompts, scorer.scorer, rep));

    report_outputs_write(generation_report_markdown(rep), generation_report_json(rep), o.markdown,
                                           o.json, o.plot,
                                           [&](const std::string& path) { return generation_report_plot(rep, path); });
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
