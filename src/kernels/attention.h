// Multi-head scaled dot-product attention on raw buffers, with the masks of
// HuggingFace's eager attention:
//   scores = q k^T * scale; causally hidden keys are set to finfo(float).min,
//   padded keys get + finfo(float).min; probs = softmax(scores); out = probs v.
//
// Layouts (NH heads of size HD, C = NH * HD):
//   q    [B, Tq, C] with row stride ldq   (heads split as [.., NH, HD])
//   k, v [B, Tk, C] with row stride ldkv  (ldq/ldkv = 3C for a packed qkv buffer)
//   att  [B, NH, Tq, Tk]  scratch, holds the probabilities on return (backward needs them)
//   out  [B, Tq, C]       contiguous
//   key_mask [B, Tk] 1 = attend, 0 = padding; nullptr = all ones
//   causal: query i (absolute position q_offset + i) sees keys j <= q_offset + i
//   window > 0 (local attention, HF ModernBERT's sliding_window_mask): query i sees keys j
//     with |q_offset + i - j| <= window; the others get + finfo(float).min, as padded keys
//     do (once: a key both outside and padded gets it once, as HF's masked_fill). HF's
//     config.local_attention = 2 * window (window = local_attention // 2 keys on each
//     side, 2 * window + 1 in all): local_attention = 128 means window = 64. A query whose
//     window holds only padding sees every score at finfo.min: uniform probabilities.
//     Queries of a span (Tq < Tk) need q_offset = the span's first position. (The
//     decoding kernel attention_forward_cached below has no window.)
#pragma once

#include <cstdint>

namespace dlm {

struct attention_shape {
    int64_t batch, tq, tk, heads, head_dim;
    int64_t ldq, ldkv;
    bool causal = false;
    int64_t q_offset = 0;  // position of the first query among the keys (KV cache, span)
    float dropout = 0.0f;  // dropout on the probabilities (training)
    uint64_t seed = 0;     // its random stream (kernels/dropout.h)
    int64_t window = 0;    // > 0: query i sees keys j with |q_offset + i - j| <= window (local attention)
};

// scratch [B, NH, Tq, Tk] holds the dropped-out probabilities; needed only when
// s.dropout > 0 (nullptr otherwise).
void attention_forward(float* out, float* att, float* scratch, const float* q, const float* k, const float* v,
                       const int32_t* key_mask, const attention_shape& s);

// The bf16 fast path (inference, no dropout): q, k, v and the probabilities are rounded
// to bf16 for the two products (fp32 accumulation); scores, masks and softmax stay
// fp32, and att holds the fp32 probabilities on return. scratch holds
// attention_bf16_scratch(s) values.
int64_t attention_bf16_scratch(const attention_shape& s);
void attention_forward_bf16(float* out, float* att, uint16_t* scratch, const float* q, const float* k, const float* v,
                            const int32_t* key_mask, const attention_shape& s);

// Backward, from the probabilities att saved by the forward pass:
//   dq, dk, dv (+=, same layouts and strides as q, k, v);
//   the window and padding masks are additive constants: the gradient passes through them
//   (zero where the probability is 0), as HF autograd; causally hidden scores get none;
//   datt [B, NH, Tq, Tk] and scratch (when dropout > 0) are overwritten.
void attention_backward(float* dq, float* dk, float* dv, float* datt, float* scratch, const float* dout,
                        const float* q, const float* k, const float* v, const float* att, const attention_shape& s);

// Softmax of one row x[D], in place (max subtracted first).
void softmax_row(float* x, int64_t d);

// Row-wise softmax over the last dimension of x[N, D], in place.
void softmax_forward(float* x, int64_t n, int64_t d);
// dx[N, D] = y * (dy - sum(dy * y)) per row (assigns; dx may alias dy).
void softmax_backward(float* dx, const float* y, const float* dy, int64_t n, int64_t d);

// Causal attention of Tq new queries over a KV cache (HF eager semantics, as
// attention_forward; masked keys get + finfo.min):
//   q    [B, Tq, C] row stride s.ldq
//   k, v [B, s.tk, C] the cache of one layer (s.tk = capacity, row stride s.ldkv)
//   key_mask [B, s.tk] 1 = real token (slots not yet written are hidden causally)
//   query i sits at slot s.q_offset + i and sees slots j <= s.q_offset + i
//   att  [B, NH, Tq, s.tk] scratch (probabilities of the visible slots on return)
//   out  [B, Tq, C] contiguous
// Only the visible slots are touched, so the cost grows with the filled length, not
// the capacity.
void attention_forward_cached(float* out, float* att, const float* q, const float* k, const float* v,
                              const int32_t* key_mask, const attention_shape& s);

}  // namespace dlm
