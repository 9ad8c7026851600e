// Random initialisation as HuggingFace's _init_weights does it, for training from a
// config.json instead of a checkpoint.
#pragma once

#include <cstdint>
#include <vector>

#include "models/model.h"

namespace dlm {

// Linear/Conv1D weights and embeddings ~ N(0, initializer_range), biases 0,
// LayerNorm weight 1 / bias 0; embedding rows of the padding id are zero (RoBERTa,
// BERT); GPT-2's residual projections (c_proj) use std / sqrt(2 * n_layer).
void model_init_random(Model& m, uint64_t seed);

// An optional start for masked LMs trained from scratch (after model_init_random):
// attention that begins local. A masked position carries no token of its own, so it
// learns only through attention, and at the usual init attention is uniform over the
// block and its output a small, nearly context-free average: training sits on the
// unigram plateau for a long time. Here the position table starts as sinusoids
// (neighbouring positions have similar vectors) and each layer's key weight starts
// equal to its query weight with std qk_std, so q_i . k_j is largest for nearby
// positions and each position starts by averaging its neighbourhood.
// Only values change: the architecture and the checkpoint layout stay HuggingFace's.
void model_init_local_attention(Model& m, uint64_t seed, float position_scale = 0.03f, float qk_std = 0.0625f);

// Heads that start attending to one neighbour each: on the sinusoidal position table
// above (amplitude position_scale), head h's query and key weights read the
// head_dim / 2 fastest sine/cosine pairs, the key rotated by offset d_h (-1, +1, -2, +2,
// repeating over heads), so on the position part of the input
//   q_m . k_n = gain^2 sum_i cos((n - m - d_h) w_i), largest at n = m + d_h.
// vo_std > 0 redraws the value and attention-output weights with that std.
// Why: with HF's init (or `local`), a 4-layer 256-wide RoBERTa (and the same model in
// PyTorch) stays at the bag-of-words loss for 300 steps on a sequence where every token
// determines the next (3.56 nats); with these heads it reaches 0.17 in 200 steps
// (scripts/recipe/positional-attention-check.sh). On Wikipedia text it does not, by
// itself, end the unigram plateau (7.545 nats at step 700): that takes the unigram bias
// below and training without dropout as well (a 1-layer model at 15% masks, 300 steps:
// 7.47 nats held out with all three, 7.65-7.70 with any one of them missing).
constexpr int kShiftOffsets[4] = {-1, 1, -2, 2};
void model_init_shift_attention(Model& m, uint64_t seed, float position_scale = 0.1f, float gain = 1.5f,
                                float vo_std = 0.0f);

// The output bias of a masked LM (RoBERTa lm_head.bias, BERT cls.predictions.bias) set
// to the log unigram frequencies log((counts[v] + smoothing) / total), shifted to mean 0.
// Why: starting from zero, Adam moves the bias by about lr per step, far too slowly to
// express a unigram spread over ~15 nats, so the model fits the unigram through the tied
// decoder instead: every word embedding grows a shared frequency direction, and the
// context signal at masked positions is drowned (a 1-layer model stays at the unigram
// loss; with this bias, shift heads and no dropout it leaves it within 300 steps).
// Causal models are refused (GPT-2 has no output bias).
void model_init_unigram_bias(Model& m, const std::vector<int64_t>& counts, double smoothing = 0.1);

}  // namespace dlm
