// How a model was trained, as `dlm train` records it in config.json under "dlm":
//
//   {"objective": "diffusion", "block_size": 256, "prefix": 16 | [min, max],
//    "mask_mode": "per_batch", "mask_rates": [...], "blocks": "concat", "wrap": "lines",
//    "unit_max_tokens": 256, "init": "hf", "train_dtype": "f32"}
//
// Read here and only here, with the fallbacks of a checkpoint that has no such key
// (HuggingFace's, or older ones): the original recipe, blocks of 256 tokens with a
// fixed 16-token prompt, one line per <s> ... </s>, lines cut at 256 tokens.
// Generation places prompts as the model saw them; evaluation cuts text the same way.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/config.h"

namespace dlm {

struct TrainingMetadata {
    bool recorded = false;  // config.json has the "dlm" key
    std::string objective;  // "diffusion" or "causal"
    int64_t block_size = 256;
    // The prompt prefix: `prefix` tokens (fixed, the recipe), or with random_prefix a
    // length drawn per sequence from [prefix_min, prefix_max].
    bool prefix_recorded = false;  // the key holds "prefix" (not the fallback)
    bool random_prefix = false;
    int64_t prefix = 16, prefix_min = 0, prefix_max = 0;
    std::string mask_mode;
    std::vector<float> mask_rates;
    std::string blocks;         // "concat" or "document"
    std::string wrap = "lines";  // "lines" or "documents"
    int64_t unit_max_tokens = 256;
    std::string init, train_dtype;
};

// config.json's "dlm" key, or the fallbacks when it has none. Throws for values of the
// wrong type.
TrainingMetadata training_metadata_read(const ModelConfig& config);

// The JSON `dlm train` writes under "dlm" (the keys in the order above).
nlohmann::ordered_json training_metadata_json(const TrainingMetadata& meta);

// Tokens the model sees at once: its training block, at most its position table.
int64_t training_window(const TrainingMetadata& meta, const ModelConfig& config);

}  // namespace dlm
