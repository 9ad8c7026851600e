#include "core/progress.h"

#include <unistd.h>

#include <cstdio>
#include <fmt/format.h>

namespace dlm {

std::string duration_format(double s) {
    if (s < 0 || s != s) return "?";
    if (s < 60) return fmt::format("{:.1f}s", s);
    auto t = static_cast<int64_t>(s + 0.5);
    if (t < 3600) return fmt::format("{}m{:02}s", t / 60, t % 60);
    return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
}

Progress::Progress(std::string label, int64_t total, int64_t start)
    : label_(std::move(label)), total_(total), start_(start), done_(start), tty_(::isatty(2)) {
    t0_ = last_draw_ = std::chrono::steady_clock::now();
}

double Progress::elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
}

void Progress::update(int64_t done, const std::string& info) {
    done_ = done;
    last_info_ = info;
    auto now = std::chrono::steady_clock::now();
    double since = std::chrono::duration<double>(now - last_draw_).count();
    if ((tty_ && since >= 0.1) || (!tty_ && since >= 10.0) || done == total_) {
        last_draw_ = now;
        draw(info, !tty_);
    }
}

void Progress::message(const std::string& line) {
    if (tty_) std::fprintf(stderr, "\r\033[K");
    std::fprintf(stderr, "%s\n", line.c_str());
    if (tty_) draw(last_info_, false);
}

void Progress::finish(const std::string& info) {
    // Off a terminal the last update already printed the final state.
    if (!tty_ && info.empty() && drawn_done_ == done_) return;
    draw(info.empty() ? last_info_ : info, true);
    if (tty_) std::fprintf(stderr, "\n");
}

void Progress::draw(const std::string& info, bool final_line) {
    drawn_done_ = done_;
    const double el = elapsed();
    const int64_t did = done_ - start_;
    const double rate = el > 0 ? did / el : 0;
    const double eta = rate > 0 ? (total_ - done_) / rate : -1;
    const double frac = total_ > 0 ? static_cast<double>(done_) / total_ : 0;
    constexpr int kWidth = 24;
    int fill = static_cast<int>(frac * kWidth + 0.5);
    std::string bar(static_cast<size_t>(fill), '#');
    bar.append(static_cast<size_t>(kWidth - fill), '.');
    std::string line = fmt::format("{} [{}] {}/{} {:3.0f}% | {} | {} < {}", label_, bar, done_, total_, frac * 100,
                                   info, duration_format(el), duration_format(eta));
    if (tty_ && !final_line) {
        std::fprintf(stderr, "\r\033[K%s", line.c_str());
    } else if (tty_) {
        std::fprintf(stderr, "\r\033[K%s", line.c_str());
    } else {
        std::fprintf(stderr, "%s\n", line.c_str());
    }
    std::fflush(stderr);
}

}  // namespace dlm
