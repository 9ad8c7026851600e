// Element-wise residual connection.
#pragma once

#include <cstdint>

namespace dlm {

// out[n] = a[n] + b[n]; out may alias a or b.
void residual_forward(float* out, const float* a, const float* b, int64_t n);

}  // namespace dlm
