// Benchmark (not a test): load on a running `dlm serve`.
//   build/bench_serve --port P [--requests 8] [--clients 8] [--tokens 64] [--rounds 3] [--body JSON]
// Each round sends the same `requests` completions twice, alternating the order of the
// two sides: one after another, then from `clients` threads at once; and reports
// requests/s, generated tokens/s, and the latency percentiles of each side, and the
// ratio of the two throughputs (what batching concurrent requests buys).
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

struct side_result {
    double seconds = 0;
    int64_t tokens = 0, failures = 0;
    std::vector<double> latencies;
};

// One completion; adds its latency and tokens to r (under mu).
void one_request(int port, const json& body, side_result& r, std::mutex& mu) {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(std::chrono::seconds(600));
    const auto t0 = clock_type::now();
    auto res = c.Post("/v1/completions", body.dump(), "application/json");
    const double dt = std::chrono::duration<double>(clock_type::now() - t0).count();
    std::lock_guard<std::mutex> lock(mu);
    if (!res || res->status != 200) {
        if (r.failures++ == 0)  // the first failure says why
            std::fprintf(stderr, "bench_serve: a request failed: %s\n",
                         res ? (std::to_string(res->status) + " " + res->body).c_str()
                             : httplib::to_string(res.error()).c_str());
        return;
    }
    r.latencies.push_back(dt);
    r.tokens += json::parse(res->body)["usage"]["completion_tokens"].get<int64_t>();
}

// requests completions from `clients` threads (1: one after another).
side_result side_run(int port, const json& body, int requests, int clients) {
    side_result r;
    std::mutex mu;
    const auto t0 = clock_type::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c)
        threads.emplace_back([&, c] {
            for (int i = c; i < requests; i += clients) {
                json b = body;
                b["seed"] = 1000 + i;
                one_request(port, b, r, mu);
            }
        });
    for (auto& t : threads) t.join();
    r.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
    return r;
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[static_cast<size_t>(std::min<double>(v.size() - 1, p * (v.size() - 1) + 0.5))];
}

void report(const char* name, const side_result& r, int requests) {
    std::printf("| %s | %.2f | %.1f | %.2f | %.2f | %lld |\n", name, requests / r.seconds, r.tokens / r.seconds,
                percentile(r.latencies, 0.5), percentile(r.latencies, 0.99), static_cast<long long>(r.failures));
}

}  // namespace

int main(int argc, char** argv) {
    int port = 0, requests = 8, clients = 8, tokens = 64, rounds = 3;
    std::string body_text;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--port")) port = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--requests")) requests = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--clients")) clients = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--tokens")) tokens = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--rounds")) rounds = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--body")) body_text = argv[i + 1];
    }
    if (port <= 0) {
        std::fprintf(stderr, "usage: bench_serve --port P [--requests N] [--clients C] [--tokens T] [--rounds R] [--body JSON]\n");
        return 2;
    }
    json body = body_text.empty() ? json{{"prompt", "The history of the city"}} : json::parse(body_text);
    body["max_tokens"] = tokens;
    std::printf("%d requests of %s\n\n| side | requests/s | tokens/s | p50 latency s | p99 latency s | failures |\n"
                "|---|---:|---:|---:|---:|---:|\n",
                requests, body.dump().c_str());
    double seq_total = 0, par_total = 0;
    int64_t failures = 0;
    for (int r = 0; r < rounds; ++r) {
        // Alternate which side goes first: the machine's drift hits both alike.
        side_result seq, par;
        if (r % 2 == 0) {
            seq = side_run(port, body, requests, 1);
            par = side_run(port, body, requests, clients);
        } else {
            par = side_run(port, body, requests, clients);
            seq = side_run(port, body, requests, 1);
        }
        report("one at a time", seq, requests);
        report(("from " + std::to_string(clients) + " clients").c_str(), par, requests);
        seq_total += seq.seconds;
        par_total += par.seconds;
        failures += seq.failures + par.failures;
    }
    if (failures > 0) {  // a failed request is quick: no throughput to compare
        std::printf("\n%lld requests failed: no ratio\n", static_cast<long long>(failures));
        return 1;
    }
    std::printf("\nconcurrent / sequential throughput over %d rounds: %.2fx\n", rounds, seq_total / par_total);
    return 0;
}
