// The masked-LM head BERT, RoBERTa and ModernBERT share (HF BertOnlyMLMHead,
// RobertaLMHead, ModernBertPredictionHead + decoder): on rows of the final hidden
// states, dense -> activation -> norm -> decoder (+ output bias). Its buffers and what
// its backward needs live here; the weights stay in the model's arena.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/activation.h"
#include "models/lm_head.h"
#include "models/weights.h"

namespace dlm {

class MlmHead {
public:
    // dense [C, C] (its bias, if any, is added before the activation), the norm's
    // weight and bias offsets (norm_b -1: none), the decoder [V, C] with its bias.
    void init(ParamTable* params, Linear* dense, int64_t norm_w, int64_t norm_b, Linear* decoder, Activation act,
              float eps);

    // Logits out[rows.size(), V] of rows of hidden [*, C].
    void logits(std::span<const int64_t> rows, const float* hidden, float* out);
    // The training loss of the target rows of hidden [N, C] (head_loss_backward), its
    // gradient added into dhidden [N, C] and into the head's parameters.
    double loss_backward(const HeadLossRows& t, const float* hidden, float* dhidden, std::vector<float>& row_loss);

private:
    void resize(int64_t n);
    void transform(int64_t n);                          // in_[n, C] -> out_[n, C]
    const float* backward(const float* dlogits, int64_t n);  // d(in_)[n, C]

    ParamTable* params_ = nullptr;
    Linear *dense_ = nullptr, *decoder_ = nullptr;
    int64_t norm_w_ = -1, norm_b_ = -1, c_ = 0, v_ = 0;
    Activation act_ = Activation::gelu_erf;
    float eps_ = 1e-5f;
    std::vector<float> in_, pre_, act_out_, out_, mean_, rstd_, din_, d_, logits_;
};

}  // namespace dlm
