// One autoregressive generation, resolved: prompt ids, then ArOptions from ArOptions'
// defaults (temperature 0.8, top-k 50, top-p 0.95, 240 tokens), the model's
// generation_config.json and the caller's choices, each winning over the one before.
// What dlm generate, compare and eval generation run on a causal LM.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ar/generate_ar.h"
#include "generation/generation_config.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace dlm {

struct ArChoices {
    SamplingChoices sampling;
    std::optional<int64_t> length;  // new tokens; unset: the file's max_new_tokens, else 240
    uint64_t seed = 0;
    int64_t batch = 1;  // samples of one prompt
};

struct ArRequest {
    std::vector<std::vector<int32_t>> prompts;  // ids, without special tokens
    ArOptions options;
};

// Throws dlm::Error for a length below 1.
ArOptions ar_options_resolve(const GenerationDefaults& model_defaults, const ArChoices& choices, int32_t eos_id);

// A prompt text; throws dlm::Error for an empty one.
ArRequest ar_request_resolve(const Tokenizer& tok, const std::string& prompt, const GenerationDefaults& model_defaults,
                             const ArChoices& choices);

ArResult ar_request_run(Model& model, const ArRequest& request, const step_callback& on_step = {});

}  // namespace dlm
