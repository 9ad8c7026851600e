#include "models/lm_head.h"

#include <cstring>

#include "kernels/cross_entropy.h"

namespace dlm {

void rows_gather(float* out, const float* src, const int64_t* rows, int64_t n, int64_t c) {
    const int64_t np = rows_padded(n);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < np; ++i)
        std::memcpy(out + i * c, src + rows[i < n ? i : 0] * c, static_cast<size_t>(c) * sizeof(float));
}

void logits_by_row_groups(float* out, int64_t n, int64_t v, std::vector<float>& buf,
                          const std::function<void(float* dst, int64_t r0, int64_t m)>& product) {
    const int64_t whole = n / kHeadRowQuantum * kHeadRowQuantum;
    if (whole > 0) product(out, 0, whole);
    if (whole == n) return;
    if (static_cast<int64_t>(buf.size()) < kHeadRowQuantum * v) buf.resize(static_cast<size_t>(kHeadRowQuantum * v));
    product(buf.data(), whole, kHeadRowQuantum);
    std::memcpy(out + whole * v, buf.data(), static_cast<size_t>((n - whole) * v) * sizeof(float));
}

double head_loss_backward(const HeadLossRows& t, const float* hidden, float* dhidden, int64_t c, int64_t v, float* in,
                          float* logits, std::vector<float>& row_loss, const std::function<void(int64_t mp)>& forward,
                          const std::function<const float*(int64_t mp)>& backward) {
    const int64_t n = static_cast<int64_t>(t.rows.size());
    row_loss.resize(static_cast<size_t>(n));
    double loss = 0.0;
    rows_chunked(n, [&](int64_t r0, int64_t r1) {
        const int64_t m = r1 - r0, mp = rows_padded(m);
        rows_gather(in, hidden, t.rows.data() + r0, m, c);
        forward(mp);
        loss += cross_entropy_forward_backward(logits, row_loss.data() + r0, t.targets.data() + r0,
                                               t.weights.data() + r0, m, v);
        std::fill(logits + m * v, logits + mp * v, 0.0f);  // pad rows: no gradient
        rows_scatter_add(dhidden, backward(mp), t.rows.data() + r0, m, c);
    });
    return loss;
}

void rows_scatter_add(float* dst, const float* src, const int64_t* rows, int64_t n, int64_t c) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
        float* d = dst + rows[i] * c;
        const float* s = src + i * c;
        for (int64_t j = 0; j < c; ++j) d[j] += s[j];
    }
}

}  // namespace dlm
