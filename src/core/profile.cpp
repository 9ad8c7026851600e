#include "core/profile.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace dlm {

namespace {
struct profile_entry {
    double seconds = 0;
    int64_t calls = 0;
};
bool g_on = false;
std::mutex g_mutex;
std::map<std::string, profile_entry>& table() {
    static std::map<std::string, profile_entry> t;
    return t;
}
}  // namespace

void profile_enable(bool on) { g_on = on; }
bool profile_enabled() { return g_on; }

ProfileScope::~ProfileScope() {
    if (name_) profile_add(name_, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count());
}

void profile_reset() {
    std::lock_guard<std::mutex> lock(g_mutex);
    table().clear();
}

void profile_add(const char* name, double seconds) {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto& e = table()[name];
    e.seconds += seconds;
    ++e.calls;
}

void profile_report(std::FILE* out) {
    std::lock_guard<std::mutex> lock(g_mutex);
    std::vector<std::pair<std::string, profile_entry>> rows(table().begin(), table().end());
    std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.second.seconds > b.second.seconds; });
    double total = 0;
    for (auto& r : rows) total += r.second.seconds;
    std::fprintf(out, "%-28s %10s %8s %7s\n", "kernel", "seconds", "calls", "share");
    for (auto& [name, e] : rows)
        std::fprintf(out, "%-28s %10.4f %8ld %6.1f%%\n", name.c_str(), e.seconds, static_cast<long>(e.calls),
                     total > 0 ? 100.0 * e.seconds / total : 0.0);
    std::fprintf(out, "%-28s %10.4f\n", "total (profiled scopes)", total);
}

}  // namespace dlm
