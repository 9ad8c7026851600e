#include "server/step_batcher.h"

#include <omp.h>

#include <cstring>
#include <map>
#include <tuple>

#include "core/error.h"

namespace dlm {

namespace {

// A request's view of the batcher: each call waits for the batch it joins.
class batched_denoiser final : public Denoiser {
public:
    batched_denoiser(StepBatcher& b, Model& m) : b_(b), vocab_(m.config().vocab_size) { b_.running_add(1); }
    ~batched_denoiser() override { b_.running_add(-1); }
    int64_t vocab_size() const override { return vocab_; }
    void logits(const int32_t* ids, int64_t batch, int64_t seq, std::span<const int64_t> rows, float* out) override {
        submit(StepBatcher::Call::plain, ids, batch, seq, 0, 0, rows, out);
    }
    void logits_kv(const int32_t* ids, int64_t batch, int64_t seq, std::span<const int64_t> rows,
                   float* out) override {
        submit(StepBatcher::Call::fill_cache, ids, batch, seq, 0, 0, rows, out);
    }
    void logits_span(const int32_t* ids, int64_t batch, int64_t seq, int64_t q0, int64_t q1,
                     std::span<const int64_t> rows, float* out) override {
        if (kv_.batch != batch || kv_.seq != seq) fail("logits_span: no cache for this canvas (call logits_kv first)");
        submit(StepBatcher::Call::span, ids, batch, seq, q0, q1, rows, out);
    }

private:
    void submit(StepBatcher::Call::Kind kind, const int32_t* ids, int64_t batch, int64_t seq, int64_t q0, int64_t q1,
                std::span<const int64_t> rows, float* out) {
        StepBatcher::Call c;
        c.kind = kind;
        c.ids = ids;
        c.batch = batch;
        c.seq = seq;
        c.q0 = q0;
        c.q1 = q1;
        c.rows = rows;
        c.out = out;
        c.kv = &kv_;
        b_.call_run(c);
    }
    StepBatcher& b_;
    int64_t vocab_;
    EncoderKv kv_;
};

// A causal LM request's view of the batcher.
class batched_decoder final : public CausalDecoder {
public:
    batched_decoder(StepBatcher& b, Model& m) : b_(b), m_(m) { b_.running_add(1); }
    ~batched_decoder() override { b_.running_add(-1); }
    const ModelConfig& config() const override { return m_.config(); }
    void cache_init(KvCache& cache, int64_t batch, int64_t capacity) override { m_.kv_cache_init(cache, batch, capacity); }
    void step(KvCache& cache, const int32_t* ids, const int32_t* mask, int64_t T, std::span<const int64_t> rows,
              float* out) override {
        StepBatcher::Call c;
        c.kind = T == 1 ? StepBatcher::Call::decode : StepBatcher::Call::prompt;
        c.ids = ids;
        c.mask = mask;
        c.batch = cache.batch;
        c.seq = T;
        c.rows = rows;
        c.out = out;
        c.cache = &cache;
        b_.call_run(c);
    }

private:
    StepBatcher& b_;
    Model& m_;
};

}  // namespace

std::unique_ptr<CausalDecoder> StepBatcher::decoder() { return std::make_unique<batched_decoder>(*this, model_); }

StepBatcher::StepBatcher(Model& model, std::chrono::microseconds window)
    : model_(model), window_(window), threads_(omp_get_max_threads()), thread_([this] { loop(); }) {}

StepBatcher::~StepBatcher() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

std::unique_ptr<Denoiser> StepBatcher::denoiser() { return std::make_unique<batched_denoiser>(*this, model_); }

StepBatcher::Stats StepBatcher::stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
}

void StepBatcher::running_add(int delta) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        running_ += delta;
        DLM_ASSERT(running_ >= 0);
    }
    wake_.notify_all();  // one fewer to wait for
}

void StepBatcher::call_run(Call& c) {
    std::unique_lock<std::mutex> lock(mu_);
    if (stop_) fail("the server is stopping");
    pending_.push_back(&c);
    wake_.notify_all();
    finished_.wait(lock, [&] { return c.done; });
    if (c.error) std::rethrow_exception(c.error);
}

void StepBatcher::loop() {
    omp_set_num_threads(threads_);  // the creator's thread count, for this thread's passes
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
        wake_.wait(lock, [this] { return stop_ || !pending_.empty(); });
        if (pending_.empty()) return;  // stopping
        // Let the other running requests join (they may be sampling their last step).
        wake_.wait_for(lock, window_, [this] { return stop_ || static_cast<int>(pending_.size()) >= running_; });
        std::vector<Call*> calls;
        calls.swap(pending_);
        lock.unlock();
        // Same step shape, one batch.
        std::map<std::tuple<int, int64_t, int64_t, int64_t>, std::vector<Call*>> groups;
        for (Call* c : calls)  // a prompt runs alone (its own length, its own padding)
            groups[{c->kind, c->seq, c->kind == Call::prompt ? prompts_++ : c->q0, c->q1}].push_back(c);
        int64_t passes = 0, sequences = 0;
        for (auto& [key, group] : groups) {
            try {
                group_run(group);
            } catch (...) {
                for (Call* c : group) c->error = std::current_exception();
            }
            ++passes;
            for (Call* c : group) sequences += c->batch;
        }
        lock.lock();
        stats_.forward_passes += passes;
        stats_.sequences += sequences;
        stats_.calls += static_cast<int64_t>(calls.size());
        for (Call* c : calls) c->done = true;
        finished_.notify_all();
    }
}

