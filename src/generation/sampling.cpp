#include "generation/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/isa.h"
#include "kernels/vector_math.h"

namespace dlm {
DLM_ISA_BEGIN

int32_t token_argmax(const float* logits, int64_t v) {
    int64_t best = 0;
    for (int64_t j = 1; j < v; ++j)
        if (logits[j] > logits[best]) best = j;
    return static_cast<int32_t>(best);
}

namespace {

// sum_j exp((l_j - max) / T), in vector lanes; one definition, so that token_sample and
// token_top_prob give the same bits.
float softmax_normaliser(const float* logits, int64_t v, float mx, float inv_t) {
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < v; ++j) sum += expf((logits[j] - mx) * inv_t);
    return sum;
}

float logits_max(const float* logits, int64_t v) {
    float mx = logits[0];
#pragma omp simd reduction(max : mx)
    for (int64_t j = 0; j < v; ++j) mx = logits[j] > mx ? logits[j] : mx;
    return mx;
}

// The k ids of the largest logits, largest first (ties: the smaller id first), through
// a bounded min-heap: one pass, no sort of V.
void top_k_ids(const float* logits, int64_t v, int64_t k, std::vector<int32_t>& order) {
    auto greater_logit = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
    auto offer = [&](int32_t j) {
        if (static_cast<int64_t>(order.size()) < k) {
            order.push_back(j);
            std::push_heap(order.begin(), order.end(), greater_logit);
        } else if (greater_logit(j, order.front())) {
            std::pop_heap(order.begin(), order.end(), greater_logit);
            order.back() = j;
            std::push_heap(order.begin(), order.end(), greater_logit);
        }
    };
    // Once the heap is full, a block of 64 whose largest logit is below the heap's
    // smallest cannot enter: one vectorised max per block skips almost all of V
    // (the same ids come out; equal logits still go through `offer`).
    constexpr int64_t kBlock = 64;
    int64_t j = 0;
    for (; j < v && static_cast<int64_t>(order.size()) < k; ++j) offer(static_cast<int32_t>(j));
    for (; j + kBlock <= v; j += kBlock) {
        float bm = logits[j];
#pragma omp simd reduction(max : bm)
        for (int64_t i = 1; i < kBlock; ++i) bm = logits[j + i] > bm ? logits[j + i] : bm;
        if (bm < logits[order.front()]) continue;
        for (int64_t i = 0; i < kBlock; ++i) offer(static_cast<int32_t>(j + i));
    }
    for (; j < v; ++j) offer(static_cast<int32_t>(j));
    std::sort(order.begin(), order.end(), greater_logit);
}

// HF TopPLogitsWarper on the candidates (probs sorted largest first, summing to
// total): how many to keep, while the mass before them is below top_p; at least one.
size_t top_p_keep(const std::vector<float>& probs, float top_p, double total) {
    double cum = 0;
    size_t keep = 0;
    for (size_t i = 0; i < probs.size(); ++i) {
        if (i > 0 && cum >= top_p * total) break;
        cum += probs[i];
        ++keep;
    }
    return keep;
}

// An index in [0, keep) drawn in proportion to probs (their sum: mass).
size_t index_draw(const std::vector<float>& probs, size_t keep, double mass, Rng& rng) {
    const double u = rng.uniform_double() * mass;
    double acc = 0;
    for (size_t i = 0; i < keep; ++i) {
        acc += probs[i];
        if (u < acc) return i;
    }
    return keep - 1;
}

}  // namespace

float softmax_temperature(const float* logits, int64_t v, float temperature, float* probs) {
    const float inv_t = temperature > 0 ? 1.0f / temperature : 1.0f;
    const float mx = logits_max(logits, v);
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

float token_top_prob(const float* logits, int64_t v, const SamplingParams& p, SamplingScratch& s) {
    if (p.temperature <= 0) {
        s.probs.resize(static_cast<size_t>(v));
        return softmax_temperature(logits, v, 1.0f, s.probs.data());
    }
    return 1.0f / softmax_normaliser(logits, v, logits_max(logits, v), 1.0f / p.temperature);
}

float token_entropy(const float* logits, int64_t v, float temperature) {
    // H = log Z - sum(e^z z) / Z with z = (l - max) / T: one pass, two sums.
    const float inv_t = temperature > 0 ? 1.0f / temperature : 1.0f;
    const float mx = logits_max(logits, v);
    float z_sum = 0, ez_sum = 0;
#pragma omp simd reduction(+ : z_sum, ez_sum)
    for (int64_t j = 0; j < v; ++j) {
        const float z = (logits[j] - mx) * inv_t, e = expf(z);
        z_sum += e;
        ez_sum += e > 0.0f ? e * z : 0.0f;  // a -inf logit (a masked id): 0, not 0 x -inf
    }
    return std::max(0.0f, std::log(z_sum) - ez_sum / z_sum);
}

TokenChoice token_sample(const float* logits, int64_t v, const SamplingParams& p, Rng& rng, SamplingScratch& s) {
    TokenChoice c;
    if (p.temperature <= 0) {
        s.probs.resize(static_cast<size_t>(v));
        c.top_prob = softmax_temperature(logits, v, 1.0f, s.probs.data());
        c.id = token_argmax(logits, v);
        c.prob = 1.0f;
        return c;
    }
    // Candidates: the top-k ids by logit, or every id when top-k is off.
    const int64_t k = p.top_k > 0 ? std::min<int64_t>(p.top_k, v) : v;
    s.order.clear();
    if (k < v) {
        top_k_ids(logits, v, k, s.order);
    } else {
        s.order.resize(static_cast<size_t>(v));
        std::iota(s.order.begin(), s.order.end(), 0);
        if (p.top_p < 1.0f)
            std::sort(s.order.begin(), s.order.end(),
                      [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
    }
    // The normaliser, one vectorised pass: p_j = exp((l_j - max) / T) / sum. The top-k
    // candidates come sorted, so their first is the max (exact in any order) and the
    // scan for it is saved.
    const float inv_t = 1.0f / p.temperature;
    const float mx = k == v && p.top_p >= 1.0f ? logits_max(logits, v) : logits[s.order[0]];
    const float sum = softmax_normaliser(logits, v, mx, inv_t);
    c.top_prob = 1.0f / sum;
    auto prob = [&](int32_t j) { return expf((logits[j] - mx) * inv_t) / sum; };
    s.probs.resize(s.order.size());
    double total = 0;
    for (size_t i = 0; i < s.order.size(); ++i) total += s.probs[i] = prob(s.order[i]);
    const size_t keep = p.top_p < 1.0f ? top_p_keep(s.probs, p.top_p, total) : s.order.size();
    double mass = 0;
    for (size_t i = 0; i < keep; ++i) mass += s.probs[i];
    const size_t pick = index_draw(s.probs, keep, mass, rng);
    c.id = s.order[pick];
    c.prob = static_cast<float>(s.probs[pick] / mass);
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

DLM_ISA_END
}  // namespace dlm
