#include "server/step_batcher.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>

#include "core/cpu.h"
#include "core/error.h"

namespace dlm {

namespace {

// A request's view of the batcher: each call waits for the batch it joins.
class batched_denoiser final : public Denoiser {
public:
    batched_denoiser(StepBatcher& b, Model& m) : b_(b), m_(m) { b_.running_add(1); }
    ~batched_denoiser() override { b_.running_add(-1); }
    int64_t vocab_size() const override { return m_.config().vocab_size; }
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
        c.model = &m_;
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
    Model& m_;
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
        c.model = &m_;
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

std::unique_ptr<CausalDecoder> StepBatcher::decoder(Model& model) {
    return std::make_unique<batched_decoder>(*this, model);
}

StepBatcher::StepBatcher(int threads, std::chrono::microseconds window)
    : window_(window), threads_(threads > 0 ? threads : omp_get_num_procs()), thread_([this] { loop(); }) {}

StepBatcher::~StepBatcher() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

std::unique_ptr<Denoiser> StepBatcher::denoiser(Model& model) {
    return std::make_unique<batched_denoiser>(*this, model);
}

void StepBatcher::task_run(const std::function<void()>& f) {
    Call c;
    c.kind = Call::task;
    c.fn = &f;
    call_run(c);
}

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
    omp_set_num_threads(threads_);
    denormals_flush_enable();
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
        wake_.wait(lock, [this] { return stop_ || !pending_.empty(); });
        if (pending_.empty()) return;  // stopping
        // Let the other running requests join (they may be sampling their last step).
        wake_.wait_for(lock, window_, [this] { return stop_ || static_cast<int>(pending_.size()) >= running_; });
        std::vector<Call*> calls;
        calls.swap(pending_);
        lock.unlock();
        // Same model and step shape, one batch; a prompt runs alone (its own length, its
        // own padding), a task too.
        std::map<std::tuple<Model*, int, int64_t, int64_t, int64_t>, std::vector<Call*>> groups;
        for (Call* c : calls) {
            const bool alone = c->kind == Call::prompt || c->kind == Call::task;
            groups[{c->model, c->kind, c->seq, alone ? alone_++ : c->q0, c->q1}].push_back(c);
        }
        int64_t passes = 0, sequences = 0;
        for (auto& [key, group] : groups) {
            try {
                group_run(group);
            } catch (...) {
                for (Call* c : group) c->error = std::current_exception();
            }
            if (group.front()->kind == Call::task) continue;
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
    if (first.kind == Call::task) return (*first.fn)();
    if (first.kind == Call::prompt || first.kind == Call::decode) return decode_run(group);
    Model& model = *first.model;
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
        case Call::plain: model.forward({ids_.data(), nullptr, nullptr, B, T}); break;
        case Call::fill_cache:
            model.forward_kv(kv_, {ids_.data(), nullptr, nullptr, B, T});
            kv_move(group, false);
            break;
        case Call::span:
            kv_move(group, true);
            model.forward_span(kv_, ids_.data(), first.q0, first.q1);
            kv_move(group, false);
            break;
        case Call::prompt:
        case Call::decode:
        case Call::task: DLM_ASSERT(false);  // handled above
    }
    // The head on every request's rows at once.
    int64_t b0 = 0;
    rows_.clear();
    for (const Call* c : group) {
        for (const int64_t r : c->rows) {
            const int64_t b = r / T, t = r % T;
            DLM_ASSERT(b < c->batch);
            if (first.kind == Call::span) {
                DLM_ASSERT(t >= first.q0 && t < first.q1);
                rows_.push_back((b0 + b) * S + (t - first.q0));
            } else {
                rows_.push_back((b0 + b) * T + t);
            }
        }
        b0 += c->batch;
    }
    head_run(group);
}

// The head once for a group's rows_ (in the batch's numbering, request after request):
// one product over every request's rows reads the output matrix once, not once per
// request. Each request's rows are then copied into its buffer; a group of one writes
// straight into it.
void StepBatcher::head_run(const std::vector<Call*>& group) {
    Model& model = *group.front()->model;
    if (group.size() == 1) return model.logits(rows_, group.front()->out);
    const int64_t V = model.config().vocab_size, n = static_cast<int64_t>(rows_.size());
    if (static_cast<int64_t>(head_out_.size()) < n * V) {
        head_out_ = {};
        head_out_.resize(static_cast<size_t>(n * V));
    }
    model.logits(rows_, head_out_.data());
    copies_.clear();  // where each output row goes
    for (const Call* c : group)
        for (size_t i = 0; i < c->rows.size(); ++i) copies_.push_back(c->out + static_cast<int64_t>(i) * V);
    DLM_ASSERT(static_cast<int64_t>(copies_.size()) == n);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i)
        std::memcpy(copies_[i], head_out_.data() + i * V, static_cast<size_t>(V) * sizeof(float));
}

// Causal LM steps: a prompt alone; decoding steps stacked, each request's cache its own.
void StepBatcher::decode_run(const std::vector<Call*>& group) {
    const Call& first = *group.front();
    Model& model = *first.model;
    if (first.kind == Call::prompt) {
        DLM_ASSERT(group.size() == 1);
        model.forward_cached(*first.cache, first.ids, first.mask, first.seq);
        model.logits(first.rows, first.out);
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
    model.forward_cached_multi(caches_, ids_.data(), mask_.data());
    rows_.clear();
    int64_t r0 = 0;
    for (const Call* c : group) {  // row b of a one-token step: after the requests before it
        for (const int64_t r : c->rows) rows_.push_back(r0 + r);
        r0 += c->batch;
    }
    head_run(group);
}

// Caches are [L, B, T, 2C]: a request's batch rows of layer l sit at rows b0.. of the
// batch's layer l. into_batch: every request's cache into kv_ (sized for the group);
// else kv_ back into each request's (sized for its rows).
void StepBatcher::kv_move(const std::vector<Call*>& group, bool into_batch) {
    const Model& model = *group.front()->model;
    const int64_t L = model.config().num_layers, C2 = 2 * model.config().hidden_size, T = group.front()->seq;
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
