#include "eval/likelihood.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/rng.h"
#include "kernels/cross_entropy.h"
#include "models/lm_head.h"

namespace dlm {

namespace {

// Streams of random numbers: one per (purpose, block, rate or sample), so results do
// not depend on the batch size or on which other rates are evaluated.
constexpr uint64_t kStreamRate = 0x7261746500000000ull;   // "rate"
constexpr uint64_t kStreamBound = 0x626f756e00000000ull;  // "boun"

bool id_special(const EvalVocab& v, int32_t id) {
    return id >= 0 && static_cast<size_t>(id) < v.special.size() && v.special[id];
}

int64_t id_bytes(const EvalVocab& v, int32_t id) {
    return id >= 0 && static_cast<size_t>(id) < v.bytes.size() ? v.bytes[id] : 0;
}

void blocks_check(const Model& model, const EvalBlocks& blocks, const LikelihoodOptions& o) {
    const ModelConfig& c = model.config();
    if (blocks.blocks <= 0) fail("no block to evaluate");
    if (blocks.block_size > c.max_sequence())
        fail("blocks of {} tokens are longer than the model's window of {} tokens: use a smaller block size",
             blocks.block_size, c.max_sequence());
    if (o.prefix < 0 || o.prefix >= blocks.block_size)
        fail("the prefix ({} tokens) must be shorter than the block ({} tokens)", o.prefix, blocks.block_size);
    if (o.batch < 1) fail("the batch must hold at least one sequence");
}

void masked_model_check(const Model& model, const EvalVocab& vocab) {
    if (model.config().is_causal())
        fail("{} is a causal LM: mask-rate losses and the diffusion bound need a masked LM", model.config().architecture);
    if (vocab.mask_id < 0) fail("the tokenizer has no <mask> token: this is not a masked-LM (diffusion) model");
    if (vocab.mask_id >= model.config().vocab_size)
        fail("the <mask> id {} is outside the model's vocabulary of {}", vocab.mask_id, model.config().vocab_size);
}

// Eligible positions of one block: >= prefix and not special.
std::vector<int64_t> eligible_positions(const int32_t* block, int64_t T, int64_t prefix, const EvalVocab& v) {
    std::vector<int64_t> pos;
    for (int64_t t = prefix; t < T; ++t)
        if (!id_special(v, block[t])) pos.push_back(t);
    return pos;
}

// One masked copy of a block: which positions are masked.
struct MaskJob {
    int64_t block = 0;
    std::vector<int64_t> masked;
};

struct MaskJobScore {
    double ce_sum = 0;
    int64_t correct = 0;
};

// Runs jobs 0..n-1 (made by make_job) in batches of o.batch sequences: each block is
// copied with <mask> at the job's positions and scored at those positions only.
// Jobs that mask nothing need no forward pass.
void mask_jobs_run(Model& model, const EvalBlocks& blocks, const EvalVocab& vocab, const LikelihoodOptions& o, int64_t n,
                   const std::function<MaskJob(int64_t j)>& make_job,
                   const std::function<void(int64_t j, const MaskJob& job, const MaskJobScore& s)>& done) {
    const int64_t T = blocks.block_size;
    std::vector<int32_t> ids;
    std::vector<int64_t> rows;
    std::vector<int32_t> targets;
    std::vector<double> ce;
    std::vector<uint8_t> correct;
    std::vector<MaskJob> jobs;
    std::vector<int64_t> job_index;
    for (int64_t j0 = 0; j0 < n; j0 += o.batch) {
        const int64_t j1 = std::min(n, j0 + o.batch);
        jobs.clear();
        job_index.clear();
        for (int64_t j = j0; j < j1; ++j) {
            MaskJob job = make_job(j);
            if (job.masked.empty()) {
                done(j, job, {});
                continue;
            }
            jobs.push_back(std::move(job));
            job_index.push_back(j);
        }
        if (!jobs.empty()) {
            const int64_t B = static_cast<int64_t>(jobs.size());
            ids.resize(static_cast<size_t>(B * T));
            rows.clear();
            targets.clear();
            for (int64_t b = 0; b < B; ++b) {
                const int32_t* src = blocks.ids + jobs[b].block * T;
                std::copy(src, src + T, ids.begin() + b * T);
                for (int64_t t : jobs[b].masked) {
                    ids[b * T + t] = vocab.mask_id;
                    rows.push_back(b * T + t);
                    targets.push_back(src[t]);
                }
            }
            ce.resize(rows.size());
            correct.resize(rows.size());
            model_rows_score(model, ForwardInput{ids.data(), nullptr, nullptr, B, T}, rows, targets, ce.data(),
                             correct.data());
            size_t r = 0;
            for (int64_t b = 0; b < B; ++b) {
                MaskJobScore s;
                for (size_t i = 0; i < jobs[b].masked.size(); ++i, ++r) {
                    s.ce_sum += ce[r];
                    s.correct += correct[r];
                }
                done(job_index[b], jobs[b], s);
            }
        }
        if (o.progress) o.progress(j1, n);
    }
}

}  // namespace

EvalVocab eval_vocab_make(const Tokenizer& tok) {
    EvalVocab v;
    v.mask_id = tok.mask_id();
    const int32_t V = tok.vocab_size();
    v.special.assign(static_cast<size_t>(V), false);
    v.bytes.assign(static_cast<size_t>(V), 0);
    for (int32_t id = 0; id < V; ++id) {
        v.special[id] = tok.is_special(id);
        if (!v.special[id]) v.bytes[id] = static_cast<int32_t>(tok.token_text(id).size());
    }
    return v;
}

BoundEstimator bound_estimator_parse(const std::string& name) {
    if (name == "t" || name == "time") return BoundEstimator::time;
    if (name == "count" || name == "mask_count") return BoundEstimator::mask_count;
    fail("bound estimator '{}' is not known (t, count)", name);
}

const char* bound_estimator_name(BoundEstimator e) { return e == BoundEstimator::time ? "t" : "count"; }

void model_rows_score(Model& model, const ForwardInput& in, std::span<const int64_t> rows,
                      std::span<const int32_t> targets, double* ce, uint8_t* correct) {
    DLM_ASSERT(rows.size() == targets.size());
    const int64_t V = model.config().vocab_size, n = static_cast<int64_t>(rows.size());
    for (int64_t i = 0; i < n; ++i)
        if (targets[i] < 0 || targets[i] >= V) fail("token id {} is outside the model's vocabulary of {}", targets[i], V);
    model.forward(in);
    if (n == 0) return;
    // Chunks of 128 rows (a multiple of kHeadRowQuantum, so the head writes straight into
    // our buffer): [128, 50265] logits are 26 MB, kept between calls, where a fresh
    // [512, V] buffer per call cost more in page faults than the head itself.
    constexpr int64_t chunk = 128;
    static_assert(chunk % kHeadRowQuantum == 0);
    static thread_local std::vector<float> logits, row_ce;
    logits.resize(std::max(logits.size(), static_cast<size_t>(std::min(n, chunk) * V)));
    row_ce.resize(std::max(row_ce.size(), static_cast<size_t>(std::min(n, chunk))));
    for (int64_t r0 = 0; r0 < n; r0 += chunk) {
        const int64_t r1 = std::min(n, r0 + chunk);
        model.logits(rows.subspan(r0, r1 - r0), logits.data());
        cross_entropy_forward(row_ce.data(), logits.data(), targets.data() + r0, r1 - r0, V);
        for (int64_t r = r0; r < r1; ++r) {
            const float* x = logits.data() + (r - r0) * V;
            ce[r] = row_ce[r - r0];
            correct[r] = std::max_element(x, x + V) - x == targets[r];
        }
    }
}

NllSummary nll_summarize(const BlockNll& b) {
    NllSummary s;
    s.blocks = static_cast<int64_t>(b.nats.size());
    s.samples = b.samples;
    for (int64_t i = 0; i < s.blocks; ++i) {
        s.nats += b.nats[i];
        s.tokens += b.tokens[i];
        s.bytes += b.bytes[i];
    }
    const double n = static_cast<double>(s.blocks), nan = std::numeric_limits<double>::quiet_NaN();
    // Ratio estimator R = sum x / sum y and its delta-method standard error over blocks.
    auto ratio_se = [&](const std::vector<int64_t>& y, double total_y, double R) {
        if (s.blocks < 2 || total_y <= 0) return nan;
        double ss = 0;
        for (int64_t i = 0; i < s.blocks; ++i) {
            const double d = b.nats[i] - R * static_cast<double>(y[i]);
            ss += d * d;
        }
        return std::sqrt(ss / (n * (n - 1))) / (total_y / n);
    };
    if (s.tokens > 0) {
        s.nats_per_token = s.nats / static_cast<double>(s.tokens);
        s.se_nats_per_token = ratio_se(b.tokens, static_cast<double>(s.tokens), s.nats_per_token);
        s.perplexity = std::exp(s.nats_per_token);
        s.se_perplexity = s.perplexity * s.se_nats_per_token;
    }
    if (s.bytes > 0) {
        const double nats_per_byte = s.nats / static_cast<double>(s.bytes);
        s.bits_per_byte = nats_per_byte / std::log(2.0);
        s.se_bits_per_byte = ratio_se(b.bytes, static_cast<double>(s.bytes), nats_per_byte) / std::log(2.0);
    }
    return s;
}

std::vector<RateResult> masked_ce_by_rate(Model& model, const EvalBlocks& blocks, const EvalVocab& vocab,
                                          const LikelihoodOptions& o) {
    blocks_check(model, blocks, o);
    masked_model_check(model, vocab);
    const int64_t T = blocks.block_size, R = static_cast<int64_t>(o.rates.size()), n = blocks.blocks * R;
    for (double r : o.rates)
        if (!(r > 0 && r <= 1)) fail("mask rate {} is not in (0, 1]", r);
    std::vector<RateResult> out(static_cast<size_t>(R));
    for (int64_t k = 0; k < R; ++k) out[k].rate = o.rates[k];
    // Job j: rate j / blocks, block j % blocks (a rate's blocks share batches).
    auto make_job = [&](int64_t j) {
        const int64_t k = j / blocks.blocks, b = j % blocks.blocks;
        MaskJob job{b, {}};
        auto pos = eligible_positions(blocks.ids + b * T, T, o.prefix, vocab);
        out[k].eligible += static_cast<int64_t>(pos.size());
        // Keyed by the rate's value (in millionths), not its index in the list.
        const auto rate_key = static_cast<uint64_t>(std::llround(o.rates[k] * 1e6));
        Rng rng = Rng::derive(o.seed ^ kStreamRate, static_cast<uint64_t>(b), rate_key);
        for (int64_t t : pos)
            if (rng.uniform_double() < o.rates[k]) job.masked.push_back(t);
        return job;
    };
    mask_jobs_run(model, blocks, vocab, o, n, make_job, [&](int64_t j, const MaskJob& job, const MaskJobScore& s) {
        RateResult& r = out[j / blocks.blocks];
        r.masked += static_cast<int64_t>(job.masked.size());
        r.ce_sum += s.ce_sum;
        r.correct += s.correct;
    });
    return out;
}

BlockNll nelbo_bound(Model& model, const EvalBlocks& blocks, const EvalVocab& vocab, const LikelihoodOptions& o) {
    blocks_check(model, blocks, o);
    masked_model_check(model, vocab);
    if (o.samples < 1) fail("the bound needs at least one sample per block");
    const int64_t T = blocks.block_size, K = o.samples, n = blocks.blocks * K;
    BlockNll out;
    out.nats.assign(static_cast<size_t>(blocks.blocks), 0.0);
    out.tokens.assign(static_cast<size_t>(blocks.blocks), 0);
    out.bytes.assign(static_cast<size_t>(blocks.blocks), 0);
    out.samples = n;
    std::vector<double> weight(static_cast<size_t>(n), 0.0);  // the job's 1/t (or L/m), divided by K
    // Job j: block j / K, stratum j % K, with one u per block.
    std::vector<int64_t> pos;
    auto make_job = [&](int64_t j) {
        const int64_t b = j / K, k = j % K;
        const int32_t* block = blocks.ids + b * T;
        MaskJob job{b, {}};
        pos = eligible_positions(block, T, o.prefix, vocab);
        const int64_t L = static_cast<int64_t>(pos.size());
        if (k == 0) {
            out.tokens[b] = L;
            for (int64_t t : pos) out.bytes[b] += id_bytes(vocab, block[t]);
        }
        if (L == 0) return job;
        const double u = 1.0 - Rng::derive(o.seed ^ kStreamBound, static_cast<uint64_t>(b)).uniform_double();  // (0, 1]
        Rng rng = Rng::derive(o.seed ^ kStreamBound, static_cast<uint64_t>(b), static_cast<uint64_t>(k + 1));
        const double t = (static_cast<double>(k) + u) / static_cast<double>(K);  // stratum k: (k/K, (k+1)/K]
        if (o.estimator == BoundEstimator::time) {
            for (int64_t p : pos)
                if (rng.uniform_double() < t) job.masked.push_back(p);
            weight[j] = 1.0 / (t * static_cast<double>(K));
        } else {
            // m = ceil(L t) is uniform in 1..L when t is uniform in (0, 1], stratified with t.
            const int64_t m = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(static_cast<double>(L) * t)), 1, L);
            for (int64_t i = 0; i < m; ++i) std::swap(pos[i], pos[i + static_cast<int64_t>(rng.below(L - i))]);
            job.masked.assign(pos.begin(), pos.begin() + m);
            std::sort(job.masked.begin(), job.masked.end());
            weight[j] = static_cast<double>(L) / (static_cast<double>(m) * static_cast<double>(K));
        }
        return job;
    };
    mask_jobs_run(model, blocks, vocab, o, n, make_job, [&](int64_t j, const MaskJob& job, const MaskJobScore& s) {
        out.nats[job.block] += weight[j] * s.ce_sum;
    });
    return out;
}

