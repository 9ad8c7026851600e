#include "train/loss.h"

#include "core/error.h"
#include "kernels/cross_entropy.h"
#include "models/lm_head.h"

namespace dlm {

double model_loss(Model& model, const TrainInput& t) {
    const int64_t n = t.in.batch * t.in.seq, V = model.config().vocab_size;
    std::vector<int64_t> rows;
    std::vector<int32_t> targets;
    for (int64_t r = 0; r < n; ++r)
        if (t.targets[r] != kIgnoreTarget) {
            if (t.targets[r] < 0 || t.targets[r] >= V)
                fail("target id {} (row {}) is outside the vocabulary [0, {})", t.targets[r], r, V);
            rows.push_back(r);
            targets.push_back(t.targets[r]);
        }
    if (rows.empty()) return 0.0;
    model.forward(t.in);
    std::vector<float> logits(static_cast<size_t>(std::min<int64_t>(rows.size(), kHeadChunkRows) * V));  // logits() pads internally
    std::vector<float> row_loss(rows.size());
    rows_chunked(static_cast<int64_t>(rows.size()), [&](int64_t r0, int64_t r1) {
        model.logits(std::span<const int64_t>(rows.data() + r0, r1 - r0), logits.data());
        cross_entropy_forward(row_loss.data() + r0, logits.data(), targets.data() + r0, r1 - r0, V);
    });
    double loss = 0.0;
    for (size_t i = 0; i < rows.size(); ++i)
        loss += (t.weights ? t.weights[rows[i]] : 1.0 / static_cast<double>(rows.size())) * row_loss[i];
    return loss;
}

}  // namespace dlm
