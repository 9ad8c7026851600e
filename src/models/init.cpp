#include "models/init.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string_view>

#include <fmt/format.h>

#include "core/error.h"

namespace dlm {


void model_init_random(Model& m, uint64_t seed) {
    const ModelConfig& c = m.config();
    std::mt19937_64 rng(seed);
    for (auto& e : m.params().entries()) {
        float* p = m.params().get(e.offset);
        const int64_t n = e.numel();
        if (e.role == ParamRole::bias || e.role == ParamRole::norm) {
            std::fill(p, p + n, e.role == ParamRole::norm ? 1.0f : 0.0f);
            continue;
        }
        std::normal_distribution<float> normal(0.0f, c.initializer_range / e.init.std_divisor);
        for (int64_t i = 0; i < n; ++i) p[i] = normal(rng);
        const int64_t z = e.init.zero_row;  // nn.Embedding(padding_idx) rows start at zero
        if (z >= 0 && e.shape.size() == 2 && z < e.shape[0]) std::fill(p + z * e.shape[1], p + (z + 1) * e.shape[1], 0.0f);
    }
}

namespace {

// Angular frequency of sinusoid pair i of a width-C table: wavelengths from 2 pi to
// 2 pi * 10000^(...), so the slow pairs give nearby positions similar vectors.
double sinusoid_frequency(int64_t i, int64_t C) {
    return std::pow(10000.0, -2.0 * static_cast<double>(i) / static_cast<double>(C));
}

// The encoder prefix ("roberta" / "bert") of a masked LM with the BERT layout (a
// learned position table, separate query and key matrices); others are refused.
std::string masked_lm_prefix(const Model& m, const char* what) {
    const ModelConfig& c = m.config();
    if (c.is_causal()) fail("{} init is for masked LMs; {} is causal", what, c.architecture);
    for (const char* prefix : {"roberta", "bert"})
        if (m.params().find(std::string(prefix) + ".embeddings.position_embeddings.weight")) return prefix;
    fail("{} init needs a BERT/RoBERTa-layout encoder (a learned position table); {} has none", what, c.architecture);
}

// The position table as sinusoids of the token index (amplitude `scale`); the padding
// row stays zero.
void position_table_sinusoids_write(Model& m, const std::string& prefix, float scale) {
    const ModelConfig& c = m.config();
    const ParamEntry* pos = m.params().find(prefix + ".embeddings.position_embeddings.weight");
    DLM_ASSERT(pos != nullptr);
    const int64_t P = pos->shape[0], C = pos->shape[1];
    const int64_t first = c.position_offset;  // position id of the first token
    float* table = m.params().get(pos->offset);
    for (int64_t p = 0; p < P; ++p) {
        const double t = static_cast<double>(std::max<int64_t>(0, p - first));
        for (int64_t i = 0; i < C / 2; ++i) {
            const double w = sinusoid_frequency(i, C);
            table[p * C + 2 * i] = scale * static_cast<float>(std::sin(t * w));
            table[p * C + 2 * i + 1] = scale * static_cast<float>(std::cos(t * w));
        }
        if (p < first) std::fill(table + p * C, table + (p + 1) * C, 0.0f);
    }
}

}  // namespace

void model_init_local_attention(Model& m, uint64_t seed, float position_scale, float qk_std) {
    const ModelConfig& c = m.config();
    const std::string prefix = masked_lm_prefix(m, "local-attention");
    position_table_sinusoids_write(m, prefix, position_scale);
    std::mt19937_64 rng(seed ^ 0x10ca1);
    std::normal_distribution<float> normal(0.0f, qk_std);
    for (int64_t l = 0; l < c.num_layers; ++l) {
        const std::string base = fmt::format("{}.encoder.layer.{}.attention.self.", prefix, l);
        const ParamEntry* q = m.params().find(base + "query.weight");
        const ParamEntry* k = m.params().find(base + "key.weight");
        DLM_ASSERT(q != nullptr && k != nullptr);
        float* qw = m.params().get(q->offset);
        for (int64_t i = 0; i < q->numel(); ++i) qw[i] = normal(rng);
        std::copy(qw, qw + q->numel(), m.params().get(k->offset));
    }
}

void model_init_shift_attention(Model& m, uint64_t seed, float position_scale, float gain, float vo_std) {
    const ModelConfig& c = m.config();
    const std::string prefix = masked_lm_prefix(m, "shift-attention");
    position_table_sinusoids_write(m, prefix, position_scale);
    const int64_t H = c.hidden_size, NH = c.num_heads, HD = H / NH;
    DLM_ASSERT(HD % 2 == 0);
    std::mt19937_64 rng(seed ^ 0x5b1f7);
    std::normal_distribution<float> normal(0.0f, vo_std > 0 ? vo_std : 1.0f);
    for (int64_t l = 0; l < c.num_layers; ++l) {
        const std::string base = fmt::format("{}.encoder.layer.{}.attention.", prefix, l);
        float* q = m.params().get(m.params().find(base + "self.query.weight")->offset);  // [H out, H in]
        float* k = m.params().get(m.params().find(base + "self.key.weight")->offset);
        std::fill(q, q + H * H, 0.0f);
        std::fill(k, k + H * H, 0.0f);
        for (int64_t h = 0; h < NH; ++h) {
            const double d = kShiftOffsets[h % 4];
            for (int64_t i = 0; i < HD / 2; ++i) {  // the head's rows r, r + 1 read sinusoid pair i
                const double w = sinusoid_frequency(i, H);
                const double cs = std::cos(d * w), sn = std::sin(d * w);
                const int64_t r = h * HD + 2 * i, s_col = 2 * i, c_col = 2 * i + 1;
                q[r * H + s_col] = gain;
                q[(r + 1) * H + c_col] = gain;
                // key = the pair rotated back by d w: sin((n - d) w), cos((n - d) w).
                k[r * H + s_col] = gain * static_cast<float>(cs);
                k[r * H + c_col] = -gain * static_cast<float>(sn);
                k[(r + 1) * H + s_col] = gain * static_cast<float>(sn);
                k[(r + 1) * H + c_col] = gain * static_cast<float>(cs);
            }
        }
        if (vo_std > 0)
            for (const char* name : {"self.value.weight", "output.dense.weight"}) {
                const ParamEntry* e = m.params().find(base + name);
                DLM_ASSERT(e != nullptr);
                float* w = m.params().get(e->offset);
                for (int64_t i = 0; i < e->numel(); ++i) w[i] = normal(rng);
            }
    }
}

void model_init_unigram_bias(Model& m, const std::vector<int64_t>& counts, double smoothing) {
    const ModelConfig& c = m.config();
    if (c.is_causal()) fail("unigram-bias init is for masked LMs; {} is causal", c.architecture);
    // The output bias: the one bias as long as the vocabulary (lm_head.bias,
    // cls.predictions.bias, decoder.bias).
    const ParamEntry* e = nullptr;
    for (const auto& p : m.params().entries())
        if (p.role == ParamRole::bias && p.numel() == c.vocab_size) e = &p;
    if (!e) fail("unigram-bias init: {} has no output bias", c.architecture);
    if (static_cast<int64_t>(counts.size()) != c.vocab_size)
        fail("unigram bias: {} token counts for a vocabulary of {}", counts.size(), c.vocab_size);
    if (!(smoothing > 0)) fail("unigram bias: smoothing must be positive, got {:g}", smoothing);
    double total = 0.0;
    for (int64_t n : counts) total += static_cast<double>(n) + smoothing;
    std::vector<double> logp(counts.size());
    double mean = 0.0;
    for (size_t v = 0; v < counts.size(); ++v) {
        logp[v] = std::log((static_cast<double>(counts[v]) + smoothing) / total);
        mean += logp[v];
    }
    mean /= static_cast<double>(counts.size());
    float* bias = m.params().get(e->offset);
    for (size_t v = 0; v < counts.size(); ++v) bias[v] = static_cast<float>(logp[v] - mean);
}

}  // namespace dlm
