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

// Gated linear units: GeGLU, the MLP of ModernBERT (HF ModernBertMLP:
// input, gate = Wi(x).chunk(2, dim=-1); act(input) * gate).
// Layouts: x [N, 2F], each row [input (F) | gate (F)], as the first linear layer writes
// it; bias [2F] (the same halves) or nullptr, added to x first (the linear layer leaves
// x without its bias for this fusion); out [N, F].
// out[N, F] = act(x[:, :F] + bias[:F]) * (x[:, F:] + bias[F:]).
void geglu_forward(float* out, const float* x, const float* bias, int64_t n, int64_t f, Activation act);

// bf16 inference variant: out = bf16(geglu), rounded to nearest even (the input of the
// MLP's second bf16 product, kernels/gemm.h), as geglu_forward then a rounding.
void geglu_forward_bf16(uint16_t* out, const float* x, const float* bias, int64_t n, int64_t f, Activation act);

// Backward, from x and bias as given to the forward pass (the activation is recomputed):
//   dx[N, 2F] = [dout * gate * act'(input) | dout * act(input)]  (assigns; dx may alias x).
// The bias gradient is the column sum of dx (the linear layer's, kernels/gemm.h).
void geglu_backward(float* dx, const float* dout, const float* x, const float* bias, int64_t n, int64_t f,
                    Activation act);

}  // namespace dlm
