#include "server/metrics.h"

#include <fmt/format.h>

namespace dlm {

void ServeMetrics::request_done(const std::string& endpoint, int status, double seconds) {
    std::lock_guard<std::mutex> lock(mu_);
    ++requests_[{endpoint, status}];
    request_seconds_.sum += seconds;
    ++request_seconds_.count;
}

void ServeMetrics::generation_done(int64_t prompt_tokens, int64_t new_tokens, int64_t forward_passes, int64_t steps,
                                   double generation_seconds, double queue_seconds) {
    std::lock_guard<std::mutex> lock(mu_);
    prompt_tokens_ += prompt_tokens;
    new_tokens_ += new_tokens;
    forward_passes_ += forward_passes;
    step_seconds_.sum += generation_seconds;
    step_seconds_.count += steps;
    queue_seconds_.sum += queue_seconds;
    ++queue_seconds_.count;
}

std::string ServeMetrics::prometheus_text(int64_t queue_waiting, int64_t running, int64_t batched_passes,
                                          int64_t batched_sequences) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out;
    auto head = [&](const char* name, const char* type, const char* help) {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    };
    auto summary_lines = [&](const char* name, const summary& s) {
        out += fmt::format("{}_sum {:.6f}\n{}_count {}\n", name, s.sum, name, s.count);
    };
    head("dlm_requests_total", "counter", "HTTP requests answered, by endpoint and status");
    for (const auto& [key, n] : requests_)
        out += fmt::format("dlm_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", key.first, key.second, n);
    head("dlm_request_seconds", "summary", "Time from a request's arrival to its last byte");
    summary_lines("dlm_request_seconds", request_seconds_);
    head("dlm_queue_seconds", "summary", "Time a generation waited before it ran");
    summary_lines("dlm_queue_seconds", queue_seconds_);
    head("dlm_step_seconds", "summary", "Time per denoising step (autoregressive: per token)");
    summary_lines("dlm_step_seconds", step_seconds_);
    head("dlm_batch_size", "summary", "Sequences per batched diffusion forward pass (sum: sequences, count: passes)");
    out += fmt::format("dlm_batch_size_sum {}\ndlm_batch_size_count {}\n", batched_sequences, batched_passes);
    head("dlm_prompt_tokens_total", "counter", "Prompt tokens read");
    out += fmt::format("dlm_prompt_tokens_total {}\n", prompt_tokens_);
    head("dlm_generated_tokens_total", "counter", "Tokens generated");
    out += fmt::format("dlm_generated_tokens_total {}\n", new_tokens_);
    head("dlm_forward_passes_total", "counter", "Model forward passes");
    out += fmt::format("dlm_forward_passes_total {}\n", forward_passes_);
    head("dlm_queue_waiting", "gauge", "Generations waiting to run");
    out += fmt::format("dlm_queue_waiting {}\n", queue_waiting);
    head("dlm_requests_running", "gauge", "Generations running");
    out += fmt::format("dlm_requests_running {}\n", running);
    return out;
}

}  // namespace dlm
