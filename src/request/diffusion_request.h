// One diffusion generation, resolved: the chain every caller of the samplers needs
// (dlm generate, compare, eval generation, the bench workloads) in one place:
//
//   prompt -> canvas placed as the model was trained (config.json's "dlm" key)
//          -> sampler options: the sampler's defaults, then the model's
//             generation_config.json, then the caller's choices (each wins over the one
//             before it)
//          -> mask id, window, seed, batch -> the model's denoiser -> run
//
//   DiffusionChoices c;
//   c.steps = 8;                                        // unset: the model's, else the sampler's
//   DiffusionRequest r = diffusion_request_resolve(model, tok, "The history of", generation_defaults_load(dir), c);
//   DiffusionResult out = diffusion_request_run(r);
//   std::vector<std::string> texts = texts_decode(tok, out.tokens);   // request/texts.h
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "diffusion/generate.h"
#include "diffusion/prompt.h"
#include "generation/generation_config.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace dlm {

// What the caller chose; every unset field comes from the model's
// generation_config.json, else from the sampler's defaults (diffusion_options_default).
struct DiffusionChoices {
    std::optional<std::string> sampler, cache, commit;  // names as in generation_config.json
    std::optional<int64_t> steps, block;
    std::optional<float> threshold, factor, entropy_bound;
    SamplingChoices sampling;
    // Tokens to generate after the prompt; unset: the file's max_new_tokens, else the
    // rest of the model's window. Not with infilling.
    std::optional<int64_t> length;
    uint64_t seed = 0;
    int64_t batch = 1;  // samples of one prompt (sample i draws from stream (seed, i))
};

struct DiffusionRequest {
    std::vector<std::vector<int32_t>> starts;  // one canvas per prompt, <mask> where to generate
    int64_t prompt_len = 0;                    // leading context tokens of each canvas
    bool infill = false;
    DiffusionOptions options;                  // ready: sampler and settings, mask id, window, seed, batch
    std::unique_ptr<Denoiser> denoiser;        // the model's; a caller may wrap it (the bench counts FLOPs)
    std::optional<int64_t> length;            // what placing a prompt generates (see DiffusionChoices)
    PromptTokens special;
    const ModelConfig* config = nullptr;
};

// What the user should know about the placement (padding, truncation), as it is found.
using note_fn = std::function<void(const std::string& note)>;

// The options alone, as the request resolves them.
DiffusionOptions diffusion_options_resolve(const GenerationDefaults& model_defaults, const DiffusionChoices& choices);

// The model side (options, mask id, window, denoiser), no canvas yet: diffusion_request_place
// adds it. Throws dlm::Error for unknown sampler, cache or commit names.
DiffusionRequest diffusion_request_resolve(Model& model, const PromptTokens& special,
                                           const GenerationDefaults& model_defaults, const DiffusionChoices& choices);

// A prompt text (`<mask:N>` infills), placed before the options are resolved (its notes
// go to on_note first). Throws dlm::Error for an empty prompt or one the window cannot hold.
DiffusionRequest diffusion_request_resolve(Model& model, const Tokenizer& tok, const std::string& prompt,
                                           const GenerationDefaults& model_defaults, const DiffusionChoices& choices,
                                           const note_fn& on_note = {});

// Replaces the canvases with those of prompts already tokenized (without <s>; equal
// lengths), each keeping exactly its tokens: evaluations and benchmarks. on_note gets
// the first prompt's notes (the others, of the same length, have the same).
void diffusion_request_place(DiffusionRequest& request, const std::vector<std::vector<int32_t>>& prompts,
                             const note_fn& on_note = {});

// Generates from every canvas (one canvas: options.batch samples of it).
DiffusionResult diffusion_request_run(DiffusionRequest& request, const step_callback& on_step = {});

}  // namespace dlm
