#include "diffusion/generate.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/setting_name.h"
#include "core/rng.h"
#include "core/zero_pages.h"

namespace dlm {

void ModelDenoiser::logits(const int32_t* ids, int64_t batch, int64_t seq, std::span<const int64_t> rows, float* out) {
    m_.forward({ids, nullptr, nullptr, batch, seq});
    m_.logits(rows, out);
}

void Denoiser::logits_kv(const int32_t*, int64_t, int64_t, std::span<const int64_t>, float*) {
    fail("this denoiser has no key/value cache: use {} none", SettingName{"cache"});
}

void Denoiser::logits_span(const int32_t*, int64_t, int64_t, int64_t, int64_t, std::span<const int64_t>, float*) {
    fail("this denoiser has no key/value cache: use {} none", SettingName{"cache"});
}

void ModelDenoiser::logits_kv(const int32_t* ids, int64_t batch, int64_t seq, std::span<const int64_t> rows,
                              float* out) {
    m_.forward_kv(kv_, {ids, nullptr, nullptr, batch, seq});
    m_.logits(rows, out);
}

void ModelDenoiser::logits_span(const int32_t* ids, int64_t batch, int64_t seq, int64_t q0, int64_t q1,
                                std::span<const int64_t> rows, float* out) {
    DLM_ASSERT(kv_.batch == batch && kv_.seq == seq);
    m_.forward_span(kv_, ids, q0, q1);
    span_rows_.resize(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
        const int64_t b = rows[i] / seq, t = rows[i] % seq;
        DLM_ASSERT(t >= q0 && t < q1);
        span_rows_[i] = b * (q1 - q0) + (t - q0);
    }
    m_.logits(span_rows_, out);
}

namespace {

// The names of an option's values, in the order of the enum's values.
constexpr std::array<const char*, 3> kSamplerNames = {"remask", "confidence", "lowconf"};
constexpr std::array<const char*, 3> kCacheNames = {"none", "prefix", "dual"};
constexpr std::array<const char*, 3> kCommitNames = {"threshold", "factor", "entropy"};

template <typename E, size_t N>
E enum_parse(const std::string& name, const std::array<const char*, N>& names, const char* what) {
    for (size_t i = 0; i < N; ++i)
        if (name == names[i]) return static_cast<E>(i);
    fail("unknown {} '{}' ({})", what, name, fmt::join(names, ", "));
}

template <typename E, size_t N>
const char* enum_name(E e, const std::array<const char*, N>& names) {
    const auto i = static_cast<size_t>(e);
    return i < N ? names[i] : "?";
}

}  // namespace

CommitRule commit_parse(const std::string& name) { return enum_parse<CommitRule>(name, kCommitNames, "commit rule"); }
const char* commit_name(CommitRule r) { return enum_name(r, kCommitNames); }
CacheMode cache_parse(const std::string& name) { return enum_parse<CacheMode>(name, kCacheNames, "cache"); }
const char* cache_name(CacheMode c) { return enum_name(c, kCacheNames); }
SamplerKind sampler_parse(const std::string& name) { return enum_parse<SamplerKind>(name, kSamplerNames, "sampler"); }
const char* sampler_name(SamplerKind k) { return enum_name(k, kSamplerNames); }

DiffusionOptions diffusion_options_default(SamplerKind k) {
    DiffusionOptions d;
    d.sampler = k;
    const bool recipe = k == SamplerKind::remask;
    d.steps = recipe ? 10 : k == SamplerKind::lowconf ? 64 : 0;
    d.sampling.temperature = recipe ? 1.0f : 0.8f;
    d.sampling.top_k = recipe ? 50 : 0;
    d.sampling.top_p = recipe ? 0.95f : 1.0f;
    return d;
}

std::vector<int64_t> tokens_per_step(int64_t n, int64_t steps) {
    std::vector<int64_t> k(static_cast<size_t>(steps), n / steps);
    for (int64_t s = 0; s < n % steps; ++s) ++k[s];
    return k;
}

double remask_rate(int64_t s, int64_t steps) { return 1.0 - static_cast<double>(s + 1) / static_cast<double>(steps); }

namespace {

using clock_type = std::chrono::steady_clock;

// State shared by the samplers while they work on one block.
struct block_run {
    Denoiser& model;
    const DiffusionOptions& opt;
    const step_callback& on_step;
    std::vector<std::vector<int32_t>>& seqs;  // [B][L]
    std::vector<Rng>& rngs;
    GenerationStats& stats;
    clock_type::time_point t0;
    int64_t w0 = 0, w1 = 0;                   // the window [w0, w1)
    bool block_first = true;                  // the next pass is this block's first (the cache's refresh)
    std::vector<int64_t> positions;           // this block's positions to fill
    std::vector<int64_t> step_of;             // per sample: steps taken so far (all blocks)
    std::vector<int32_t> canvas;
    // [rows, V], sized once for the largest step (the whole batch at every position of
    // the block) and never zero-filled: every row read is written first. A vector
    // resized per step re-faults and memsets up to B * block * V floats each time; these
    // pages come zeroed from the kernel, in huge pages (core/zero_pages.h).
    HugePageVector<float> logits;

