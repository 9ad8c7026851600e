#include "models/mlm_head.h"

#include <algorithm>

#include "core/error.h"
#include "kernels/layernorm.h"

namespace dlm {

void MlmHead::init(ParamTable* params, Linear* dense, int64_t norm_w, int64_t norm_b, Linear* decoder, Activation act,
                   float eps) {
    params_ = params;
    dense_ = dense;
    decoder_ = decoder;
    norm_w_ = norm_w;
    norm_b_ = norm_b;
    c_ = dense->out();
    v_ = decoder->out();
    act_ = act;
    eps_ = eps;
}

void MlmHead::resize(int64_t n) {
    for (auto* v : {&in_, &pre_, &act_out_, &out_, &din_, &d_})
        if (static_cast<int64_t>(v->size()) < n * c_) v->resize(static_cast<size_t>(n * c_));
    if (static_cast<int64_t>(mean_.size()) < n) {
        mean_.resize(static_cast<size_t>(n));
        rstd_.resize(static_cast<size_t>(n));
    }
}

void MlmHead::transform(int64_t n) {
    if (const float* b = dense_->bias()) {  // the bias fused into the activation
        dense_->forward(pre_.data(), in_.data(), n, false);
        bias_gelu_forward_keep(act_out_.data(), pre_.data(), b, n, c_, act_);
    } else {
        dense_->forward(pre_.data(), in_.data(), n);
        gelu_forward(act_out_.data(), pre_.data(), n * c_, act_);
    }
    layernorm_forward(out_.data(), mean_.data(), rstd_.data(), act_out_.data(), params_->get(norm_w_),
                      norm_b_ >= 0 ? params_->get(norm_b_) : nullptr, n, c_, eps_);
}

const float* MlmHead::backward(const float* dlogits, int64_t n) {
    std::fill(d_.begin(), d_.begin() + n * c_, 0.0f);
    decoder_->backward(d_.data(), dlogits, out_.data(), n);
    std::fill(din_.begin(), din_.begin() + n * c_, 0.0f);
    layernorm_backward(din_.data(), params_->grad(norm_w_), norm_b_ >= 0 ? params_->grad(norm_b_) : nullptr,
                       d_.data(), act_out_.data(), params_->get(norm_w_), mean_.data(), rstd_.data(), n, c_);
    gelu_backward(d_.data(), pre_.data(), din_.data(), n * c_, act_);
    std::fill(din_.begin(), din_.begin() + n * c_, 0.0f);
    dense_->backward(din_.data(), d_.data(), in_.data(), n);
    return din_.data();
}

void MlmHead::logits(std::span<const int64_t> rows, const float* hidden, float* out) {
    const int64_t n = static_cast<int64_t>(rows.size()), np = rows_padded(n);
    resize(np);
    rows_gather(in_.data(), hidden, rows.data(), n, c_);
    transform(np);
    logits_by_row_groups(out, n, v_, logits_, [&](float* dst, int64_t r0, int64_t m) {
        decoder_->forward(dst, out_.data() + r0 * c_, m);
    });
}

double MlmHead::loss_backward(const HeadLossRows& t, const float* hidden, float* dhidden,
                              std::vector<float>& row_loss) {
    const int64_t chunk = head_chunk_rows(static_cast<int64_t>(t.rows.size()));
    resize(chunk);
    if (static_cast<int64_t>(logits_.size()) < chunk * v_) logits_.resize(static_cast<size_t>(chunk * v_));
    return head_loss_backward(
        t, hidden, dhidden, c_, v_, in_.data(), logits_.data(), row_loss,
        [&](int64_t mp) {
            transform(mp);
            decoder_->forward(logits_.data(), out_.data(), mp);
        },
        [&](int64_t mp) { return backward(logits_.data(), mp); });
}

}  // namespace dlm
