#include "train/adamw.h"

#include <algorithm>
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

void AdamW::step(ParamTable& params, float lr, std::span<const ParamRange> owned) {
    ++t_;
    float* p = params.data().data();
    const float* g = params.grads().data();
    const float b1 = cfg_.beta1, b2 = cfg_.beta2, eps = cfg_.eps;
    // As torch: the bias corrections in double, then used as float scalars.
    const float step_size = static_cast<float>(lr / (1.0 - std::pow(static_cast<double>(b1), t_)));
    const float bc2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(static_cast<double>(b2), t_)));
    const ParamRange all{0, params.size()};
    if (owned.empty()) owned = std::span<const ParamRange>(&all, 1);
    for (const range& r : ranges_) {
        const float decay = r.decay ? 1.0f - lr * cfg_.weight_decay : 1.0f;
        for (const ParamRange& o : owned) {
            const int64_t lo = std::max(r.begin, o.begin), hi = std::min(r.end, o.end);
#pragma omp parallel for schedule(static)
            for (int64_t i = lo; i < hi; ++i) {
                p[i] *= decay;
                m_[i] = b1 * m_[i] + (1.0f - b1) * g[i];
                v_[i] = b2 * v_[i] + (1.0f - b2) * g[i] * g[i];
                const float denom = std::sqrt(v_[i]) / bc2_sqrt + eps;
                p[i] -= step_size * m_[i] / denom;
            }
        }
    }
}

double grads_square_sum(ParamTable& params, std::span<const ParamRange> owned) {
    const float* g = params.grads().data();
    constexpr int64_t kBlock = 1 << 16;
    double total = 0;
    std::vector<double> partial;
    for (const ParamRange& o : owned) {
        const int64_t blocks = (o.end - o.begin + kBlock - 1) / kBlock;
        partial.assign(static_cast<size_t>(blocks), 0.0);
#pragma omp parallel for schedule(static)
        for (int64_t b = 0; b < blocks; ++b) {
            double s = 0;
            for (int64_t i = o.begin + b * kBlock; i < std::min(o.end, o.begin + (b + 1) * kBlock); ++i)
                s += static_cast<double>(g[i]) * g[i];
            partial[static_cast<size_t>(b)] = s;
        }
        for (double s : partial) total += s;
    }
    return total;
}

double clip_coefficient(double norm, double max_norm) { return std::min(1.0, max_norm / (norm + 1e-6)); }

void grads_scale(ParamTable& params, std::span<const ParamRange> owned, double coef) {
    if (coef >= 1.0) return;
    float* g = params.grads().data();
    const float c = static_cast<float>(coef);
    for (const ParamRange& o : owned) {
#pragma omp parallel for schedule(static)
        for (int64_t i = o.begin; i < o.end; ++i) g[i] *= c;
    }
}

double grad_clip(ParamTable& params, double max_norm) {
    const ParamRange all{0, params.size()};
    const double norm = std::sqrt(grads_square_sum(params, std::span<const ParamRange>(&all, 1)));
    grads_scale(params, std::span<const ParamRange>(&all, 1), clip_coefficient(norm, max_norm));
    return norm;
}

double lr_linear_factor(int64_t step, int64_t warmup, int64_t total) {
    if (step < warmup) return static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup));
    return std::max(0.0, static_cast<double>(total - step) / static_cast<double>(std::max<int64_t>(1, total - warmup)));
}

}  // namespace dlm
