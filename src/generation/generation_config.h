// generation_config.json of a model folder: HuggingFace's file of generation defaults,
// read as that model's defaults (the caller's choices win: request/). HF's own keys
// keep their meaning; the diffusion samplers add keys of dlm's own, prefixed so they
// never collide with HF's (HF's GenerationConfig keeps unknown keys):
//   do_sample       false: greedy (temperature 0)          temperature, top_k, top_p
//   max_new_tokens  tokens to generate (-n)
//   diffusion_sampler   "remask", "confidence" or "lowconf" (--sampler)
//   diffusion_steps     denoising steps per block (--steps)
//   diffusion_threshold confidence sampler's threshold (--threshold)
//   diffusion_block     semi-autoregressive block length (--block)
//   diffusion_cache     key/value cache over a block's passes: none, prefix, dual (--cache)
//   diffusion_commit    confidence sampler's commit rule: threshold, factor, entropy (--commit)
//   diffusion_factor, diffusion_entropy_bound   that rule's parameter (--factor, --entropy-bound)
// Every other key (bos_token_id, ...) is left to its owner.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "generation/sampling.h"

namespace dlm {

struct GenerationDefaults {
    std::optional<std::string> sampler, cache, commit;
    std::optional<int64_t> steps, block, top_k, max_new_tokens;
    std::optional<float> threshold, temperature, top_p, factor, entropy_bound;
};

// Reads folder/generation_config.json; a folder without one gives no defaults. Throws
// dlm::Error naming the file and the key for invalid JSON, wrong types or values out
// of range.
GenerationDefaults generation_defaults_load(const std::string& folder);

// The sampling parameters a caller chose; unset ones come from the model's file, else
// from the generation method's defaults.
struct SamplingChoices {
    std::optional<float> temperature, top_p;
    std::optional<int64_t> top_k;
};

// `method` (a generator's defaults) with the file's temperature, top_k and top_p over
// it, then the caller's choices over those.
SamplingParams sampling_resolve(SamplingParams method, const GenerationDefaults& g, const SamplingChoices& choices);

}  // namespace dlm
