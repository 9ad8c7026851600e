// Cross-entropy of logits against target ids, fused with its gradient.
#pragma once

#include <cstdint>

namespace dlm {

// For each row r of x[N, V] (logits, overwritten by their gradient):
//   row_loss[r] = w[r] * (logsumexp(x[r]) - x[r, target[r]])
//   x[r]        = w[r] * (softmax(x[r]) - onehot(target[r]))
// w = nullptr means w[r] = 1. Every target must be in [0, V). Returns sum of row_loss
// (summed in row order, so the result does not depend on the thread count).
double cross_entropy_forward_backward(float* x, float* row_loss, const int32_t* target, const float* w, int64_t n,
                                      int64_t v);

// Forward only: row_loss[r] = logsumexp(x[r]) - x[r, target[r]] (x unchanged).
void cross_entropy_forward(float* row_loss, const float* x, const int32_t* target, int64_t n, int64_t v);

}  // namespace dlm
