#include "train/adamw.h"

#include <cmath>

namespace dlm {

bool param_no_decay(const ParamEntry& e) { return e.role == ParamRole::bias || e.role == ParamRole::norm; }

AdamW::AdamW(const ParamTable& params, AdamWConfig cfg) : cfg_(cfg) {
    for (auto& e : params.entries()) {
        bool decay = !param_no_decay(e);
        if (!ranges_.empty() && ranges_.back().decay == decay && ranges_.back().end == e.offset)
            ranges_.back().end = e.offset + e.numel();
        else
            ranges_.push_back({e.offset, e.offset + e.numel(), decay});
    }
    m_.assign(static_cast<size_t>(params.size()), 0.0f);
    v_.assign(static_cast<size_t>(params.size()), 0.0f);
}

void AdamW::step(ParamTable& params, float lr) {
    ++t_;
    float* p = params.data().data();
    const float* g = params.grads().data();
    const float b1 = cfg_.beta1, b2 = cfg_.beta2, eps = cfg_.eps;
    // As torch: the bias corrections in double, then used as float scalars.
    const float step_size = static_cast<float>(lr / (1.0 - std::pow(static_cast<double>(b1), t_)));
    const float bc2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(static_cast<double>(b2), t_)));
    for (const range& r : ranges_) {
        const float decay = r.decay ? 1.0f - lr * cfg_.weight_decay : 1.0f;
#pragma omp parallel for schedule(static)
        for (int64_t i = r.begin; i < r.end; ++i) {
            p[i] *= decay;
            m_[i] = b1 * m_[i] + (1.0f - b1) * g[i];
            v_[i] = b2 * v_[i] + (1.0f - b2) * g[i] * g[i];
            const float denom = std::sqrt(v_[i]) / bc2_sqrt + eps;
            p[i] -= step_size * m_[i] / denom;
        }
    }
}

double grad_clip(ParamTable& params, double max_norm) {
    FloatArena& g = params.grads();
    const int64_t n = static_cast<int64_t>(g.size());
    // Norm in double, in fixed-size blocks summed in order: the same value whatever
    // the thread count.
    constexpr int64_t kBlock = 1 << 16;
    const int64_t blocks = (n + kBlock - 1) / kBlock;
    std::vector<double> partial(static_cast<size_t>(blocks));
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < blocks; ++b) {
        double s = 0;
        for (int64_t i = b * kBlock; i < std::min(n, (b + 1) * kBlock); ++i) s += static_cast<double>(g[i]) * g[i];
        partial[b] = s;
    }
    double total = 0;
    for (double s : partial) total += s;
    const double norm = std::sqrt(total);
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
        const float c = static_cast<float>(coef);
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; ++i) g[i] *= c;
    }
    return norm;
}

double lr_linear_factor(int64_t step, int64_t warmup, int64_t total) {
    if (step < warmup) return static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup));
    return std::max(0.0, static_cast<double>(total - step) / static_cast<double>(std::max<int64_t>(1, total - warmup)));
}

}  // namespace dlm