    int64_t wlen() const { return w1 - w0; }

    // Room for `floats` logits; the caller asks for the block's largest step up front,
    // so steps never regrow it.
    void logits_reserve(size_t floats) {
        if (floats <= logits.size()) return;
        logits = {};  // no copy of the old rows
        logits.resize(floats);
    }

    // Logits at rows[i] = (sample, position) for the given samples, compacted into a
    // batch of just those samples. Returns a pointer to row i's logits.
    // With a cache every pass runs the whole batch (the cache holds every sample's keys
    // and values); the rows are still only the given samples'.
    const float* forward(const std::vector<int64_t>& samples, const std::vector<std::vector<int64_t>>& pos) {
        const int64_t W = wlen(), V = model.vocab_size();
        const bool cached = opt.cache != CacheMode::none;
        const int64_t nb = cached ? static_cast<int64_t>(seqs.size()) : static_cast<int64_t>(samples.size());
        canvas.resize(static_cast<size_t>(nb * W));
        for (int64_t i = 0; i < nb; ++i) {
            const auto& sq = seqs[cached ? i : samples[i]];
            std::copy(sq.begin() + w0, sq.begin() + w1, canvas.begin() + i * W);
        }
        std::vector<int64_t> rows;
        for (size_t i = 0; i < samples.size(); ++i)
            for (int64_t p : pos[i]) rows.push_back((cached ? samples[i] : static_cast<int64_t>(i)) * W + (p - w0));
        logits_reserve(rows.size() * static_cast<size_t>(V));
        if (!cached) {
            model.logits(canvas.data(), nb, W, rows, logits.data());
        } else if (block_first) {
            model.logits_kv(canvas.data(), nb, W, rows, logits.data());
            block_first = false;
        } else {
            const int64_t q0 = positions.front() - w0;
            const int64_t q1 = opt.cache == CacheMode::dual ? positions.back() + 1 - w0 : W;
            model.logits_span(canvas.data(), nb, W, q0, q1, rows, logits.data());
        }
        ++stats.forward_passes;
        // The <mask> token is never a prediction: a sampled mask would undo the step.
        if (opt.mask_id < V)
            for (size_t i = 0; i < rows.size(); ++i) logits[i * V + opt.mask_id] = -INFINITY;
        return logits.data();
    }

    void report(int64_t b, const std::vector<int64_t>& committed, const std::vector<int64_t>& changed) {
        GenerationStep ev;
        ev.sample = b;
        ev.step = step_of[b]++;
        ev.tokens = seqs[b];
        ev.committed = committed;
        ev.changed = changed;
        ev.mask_id = opt.mask_id;
        ev.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
        ev.forward_passes = stats.forward_passes;
        if (on_step) on_step(ev);
    }

