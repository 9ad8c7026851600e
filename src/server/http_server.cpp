#include "server/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <ctime>
#include <future>

#include "core/error.h"
#include "server/event_channel.h"
#include "server/metrics.h"
#include "server/request_queue.h"
#include "view/playground_html.h"

namespace dlm {

namespace {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Equal strings, in a time that does not depend on where they differ (an API key must
// not leak through response times); the length is not secret.
bool constant_time_equal(const std::string& a, const std::string& b) {
    if (a.size() != b.size()) return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

void json_reply(httplib::Response& res, int status, const std::string& body) {
    res.status = status;
    res.set_content(body, "application/json");
}

void error_reply(httplib::Response& res, const ApiError& e) { json_reply(res, e.status, api_error_body(e)); }

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

struct HttpServer::impl {
    ServeEngine& engine;
    ServeOptions options;
    httplib::Server http;
    ServeMetrics metrics;
    RequestQueue queue;
    std::atomic<bool> ready{false}, stopping{false};
    int listen_fd = -1;
    std::atomic<int64_t> next_id{1};

    impl(ServeEngine& e, const ServeOptions& o) : engine(e), options(o), queue(o.queue, o.parallel) {}

    void routes_install();
    bool authorized(const httplib::Request& req, httplib::Response& res);
    void completions(const httplib::Request& req, httplib::Response& res, bool denoise);
    void chat_completions(const httplib::Request& req, httplib::Response& res);
    void completion_stream(const CompletionRequest& q, httplib::Response& res, const std::string& endpoint,
                           clock_type::time_point t0);
    void completion_answer(const CompletionRequest& q, httplib::Response& res, const std::string& endpoint,
                           clock_type::time_point t0);
    // Queues a generation job; a full queue is a 503.
    void queue_submit(std::function<void()> job) {
        if (!queue.submit(std::move(job)))
            throw ApiError(503, "the server is busy: too many requests waiting; retry later", "", "server_busy");
    }
    // The generation job both answers share: runs q, reports to the metrics.
    CompletionResult generate(const CompletionRequest& q, const CompletionSink& sink, clock_type::time_point queued);
};

HttpServer::HttpServer(ServeEngine& engine, const ServeOptions& options)
    : impl_(std::make_unique<impl>(engine, options)) {
    impl_->routes_install();
}

HttpServer::~HttpServer() { stop(); }

int HttpServer::bind() {
    auto& s = *impl_;
    // cpp-httplib's own options add SO_REUSEPORT, which would let a second server share
    // the port silently: only SO_REUSEADDR (a restart may reuse a port in TIME_WAIT).
    s.http.set_socket_options([&s](socket_t fd) {
        int yes = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
        s.listen_fd = fd;
    });
    int port = s.options.port;
    if (port == 0) {
        port = s.http.bind_to_any_port(s.options.host);
        if (port < 0) fail("cannot listen on {} (any port)", s.options.host);
    } else if (!s.http.bind_to_port(s.options.host, port)) {
        fail("cannot listen on {}:{} (in use, or not an address of this machine?)", s.options.host, port);
    }
    // cpp-httplib listens with a backlog of 5: a burst of clients overflows it and the
    // kernel drops their connections, which the clients retry only a second later.
    if (s.listen_fd >= 0) ::listen(s.listen_fd, SOMAXCONN);
    return port;
}

void HttpServer::listen() { impl_->http.listen_after_bind(); }
void HttpServer::ready_set() { impl_->ready = true; }

void HttpServer::stop() {
    impl_->stopping = true;
    impl_->http.stop();
}

CompletionResult HttpServer::impl::generate(const CompletionRequest& q, const CompletionSink& sink,
                                            clock_type::time_point queued) {
    const double waited = seconds_since(queued);
    CompletionResult r = engine.run(q, sink);
    metrics.generation_done(r.usage.prompt_tokens, r.usage.completion_tokens, r.stats.forward_passes, r.stats.steps,
                            r.stats.seconds, waited);
    return r;
}

void HttpServer::impl::completion_stream(const CompletionRequest& q, httplib::Response& res,
                                         const std::string& endpoint, clock_type::time_point t0) {
    auto ch = std::make_shared<EventChannel>();
    const std::string id = fmt::format("cmpl-{}", next_id++), model = engine.model_find(q.model).id;
    const int64_t created = static_cast<int64_t>(std::time(nullptr));
    auto job = [this, ch, q, id, model, created, t0] {
        CompletionSink sink;
        sink.cancelled = [this, ch] { return ch->cancelled.load() || stopping.load(); };
        sink.text = [&](int64_t choice, const std::string& delta) {
            ch->push(sse_frame(completion_chunk(id, created, model, choice, delta, std::nullopt)));
        };
        if (q.stream_steps) sink.step = [&](const json& e) { ch->push(sse_frame(e)); };
        try {
            CompletionResult r = generate(q, sink, t0);
            for (size_t i = 0; i < r.choices.size(); ++i) {
                json last = completion_chunk(id, created, model, static_cast<int64_t>(i), "", r.choices[i].finish_reason);
                if (i + 1 == r.choices.size())
                    last["usage"] = {{"prompt_tokens", r.usage.prompt_tokens},
                                     {"completion_tokens", r.usage.completion_tokens},
                                     {"total_tokens", r.usage.prompt_tokens + r.usage.completion_tokens}};
                ch->push(sse_frame(last));
            }
            ch->push(sse_done());
        } catch (const ApiError& e) {
            ch->push("data: " + api_error_body(e) + "\n\n");
        } catch (const CompletionCancelled&) {
        } catch (const std::exception& e) {
            ch->push("data: " + api_error_body(ApiError(500, e.what(), "", "server_error")) + "\n\n");
        }
        ch->close();
    };
    queue_submit(job);
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [ch](size_t, httplib::DataSink& sink) {
            std::string frame;
            while (ch->pop(frame))
                if (!sink.write(frame.data(), frame.size())) {
                    ch->cancelled = true;  // the client went away: stop at the next step
                    return false;
                }
            sink.done();
            return true;
        },
        [this, ch, endpoint, t0](bool success) {
            if (!success) ch->cancelled = true;
            metrics.request_done(endpoint, 200, seconds_since(t0));
        });
}

void HttpServer::impl::completion_answer(const CompletionRequest& q, httplib::Response& res,
                                         const std::string& endpoint, clock_type::time_point t0) {
    auto done = std::make_shared<std::promise<CompletionResult>>();
    std::future<CompletionResult> result = done->get_future();
    const std::string model = engine.model_find(q.model).id;
    auto job = [this, done, q, t0] {
        CompletionSink sink;
        sink.cancelled = [this] { return stopping.load(); };
        try {
            done->set_value(generate(q, sink, t0));
        } catch (...) {
            done->set_exception(std::current_exception());
        }
    };
    queue_submit(job);
    CompletionResult r;
    try {
        r = result.get();
    } catch (const CompletionCancelled&) {
        throw ApiError(503, "the server is shutting down", "", "server_busy");
    }
    json_reply(res, 200,
               dump(completion_response(fmt::format("cmpl-{}", next_id++), static_cast<int64_t>(std::time(nullptr)),
                                        model, r.choices, r.usage)));
    metrics.request_done(endpoint, 200, seconds_since(t0));
}

void HttpServer::impl::completions(const httplib::Request& req, httplib::Response& res, bool denoise) {
    const auto t0 = clock_type::now();
    const std::string endpoint = denoise ? "/v1/denoise" : "/v1/completions";
    try {
        if (!ready) throw ApiError(503, "the model is still loading", "", "server_busy");
        CompletionRequest q = completion_request_parse(req.body, options.limits);
        if (denoise) q.stream = q.stream_steps = true;
        engine.model_find(q.model);  // 404 before anything is queued
        if (q.stream)
            completion_stream(q, res, endpoint, t0);
        else
            completion_answer(q, res, endpoint, t0);
    } catch (const ApiError& e) {
        if (e.status == 503) res.set_header("Retry-After", "1");
        error_reply(res, e);
        metrics.request_done(endpoint, e.status, seconds_since(t0));
    }
}

// No chat: the error says why for the model asked for.
void HttpServer::impl::chat_completions(const httplib::Request& req, httplib::Response& res) {
    try {
        if (!ready) throw ApiError(503, "the model is still loading", "", "server_busy");
        const json body = json::parse(req.body, nullptr, false);
        if (!body.is_object()) throw ApiError(400, "the request body must be a JSON object");
        const auto model = body.find("model");
        const ServedModel& m = engine.model_find(model != body.end() && model->is_string() ? model->get<std::string>() : "");
        throw ApiError(400, m.chat_template ? fmt::format("'{}' has a chat template, but dlm does not render chat "
                                                          "templates: send the rendered text to /v1/completions",
                                                          m.id)
                                            : fmt::format("'{}' has no chat template (it is not a chat model): use "
                                                          "/v1/completions",
                                                          m.id));
    } catch (const ApiError& e) {
        if (e.status == 503) res.set_header("Retry-After", "1");
        error_reply(res, e);
    }
}

bool HttpServer::impl::authorized(const httplib::Request& req, httplib::Response& res) {
    if (options.api_key.empty() || req.path.rfind("/v1/", 0) != 0) return true;
    const std::string auth = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (auth.rfind(prefix, 0) == 0 && constant_time_equal(auth.substr(prefix.size()), options.api_key)) return true;
    error_reply(res, ApiError(401, "a valid API key is needed: 'Authorization: Bearer <key>'", "",
                              "invalid_request_error", "invalid_api_key"));
    res.set_header("WWW-Authenticate", "Bearer");
    metrics.request_done(req.path, 401, 0.0);
    return false;
}

void HttpServer::impl::routes_install() {
    const size_t threads = options.http_threads > 0 ? static_cast<size_t>(options.http_threads)
                                                    : static_cast<size_t>(options.parallel) + options.queue + 8;
    http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http.set_payload_max_length(options.body_limit);
    // A request may wait in the queue and then generate for longer than cpp-httplib's 5 s
    // socket timeouts, which would drop its connection before the answer.
    http.set_read_timeout(std::chrono::seconds(options.socket_timeout));
    http.set_write_timeout(std::chrono::seconds(options.socket_timeout));
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
        if (!options.cors_origin.empty()) {
            res.set_header("Access-Control-Allow-Origin", options.cors_origin);
            res.set_header("Vary", "Origin");
            if (req.method == "OPTIONS") {  // preflight: answered before the key is asked for
                res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
                res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
                res.status = 204;
                return httplib::Server::HandlerResponse::Handled;
            }
        }
        return authorized(req, res) ? httplib::Server::HandlerResponse::Unhandled
                                    : httplib::Server::HandlerResponse::Handled;
    });
    http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return;  // the route's own error
        const std::string what = res.status == 404   ? "no such endpoint"
                                 : res.status == 413 ? "the request body is too large"
                                                     : "the request could not be served";
        error_reply(res, ApiError(res.status, what));
    });
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
            std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            what = e.what();
        } catch (...) {
        }
        error_reply(res, ApiError(500, what, "", "server_error"));
    });
    http.Get("/", [](const httplib::Request&, httplib::Response& res) {
        // The page is one fixed document (no files are served, so no path can escape).
        res.set_header("Content-Security-Policy",
                       "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'");
        res.set_content(playground_html(), "text/html; charset=utf-8");
    });
    http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
        json_reply(res, ready ? 200 : 503, ready ? R"({"status":"ok"})" : R"({"status":"loading"})");
    });
    http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
        const StepBatcher::Stats batches = engine.batcher().stats();
        res.set_content(metrics.prometheus_text(static_cast<int64_t>(queue.waiting()), queue.running(),
                                                batches.forward_passes, batches.sequences),
                        "text/plain; version=0.0.4");
    });
    http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
        if (!ready) return error_reply(res, ApiError(503, "the model is still loading", "", "server_busy"));
        json data = json::array();
        for (const auto& m : engine.models())
            data.push_back({{"id", m->id}, {"object", "model"}, {"created", 0}, {"owned_by", "dlm"},
                            {"kind", m->causal ? "autoregressive" : "diffusion"}});
        json_reply(res, 200, json{{"object", "list"}, {"data", data}}.dump());
    });
    http.Post("/v1/completions",
              [this](const httplib::Request& req, httplib::Response& res) { completions(req, res, false); });
    http.Post("/v1/denoise", [this](const httplib::Request& req, httplib::Response& res) { completions(req, res, true); });
    http.Post("/v1/chat/completions",
              [this](const httplib::Request& req, httplib::Response& res) { chat_completions(req, res); });
}

}  // namespace dlm
