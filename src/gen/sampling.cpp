#include "gen/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/vector_math.h"

namespace dlm {

int32_t token_argmax(const float* logits, int64_t v) {
    int64_t best = 0;
    for (int64_t j = 1; j < v; ++j)
        if (logits[j] > logits[best]) best = j;
    return static_cast<int32_t>(best);
}

float softmax_temperature(const float* logits, int64_t v, float temperature, float* probs) {
    const float inv_t = temperature > 0 ? 1.0f / temperature : 1.0f;
    float mx = logits[0];
    for (int64_t j = 1; j < v; ++j) mx = std::max(mx, logits[j]);
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < v; ++j) {
        probs[j] = expf((logits[j] - mx) * inv_t);
        sum += probs[j];
    }
    const float inv = 1.0f / sum;
    float top = 0;
    for (int64_t j = 0; j < v; ++j) {
        probs[j] *= inv;
        top = std::max(top, probs[j]);
    }
    return top;
}

TokenChoice token_sample(const float* logits, int64_t v, const SamplingParams& p, Rng& rng, SamplingScratch& s) {
    s.probs.resize(static_cast<size_t>(v));
    TokenChoice c;
    c.top_prob = softmax_temperature(logits, v, p.temperature, s.probs.data());
    if (p.temperature <= 0) {
        c.id = token_argmax(logits, v);
        c.prob = 1.0f;
        return c;
    }
    // Candidates sorted by probability; only as many as top-k / top-p can keep.
    const int64_t k = p.top_k > 0 ? std::min<int64_t>(p.top_k, v) : v;
    s.order.resize(static_cast<size_t>(v));
    std::iota(s.order.begin(), s.order.end(), 0);
    auto by_prob = [&](int32_t a, int32_t b) { return s.probs[a] > s.probs[b] || (s.probs[a] == s.probs[b] && a < b); };
    if (k < v) {
        std::partial_sort(s.order.begin(), s.order.begin() + k, s.order.end(), by_prob);
    } else if (p.top_p < 1.0f) {
        std::sort(s.order.begin(), s.order.end(), by_prob);
    }
    int64_t keep = k;
    double mass = 0;
    if (p.top_p < 1.0f) {
        // HF TopPLogitsWarper: renormalised over the top-k set, keep tokens while the
        // mass before them is below top_p.
        double total = 0;
        for (int64_t i = 0; i < k; ++i) total += s.probs[s.order[i]];
        double cum = 0;
        keep = 0;
        for (int64_t i = 0; i < k; ++i) {
            if (i > 0 && cum >= p.top_p * total) break;
            cum += s.probs[s.order[i]];
            ++keep;
        }
    }
    for (int64_t i = 0; i < keep; ++i) mass += s.probs[s.order[i]];
    double u = rng.uniform_double() * mass, acc = 0;
    c.id = s.order[keep - 1];
    for (int64_t i = 0; i < keep; ++i) {
        acc += s.probs[s.order[i]];
        if (u < acc) {
            c.id = s.order[i];
            break;
        }
    }
    c.prob = static_cast<float>(s.probs[c.id] / mass);
    return c;
}

TokenChoice token_gumbel(const float* logits, int64_t v, float temperature, Rng& rng, SamplingScratch& s) {
    s.probs.resize(static_cast<size_t>(v));
    TokenChoice c;
    c.top_prob = softmax_temperature(logits, v, 1.0f, s.probs.data());
    if (temperature <= 0) {
        c.id = token_argmax(logits, v);
    } else {
        // argmax(logits / T + Gumbel) samples softmax(logits / T) exactly.
        double best = -INFINITY;
        for (int64_t j = 0; j < v; ++j) {
            double u = std::max(rng.uniform_double(), 1e-300);
            double g = logits[j] / temperature - std::log(-std::log(u));
            if (g > best) {
                best = g;
                c.id = static_cast<int32_t>(j);
            }
        }
    }
    c.prob = s.probs[c.id];
    return c;
}

}  // namespace dlm