BlockNll causal_nll(Model& model, const EvalBlocks& blocks, const EvalVocab& vocab, const LikelihoodOptions& o) {
    blocks_check(model, blocks, o);
    if (!model.config().is_causal())
        fail("{} is a masked LM: exact perplexity needs a causal LM such as GPT2LMHeadModel", model.config().architecture);
    if (o.prefix < 1) fail("a causal LM needs a prefix of at least 1 token: the first token of a block has no context");
    const int64_t T = blocks.block_size;
    BlockNll out;
    out.nats.assign(static_cast<size_t>(blocks.blocks), 0.0);
    out.tokens.assign(static_cast<size_t>(blocks.blocks), T - o.prefix);
    out.bytes.assign(static_cast<size_t>(blocks.blocks), 0);
    out.samples = blocks.blocks;
    std::vector<int64_t> rows;
    std::vector<int32_t> targets;
    std::vector<double> ce;
    std::vector<uint8_t> correct;
    for (int64_t b0 = 0; b0 < blocks.blocks; b0 += o.batch) {
        const int64_t B = std::min(o.batch, blocks.blocks - b0);
        const int32_t* ids = blocks.ids + b0 * T;
        rows.clear();
        targets.clear();
        // Row t predicts token t + 1 (HF GPT2LMHeadModel shifts labels the same way).
        for (int64_t b = 0; b < B; ++b)
            for (int64_t t = o.prefix - 1; t < T - 1; ++t) {
                rows.push_back(b * T + t);
                targets.push_back(ids[b * T + t + 1]);
                out.bytes[b0 + b] += id_bytes(vocab, ids[b * T + t + 1]);
            }
        ce.resize(rows.size());
        correct.resize(rows.size());
        model_rows_score(model, ForwardInput{ids, nullptr, nullptr, B, T}, rows, targets, ce.data(), correct.data());
        const int64_t per_block = T - o.prefix;
        for (int64_t b = 0; b < B; ++b)
            for (int64_t i = 0; i < per_block; ++i) out.nats[b0 + b] += ce[b * per_block + i];
        if (o.progress) o.progress(b0 + B, blocks.blocks);
    }
    return out;
}

}  // namespace dlm