    std::vector<int64_t> masked_of(int64_t b) const {
        std::vector<int64_t> m;
        for (int64_t p : positions)
            if (seqs[b][p] == opt.mask_id) m.push_back(p);
        return m;
    }
};

// The original recipe: every step samples the whole block, then re-masks a random
// fraction of it. Which positions go back to <mask> does not depend on the tokens, so
// it is drawn first and only the positions that keep their token are predicted: the
// LM head runs on (s + 1) / steps of the block at step s (5.5 of 10 blocks' worth over
// 10 steps), with the tokens and the random streams of sampling everything.
void sample_remask(block_run& r) {
    const int64_t B = static_cast<int64_t>(r.seqs.size()), S = r.opt.steps, V = r.model.vocab_size();
    const int64_t n = static_cast<int64_t>(r.positions.size());
    std::vector<int64_t> all(static_cast<size_t>(B));
    std::iota(all.begin(), all.end(), 0);
    std::vector<std::vector<int64_t>> keep(static_cast<size_t>(B)), again(static_cast<size_t>(B));
    std::vector<uint64_t> step_seed(static_cast<size_t>(B));
    std::vector<char> remasked(static_cast<size_t>(n));
    std::vector<int64_t> order(static_cast<size_t>(n));
    for (int64_t s = 0; s < S; ++s) {
        const int64_t remask = static_cast<int64_t>(std::llround(remask_rate(s, S) * n));
        int64_t rows = 0;
        for (int64_t b = 0; b < B; ++b) {
            step_seed[b] = r.rngs[b].next();
            // The positions to re-mask: a random `remask` of the block (partial Fisher-Yates
            // over indices into it).
            std::iota(order.begin(), order.end(), 0);
            std::fill(remasked.begin(), remasked.end(), 0);
            for (int64_t i = 0; i < remask; ++i) {
                std::swap(order[i], order[i + static_cast<int64_t>(r.rngs[b].below(static_cast<uint64_t>(n - i)))]);
                remasked[order[i]] = 1;
            }
            keep[b].clear();
            again[b].clear();
            for (int64_t i = 0; i < n; ++i) (remasked[i] ? again[b] : keep[b]).push_back(r.positions[i]);
            rows += static_cast<int64_t>(keep[b].size());
        }
        const float* lg = rows > 0 ? r.forward(all, keep) : nullptr;
        for (int64_t b = 0; b < B; ++b) {
            const std::vector<int64_t> was_masked = r.masked_of(b);
            const auto& k = keep[b];
            const int64_t nk = static_cast<int64_t>(k.size());
            // Rows in parallel; each position has its own stream, so the result does not
            // depend on the thread count.
#pragma omp parallel for schedule(dynamic, 8)
            for (int64_t j = 0; j < nk; ++j) {
                thread_local SamplingScratch scratch;
                Rng rng = Rng::derive(step_seed[b], static_cast<uint64_t>(k[j]));
                r.seqs[b][k[j]] = token_sample(lg + j * V, V, r.opt.sampling, rng, scratch).id;
            }
            if (nk > 0) lg += nk * V;
            for (int64_t p : again[b]) r.seqs[b][p] = r.opt.mask_id;
            std::vector<int64_t> committed;
            for (int64_t p : was_masked)
                if (r.seqs[b][p] != r.opt.mask_id) committed.push_back(p);
            r.report(b, committed, r.positions);
        }
    }
}

// The candidates of a step's masked positions m (their logits rows from lg): lowconf
// ranks by the drawn token's probability, so it draws everywhere; confidence ranks by
// the largest probability, which needs no draw, and draws later only at the positions
// it commits (each position has its own stream, so they get the tokens a draw
// everywhere would give them). entropy, when sized: each position's entropy.
void candidates_rank(const DiffusionOptions& opt, const float* lg, int64_t V, const std::vector<int64_t>& m,
                     uint64_t step_seed, std::vector<TokenChoice>& ch, std::vector<float>& entropy) {
    const bool lowconf = opt.sampler == SamplerKind::lowconf;
    const int64_t n = static_cast<int64_t>(m.size());
#pragma omp parallel for schedule(dynamic, 8)
    for (int64_t j = 0; j < n; ++j) {
        thread_local SamplingScratch scratch;
        const float* row = lg + V * j;
        if (lowconf) {
            Rng rng = Rng::derive(step_seed, static_cast<uint64_t>(m[j]));
            ch[j] = token_gumbel(row, V, opt.sampling.temperature, rng, scratch);
        } else {
            ch[j].top_prob = token_top_prob(row, V, opt.sampling, scratch);
            if (!entropy.empty()) entropy[j] = token_entropy(row, V, opt.sampling.temperature);
        }
    }
}

// confidence: how many of the masked positions (order: most confident first) step s
// commits by the commit rule; at least one, and enough to finish within the step cap.
int64_t confidence_commit_count(const DiffusionOptions& opt, const std::vector<TokenChoice>& ch,
                                const std::vector<float>& entropy, const std::vector<int64_t>& order, int64_t s) {
    const int64_t n = static_cast<int64_t>(ch.size()), S = opt.steps;
    int64_t k = 0;
    if (opt.commit == CommitRule::threshold) {
        for (int64_t j = 0; j < n; ++j) k += ch[j].top_prob >= opt.threshold;
    } else if (opt.commit == CommitRule::factor) {
        // (n + 1)(1 - c_n) grows with n (c_n falls): the rule holds for a prefix.
        while (k < n && static_cast<double>(k + 2) * (1.0 - ch[order[k]].top_prob) < opt.factor) ++k;
    } else {
        double sum = 0;
        while (k < n && (sum += entropy[order[k]]) <= opt.entropy_bound) ++k;
    }
    k = std::max<int64_t>(k, 1);
    if (S > 0) k = std::max(k, S - s > 0 ? (n + (S - s) - 1) / (S - s) : n);
    return k;
}

// confidence and lowconf: committed tokens stay; each step commits some masked positions.
void sample_committing(block_run& r) {
    const int64_t B = static_cast<int64_t>(r.seqs.size()), V = r.model.vocab_size(), S = r.opt.steps;
    const bool lowconf = r.opt.sampler == SamplerKind::lowconf;
    std::vector<std::vector<int64_t>> plan;  // lowconf: tokens to commit per step, per sample
    if (lowconf) plan.assign(static_cast<size_t>(B), tokens_per_step(static_cast<int64_t>(r.positions.size()), S));
    for (int64_t s = 0;; ++s) {
        std::vector<int64_t> active;
        std::vector<std::vector<int64_t>> pos;
        for (int64_t b = 0; b < B; ++b) {
            auto m = r.masked_of(b);
            if (m.empty()) continue;
            if (lowconf && (s >= S || plan[b][s] == 0)) continue;
            active.push_back(b);
            pos.push_back(std::move(m));
        }
        if (active.empty()) {
            bool any = false;
            for (int64_t b = 0; b < B; ++b) any |= !r.masked_of(b).empty();
            if (!any || !lowconf || s >= S) break;
            continue;  // lowconf: a step with nothing to commit needs no forward pass
        }
        const float* lg = r.forward(active, pos);
        for (size_t i = 0; i < active.size(); ++i) {
            const int64_t b = active[i];
            const auto& m = pos[i];
            const int64_t n = static_cast<int64_t>(m.size());
            std::vector<TokenChoice> ch(static_cast<size_t>(n));
            std::vector<float> entropy(r.opt.commit == CommitRule::entropy && !lowconf ? static_cast<size_t>(n) : 0);
            const uint64_t step_seed = r.rngs[b].next();
            candidates_rank(r.opt, lg, V, m, step_seed, ch, entropy);
            std::vector<int64_t> order(static_cast<size_t>(n));
            std::iota(order.begin(), order.end(), 0);
            auto conf = [&](int64_t j) { return lowconf ? ch[j].prob : ch[j].top_prob; };
            std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t c) { return conf(a) > conf(c); });
            const int64_t k = std::min(lowconf ? plan[b][s] : confidence_commit_count(r.opt, ch, entropy, order, s), n);
            if (!lowconf) {
#pragma omp parallel for schedule(dynamic, 1)
                for (int64_t i = 0; i < k; ++i) {
                    thread_local SamplingScratch scratch;
                    const int64_t j = order[i];
                    Rng rng = Rng::derive(step_seed, static_cast<uint64_t>(m[j]));
                    ch[j] = token_sample(lg + V * j, V, r.opt.sampling, rng, scratch);
                }
            }
            lg += n * V;
            std::vector<int64_t> committed;
            for (int64_t j = 0; j < k; ++j) {
                r.seqs[b][m[order[j]]] = ch[order[j]].id;
                committed.push_back(m[order[j]]);
            }
            std::sort(committed.begin(), committed.end());
            r.report(b, committed, committed);
        }
    }
}

}  // namespace

