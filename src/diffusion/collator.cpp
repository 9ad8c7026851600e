#include "diffusion/collator.h"

#include <algorithm>

#include "core/error.h"

namespace dlm {

MaskRateMode mask_rate_mode_parse(const std::string& s) {
    if (s == "per_batch" || s == "batch") return MaskRateMode::per_batch;
    if (s == "per_sequence" || s == "sequence") return MaskRateMode::per_sequence;
    if (s == "continuous" || s == "mdlm") return MaskRateMode::continuous;
    fail("mask rate mode '{}' is not known (per_batch, per_sequence, continuous)", s);
}

const char* mask_rate_mode_name(MaskRateMode m) {
    switch (m) {
        case MaskRateMode::per_batch: return "per_batch";
        case MaskRateMode::per_sequence: return "per_sequence";
        case MaskRateMode::continuous: return "continuous";
    }
    return "?";
}

bool collator_maskable(const CollatorVocab& vocab, const CollatorOptions& opt, int32_t id) {
    const bool special = id >= 0 && id < static_cast<int32_t>(vocab.special.size()) && vocab.special[id];
    return !special || (id == vocab.pad_id && opt.mask_padding);
}

CollatedBatch collate_diffusion(const int32_t* blocks, int64_t batch, int64_t seq, const CollatorVocab& vocab,
                                const CollatorOptions& opt, Rng& rng) {
    DLM_ASSERT(vocab.mask_id >= 0);
    DLM_ASSERT(!opt.rates.empty());
    CollatedBatch out;
    out.batch = batch;
    out.seq = seq;
    const int64_t n = batch * seq;
    out.ids.assign(blocks, blocks + n);
    out.targets.assign(static_cast<size_t>(n), -100);
    out.rates.resize(static_cast<size_t>(batch));
    out.prefix.resize(static_cast<size_t>(batch));
    const bool continuous = opt.mode == MaskRateMode::continuous;
    if (continuous) out.weights.assign(static_cast<size_t>(n), 0.0f);

    float batch_rate = opt.rates[rng.below(opt.rates.size())];
    for (int64_t b = 0; b < batch; ++b) {
        float p = batch_rate;
        if (opt.mode == MaskRateMode::per_sequence) p = opt.rates[rng.below(opt.rates.size())];
        if (continuous) p = opt.eps + (1.0f - opt.eps) * (1.0f - rng.uniform());  // (eps, 1]
        int64_t prefix = opt.prefix;
        if (opt.random_prefix) prefix = opt.prefix_min + static_cast<int64_t>(rng.below(opt.prefix_max - opt.prefix_min + 1));
        prefix = std::min(prefix, seq);
        out.rates[b] = p;
        out.prefix[b] = prefix;
        int64_t eligible = 0;
        for (int64_t t = prefix; t < seq; ++t) {
            const int64_t r = b * seq + t;
            const int32_t id = blocks[r];
            if (!collator_maskable(vocab, opt, id)) continue;
            ++eligible;
            // One draw per eligible token, as torch.bernoulli over the block would.
            if (rng.uniform() < p) {
                out.ids[r] = vocab.mask_id;
                out.targets[r] = id;
                ++out.masked;
            }
        }
        if (continuous && eligible > 0) {
            const float w = 1.0f / (p * static_cast<float>(eligible) * static_cast<float>(batch));
            for (int64_t t = prefix; t < seq; ++t)
                if (out.targets[b * seq + t] != -100) out.weights[b * seq + t] = w;
        }
    }
    return out;
}

double collator_expected_targets(const CollatorOptions& opt, int64_t seq) {
    double rate = 0.0;
    if (opt.mode == MaskRateMode::continuous) {
        rate = (1.0 + opt.eps) / 2.0;
    } else {
        for (float r : opt.rates) rate += r;
        rate /= static_cast<double>(opt.rates.size());
    }
    double maskable = 0.0;  // mean of seq - min(prefix, seq) over the prefix distribution
    const int64_t lo = opt.random_prefix ? opt.prefix_min : opt.prefix, hi = opt.random_prefix ? opt.prefix_max : opt.prefix;
    for (int64_t p = lo; p <= hi; ++p) maskable += static_cast<double>(seq - std::min(p, seq));
    maskable /= static_cast<double>(hi - lo + 1);
    return rate * maskable;
}

}  // namespace dlm
