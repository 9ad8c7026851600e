// Embedding lookups. Ids are checked by the caller (models validate them once).
#pragma once

#include <cstdint>

namespace dlm {

// out[N, C] (=, or += when accumulate) table[ids[n], :], table is [V, C].
void embedding_forward(float* out, const int32_t* ids, const float* table, int64_t n, int64_t c,
                       bool accumulate);
// The same from a bf16 table[V, C] (rows widened to fp32, exactly).
void embedding_forward_bf16(float* out, const int32_t* ids, const uint16_t* table, int64_t n, int64_t c,
                            bool accumulate);

// dtable[V, C] += scatter of dout[N, C] by ids (rows of repeated ids add up).
// Rows whose id is padding_idx get nothing, as nn.Embedding(padding_idx=...) (-1: none).
void embedding_backward(float* dtable, const float* dout, const int32_t* ids, int64_t n, int64_t c,
                        int32_t padding_idx = -1);

}  // namespace dlm
