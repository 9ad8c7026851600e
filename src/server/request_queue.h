// The server's work queue: requests run on `workers` threads (the parallel slots), in
// arrival order, at most `capacity` waiting (a full queue turns requests away: HTTP 503).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace dlm {

class RequestQueue {
public:
    RequestQueue(size_t capacity, int workers);
    ~RequestQueue();  // runs what is queued, then joins (a server cancels its jobs first)
    RequestQueue(const RequestQueue&) = delete;
    RequestQueue& operator=(const RequestQueue&) = delete;

    // Queues a job; false when `capacity` jobs already wait.
    bool submit(std::function<void()> job);
    size_t waiting() const;
    int running() const;

private:
    void worker_loop();

    size_t capacity_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> jobs_;
    bool stop_ = false;
    int running_ = 0;
    std::vector<std::thread> workers_;
};

}  // namespace dlm
