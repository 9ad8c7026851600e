#include "request/diffusion_request.h"

#include "io/training_metadata.h"

namespace dlm {

namespace {

void notes_report(const std::vector<std::string>& notes, const note_fn& on_note) {
    if (on_note)
        for (const auto& n : notes) on_note(n);
}

// The tokens to generate: the caller's, else the model file's, else unset (the window).
std::optional<int64_t> length_resolve(const GenerationDefaults& g, const DiffusionChoices& c) {
    return c.length ? c.length : g.max_new_tokens;
}

}  // namespace

DiffusionOptions diffusion_options_resolve(const GenerationDefaults& g, const DiffusionChoices& c) {
    DiffusionOptions d = diffusion_options_default(sampler_parse(c.sampler.value_or(g.sampler.value_or("remask"))));
    d.steps = c.steps.value_or(g.steps.value_or(d.steps));
    d.threshold = c.threshold.value_or(g.threshold.value_or(d.threshold));
    d.block = c.block.value_or(g.block.value_or(d.block));
    if (const auto cache = c.cache ? c.cache : g.cache) d.cache = cache_parse(*cache);
    if (const auto commit = c.commit ? c.commit : g.commit) d.commit = commit_parse(*commit);
    d.factor = c.factor.value_or(g.factor.value_or(d.factor));
    d.entropy_bound = c.entropy_bound.value_or(g.entropy_bound.value_or(d.entropy_bound));
    d.sampling = sampling_resolve(d.sampling, g, c.sampling);
    d.seed = c.seed;
    d.batch = c.batch;
    return d;
}

DiffusionRequest diffusion_request_resolve(Model& model, const PromptTokens& special, const GenerationDefaults& g,
                                           const DiffusionChoices& c) {
    DiffusionRequest r;
    r.options = diffusion_options_resolve(g, c);
    r.options.mask_id = special.mask;
    r.options.window = training_window(training_metadata_read(model.config()), model.config());
    r.denoiser = std::make_unique<ModelDenoiser>(model);
    r.length = length_resolve(g, c);
    r.special = special;
    r.config = &model.config();
    return r;
}

DiffusionRequest diffusion_request_resolve(Model& model, const Tokenizer& tok, const std::string& prompt,
                                           const GenerationDefaults& g, const DiffusionChoices& c,
                                           const note_fn& on_note) {
    DiffusionPrompt placed = diffusion_prompt_build(tok, model.config(), prompt, length_resolve(g, c));
    notes_report(placed.notes, on_note);
    DiffusionRequest r = diffusion_request_resolve(model, prompt_tokens_of(tok), g, c);
    r.starts = {std::move(placed.tokens)};
    r.prompt_len = placed.prompt_len;
    r.infill = placed.infill;
    r.options.window = placed.window;
    return r;
}

void diffusion_request_place(DiffusionRequest& r, const std::vector<std::vector<int32_t>>& prompts,
                             const note_fn& on_note) {
    r.starts.clear();
    for (const auto& ids : prompts) {
        DiffusionPrompt placed = diffusion_prompt_from_ids(r.special, *r.config, ids, r.length);
        if (r.starts.empty()) notes_report(placed.notes, on_note);
        r.options.window = placed.window;
        r.prompt_len = placed.prompt_len;
        r.starts.push_back(std::move(placed.tokens));
    }
}

DiffusionResult diffusion_request_run(DiffusionRequest& r, const step_callback& on_step) {
    if (r.starts.size() == 1) return diffusion_generate(*r.denoiser, r.starts[0], r.options, on_step);
    return diffusion_generate(*r.denoiser, r.starts, r.options, on_step);
}

}  // namespace dlm