DiffusionResult diffusion_generate(Denoiser& model, const std::vector<int32_t>& start, const DiffusionOptions& opt,
                                   const step_callback& on_step) {
    if (opt.batch < 1) fail("{} must be at least 1", SettingName{"batch"});
    return diffusion_generate(model, std::vector<std::vector<int32_t>>(static_cast<size_t>(opt.batch), start), opt, on_step);
}

DiffusionResult diffusion_generate(Denoiser& model, const std::vector<std::vector<int32_t>>& starts,
                                   const DiffusionOptions& opt, const step_callback& on_step) {
    if (starts.empty()) fail("nothing to generate: no start sequence");
    const std::vector<int32_t>& start = starts[0];
    if (opt.mask_id < 0) fail("this model's tokenizer has no <mask> token: it cannot do diffusion generation");
    if (opt.sampler != SamplerKind::confidence && opt.steps < 1)
        fail("{} must be at least 1 for the {} sampler (got {})", SettingName{"steps"}, sampler_name(opt.sampler),
             opt.steps);
    if (opt.sampler == SamplerKind::confidence && opt.steps < 0) fail("{} must not be negative", SettingName{"steps"});
    if (opt.window < 1) fail("the window must hold at least one token");
    const int64_t L = static_cast<int64_t>(start.size());
    std::vector<int64_t> fill;
    for (int64_t p = 0; p < L; ++p)
        if (start[p] == opt.mask_id) fill.push_back(p);
    if (fill.empty()) fail("nothing to generate: the sequence has no <mask> position");
    if (fill.size() == start.size()) fail("nothing to condition on: give a prompt");
    for (size_t i = 1; i < starts.size(); ++i) {
        if (starts[i].size() != start.size())
            fail("start {} has {} tokens, start 0 has {}: a batch needs equal lengths", i, starts[i].size(), start.size());
        for (int64_t p = 0; p < L; ++p)
            if ((starts[i][p] == opt.mask_id) != (start[p] == opt.mask_id))
                fail("start {} has its <mask> positions elsewhere than start 0: a batch needs them at the same places", i);
    }
    const int64_t B = static_cast<int64_t>(starts.size());
    const int64_t blk = opt.block > 0 ? opt.block : static_cast<int64_t>(fill.size());
    if (L > opt.window && opt.block <= 0)
        fail("the sequence ({} tokens) is longer than the model's window ({}): use {} to generate block by block",
             L, opt.window, SettingName{"block"});

    DiffusionResult res;
    std::vector<std::vector<int32_t>> seqs = starts;
    std::vector<Rng> rngs;
    for (int64_t b = 0; b < B; ++b) rngs.push_back(Rng::derive(opt.seed, static_cast<uint64_t>(opt.first_stream + b)));
    block_run run{model, opt, on_step, seqs, rngs, res.stats, clock_type::now(), 0, 0, true, {}, {}, {}, {}};
    run.step_of.assign(static_cast<size_t>(B), 0);

    for (size_t i0 = 0; i0 < fill.size(); i0 += static_cast<size_t>(blk)) {
        run.positions.assign(fill.begin() + i0, fill.begin() + std::min(fill.size(), i0 + static_cast<size_t>(blk)));
        run.logits_reserve(static_cast<size_t>(B) * run.positions.size() * static_cast<size_t>(model.vocab_size()));
        const int64_t last = run.positions.back();
        if (L <= opt.window) {
            run.w0 = 0;
            run.w1 = L;
        } else {
            run.w1 = std::min(L, std::max(opt.window, last + 1));
            run.w0 = run.w1 - opt.window;
        }
        if (run.positions.front() < run.w0)
            fail("block of {} positions spans more than the window of {} tokens: use a smaller {}", run.positions.size(),
                 opt.window, SettingName{"block"});
        const int64_t steps_before = res.stats.forward_passes;
        run.block_first = true;
        if (opt.sampler == SamplerKind::remask) sample_remask(run);
        else sample_committing(run);
        res.stats.steps += res.stats.forward_passes - steps_before;
    }
    res.stats.seconds = std::chrono::duration<double>(clock_type::now() - run.t0).count();
    res.stats.new_tokens = static_cast<int64_t>(fill.size()) * B;
    res.tokens = std::move(seqs);
    return res;
}

}  // namespace dlm
