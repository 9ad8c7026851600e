// One request's events on their way from the worker that computes them to the HTTP
// connection that sends them (Server-Sent Events frames, or the one JSON answer).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>

namespace dlm {

class EventChannel {
public:
    void push(std::string frame) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            frames_.push_back(std::move(frame));
        }
        cv_.notify_one();
    }
    // No more frames: pop() returns false once the queued ones are taken.
    void close() {
        {
            std::lock_guard<std::mutex> lock(mu_);
            closed_ = true;
        }
        cv_.notify_one();
    }
    // Waits for the next frame; false when the channel is closed and empty.
    bool pop(std::string& frame) {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return closed_ || !frames_.empty(); });
        if (frames_.empty()) return false;
        frame = std::move(frames_.front());
        frames_.pop_front();
        return true;
    }
    // Set by the connection when its client has gone: the worker stops at the next step.
    std::atomic<bool> cancelled{false};

private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::string> frames_;
    bool closed_ = false;
};

}  // namespace dlm
