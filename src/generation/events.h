// What a generator (diffusion sampler or autoregressive decoder) reports after each
// step, so that one live view and one trace format serve both.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

namespace dlm {

struct GenerationStep {
    int64_t sample = 0;                  // index in the batch
    int64_t step = 0;                    // 0-based (AR: one per new token)
    std::span<const int32_t> tokens;     // the sequence now: prompt + text so far (+ <mask>s for diffusion)
    std::span<const int64_t> committed;  // positions that got a final token in this step
    std::span<const int64_t> changed;    // positions whose token changed in this step (remask sampler: all predicted)
    int32_t mask_id = -1;                // which id marks a still-masked position (-1: none)
    double seconds = 0;                  // since generation started
    int64_t forward_passes = 0;          // model evaluations so far
};

using step_callback = std::function<void(const GenerationStep&)>;

// Totals a generator returns.
struct GenerationStats {
    int64_t steps = 0;           // denoising steps (AR: tokens generated)
    int64_t forward_passes = 0;  // model evaluations (one per step per batch)
    int64_t new_tokens = 0;      // tokens produced, summed over the batch
    double seconds = 0;
    double tokens_per_second() const { return seconds > 0 ? new_tokens / seconds : 0; }
};

}  // namespace dlm
