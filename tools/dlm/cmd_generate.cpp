// dlm generate: text from a prompt. Masked LMs denoise a canvas of <mask> tokens
// (diffusion samplers); causal LMs decode left to right with a KV cache.
#include <fmt/format.h>
#include <unistd.h>

#include <optional>

#include "command.h"
#include "core/error.h"
#include "generation/generation_config.h"
#include "generation/trace.h"
#include "models/model.h"
#include "request/ar_request.h"
#include "request/diffusion_request.h"
#include "request/texts.h"
#include "tokenizer/tokenizer.h"
#include "view/terminal_view.h"

namespace dlm::cli {
namespace {

struct generate_options {
    std::string model, prompt, sampler = "remask", trace, dtype = "auto", cache = "none", commit = "threshold";
    int64_t length = 0, steps = 10, block = 0, top_k = 50, batch = 1;
    float threshold = 0.9f, temp = 1.0f, top_p = 0.95f, factor = 1.0f, entropy_bound = 0.5f;
    uint64_t seed = 0;
    int threads = 0;
    bool animate = false;
    // Which options the user gave (defaults depend on the sampler and model kind).
    CLI::Option *o_length, *o_steps, *o_block, *o_top_k, *o_threshold, *o_temp, *o_top_p, *o_sampler, *o_dtype,
        *o_cache, *o_commit, *o_factor, *o_entropy_bound;
};

void print_texts(const std::vector<std::string>& texts) {
    for (size_t i = 0; i < texts.size(); ++i) {
        if (texts.size() > 1) fmt::print("--- sample {} ---\n", i);
        fmt::print("{}\n", texts[i]);
    }
    std::fflush(stdout);
}

// The value of an option the user gave; unset when not given (the model's default applies).
template <typename T>
std::optional<T> given(const CLI::Option* opt, const T& value) {
    return opt->count() ? std::optional<T>(value) : std::nullopt;
}

SamplingChoices sampling_choices_of(const generate_options& o) {
    return {given(o.o_temp, o.temp), given(o.o_top_p, o.top_p), given(o.o_top_k, o.top_k)};
}

DiffusionChoices diffusion_choices_of(const generate_options& o) {
    DiffusionChoices c;
    c.sampler = given(o.o_sampler, o.sampler);
    c.cache = given(o.o_cache, o.cache);
    c.commit = given(o.o_commit, o.commit);
    c.steps = given(o.o_steps, o.steps);
    c.block = given(o.o_block, o.block);
    c.threshold = given(o.o_threshold, o.threshold);
    c.factor = given(o.o_factor, o.factor);
    c.entropy_bound = given(o.o_entropy_bound, o.entropy_bound);
    c.sampling = sampling_choices_of(o);
    c.length = given(o.o_length, o.length);
    c.seed = o.seed;
    c.batch = o.batch;
    return c;
}

// Shows sample 0's steps live (--animate) and records every step (--trace).
step_callback step_observer(const generate_options& o, TerminalView& view, TraceRecorder& trace) {
    return [&o, &view, &trace](const GenerationStep& s) {
        if (o.animate && s.sample == 0) view.show(s);
        if (!o.trace.empty()) trace.record(s);
    };
}

// The texts on stdout, the trace file if asked.
void results_report(const generate_options& o, const Tokenizer& tok, TraceRecorder& trace,
                    const std::vector<std::vector<int32_t>>& samples, const GenerationStats& stats) {
    const std::vector<std::string> texts = texts_decode(tok, samples);
    if (!o.trace.empty()) trace.write(o.trace, tok, texts, stats);
    print_texts(texts);
}

std::string samples_note(const generate_options& o) {
    return o.batch > 1 ? fmt::format(" over {} samples", o.batch) : "";
}

void generate_diffusion(const generate_options& o, const GenerationDefaults& g, Model& model, const Tokenizer& tok) {
    DiffusionRequest req = diffusion_request_resolve(model, tok, o.prompt, g, diffusion_choices_of(o),
                                                     [](const std::string& n) { fmt::print(stderr, "dlm: note: {}\n", n); });
    const char* sampler = sampler_name(req.options.sampler);
    dtype_option_report(o.dtype);
    TerminalView view(tok, req.prompt_len, stdout, ::isatty(1), fmt::format("{} sampler", sampler));
    TraceRecorder trace("diffusion", o.model, sampler, o.prompt, o.batch);
    DiffusionResult r = diffusion_request_run(req, step_observer(o, view, trace));
    results_report(o, tok, trace, r.tokens, r.stats);
    fmt::print(stderr, "dlm: {} sampler: {} steps, {} forward passes, {:.2f} s, {:.1f} tokens/s ({} new tokens{})\n",
               sampler, r.stats.steps, r.stats.forward_passes, r.stats.seconds, r.stats.tokens_per_second(),
               r.stats.new_tokens, samples_note(o));
}

void generate_autoregressive(const generate_options& o, const GenerationDefaults& g, Model& model,
                             const Tokenizer& tok) {
    ArChoices c;
    c.sampling = sampling_choices_of(o);
    c.length = given(o.o_length, o.length);
    c.seed = o.seed;
    c.batch = o.batch;
    const ArRequest req = ar_request_resolve(tok, o.prompt, g, c);
    dtype_option_report(o.dtype);
    TerminalView view(tok, static_cast<int64_t>(req.prompts[0].size()), stdout, ::isatty(1), "autoregressive");
    TraceRecorder trace("autoregressive", o.model, "kv-cache", o.prompt, o.batch);
    ArResult r = ar_request_run(model, req, step_observer(o, view, trace));
    results_report(o, tok, trace, r.tokens, r.stats);
    fmt::print(stderr, "dlm: autoregressive: {} tokens, {} forward passes, {:.2f} s, {:.1f} tokens/s{}\n",
               r.stats.new_tokens, r.stats.forward_passes, r.stats.seconds, r.stats.tokens_per_second(),
               samples_note(o));
}

void generate_cmd(const generate_options& o_in) {
    generate_options o = o_in;
    threads_apply(o.threads);
    if (o.model.empty()) o.model = shipped_model_dir("dlm-diffusion");
    if (o.batch < 1) fail("--batch must be at least 1");
    auto model = model_load(o.model, dtype_option_resolve(o.dtype));
    const GenerationDefaults g = generation_defaults_load(o.model);
    if (model->config().is_causal()) {
        for (auto* opt : {o.o_sampler, o.o_threshold, o.o_block, o.o_steps, o.o_cache, o.o_commit, o.o_factor,
                          o.o_entropy_bound})
            if (opt->count())
                fail("{} applies to diffusion (masked-LM) models; {} is a causal LM ({})", opt->get_name(), o.model,
                     model->config().architecture);
        Tokenizer tok = Tokenizer::from_folder(o.model);
        generate_autoregressive(o, g, *model, tok);
        return;
    }
    Tokenizer tok = Tokenizer::from_folder(o.model);
    generate_diffusion(o, g, *model, tok);
}

command_registration reg(40, "generate", "Generate text: diffusion denoising (masked LMs) or left to right (causal LMs)",
                         [](CLI::App& sub) {
    auto o = std::make_shared<generate_options>();
    sub.add_option("-m,--model", o->model, "Model folder (default: the shipped diffusion model)");
    sub.add_option("-p,--prompt", o->prompt, "Prompt; <mask:N> marks N tokens to infill")->required();
    o->o_sampler = sub.add_option("--sampler", o->sampler,
                                  "remask (the recipe), confidence, lowconf (default: the model's generation_config.json, else remask)");
    o->o_length = sub.add_option("-n,--length", o->length, "Tokens to generate (default: fill the window; causal LMs 240)");
    o->o_steps = sub.add_option("--steps", o->steps, "Denoising steps per block (remask 10, lowconf 64; confidence: at most, default unbounded)");
    o->o_threshold = sub.add_option("--threshold", o->threshold, "confidence: commit positions at least this sure")->capture_default_str();
    o->o_commit = sub.add_option("--commit", o->commit,
                                 "confidence: tokens committed per step by threshold (--threshold), factor "
                                 "(Fast-dLLM: largest n with (n+1)(1-c_n) < --factor) or entropy (summed "
                                 "entropy of the committed <= --entropy-bound)")
                      ->check(CLI::IsMember({"threshold", "factor", "entropy"}));
    o->o_factor = sub.add_option("--factor", o->factor, "confidence, --commit factor: the factor f")
                      ->check(CLI::PositiveNumber)->capture_default_str();
    o->o_entropy_bound = sub.add_option("--entropy-bound", o->entropy_bound,
                                        "confidence, --commit entropy: the bound in nats")
                             ->check(CLI::NonNegativeNumber)->capture_default_str();
    o->o_temp = sub.add_option("--temp", o->temp, "Temperature (remask 1.0, others and causal LMs 0.8; 0 = greedy)");
    o->o_top_k = sub.add_option("--top-k", o->top_k, "Top-k sampling (remask 50; 0 = off)");
    o->o_top_p = sub.add_option("--top-p", o->top_p, "Top-p sampling (remask 0.95; 1 = off)");
    o->o_block = sub.add_option("--block", o->block, "Semi-autoregressive block length (0 = whole canvas)");
    o->o_cache = sub.add_option("--cache", o->cache,
                                "Keys and values kept over a block's passes: none (every pass runs the whole window), "
                                "prefix (later passes run the block and what follows), dual (only the block)")
                     ->check(CLI::IsMember({"none", "prefix", "dual"}));
    sub.add_option("-s,--seed", o->seed, "Random seed (same seed, same output)")->capture_default_str();
    sub.add_option("-b,--batch", o->batch, "Samples generated together")->capture_default_str();
    add_threads_option(sub, o->threads);
    o->o_dtype = add_dtype_option(sub, o->dtype, "Matrix products in bf16 (fast, fp32 accumulation) or f32 (the reference)");
    sub.add_flag("--animate", o->animate, "Show the denoising live in the terminal");
    sub.add_option("--trace", o->trace, "Write every step's tokens as JSON to this file");
    sub.callback([o] { generate_cmd(*o); });
});

}  // namespace
}  // namespace dlm::cli
