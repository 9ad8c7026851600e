// The public kernel names of a portable build (kernels/isa.h): each calls the variant
// of the level cpu_level() chose, compiled from the same source for x86-64-v2, v3 and
// v4. A native build compiles the kernels under their public names and none of this.
// Every function a level-compiled file defines is listed here once; a missing one is a
// link error (its public name is undefined), a wrong parameter list too (it declares
// another overload and leaves the header's undefined).
#if defined(DLM_PORTABLE)

#include "core/cpu.h"
#include "generation/sampling.h"
#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/cross_entropy.h"
#include "kernels/gemv.h"
#include "kernels/dropout.h"
#include "kernels/embedding.h"
#include "kernels/layernorm.h"
#include "kernels/quant.h"
#include "kernels/residual.h"
#include "kernels/rotary.h"

// ret name params: the header's declaration, without default arguments; args: the
// parameters' names, passed on.
#define DLM_DISPATCH(ret, name, params, args)      \
    namespace isa_v2 {                             \
    ret name params;                               \
    }                                              \
    namespace isa_v3 {                             \
    ret name params;                               \
    }                                              \
    namespace isa_v4 {                             \
    ret name params;                               \
    }                                              \
    ret name params {                              \
        switch (cpu_level()) {                     \
        case CpuLevel::v4: return isa_v4::name args; \
        case CpuLevel::v3: return isa_v3::name args; \
        default: return isa_v2::name args;         \
        }                                          \
    }

