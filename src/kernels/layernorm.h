// Layer normalisation over the last dimension (torch.nn.LayerNorm).
#pragma once

#include <cstdint>

namespace dlm {

// out[N, C] = (inp - mean) * rstd * weight[C] + bias[C], per row of inp[N, C]; bias may be
// nullptr (no bias term: torch.nn.LayerNorm(bias=False), ModernBERT's norm_bias=false).
// mean[N] and rstd[N] are written when non-null (the backward pass needs them).
// out may alias inp.
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int64_t n, int64_t c, float eps);

// Fused residual add then layer norm (BERT's "LayerNorm(x + sublayer(x))"):
// sum[N, C] = a + b; out = layernorm(sum). sum may alias a; out may alias sum; bias may be nullptr.
void residual_layernorm_forward(float* out, float* sum, float* mean, float* rstd, const float* a,
                                const float* b, const float* weight, const float* bias, int64_t n,
                                int64_t c, float eps);

}  // namespace dlm

namespace dlm {

// Backward of layernorm_forward, from the saved mean[N] and rstd[N]:
//   dinp[N, C] += d/dinp, dweight[C] += d/dweight, dbias[C] += d/dbias (dbias may be
//   nullptr: a layer norm without bias).
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t n, int64_t c);

}  // namespace dlm
