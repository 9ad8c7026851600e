// `dlm serve`'s HTTP side (cpp-httplib): the OpenAI-compatible routes, streaming, the
// queue, limits, the API key, CORS, /health and /metrics.
//
//   GET  /                       the playground page (view/playground_html.h)
//   GET  /health                 503 while the models load, then 200
//   GET  /metrics                Prometheus text
//   GET  /v1/models
//   POST /v1/completions         JSON answer, or SSE chunks with "stream": true
//   POST /v1/denoise             SSE: every denoising step, then the completion chunks
//   POST /v1/chat/completions    400: dlm's models have no chat template
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

#include "server/engine.h"
#include "server/openai_api.h"

namespace dlm {

struct ServeOptions {
    std::string host = "127.0.0.1";
    int port = 8080;              // 0: any free port
    std::string api_key;          // non-empty: /v1/* needs "Authorization: Bearer <key>"
    std::string cors_origin;      // non-empty: the one origin browsers may call from
    size_t queue = 16;            // requests waiting at most (then 503)
    int parallel = 4;             // requests running at once (their steps batched)
    size_t body_limit = 1 << 20;  // bytes (then 413)
    // Connections served at once (0: parallel + queue + 8). Each request holds one from
    // arrival to answer, so fewer than the requests admitted would leave connections
    // waiting unseen inside cpp-httplib, where they fail.
    int http_threads = 0;
    int socket_timeout = 600;     // seconds a connection may stay silent (a long generation)
    ApiLimits limits;
};

class HttpServer {
public:
    HttpServer(ServeEngine& engine, const ServeOptions& options);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // Binds the socket; returns the port. Throws dlm::Error when it cannot.
    int bind();
    // Serves until stop(); call after bind().
    void listen();
    // The models are loaded: /health answers 200 and /v1/* work.
    void ready_set();
    // Ends listen() (from any thread or a signal-safe flag poller); running generations
    // are cancelled at their next step.
    void stop();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace dlm
