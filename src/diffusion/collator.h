// The diffusion collator: turns token blocks into a masked-LM training batch.
//
// Recipe (the default): one mask rate p per batch drawn from {1.0, 0.9, ..., 0.1};
// every token at position >= prefix (the prompt, never masked) that is not a special
// token becomes <mask> with probability p; the loss is the mean cross-entropy over
// the masked positions (labels -100 elsewhere).
//
// Options beyond the recipe:
//  - rate per sequence instead of per batch;
//  - continuous rate t ~ U(eps, 1] with the MDLM weight 1/t, so the loss is the
//    masked-diffusion NELBO per token: (1/B) sum_b (1/t_b) sum_{i masked} CE_i / L_b,
//    L_b = the number of maskable positions of sequence b (an upper bound on the
//    per-token negative log-likelihood of the non-prompt tokens);
//  - a random prompt length per sequence in [prefix_min, prefix_max], so a model
//    learns to continue prompts of any length;
//  - padding as a target: in document-mode data the padding after the end of a text
//    can be masked and predicted, so a model learns to end early.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.h"

namespace dlm {

enum class MaskRateMode {
    per_batch,     // one discrete rate per batch (the recipe)
    per_sequence,  // one discrete rate per sequence
    continuous,    // t ~ U(eps, 1] per sequence, loss weighted 1/t (MDLM bound)
};

struct CollatorOptions {
    MaskRateMode mode = MaskRateMode::per_batch;
    std::vector<float> rates = {1.0f, 0.9f, 0.8f, 0.7f, 0.6f, 0.5f, 0.4f, 0.3f, 0.2f, 0.1f};
    float eps = 1e-3f;          // continuous mode: t ~ U(eps, 1]
    int64_t prefix = 16;        // prompt tokens never masked
    bool random_prefix = false; // prefix length ~ U{prefix_min .. prefix_max} per sequence
    int64_t prefix_min = 0, prefix_max = 64;
    bool mask_padding = false;  // padding tokens are maskable targets (document-mode data)
};

// Token classes the collator needs from the tokenizer.
struct CollatorVocab {
    int32_t mask_id = -1;
    int32_t pad_id = -1;
    std::vector<bool> special;  // special[id]: never masked (except pad with mask_padding)
};

struct CollatedBatch {
    int64_t batch = 0, seq = 0;
    std::vector<int32_t> ids;      // [B, T] with <mask> where masked
    std::vector<int32_t> targets;  // [B, T] the original id where masked, -100 elsewhere
    std::vector<float> weights;    // [B, T] loss weight per target row (empty: HF mean)
    std::vector<float> rates;      // [B] the mask rate used per sequence
    std::vector<int64_t> prefix;   // [B] prompt length per sequence
    int64_t masked = 0;            // number of targets
};

// Whether token `id` may be masked (become a target): not special, except padding when
// opt.mask_padding. The one rule for the collator and for counting target frequencies.
bool collator_maskable(const CollatorVocab& vocab, const CollatorOptions& opt, int32_t id);

// Masks blocks[B, T] (rows of token ids) with the given generator.
CollatedBatch collate_diffusion(const int32_t* blocks, int64_t batch, int64_t seq, const CollatorVocab& vocab,
                                const CollatorOptions& opt, Rng& rng);

// Expected number of targets per sequence of `seq` tokens (special tokens ignored): the
// mean mask rate times the mean maskable length. Sizes training runs by FLOPs.
double collator_expected_targets(const CollatorOptions& opt, int64_t seq);

// Parses "per_batch" / "per_sequence" / "continuous".
MaskRateMode mask_rate_mode_parse(const std::string& s);
const char* mask_rate_mode_name(MaskRateMode m);

}  // namespace dlm