void StepBatcher::group_run(const std::vector<Call*>& group) {
    const Call& first = *group.front();
    if (first.kind == Call::prompt || first.kind == Call::decode) return decode_run(group);
    const int64_t T = first.seq, S = first.q1 - first.q0;
    int64_t B = 0;
    for (const Call* c : group) B += c->batch;
    ids_.resize(static_cast<size_t>(B * T));
    int64_t at = 0;
    for (const Call* c : group) {
        std::memcpy(ids_.data() + at * T, c->ids, static_cast<size_t>(c->batch * T) * sizeof(int32_t));
        at += c->batch;
    }
    switch (first.kind) {
        case Call::plain: model_.forward({ids_.data(), nullptr, nullptr, B, T}); break;
        case Call::fill_cache:
            model_.forward_kv(kv_, {ids_.data(), nullptr, nullptr, B, T});
            kv_move(group, false);
            break;
        case Call::span:
            kv_move(group, true);
            model_.forward_span(kv_, ids_.data(), first.q0, first.q1);
            kv_move(group, false);
            break;
    }
    // The head per request, on its rows (in the batch's numbering) into its buffer.
    int64_t b0 = 0;
    for (const Call* c : group) {
        rows_.resize(c->rows.size());
        for (size_t i = 0; i < c->rows.size(); ++i) {
            const int64_t b = c->rows[i] / T, t = c->rows[i] % T;
            DLM_ASSERT(b < c->batch);
            if (first.kind == Call::span) {
                DLM_ASSERT(t >= first.q0 && t < first.q1);
                rows_[i] = (b0 + b) * S + (t - first.q0);
            } else {
                rows_[i] = (b0 + b) * T + t;
            }
        }
        model_.logits(rows_, c->out);
        b0 += c->batch;
    }
}

// Causal LM steps: a prompt alone; decoding steps stacked, each request's cache its own.
void StepBatcher::decode_run(const std::vector<Call*>& group) {
    const Call& first = *group.front();
    if (first.kind == Call::prompt) {
        DLM_ASSERT(group.size() == 1);
        model_.forward_cached(*first.cache, first.ids, first.mask, first.seq);
        model_.logits(first.rows, first.out);
        return;
    }
    ids_.clear();
    mask_.clear();
    caches_.clear();
    for (const Call* c : group) {
        ids_.insert(ids_.end(), c->ids, c->ids + c->batch);
        if (c->mask) mask_.insert(mask_.end(), c->mask, c->mask + c->batch);
        else mask_.insert(mask_.end(), static_cast<size_t>(c->batch), 1);
        caches_.push_back(c->cache);
    }
    model_.forward_cached_multi(caches_, ids_.data(), mask_.data());
    int64_t r0 = 0;
    for (const Call* c : group) {
        rows_.assign(c->rows.begin(), c->rows.end());
        for (int64_t& r : rows_) r += r0;  // rows b of a one-token step, after the requests before it
        model_.logits(rows_, c->out);
        r0 += c->batch;
    }
}

// Caches are [L, B, T, 2C]: a request's batch rows of layer l sit at rows b0.. of the
// batch's layer l. into_batch: every request's cache into kv_ (sized for the group);
// else kv_ back into each request's (sized for its rows).
void StepBatcher::kv_move(const std::vector<Call*>& group, bool into_batch) {
    const int64_t L = model_.config().num_layers, C2 = 2 * model_.config().hidden_size, T = group.front()->seq;
    int64_t B = 0;
    for (const Call* c : group) B += c->batch;
    if (into_batch) {
        kv_.batch = B;
        kv_.seq = T;
        kv_.kv.resize(static_cast<size_t>(L * B * T * C2));
    }
    for (Call* c : group) {
        if (into_batch) {
            DLM_ASSERT(c->kv->batch == c->batch && c->kv->seq == T);
        } else {
            c->kv->batch = c->batch;
            c->kv->seq = T;
            c->kv->kv.resize(static_cast<size_t>(L * c->batch * T * C2));
        }
    }
    DLM_ASSERT(kv_.batch == B && kv_.seq == T);
    for (int64_t l = 0, b0 = 0; l < L; ++l, b0 = 0)
        for (const Call* c : group) {
            float* in_batch = kv_.kv.data() + (l * B + b0) * T * C2;
            float* own = c->kv->kv.data() + l * c->batch * T * C2;
            const size_t bytes = static_cast<size_t>(c->batch * T * C2) * sizeof(float);
            std::memcpy(into_batch ? in_batch : own, into_batch ? own : in_batch, bytes);
            b0 += c->batch;
        }
}

}  // namespace dlm
