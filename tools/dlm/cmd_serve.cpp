// dlm serve: an OpenAI-compatible HTTP server for a diffusion model and, optionally,
// its autoregressive twin (src/server/).
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <thread>

#include "command.h"
#include "core/error.h"
#include "core/setting_name.h"
#include "server/http_server.h"

namespace dlm::cli {
namespace {

struct serve_options {
    std::string model, ar, host = "127.0.0.1", api_key, cors, dtype = "auto";
    int port = 8080, threads = 0, http_threads = 0, parallel = 4;
    size_t queue = 16, body_limit = 1 << 20;
    int64_t max_tokens = 1024, max_n = 8;
    double batch_wait_ms = 2;
};

std::atomic<bool> g_stop{false};
void on_stop(int) { g_stop = true; }

// The API name of a model folder: its folder name ("models/dlm-diffusion" -> "dlm-diffusion").
std::string model_id(const std::string& dir) {
    std::filesystem::path p(dir);
    if (p.filename().empty()) p = p.parent_path();
    return p.filename().string();
}

// Library messages name settings by the request's JSON fields, not by dlm's flags.
std::string json_field_of(std::string_view name) {
    if (name == "length") return "'max_tokens'";
    if (name == "batch") return "'n'";
    return fmt::format("'{}'", name);
}

void serve_cmd(const serve_options& o) {
    // No threads_apply: this thread starts no OpenMP team; the engine's compute thread
    // runs them all (server/step_batcher.h says why).
    setting_spelling_set(json_field_of);
    const std::string diffusion = o.model.empty() ? shipped_model_dir("dlm-diffusion") : o.model;
    ServeOptions so;
    so.host = o.host;
    so.port = o.port;
    so.api_key = o.api_key;
    so.cors_origin = o.cors;
    so.queue = o.queue;
    so.parallel = o.parallel;
    so.body_limit = o.body_limit;
    so.http_threads = o.http_threads;
    so.limits.max_tokens = o.max_tokens;
    so.limits.max_n = o.max_n;
    ServeEngine engine(o.threads, std::chrono::microseconds(static_cast<int64_t>(o.batch_wait_ms * 1000)));
    HttpServer server(engine, so);
    const int port = server.bind();
    // Listening while the models load: /health says 503 until they are ready.
    std::thread listener([&server] { server.listen(); });
    std::signal(SIGINT, on_stop);
    std::signal(SIGTERM, on_stop);
    try {
        DType dtype;
        engine.compute_run([&] { dtype = dtype_option_resolve(o.dtype); });  // it probes oneDNN
        engine.model_add(diffusion, model_id(diffusion), dtype);
        if (!o.ar.empty()) engine.model_add(o.ar, model_id(o.ar), dtype);
    } catch (...) {
        server.stop();
        listener.join();
        throw;
    }
    server.ready_set();
    fmt::print(stderr, "dlm: serving {} on http://{}:{} (Ctrl-C stops)\n", model_id(diffusion) +
               (o.ar.empty() ? "" : " and " + model_id(o.ar)), o.host, port);
    while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    fmt::print(stderr, "dlm: stopping\n");
    server.stop();
    listener.join();
}

command_registration reg(45, "serve", "Serve a diffusion model (and its AR twin) over an OpenAI-compatible HTTP API",
                         [](CLI::App& sub) {
    auto o = std::make_shared<serve_options>();
    sub.add_option("-m,--model", o->model, "Diffusion model folder (default: the shipped one)");
    sub.add_option("--ar", o->ar, "An autoregressive model to serve next to it");
    sub.add_option("--host", o->host, "Address to listen on (loopback unless you mean it)")->capture_default_str();
    sub.add_option("--port", o->port, "Port (0: any free one, printed at start)")
        ->check(CLI::Range(0, 65535))->capture_default_str();
    sub.add_option("--api-key", o->api_key, "Require 'Authorization: Bearer KEY' on /v1/*");
    sub.add_option("--cors", o->cors, "Allow browsers on this origin to call the API (default: none)");
    sub.add_option("--queue", o->queue, "Requests waiting at most (more: HTTP 503)")
        ->check(CLI::Range(1, 100000))->capture_default_str();
    sub.add_option("--parallel", o->parallel, "Requests running at once (a diffusion model batches their steps)")
        ->check(CLI::Range(1, 256))->capture_default_str();
    sub.add_option("--batch-wait", o->batch_wait_ms, "Milliseconds a step waits for the other running requests to join its forward pass")
        ->check(CLI::Range(0.0, 1000.0))->capture_default_str();
    sub.add_option("--body-limit", o->body_limit, "Request body bytes at most (more: HTTP 413)")
        ->check(CLI::Range(1024, 1 << 30))->capture_default_str();
    sub.add_option("--http-threads", o->http_threads, "Connections served at once (0: --parallel + --queue + 8)")
        ->check(CLI::Range(0, 4096))->capture_default_str();
    sub.add_option("--max-tokens", o->max_tokens, "'max_tokens' a request may ask for at most")
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))->capture_default_str();
    sub.add_option("--max-n", o->max_n, "Samples ('n' x prompts) per request at most")
        ->check(CLI::Range(int64_t{1}, int64_t{1024}))->capture_default_str();
    add_dtype_option(sub, o->dtype, "Matrix products in bf16 (fast, fp32 accumulation) or f32 (the reference)");
    add_threads_option(sub, o->threads);
    sub.callback([o] { serve_cmd(*o); });
});

}  // namespace
}  // namespace dlm::cli
