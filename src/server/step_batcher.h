// The steps of concurrent requests batched into shared forward passes (the server's
// continuous batching), for diffusion models (denoising steps) and causal LMs
// (decoding steps), on one thread: the server's compute thread.
//
// Each request runs its sampler (diffusion_generate, ar_generate) on its own thread,
// unchanged; its Denoiser (denoiser()) or CausalDecoder (decoder()) hands every model
// call to the batcher and waits. A causal LM's decoding steps (one token per sample)
// of every waiting request share one pass (Model::forward_cached_multi: each request
// keeps its own cache); prompts run alone. The batcher's thread collects the calls
// until every running request has one waiting (or `window` has passed since the
// first), groups those of the same model and step shape (kind, canvas length, span),
// and runs each group as one batch: canvases stacked along the batch, each request's
// key/value cache gathered into the batch's and scattered back after, the LM head run
// once on the rows of them all, each request's rows copied into its buffer. A request
// that ends leaves at once; one that starts joins the next batch. Each sample's logits
// are those it gets alone (the rows of a batch do not interact), so results do not
// depend on what else runs.
//
// Every OpenMP team of the server runs on this one thread (task_run: model loading
// too); request threads sample with one thread each. libgomp counts the threads of
// every team in the process, and once they outnumber the cores its workers stop
// spinning and sleep at every barrier: with a second team (the main thread's, or one
// per model) a one-request denoising took 10 000 context switches and 1.6x the time
// of `dlm generate`.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "ar/generate_ar.h"
#include "diffusion/generate.h"
#include "models/model.h"

namespace dlm {

class StepBatcher {
public:
    // threads: the OpenMP team of the passes (0: all cores).
    explicit StepBatcher(int threads = 0, std::chrono::microseconds window = std::chrono::microseconds(2000));
    ~StepBatcher();
    StepBatcher(const StepBatcher&) = delete;
    StepBatcher& operator=(const StepBatcher&) = delete;

    // A running request's Denoiser (masked LM) or CausalDecoder (causal LM): counts as
    // running until it is destroyed.
    std::unique_ptr<Denoiser> denoiser(Model& model);
    std::unique_ptr<CausalDecoder> decoder(Model& model);
    // Runs f on the batcher's thread, between batches, and waits (rethrows what it throws).
    void task_run(const std::function<void()>& f);

    struct Stats {
        int64_t forward_passes = 0, sequences = 0, calls = 0;  // sequences: canvases over all passes
    };
    Stats stats() const;

    // One model call of a request (what batched_denoiser submits).
    struct Call {
        enum Kind { plain, fill_cache, span, prompt, decode, task } kind = plain;
        Model* model = nullptr;
        const std::function<void()>* fn = nullptr;  // task
        const int32_t* ids = nullptr;
        const int32_t* mask = nullptr;  // causal: padding of ids
        int64_t batch = 0, seq = 0, q0 = 0, q1 = 0;
        std::span<const int64_t> rows;
        float* out = nullptr;
        EncoderKv* kv = nullptr;     // masked LM: the request's own cache
        KvCache* cache = nullptr;    // causal LM: the request's own cache
        bool done = false;
        std::exception_ptr error;
    };
    // Blocks until the call has run (rethrows its error).
    void call_run(Call& c);
    void running_add(int delta);

private:
    void loop();
    void group_run(const std::vector<Call*>& group);
    void decode_run(const std::vector<Call*>& group);
    void head_run(const std::vector<Call*>& group);
    void kv_move(const std::vector<Call*>& group, bool into_batch);

    const std::chrono::microseconds window_;
    const int threads_;
    mutable std::mutex mu_;
    std::condition_variable wake_, finished_;
    std::vector<Call*> pending_;
    int running_ = 0;
    bool stop_ = false;
    Stats stats_;
    // The batch's buffers (batcher thread only).
    std::vector<int32_t> ids_, mask_;
    std::vector<KvCache*> caches_;
    int64_t alone_ = 0;  // numbers prompt and task calls: each is a group of its own
    std::vector<int64_t> rows_;
    HugePageVector<float> head_out_;  // [rows, V] a group's logits, before they go to each request
    std::vector<float*> copies_;
    EncoderKv kv_;
    std::thread thread_;
};

}  // namespace dlm
