// AdamW as torch.optim.AdamW (the HF Trainer default), gradient clipping as
// torch.nn.utils.clip_grad_norm_, and the linear warmup/decay schedule of
// transformers.get_linear_schedule_with_warmup. All work on a model's flat
// parameter and gradient arenas.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "models/model.h"

namespace dlm {

struct AdamWConfig {
    float lr = 5e-5f;
    float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
    float weight_decay = 0.0f;  // applied to weights, not to biases or LayerNorm parameters (HF Trainer)
};

class AdamW {
public:
    AdamW(const ParamTable& params, AdamWConfig cfg);

    // One update with learning rate lr from params.grads() (the gradients are not
    // cleared). Moments and the step counter advance even when lr is 0. owned: the
    // ranges to update (a data-parallel rank's shard); empty: all.
    void step(ParamTable& params, float lr, std::span<const ParamRange> owned = {});

    int64_t steps() const { return t_; }
    const AdamWConfig& config() const { return cfg_; }
    // Optimizer state, for checkpoints: m, v (same layout as the parameters), step count.
    std::vector<float>& m() { return m_; }
    std::vector<float>& v() { return v_; }
    void steps_set(int64_t t) { t_ = t; }

private:
    struct range {
        int64_t begin, end;
        bool decay;
    };
    AdamWConfig cfg_;
    std::vector<range> ranges_;
    std::vector<float> m_, v_;
    int64_t t_ = 0;
};

// True for the parameters HF's Trainer keeps out of weight decay: biases and norm
// weights (as the architecture declared them).
bool param_no_decay(const ParamEntry& e);

// Scales the gradients so that their global L2 norm is at most max_norm (coefficient
// max_norm / (norm + 1e-6), clamped to 1); returns the norm before clipping.
double grad_clip(ParamTable& params, double max_norm);
// The two halves of grad_clip for a shard of the gradients: the sum of squares over
// `owned`, in double and in fixed-size blocks added in order (the same value whatever
// the thread count), then the scaling of `owned` by clip_coefficient(norm, max_norm).
double grads_square_sum(ParamTable& params, std::span<const ParamRange> owned);
double clip_coefficient(double norm, double max_norm);
void grads_scale(ParamTable& params, std::span<const ParamRange> owned, double coef);

// transformers.get_linear_schedule_with_warmup: the lr multiplier at `step` (0-based).
double lr_linear_factor(int64_t step, int64_t warmup, int64_t total);

}  // namespace dlm
