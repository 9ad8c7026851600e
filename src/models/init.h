// Random initialisation as HuggingFace's _init_weights does it, for training from a
// config.json instead of a checkpoint.
#pragma once

#include <cstdint>

#include "models/model.h"

namespace dlm {

// Linear/Conv1D weights and embeddings ~ N(0, initializer_range), biases 0,
// LayerNorm weight 1 / bias 0; embedding rows of the padding id are zero (RoBERTa,
// BERT); GPT-2's residual projections (c_proj) use std / sqrt(2 * n_layer).
void model_init_random(Model& m, uint64_t seed);

}  // namespace dlm
