// A progress bar on stderr: redrawn in place on a terminal, a plain line every
// few seconds otherwise (CI logs, files), so long runs are never silent.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace dlm {

class Progress {
public:
    Progress(std::string label, int64_t total, int64_t start = 0);
    // done: units completed so far; info: extra text (loss, lr, ...).
    void update(int64_t done, const std::string& info = "");
    // Prints a line above the bar (a log line) without breaking it.
    void message(const std::string& line);
    void finish(const std::string& info = "");
    double elapsed() const;

private:
    void draw(const std::string& info, bool final_line);
    std::string label_;
    int64_t total_, start_, done_ = 0, drawn_done_ = -1;
    bool tty_;
    std::chrono::steady_clock::time_point t0_, last_draw_;
    std::string last_info_;
};

std::string duration_format(double seconds);  // "1h02m", "3m07s", "12.3s"

}  // namespace dlm
