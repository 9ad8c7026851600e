// Floating-point operations of the matrix products of a transformer pass, counted the
// way scaling-law papers do (2 per multiply-add; layer norms, activations, softmax and
// embedding lookups are left out: they are a few percent).
//
// One forward pass over `rows` sequences of `seq` tokens with the LM head evaluated at
// `head_rows` positions (the masked positions for diffusion training, every position
// but the last for causal training):
//   body      2 * tokens * L * (4 C^2 + M C F)      Q,K,V,O projections and the MLP's M
//                                                   matrices (2; a gated MLP 3)
//   attention 2 * tokens * L * 2 * S_k * C          scores and weighted values; S_k = seq
//                                                   (a causal model reads on average
//                                                   half of it, counted as a full row too,
//                                                   as the GEMMs do)
//   head      2 * head_rows * (C^2 + C V) masked LM (dense transform + decoder)
//             2 * head_rows * C V         GPT-2
// A training step is three forward passes (the backward pass is two).
#pragma once

#include <cstdint>

#include "io/config.h"

namespace dlm {

double forward_flops(const ModelConfig& c, int64_t rows, int64_t seq, double head_rows);

inline double train_step_flops(const ModelConfig& c, int64_t rows, int64_t seq, double head_rows) {
    return 3.0 * forward_flops(c, rows, seq, head_rows);
}

}  // namespace dlm
