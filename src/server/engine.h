// What `dlm serve` serves: its models, and one completion run on one of them with its
// events (text deltas, denoising steps) handed to the caller as they happen.
//
//   ServeEngine engine;
//   engine.model_add("models/dlm-diffusion", "dlm-diffusion", DType::BF16);
//   CompletionResult r = engine.run(request, sink);   // sink: deltas, steps, cancel check
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "diffusion/prompt.h"
#include "generation/events.h"
#include "generation/generation_config.h"
#include "models/model.h"
#include "server/openai_api.h"
#include "server/step_batcher.h"
#include "tokenizer/tokenizer.h"

namespace dlm {

struct ServedModel {
    std::string id, dir;
    std::unique_ptr<Model> model;
    Tokenizer tokenizer;
    GenerationDefaults defaults;
    PromptTokens special;
    bool causal = false;
    bool chat_template = false;  // tokenizer_config.json has one (dlm does not render them)
};

// Where a run's events go. Every callback is optional; cancelled() is asked before each
// step (a client that went away stops its request there).
struct CompletionSink {
    std::function<void(int64_t choice, const std::string& delta)> text;  // text that will not change
    std::function<void(const nlohmann::json& event)> step;               // a denoising (or AR) step
    std::function<bool()> cancelled;
};

struct CompletionResult {
    std::vector<CompletionChoice> choices;  // prompt-major: prompt p, sample j at p x n + j
    CompletionUsage usage;
    GenerationStats stats;  // summed over the request's prompts
};

// Thrown out of a run whose sink reported cancelled().
struct CompletionCancelled {};

class ServeEngine {
public:
    // threads: the OpenMP team of the forward passes (0: all cores). batch_wait: how long
    // a step waits for the other running requests to join its pass.
    explicit ServeEngine(int threads = 0, std::chrono::microseconds batch_wait = std::chrono::microseconds(2000));
    // Loads a model folder under the API name `id` (on the compute thread). Throws
    // dlm::Error.
    void model_add(const std::string& dir, const std::string& id, DType dtype);
    const std::vector<std::unique_ptr<ServedModel>>& models() const { return models_; }
    // The model a request names (empty: the first); throws ApiError 404 for another.
    ServedModel& model_find(const std::string& id);

    // Runs a request: each prompt in turn, its n samples as one batch; any number of
    // threads may run requests at once (their steps are batched). Throws ApiError (400)
    // for settings the model cannot use, CompletionCancelled when the sink says so.
    CompletionResult run(const CompletionRequest& request, const CompletionSink& sink);
    // Concurrent requests' steps share forward passes there: every model's, on one thread.
    const StepBatcher& batcher() const { return *batcher_; }
    // Runs f on that thread (for work that starts OpenMP teams: server/step_batcher.h).
    void compute_run(const std::function<void()>& f) { batcher_->task_run(f); }

private:
    std::unique_ptr<StepBatcher> batcher_;
    std::vector<std::unique_ptr<ServedModel>> models_;
};

}  // namespace dlm
