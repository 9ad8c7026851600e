// dlm bench: the standard workloads (src/workloads/workloads.h) with their figures next to
// this machine's roofline, per thread count and dtype, and the peak memory of each.
//
// Every measurement runs in a child process of its own: its peak resident memory is
// then that workload's alone, and OpenMP starts fresh with the requested threads.
#include <fmt/format.h>
#include <omp.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <thread>
#include <nlohmann/json.hpp>

#include "workloads/workloads.h"
#include "command.h"
#include "core/error.h"
#include "core/file.h"
#include "core/cpu.h"
#include "core/profile.h"
#include "kernels/gemm.h"

namespace dlm::cli {
namespace {

struct bench_options {
    std::vector<std::string> workloads = {"diffusion", "ar", "train", "tokenizer"};
    std::vector<std::string> dtypes = {"auto"};
    std::vector<int> threads = {1, 2};
    int reps = 3;
    int64_t block = 0;
    std::string cache = "none";
    bool profile = false, no_prepack = false;
    std::string json;
};

// Runs f in a child process; returns its JSON result and the child's peak RSS (bytes).
std::pair<nlohmann::json, int64_t> child_run(const std::function<nlohmann::json()>& f) {
    int fd[2];
    if (::pipe(fd) != 0) fail("bench: cannot create a pipe");
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t pid = ::fork();
    if (pid < 0) fail("bench: cannot fork");
    if (pid == 0) {
        ::close(fd[0]);
        std::string out;
        int code = 0;
        try {
            out = f().dump();
        } catch (const std::exception& e) {
            out = nlohmann::json{{"error", e.what()}}.dump();
            code = 1;
        }
        for (size_t off = 0; off < out.size();) {
            const ssize_t n = ::write(fd[1], out.data() + off, out.size() - off);
            if (n <= 0) break;
            off += static_cast<size_t>(n);
        }
        ::close(fd[1]);
        std::fflush(stdout);
        ::_exit(code);
    }
    ::close(fd[1]);
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
    ::close(fd[0]);
    int status = 0;
    struct rusage ru {};
    ::wait4(pid, &status, 0, &ru);
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (!WIFEXITED(status) || j.is_discarded()) fail("bench: a workload process died (status {})", status);
    if (j.contains("error")) fail("bench: {}", j["error"].get<std::string>());
    return {j, static_cast<int64_t>(ru.ru_maxrss) * 1024};
}

nlohmann::json result_json(const BenchWorkloadResult& r) {
    return {{"seconds", r.seconds}, {"flops", r.flops}, {"weight_bytes", r.weight_bytes}, {"items", r.items},
            {"unit", r.unit}, {"model_bytes", r.model_bytes}, {"read_bandwidth", r.read_bandwidth},
            {"read_bound_fraction", r.read_bound_fraction}, {"probe_bytes", r.probe_bytes}, {"detail", r.detail}};
}

void bench_options_check(const bench_options& o) {
    for (auto& w : o.workloads)
        if (w != "diffusion" && w != "ar" && w != "train" && w != "tokenizer")
            fail("--workload: unknown '{}' (diffusion, ar, train, tokenizer)", w);
    for (int t : o.threads)
        if (t < 1) fail("--threads: {} is not a thread count", t);
    if (o.reps < 1) fail("--reps must be at least 1");
}

// The dtypes to run, auto resolved with the child's answer; each once, in the order given.
std::vector<std::string> dtypes_resolve(const bench_options& o, bool bf16_emulated) {
    std::vector<std::string> dtypes;
    for (const auto& d : o.dtypes) {
        const std::string name = dtype_option_name(dtype_option_resolve(d, !bf16_emulated));
        if (std::find(dtypes.begin(), dtypes.end(), name) == dtypes.end()) dtypes.push_back(name);
    }
    if (std::find(o.dtypes.begin(), o.dtypes.end(), "auto") != o.dtypes.end()) dtype_option_report("auto", !bf16_emulated);
    return dtypes;
}

// The report's description of this machine and build, and the table's header.
nlohmann::ordered_json report_start(const bench_options& o, const std::vector<std::string>& dtypes, bool bf16_emulated) {
    nlohmann::ordered_json report = {{"format", "dlm-bench-1"}, {"cores", std::thread::hardware_concurrency()},
                                     {"results", nlohmann::json::array()}};
    report["bf16_emulated"] = bf16_emulated;
    report["bf16_native"] = !bf16_emulated;
    report["dtypes"] = dtypes;  // --dtype as run: what auto chose here
    const char* kernels = cpu_level_name(cpu_level());
    report["kernels"] = kernels;
    report["portable_build"] = cpu_portable_build();
    report["block"] = o.block;  // diffusion
    report["cache"] = o.cache;
    fmt::print("# {} build, kernels {}; oneDNN bf16 {}\n", cpu_portable_build() ? "portable" : "native", kernels,
               bf16_emulated ? "emulated" : "native");
    fmt::print("{:<10} {:>5} {:>7} {:>9} {:>14} {:>8} {:>9} {:>9} {:>10}\n", "workload", "dtype", "threads", "seconds",
               "throughput", "GFLOP/s", "roofline", "peak MB", "over wts");
    if (bf16_emulated && std::find(dtypes.begin(), dtypes.end(), "bf16") != dtypes.end())
        fmt::print("# bf16: no oneDNN bf16 kernels here (CPU without AVX-512, or DLM_BF16_EMULATE): its products run in "
                   "fp32 on widened operands, so the bf16 rows are not a bf16 benchmark\n");
    return report;
}

// The roofline at `threads`, measured in a child, printed.
nlohmann::json roofline_run(int threads) {
    auto [roof, roof_rss] = child_run([&] {
        omp_set_num_threads(threads);
        Roofline r = roofline_measure();
        return nlohmann::json{{"gemm_f32", r.gemm_f32}, {"gemm_bf16", r.gemm_bf16}, {"read_bandwidth", r.read_bandwidth}};
    });
    (void)roof_rss;
    fmt::print("# {} thread{}: roofline GEMM f32 {:.0f} GFLOP/s, bf16 {:.0f} GFLOP/s, memory reads {:.1f} GB/s\n", threads,
               threads > 1 ? "s" : "", roof["gemm_f32"].get<double>(), roof["gemm_bf16"].get<double>(),
               roof["read_bandwidth"].get<double>());
    return roof;
}

// One workload in a child process: its result and the child's peak RSS.
std::pair<nlohmann::json, int64_t> workload_run(const bench_options& o, const std::string& w, const std::string& dt,
                                                int threads) {
    const std::string src = DLM_SOURCE_DIR;
    const std::string tok_dir = src + "/tests/data/tokenizers/roberta-base", text = src + "/tests/data/wikitext-2/wiki.test.raw";
    return child_run([&] {
        omp_set_num_threads(threads);
        denormals_flush_enable();
        profile_enable(o.profile);
        BenchWorkloadResult r = w == "diffusion" ? bench_diffusion(dt, o.reps, !o.no_prepack, o.block, o.cache)
                                : w == "ar"      ? bench_ar(dt, o.reps, !o.no_prepack)
                                : w == "train"   ? bench_train(dt, o.reps)
                                                 : bench_tokenizer(tok_dir, text, o.reps);
        if (o.profile) {
            fmt::print("\n--- profile: {} {} {} threads (all repetitions) ---\n", w, dt, threads);
            std::fflush(stdout);
            profile_report(stdout);
            std::fflush(stdout);
        }
        return result_json(r);
    });
}

// A workload's row of the table, and its entry in the report.
nlohmann::ordered_json result_row(const std::string& w, bool typed, const std::string& dt, int threads,
                                  const nlohmann::json& j, int64_t child_rss, const nlohmann::json& roof) {
    const double s = j["seconds"], flops = j["flops"], items = j["items"];
    // The bandwidth probe's buffer is the bench's, not the workload's memory.
    const int64_t rss = child_rss - static_cast<int64_t>(j["probe_bytes"].get<double>());
    const double model_bytes = j["model_bytes"];
    const double gflops = flops / s / 1e9;
    std::string roofline = "-";
    double fraction = 0;
    if (w == "ar") {  // decoding reads every weight per token: bandwidth bound
        // Against the bound measured around its own repetitions (see bench_ar).
        fraction = j["read_bound_fraction"].get<double>();
        roofline = fmt::format("{:.0f}% bw", 100 * fraction);
    } else if (flops > 0) {
        fraction = gflops / roof[dt == "bf16" ? "gemm_bf16" : "gemm_f32"].get<double>();
        roofline = fmt::format("{:.0f}%", 100 * fraction);
    }
    const std::string unit = j["unit"];
    fmt::print("{:<10} {:>5} {:>7} {:>9.3f} {:>14} {:>8} {:>9} {:>9.0f} {:>10}\n", w, typed ? dt : w == "train" ? "f32" : "-",
               threads, s, fmt::format("{:.1f} {}/s", items / s, unit == "MB" ? "MB" : "tok"),
               flops > 0 ? fmt::format("{:.0f}", gflops) : "-", roofline, rss / 1e6,
               model_bytes > 0 ? fmt::format("{:.0f} MB", (rss - model_bytes) / 1e6) : "-");
    std::fflush(stdout);
    nlohmann::ordered_json e = {{"workload", w}, {"dtype", typed ? dt : "f32"}, {"threads", threads}};
    for (auto& [k, v] : j.items()) e[k] = v;
    e["gflops"] = gflops;
    e["roofline_fraction"] = fraction;
    e["peak_rss_bytes"] = rss;
    return e;
}

void bench_cmd(const bench_options& o) {
    bench_options_check(o);
    // Asked in a child like everything else: oneDNN in this process would start the
    // OpenMP threads, and a forked child of a process with them hangs in its first
    // parallel region.
    const bool bf16_emulated =
        child_run([] { return nlohmann::json{{"emulated", !gemm_bf16_native()}}; }).first["emulated"].get<bool>();
    const std::vector<std::string> dtypes = dtypes_resolve(o, bf16_emulated);
    nlohmann::ordered_json report = report_start(o, dtypes, bf16_emulated);
    bool generation = false;
    for (const auto& w : o.workloads) generation |= w == "diffusion" || w == "ar";
    if (generation) child_run([] {  // its own process: the fp32 model it builds is not counted anywhere
        bench_models_prepare();
        return nlohmann::json::object();
    });
    for (int threads : o.threads) {
        const nlohmann::json roof = roofline_run(threads);
        report["roofline"][std::to_string(threads)] = roof;
        for (const auto& w : o.workloads) {
            const bool typed = w != "tokenizer";
            for (const auto& dt : typed ? dtypes : std::vector<std::string>{"f32"}) {
                auto [j, child_rss] = workload_run(o, w, dt, threads);
                report["results"].push_back(result_row(w, typed, dt, threads, j, child_rss, roof));
            }
        }
    }
    fmt::print("\nroofline: % of the measured GEMM throughput for the dtype (ar: % of the memory-read bound, the "
               "weights read once per token, against streaming reads between the repetitions: the median over them); "
               "over wts: peak RSS minus the weights in the compute dtype\n");
    if (!o.json.empty()) file_write_atomic(o.json, report.dump(2) + "\n");
}

command_registration reg(60, "bench", "Benchmark the standard workloads against this machine's roofline (threads, dtypes, memory)",
                         [](CLI::App& sub) {
    auto o = std::make_shared<bench_options>();
    sub.add_option("-w,--workload", o->workloads, "diffusion, ar, train, tokenizer (comma list)")->delimiter(',')->capture_default_str();
    sub.add_option("--dtype", o->dtypes, dtype_option_help("auto, bf16, f32 (comma list; training: bf16 = mixed precision)"))
        ->delimiter(',')
        ->capture_default_str();
    sub.add_option("-t,--threads", o->threads, "Thread counts to run (comma list)")->delimiter(',')->capture_default_str();
    sub.add_option("--reps", o->reps, "Timed repetitions per workload (after one warm-up); the best counts")->capture_default_str();
    sub.add_option("--block", o->block, "diffusion: semi-autoregressive blocks of this many positions (0: the whole canvas)")
        ->check(CLI::NonNegativeNumber);
    sub.add_option("--cache", o->cache, "diffusion: key/value cache over a block's passes (none, prefix, dual)")
        ->check(CLI::IsMember({"none", "prefix", "dual"}));
    sub.add_flag("--no-prepack", o->no_prepack, "Keep the plain bf16 weight layout (diffusion: no oneDNN blocking; AR: no column tiles), to measure what prepacking gains");
    sub.add_flag("--profile", o->profile, "Print a per-kernel time breakdown of each workload");
    sub.add_option("--json", o->json, "Write every figure as JSON to this file");
    sub.callback([o] { bench_cmd(*o); });
});

}  // namespace
}  // namespace dlm::cli
