// GELU in its two HuggingFace forms.
//   gelu_erf  ("gelu"):     0.5 x (1 + erf(x / sqrt 2))
//   gelu_tanh ("gelu_new"): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
#pragma once

#include <cstdint>

namespace dlm {

enum class Activation { gelu_erf, gelu_tanh };

// out[n] = act(inp[n]); out may alias inp.
void gelu_forward(float* out, const float* inp, int64_t n, Activation act);

// Adds a bias[C] to each row of x[N, C], then applies the activation in place
// (the FFN's first linear layer leaves x without its bias for this fusion).
void bias_gelu_forward(float* x, const float* bias, int64_t n, int64_t c, Activation act);

// Training variant: pre[N, C] (the linear output without bias) gets the bias added
// in place and is kept for the backward pass; out = act(pre).
void bias_gelu_forward_keep(float* out, float* pre, const float* bias, int64_t n, int64_t c, Activation act);

// bf16 inference variant: out[N, C] = bf16(act(x + bias)), rounded to nearest even: what
// bias_gelu_forward then a bf16 rounding give, in one pass that writes half the bytes
// (the input of the FFN's second product, kernels/gemm.h).
void bias_gelu_forward_bf16(uint16_t* out, const float* x, const float* bias, int64_t n, int64_t c, Activation act);

// dinp[n] = dout[n] * act'(inp[n]) (assigns; dinp may alias dout).
void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n, Activation act);

}  // namespace dlm
