// Placing a prompt on the canvas the way the model was trained.
//
// A model trained by `dlm train` records its recipe in config.json under "dlm"
// (io/training_metadata.h). With a fixed prefix (the original recipe; also assumed
// for checkpoints without the key) the prompt fills exactly `prefix` slots: <s> +
// prompt tokens, truncated, or left-padded with <pad>.
// With a random prefix the prompt is placed as it is.
//
// Infilling: `<mask:N>` in the prompt stands for N masked tokens (`<mask>` for one);
// the masks are denoised with the text on both sides as context.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/config.h"
#include "tokenizer/tokenizer.h"

namespace dlm {

// The special tokens that placing a prompt needs: a tokenizer's, or given by a caller
// without one (the bench's random models). -1: the vocabulary has none.
struct PromptTokens {
    int32_t bos = -1, eos = -1, pad = -1, mask = -1;
};
PromptTokens prompt_tokens_of(const Tokenizer& tok);

struct DiffusionPrompt {
    std::vector<int32_t> tokens;      // the start sequence, <mask> where to generate
    int64_t prompt_len = 0;           // leading context tokens (for display)
    int64_t window = 256;             // tokens the model was trained on at once
    bool infill = false;
    std::vector<std::string> notes;   // what the user should know (padding, truncation)
};

// length: tokens to generate after the prompt (default: fill the window). Throws
// dlm::Error for an empty prompt, a prompt longer than the window, or a length with
// infilling.
DiffusionPrompt diffusion_prompt_build(const Tokenizer& tok, const ModelConfig& config, const std::string& prompt,
                                       std::optional<int64_t> length);

// The same placement for a prompt already tokenized (ids without <s>; no infilling):
// what evaluations use so that every prompt keeps exactly the tokens it was cut to.
DiffusionPrompt diffusion_prompt_from_ids(const PromptTokens& special, const ModelConfig& config,
                                          std::vector<int32_t> ids, std::optional<int64_t> length);

}  // namespace dlm
