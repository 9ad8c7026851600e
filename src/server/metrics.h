// What `dlm serve` counts, and its Prometheus text exposition (GET /metrics).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace dlm {

class ServeMetrics {
public:
    void request_done(const std::string& endpoint, int status, double seconds);
    void generation_done(int64_t prompt_tokens, int64_t new_tokens, int64_t forward_passes, int64_t steps,
                         double generation_seconds, double queue_seconds);
    // The exposition text; what the queue and the batchers count is read at scrape time.
    std::string prometheus_text(int64_t queue_waiting, int64_t running, int64_t batched_passes,
                                int64_t batched_sequences) const;

private:
    struct summary {
        double sum = 0;
        int64_t count = 0;
    };
    mutable std::mutex mu_;
    std::map<std::pair<std::string, int>, int64_t> requests_;
    summary request_seconds_, queue_seconds_, step_seconds_;
    int64_t prompt_tokens_ = 0, new_tokens_ = 0, forward_passes_ = 0;
};

}  // namespace dlm