namespace dlm {

// kernels/quant.h
DLM_DISPATCH(void, q8_weights_quantize, (int8_t* q, float* scale, const float* w, int64_t n, int64_t k, bool transposed),
             (q, scale, w, n, k, transposed))
DLM_DISPATCH(void, q8_weights_dequantize, (float* w, const int8_t* q, const float* scale, int64_t n, int64_t k),
             (w, q, scale, n, k))
DLM_DISPATCH(void, q8_blocks_quantize, (int8_t* xq, float* xs, const float* x, int64_t m, int64_t k),
             (xq, xs, x, m, k))
DLM_DISPATCH(void, q8_rows_quantize, (int8_t* xq, float* xs, const float* x, int64_t m, int64_t k),
             (xq, xs, x, m, k))
DLM_DISPATCH(void, q8_gemv_blocks,
             (float* out, const int8_t* xq, const float* xs, const int8_t* q, const float* scale, const float* bias,
              int64_t m, int64_t k, int64_t n),
             (out, xq, xs, q, scale, bias, m, k, n))
DLM_DISPATCH(void, q8_gemv,
             (float* out, void* scratch, const float* inp, const int8_t* q, const float* scale, const float* bias,
              int64_t m, int64_t k, int64_t n),
             (out, scratch, inp, q, scale, bias, m, k, n))

// kernels/gemv.h
DLM_DISPATCH(void, conv1d_forward_gemv,
             (float* out, float* scratch, const float* inp, const float* weight, const float* bias, int64_t m,
              int64_t k, int64_t n),
             (out, scratch, inp, weight, bias, m, k, n))
DLM_DISPATCH(void, linear_forward_gemv,
             (float* out, const float* inp, const float* weight, const float* bias, int64_t m, int64_t k, int64_t n),
             (out, inp, weight, bias, m, k, n))
DLM_DISPATCH(void, conv1d_forward_gemv_bf16,
             (float* out, const float* inp, const uint16_t* weight, const float* bias, int64_t m, int64_t k,
              int64_t n),
             (out, inp, weight, bias, m, k, n))
DLM_DISPATCH(void, linear_forward_gemv_bf16,
             (float* out, const float* inp, const uint16_t* weight, const float* bias, int64_t m, int64_t k,
              int64_t n),
             (out, inp, weight, bias, m, k, n))
DLM_DISPATCH(int64_t, tiled_pack_scratch, (int64_t k, int64_t n, bool transposed, int64_t tile_cols),
             (k, n, transposed, tile_cols))
DLM_DISPATCH(void, tiled_pack_f32, (float* w, float* scratch, int64_t k, int64_t n, bool transposed),
             (w, scratch, k, n, transposed))
DLM_DISPATCH(void, tiled_unpack_f32, (float* w, float* scratch, int64_t k, int64_t n, bool transposed),
             (w, scratch, k, n, transposed))
DLM_DISPATCH(void, tiled_gemv_f32,
             (float* out, const float* inp, const float* tiled, const float* bias, int64_t m, int64_t k, int64_t n),
             (out, inp, tiled, bias, m, k, n))
DLM_DISPATCH(void, tiled_columns_gather_f32,
             (float* out, const int32_t* ids, const float* tiled, int64_t count, int64_t k, int64_t n,
              bool accumulate),
             (out, ids, tiled, count, k, n, accumulate))
DLM_DISPATCH(void, tiled_pack_bf16, (uint16_t * w, uint16_t* scratch, int64_t k, int64_t n, bool transposed),
             (w, scratch, k, n, transposed))
DLM_DISPATCH(void, tiled_gemv_bf16,
             (float* out, const float* inp, const uint16_t* tiled, const float* bias, int64_t m, int64_t k,
              int64_t n),
             (out, inp, tiled, bias, m, k, n))
DLM_DISPATCH(void, tiled_columns_gather_bf16,
             (float* out, const int32_t* ids, const uint16_t* tiled, int64_t count, int64_t k, int64_t n,
              bool accumulate),
             (out, ids, tiled, count, k, n, accumulate))
// kernels/attention.h (decoding over a KV cache)
DLM_DISPATCH(void, attention_forward_cached,
             (float* out, float* att, const float* q, const float* k, const float* v, const int32_t* key_mask,
              const attention_shape& s),
             (out, att, q, k, v, key_mask, s))

// kernels/attention.h
DLM_DISPATCH(void, attention_forward,
             (float* out, float* att, float* scratch, const float* q, const float* k, const float* v,
              const int32_t* key_mask, const attention_shape& s),
             (out, att, scratch, q, k, v, key_mask, s))
DLM_DISPATCH(int64_t, attention_bf16_scratch, (const attention_shape& s), (s))
DLM_DISPATCH(void, attention_forward_bf16,
             (float* out, float* att, uint16_t* scratch, const float* q, const float* k, const float* v,
              const int32_t* key_mask, const attention_shape& s),
             (out, att, scratch, q, k, v, key_mask, s))
DLM_DISPATCH(void, attention_backward,
             (float* dq, float* dk, float* dv, float* datt, float* scratch, const float* dout, const float* q,
              const float* k, const float* v, const float* att, const attention_shape& s),
             (dq, dk, dv, datt, scratch, dout, q, k, v, att, s))
DLM_DISPATCH(void, softmax_row, (float* x, int64_t d), (x, d))
DLM_DISPATCH(void, softmax_forward, (float* x, int64_t n, int64_t d), (x, n, d))
DLM_DISPATCH(void, softmax_backward, (float* dx, const float* y, const float* dy, int64_t n, int64_t d),
             (dx, y, dy, n, d))

// kernels/layernorm.h
DLM_DISPATCH(void, layernorm_forward,
             (float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
              int64_t n, int64_t c, float eps),
             (out, mean, rstd, inp, weight, bias, n, c, eps))
DLM_DISPATCH(void, residual_layernorm_forward,
             (float* out, float* sum, float* mean, float* rstd, const float* a, const float* b, const float* weight,
              const float* bias, int64_t n, int64_t c, float eps),
             (out, sum, mean, rstd, a, b, weight, bias, n, c, eps))
DLM_DISPATCH(void, layernorm_backward,
             (float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, const float* weight,
              const float* mean, const float* rstd, int64_t n, int64_t c),
             (dinp, dweight, dbias, dout, inp, weight, mean, rstd, n, c))

// kernels/activation.h
DLM_DISPATCH(void, gelu_forward, (float* out, const float* inp, int64_t n, Activation act), (out, inp, n, act))
DLM_DISPATCH(void, bias_gelu_forward, (float* x, const float* bias, int64_t n, int64_t c, Activation act),
             (x, bias, n, c, act))
DLM_DISPATCH(void, bias_gelu_forward_keep,
             (float* out, float* pre, const float* bias, int64_t n, int64_t c, Activation act),
             (out, pre, bias, n, c, act))
DLM_DISPATCH(void, bias_gelu_forward_bf16,
             (uint16_t * out, const float* x, const float* bias, int64_t n, int64_t c, Activation act),
             (out, x, bias, n, c, act))
DLM_DISPATCH(void, gelu_backward, (float* dinp, const float* inp, const float* dout, int64_t n, Activation act),
             (dinp, inp, dout, n, act))
DLM_DISPATCH(void, geglu_forward, (float* out, const float* x, const float* bias, int64_t n, int64_t f, Activation act),
             (out, x, bias, n, f, act))
DLM_DISPATCH(void, geglu_forward_bf16,
             (uint16_t * out, const float* x, const float* bias, int64_t n, int64_t f, Activation act),
             (out, x, bias, n, f, act))
DLM_DISPATCH(void, geglu_backward,
             (float* dx, const float* dout, const float* x, const float* bias, int64_t n, int64_t f, Activation act),
             (dx, dout, x, bias, n, f, act))

// kernels/rotary.h
DLM_DISPATCH(void, rotary_table_build, (float* cos, float* sin, int64_t positions, int64_t head_dim, float theta),
             (cos, sin, positions, head_dim, theta))
DLM_DISPATCH(void, rotary_forward,
             (float* x, const float* cos, const float* sin, const int32_t* positions, const rotary_shape& s),
             (x, cos, sin, positions, s))
DLM_DISPATCH(void, rotary_backward,
             (float* dx, const float* cos, const float* sin, const int32_t* positions, const rotary_shape& s),
             (dx, cos, sin, positions, s))

// kernels/residual.h, embedding.h, cross_entropy.h, dropout.h
DLM_DISPATCH(void, residual_forward, (float* out, const float* a, const float* b, int64_t n), (out, a, b, n))
DLM_DISPATCH(void, embedding_forward,
             (float* out, const int32_t* ids, const float* table, int64_t n, int64_t c, bool accumulate),
             (out, ids, table, n, c, accumulate))
DLM_DISPATCH(void, embedding_forward_bf16,
             (float* out, const int32_t* ids, const uint16_t* table, int64_t n, int64_t c, bool accumulate),
             (out, ids, table, n, c, accumulate))
DLM_DISPATCH(void, embedding_backward,
             (float* dtable, const float* dout, const int32_t* ids, int64_t n, int64_t c, int32_t padding_idx),
             (dtable, dout, ids, n, c, padding_idx))
DLM_DISPATCH(double, cross_entropy_forward_backward,
             (float* x, float* row_loss, const int32_t* target, const float* w, int64_t n, int64_t v),
             (x, row_loss, target, w, n, v))
DLM_DISPATCH(void, cross_entropy_forward,
             (float* row_loss, const float* x, const int32_t* target, int64_t n, int64_t v),
             (row_loss, x, target, n, v))
DLM_DISPATCH(void, dropout_apply, (float* x, int64_t n, float p, uint64_t seed), (x, n, p, seed))
DLM_DISPATCH(void, dropout_copy, (float* out, const float* inp, int64_t n, float p, uint64_t seed),
             (out, inp, n, p, seed))

// generation/sampling.h
DLM_DISPATCH(TokenChoice, token_sample,
             (const float* logits, int64_t v, const SamplingParams& p, Rng& rng, SamplingScratch& s),
             (logits, v, p, rng, s))
DLM_DISPATCH(float, token_entropy, (const float* logits, int64_t v, float temperature), (logits, v, temperature))
DLM_DISPATCH(float, token_top_prob, (const float* logits, int64_t v, const SamplingParams& p, SamplingScratch& s),
             (logits, v, p, s))
DLM_DISPATCH(int32_t, token_argmax, (const float* logits, int64_t v), (logits, v))
DLM_DISPATCH(float, softmax_temperature, (const float* logits, int64_t v, float temperature, float* probs),
             (logits, v, temperature, probs))
DLM_DISPATCH(TokenChoice, token_gumbel,
             (const float* logits, int64_t v, float temperature, Rng& rng, SamplingScratch& s),
             (logits, v, temperature, rng, s))

}  // namespace dlm

#endif  // DLM_PORTABLE
