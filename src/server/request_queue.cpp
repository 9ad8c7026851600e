#include "server/request_queue.h"

namespace dlm {

RequestQueue::RequestQueue(size_t capacity, int workers) : capacity_(capacity) {
    for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { worker_loop(); });
}

RequestQueue::~RequestQueue() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
}

bool RequestQueue::submit(std::function<void()> job) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (stop_ || jobs_.size() >= capacity_) return false;
        jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
    return true;
}

size_t RequestQueue::waiting() const {
    std::lock_guard<std::mutex> lock(mu_);
    return jobs_.size();
}

int RequestQueue::running() const {
    std::lock_guard<std::mutex> lock(mu_);
    return running_;
}

void RequestQueue::worker_loop() {
    for (;;) {
        std::function<void()> job;
        {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
            if (jobs_.empty()) return;  // stopping, nothing left
            job = std::move(jobs_.front());
            jobs_.pop_front();
            ++running_;
        }
        job();  // jobs report their own errors to their clients
        std::lock_guard<std::mutex> lock(mu_);
        --running_;
    }
}

}  // namespace dlm
