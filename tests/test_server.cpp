// `dlm serve` over real HTTP on loopback: the shipped diffusion model and its AR twin
// behind a server started as a user starts it (a free port, printed at start), every
// endpoint and error path driven by cpp-httplib's client.
#include <gtest/gtest.h>

#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "cli_run.h"
#include "core/file.h"
#include "server/engine.h"
#include "server/openai_api.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const std::string kModels = std::string(DLM_SOURCE_DIR) + "/models";

// A `dlm serve` child process on a free loopback port; stopped (SIGTERM) at the end.
class served {
public:
    // env: a prefix of the command (e.g. "env -u VAR").
    explicit served(const std::string& extra, const std::string& env = "") {
        log_ = ::testing::TempDir() + "dlm_serve_" + std::to_string(::getpid()) + "_" + std::to_string(count_++) + ".log";
        remove_at_exit(log_);
        pid_ = fork();
        if (pid_ == 0) {
            const std::string cmd = "exec " + env + " " + std::string(DLM_BINARY) + " serve --port 0 -t 2 -m " + kModels +
                                    "/dlm-diffusion --ar " + kModels + "/dlm-ar " + extra + " >" + log_ + " 2>&1";
            execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
            _exit(127);
        }
        const auto t0 = std::chrono::steady_clock::now();
        const std::regex serving("http://127\\.0\\.0\\.1:([0-9]+)");
        while (port_ == 0 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60)) {
            std::smatch m;
            const std::string text = fs::exists(log_) ? dlm::file_read(log_) : "";
            if (std::regex_search(text, m, serving)) port_ = std::stoi(m[1]);
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    ~served() {
        kill(pid_, SIGTERM);
        int status = 0;
        waitpid(pid_, &status, 0);
        exit_status_ = status;
    }
    int port() const { return port_; }
    pid_t pid() const { return pid_; }
    std::string log() const { return dlm::file_read(log_); }
    httplib::Client client() const {
        httplib::Client c("127.0.0.1", port_);
        c.set_read_timeout(std::chrono::seconds(120));
        return c;
    }

private:
    static inline int count_ = 0;
    pid_t pid_ = -1;
    int port_ = 0, exit_status_ = 0;
    std::string log_;
};

// The one server most tests share (models load once).
served& server() {
    static served s("");
    return s;
}

json post_json(httplib::Client& c, const std::string& path, const json& body, int* status = nullptr) {
    auto r = c.Post(path.c_str(), body.dump(), "application/json");
    if (!r) return json{{"transport_error", httplib::to_string(r.error())}};
    if (status) *status = r->status;
    return json::parse(r->body, nullptr, false);
}

// The SSE events of a streamed request, [DONE] excluded; done: whether it came.
std::vector<json> post_stream(httplib::Client& c, const std::string& path, const json& body, bool* done = nullptr) {
    std::string raw;
    httplib::Request req;
    req.method = "POST";
    req.path = path;
    req.body = body.dump();
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
        raw.append(data, n);
        return true;
    };
    auto r = c.send(req);
    std::vector<json> events;
    if (done) *done = false;
    if (!r) return events;
    size_t at = 0;
    for (size_t end; (end = raw.find("\n\n", at)) != std::string::npos; at = end + 2) {
        const std::string frame = raw.substr(at, end - at);
        EXPECT_EQ(frame.rfind("data: ", 0), 0u) << frame;
        const std::string data = frame.substr(6);
        if (data == "[DONE]") {
            if (done) *done = true;
            continue;
        }
        events.push_back(json::parse(data));
    }
    return events;
}

// The texts of a stream's chunks, by choice.
std::map<int64_t, std::string> stream_texts(const std::vector<json>& events) {
    std::map<int64_t, std::string> out;
    for (const auto& e : events)
        if (e.value("object", "") == "text_completion")
            for (const auto& ch : e["choices"]) out[ch["index"].get<int64_t>()] += ch["text"].get<std::string>();
    return out;
}

}  // namespace

TEST(server, health_and_models) {
    ASSERT_GT(server().port(), 0) << server().log();
    auto c = server().client();
    auto h = c.Get("/health");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->status, 200);
    auto m = c.Get("/v1/models");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->status, 200);
    const json models = json::parse(m->body);
    EXPECT_EQ(models["object"], "list");
    ASSERT_EQ(models["data"].size(), 2u);
    EXPECT_EQ(models["data"][0]["id"], "dlm-diffusion");
    EXPECT_EQ(models["data"][1]["id"], "dlm-ar");
}

// For a fixed seed the streamed chunks add up to the non-streamed text, for each
// sampler and for the AR model, with n samples and two prompts.
TEST(server, stream_equals_non_stream) {
    auto c = server().client();
    const std::vector<json> bodies = {
        {{"prompt", "The history of the city"}, {"max_tokens", 24}, {"seed", 7}, {"sampler", "confidence"}},
        {{"prompt", "The history of the city"}, {"max_tokens", 16}, {"seed", 7}},  // remask: text at the end
        {{"prompt", "The history of the city"}, {"max_tokens", 16}, {"seed", 7}, {"sampler", "lowconf"},
         {"steps", 8}, {"n", 2}},
        {{"prompt", json::array({"In 1905, the French", "The album"})}, {"max_tokens", 12}, {"seed", 3},
         {"sampler", "confidence"}, {"block", 4}},
        {{"model", "dlm-ar"}, {"prompt", "The history of the city"}, {"max_tokens", 20}, {"seed", 7}, {"n", 2}},
    };
    for (json body : bodies) {
        int status = 0;
        const json whole = post_json(c, "/v1/completions", body, &status);
        ASSERT_EQ(status, 200) << whole.dump();
        body["stream"] = true;
        bool done = false;
        const auto events = post_stream(c, "/v1/completions", body, &done);
        EXPECT_TRUE(done) << body.dump();
        const auto texts = stream_texts(events);
        ASSERT_EQ(texts.size(), whole["choices"].size()) << body.dump();
        for (const auto& ch : whole["choices"]) {
            EXPECT_EQ(texts.at(ch["index"].get<int64_t>()), ch["text"].get<std::string>()) << body.dump();
            EXPECT_FALSE(ch["text"].get<std::string>().empty()) << body.dump();
        }
        ASSERT_FALSE(events.empty());
        EXPECT_EQ(events.back()["usage"], whole["usage"]) << body.dump();
        // The confidence sampler's text arrives in pieces, before the end.
        if (body.value("sampler", "") == "confidence") {
            EXPECT_GT(events.size(), whole["choices"].size() + 1);
        }
    }
}

// /v1/denoise: every step as an event (the canvas, its masked and committed positions),
// the masks running out, then the same text as the non-streamed answer.
TEST(server, denoise_streams_every_step) {
    auto c = server().client();
    json body = {{"prompt", "The history of the city"}, {"max_tokens", 16}, {"seed", 11}, {"sampler", "confidence"}};
    int status = 0;
    const json whole = post_json(c, "/v1/completions", body, &status);
    ASSERT_EQ(status, 200);
    bool done = false;
    const auto events = post_stream(c, "/v1/denoise", body, &done);
    EXPECT_TRUE(done);
    std::vector<json> steps;
    for (const auto& e : events)
        if (e.value("object", "") == "denoise.step") steps.push_back(e);
    ASSERT_GE(steps.size(), 2u);
    size_t last_masked = 17;
    int64_t committed = 0;
    for (const auto& s : steps) {
        const auto& tokens = s["tokens"];
        EXPECT_EQ(tokens.size(), s["pieces"].size());
        EXPECT_LE(s["masked"].size(), last_masked);
        last_masked = s["masked"].size();
        committed += static_cast<int64_t>(s["committed"].size());
        for (const auto& p : s["masked"]) EXPECT_EQ(s["pieces"][p.get<size_t>()], "");
    }
    EXPECT_EQ(last_masked, 0u);
    EXPECT_EQ(committed, 16);
    EXPECT_EQ(stream_texts(events).at(0), whole["choices"][0]["text"].get<std::string>());
    // Infilling: the whole text back, its spans filled; usage counts the filled tokens.
    int st = 0;
    const json infill = post_json(c, "/v1/completions", {{"prompt", "The capital of France is <mask:3>."}, {"seed", 2}}, &st);
    ASSERT_EQ(st, 200) << infill.dump();
    const std::string filled = infill["choices"][0]["text"];
    EXPECT_EQ(filled.rfind("The capital of France is", 0), 0u) << filled;
    EXPECT_EQ(filled.back(), '.') << filled;
    EXPECT_EQ(infill["usage"]["completion_tokens"], 3);
    // AR: one event per new token.
    body["model"] = "dlm-ar";
    body.erase("sampler");
    const auto ar = post_stream(c, "/v1/denoise", body, &done);
    int64_t ar_steps = 0;
    for (const auto& e : ar) ar_steps += e.value("object", "") == "denoise.step";
    EXPECT_GE(ar_steps, 1);
    EXPECT_LE(ar_steps, 16);
}

// Parallel requests get what they get one at a time (same seeds, same texts).
TEST(server, parallel_requests_match_sequential) {
    auto c = server().client();
    std::vector<json> bodies;
    for (int i = 0; i < 4; ++i)
        bodies.push_back({{"prompt", "The album was"}, {"max_tokens", 12}, {"seed", 100 + i}, {"sampler", "confidence"}});
    std::vector<std::string> sequential;
    for (const auto& b : bodies) sequential.push_back(post_json(c, "/v1/completions", b)["choices"][0]["text"]);
    std::vector<std::future<std::string>> parallel;
    for (const auto& b : bodies)
        parallel.push_back(std::async(std::launch::async, [b] {
            auto cc = server().client();
            return post_json(cc, "/v1/completions", b)["choices"][0]["text"].get<std::string>();
        }));
    for (size_t i = 0; i < bodies.size(); ++i) EXPECT_EQ(parallel[i].get(), sequential[i]);
}

TEST(server, bad_requests_get_openai_errors) {
    auto c = server().client();
    struct bad {
        std::string path, body;
        int status;
        std::string part;
    };
    const std::vector<bad> cases = {
        {"/v1/completions", "{\"prompt\":", 400, "not valid JSON"},
        {"/v1/completions", "[1]", 400, "JSON object"},
        {"/v1/completions", "{}", 400, "'prompt' is required"},
        {"/v1/completions", R"({"prompt":""})", 400, "must not be empty"},
        {"/v1/completions", R"({"prompt":5})", 400, "'prompt' must be a string"},
        {"/v1/completions", R"({"prompt":"hi","max_tokens":0})", 400, "'max_tokens' must be between 1 and 1024"},
        {"/v1/completions", R"({"prompt":"hi","max_tokens":99999999999999999999})", 400, "'max_tokens'"},
        {"/v1/completions", R"({"prompt":"hi","max_tokens":"many"})", 400, "'max_tokens' must be an integer"},
        {"/v1/completions", R"({"prompt":"hi","temperature":-1})", 400, "'temperature' must be in [0, 2]"},
        {"/v1/completions", R"({"prompt":"hi","top_p":0})", 400, "'top_p' must be in (0, 1]"},
        {"/v1/completions", R"({"prompt":"hi","n":100})", 400, "'n' must be between 1 and 8"},
        {"/v1/completions", R"({"prompt":["a","b","c"],"n":3})", 400, "more than this server's 8 samples"},
        {"/v1/completions", R"({"prompt":"hi","stream":"yes"})", 400, "'stream' must be true or false"},
        {"/v1/completions", R"({"prompt":"hi","stop":["a","b","c","d","e"]})", 400, "at most 4"},
        {"/v1/completions", R"({"prompt":"hi","model":"gpt-4"})", 404, "'gpt-4' does not exist"},
        {"/v1/completions", R"({"prompt":"hi","sampler":"magic"})", 400, "unknown sampler 'magic'"},
        {"/v1/completions", R"({"prompt":"hi","model":"dlm-ar","steps":4})", 400, "'steps' applies to diffusion"},
        {"/v1/chat/completions", R"({"messages":[]})", 400, "'dlm-diffusion' has no chat template"},
        {"/v1/chat/completions", R"({"messages":[],"model":"dlm-ar"})", 400, "'dlm-ar' has no chat template"},
        {"/v1/chat/completions", R"({"messages":[],"model":"gpt-4"})", 404, "'gpt-4' does not exist"},
        {"/v1/chat/completions", "[1]", 400, "must be a JSON object"},
        {"/v1/nothing", "{}", 404, "no such endpoint"},
    };
    for (const auto& k : cases) {
        auto r = c.Post(k.path.c_str(), k.body, "application/json");
        ASSERT_TRUE(r) << k.body;
        EXPECT_EQ(r->status, k.status) << k.body << " -> " << r->body;
        const json e = json::parse(r->body, nullptr, false);
        ASSERT_TRUE(e.contains("error")) << r->body;
        EXPECT_NE(e["error"]["message"].get<std::string>().find(k.part), std::string::npos) << k.body << " -> " << r->body;
        EXPECT_TRUE(e["error"].contains("type"));
    }
    // Unknown fields are ignored.
    int status = 0;
    post_json(c, "/v1/completions", {{"prompt", "hi"}, {"max_tokens", 2}, {"frobnicate", true}, {"user", "x"}}, &status);
    EXPECT_EQ(status, 200);
    // Errors found while streaming arrive as an error event.
    const auto events = post_stream(c, "/v1/completions", {{"prompt", "hi"}, {"stream", true}, {"sampler", "magic"}});
    ASSERT_EQ(events.size(), 1u);
    EXPECT_TRUE(events[0].contains("error"));
    // The metrics saw all of it.
    auto m = c.Get("/metrics");
    ASSERT_TRUE(m);
    EXPECT_NE(m->body.find("dlm_requests_total{endpoint=\"/v1/completions\",status=\"400\"}"), std::string::npos);
    EXPECT_NE(m->body.find("dlm_forward_passes_total"), std::string::npos);
}

// The API key, CORS, the body limit and the queue bound, on a server of their own.
TEST(server, key_cors_limits_and_queue) {
    served s("--api-key sekret --cors http://localhost:3000 --queue 1 --body-limit 4096");
    ASSERT_GT(s.port(), 0) << s.log();
    auto c = s.client();
    const std::string body = R"({"prompt":"hi","max_tokens":4,"seed":1})";
    auto r = c.Post("/v1/completions", body, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    EXPECT_NE(r->body.find("invalid_api_key"), std::string::npos);
    r = c.Post("/v1/completions", {{"Authorization", "Bearer sekreT"}}, body, "application/json");
    EXPECT_EQ(r->status, 401);
    r = c.Post("/v1/completions", {{"Authorization", "Bearer sekret"}}, body, "application/json");
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "http://localhost:3000");
    auto h = c.Get("/health");  // no key needed
    EXPECT_EQ(h->status, 200);
    auto pre = c.Options("/v1/completions");
    ASSERT_TRUE(pre);
    EXPECT_EQ(pre->status, 204);
    EXPECT_NE(pre->get_header_value("Access-Control-Allow-Headers").find("Authorization"), std::string::npos);
    // Body limit: 413 in the API's error shape.
    const std::string big = R"({"prompt":")" + std::string(8000, 'a') + R"("})";
    r = c.Post("/v1/completions", {{"Authorization", "Bearer sekret"}}, big, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    // Queue of 1: of 6 slow requests at once, some are turned away with 503 + Retry-After.
    std::vector<std::future<std::pair<int, std::string>>> out;
    for (int i = 0; i < 6; ++i)
        out.push_back(std::async(std::launch::async, [&s] {
            auto cc = s.client();
            auto rr = cc.Post("/v1/completions", {{"Authorization", "Bearer sekret"}},
                              R"({"prompt":"hi","max_tokens":64,"sampler":"lowconf","steps":64,"seed":1})",
                              "application/json");
            return rr ? std::pair{rr->status, rr->get_header_value("Retry-After")} : std::pair{-1, std::string()};
        }));
    int ok = 0, busy = 0;
    for (auto& f : out) {
        auto [st, retry] = f.get();
        if (st == 200) ++ok;
        if (st == 503) {
            ++busy;
            EXPECT_EQ(retry, "1");
        }
    }
    EXPECT_GE(ok, 1);
    EXPECT_GE(busy, 1);
    EXPECT_EQ(ok + busy, 6);
}

// A second server on a port in use fails clearly (no silent port sharing).
TEST(server, port_in_use_is_an_error) {
    const std::string log = ::testing::TempDir() + "dlm_serve_busy.log";
    const std::string cmd = "timeout 60 " + std::string(DLM_BINARY) + " serve --port " + std::to_string(server().port()) +
                            " -m " + kModels + "/dlm-diffusion >" + log + " 2>&1";
    const int status = std::system(cmd.c_str());
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << dlm::file_read(log);
    EXPECT_NE(dlm::file_read(log).find("cannot listen on 127.0.0.1:" + std::to_string(server().port())),
              std::string::npos) << dlm::file_read(log);
}

// CORS is off unless asked for.
TEST(server, no_cors_by_default) {
    auto c = server().client();
    auto r = c.Get("/v1/models");
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->has_header("Access-Control-Allow-Origin"));
}

// The server's threads (from /proc) and resident memory, in kB.
std::pair<int, long> threads_and_rss(pid_t pid) {
    int threads = 0;
    long rss = 0;
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);) {
        if (line.rfind("Threads:", 0) == 0) threads = std::stoi(line.substr(8));
        if (line.rfind("VmRSS:", 0) == 0) rss = std::stol(line.substr(6));
    }
    return {threads, rss};
}

// A model folder whose tokenizer_config.json has a chat template is known as one (the
// chat endpoint's error then says dlm does not render it).
TEST(server, chat_template_is_noticed) {
    const std::string dir = ::testing::TempDir() + "dlm_chat_model_" + std::to_string(::getpid());
    remove_at_exit(dir);
    fs::create_directories(dir);
    for (const auto& f : fs::directory_iterator(kModels + "/dlm-ar")) fs::create_symlink(f.path(), dir / f.path().filename());
    std::ofstream(dir + "/tokenizer_config.json") << R"({"chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}"})";
    dlm::ServeEngine engine(1);
    engine.model_add(kModels + "/dlm-ar", "plain", dlm::DType::F32);
    engine.model_add(dir, "chatty", dlm::DType::F32);
    EXPECT_FALSE(engine.model_find("plain").chat_template);
    EXPECT_TRUE(engine.model_find("chatty").chat_template);
}

// The official OpenAI Node client (npm "openai", pinned in tests/openai-client; installed
// by scripts/install-deps.sh --node) uses the server unchanged: models, completions,
// streaming equal to non-streaming, n and prompt arrays, its typed errors. Skipped
// without node or the package.
TEST(server, official_openai_node_client) {
    const std::string dir = std::string(DLM_SOURCE_DIR) + "/tests/openai-client";
    if (std::system("command -v node >/dev/null 2>&1") != 0) GTEST_SKIP() << "no node (scripts/install-deps.sh --node)";
    if (!fs::exists(dir + "/node_modules/openai/package.json"))
        GTEST_SKIP() << "the openai package is not installed (scripts/install-deps.sh --node)";
    served s("");
    ASSERT_GT(s.port(), 0) << s.log();
    const std::string out = ::testing::TempDir() + "dlm_openai_client_" + std::to_string(::getpid()) + ".log";
    remove_at_exit(out);
    const std::string cmd =
        "timeout 120 node " + dir + "/check.mjs " + std::to_string(s.port()) + " >" + out + " 2>&1";
    const int status = std::system(cmd.c_str());
    const std::string text = dlm::file_read(out);
    EXPECT_EQ(status, 0) << text;
    EXPECT_NE(text.find("every check passed"), std::string::npos) << text;
}

// Voluntary context switches (a thread going to sleep) of every thread of a process so
// far; preemption by other processes is not counted.
long context_switches(pid_t pid) {
    long n = 0;
    for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
        std::ifstream status(task.path() / "status");
        for (std::string line; std::getline(status, line);)
            if (line.rfind("voluntary_ctxt_switches:", 0) == 0) n += std::stol(line.substr(line.find(':') + 1));
    }
    return n;
}

// Every OpenMP team of the server runs on its compute thread (server/step_batcher.h): a
// second team anywhere in the process makes libgomp's workers sleep at every barrier,
// which showed as ~10 000 context switches for one 64-token denoising (~160 per pass)
// and 1.6x its time. With one team it takes a few hundred.
TEST(server, one_openmp_team_no_sleeping_barriers) {
    served s("", "env -u OMP_WAIT_POLICY");  // as users run it (ctest sets passive, which always sleeps)
    ASSERT_GT(s.port(), 0) << s.log();
    auto c = s.client();
    const json body = {{"prompt", "The history of the city"}, {"max_tokens", 64}, {"seed", 3}};
    for (const char* model : {"dlm-diffusion", "dlm-ar", "dlm-diffusion"}) {  // both models warmed up
        json b = body;
        b["model"] = model;
        auto r = c.Post("/v1/completions", b.dump(), "application/json");
        ASSERT_TRUE(r && r->status == 200) << (r ? r->body : httplib::to_string(r.error()));
    }
    const long before = context_switches(s.pid());
    auto r = c.Post("/v1/completions", body.dump(), "application/json");
    ASSERT_TRUE(r && r->status == 200);
    const long switches = context_switches(s.pid()) - before;
    std::printf("voluntary context switches over one request: %ld\n", switches);
    EXPECT_LT(switches, 2500) << "the passes' OpenMP workers sleep at barriers";
}

// A bounded local load: 32 clients x 4 requests (streamed and not, some cut off by
// their client), every one answered, and the server's threads and memory back where
// they were after a first warm-up round.
TEST(server, load_32_clients_no_failures_nothing_leaked) {
    served s("--parallel 8 --queue 64");
    ASSERT_GT(s.port(), 0) << s.log();
    auto round = [&s](int clients, int per_client) {
        std::atomic<int> failures{0};
        std::vector<std::thread> threads;
        for (int c = 0; c < clients; ++c)
            threads.emplace_back([&, c] {
                auto cl = s.client();
                for (int i = 0; i < per_client; ++i) {
                    const json body = {{"prompt", c % 2 ? "The album was" : "In 1905, the French government"},
                                       {"max_tokens", 8 + (c % 3) * 4}, {"seed", c * 10 + i}};
                    if ((c + i) % 4 == 3) {  // streamed, the client leaving after the first event
                        httplib::Request req;
                        req.method = "POST";
                        req.path = "/v1/denoise";
                        req.body = body.dump();
                        req.set_header("Content-Type", "application/json");
                        req.content_receiver = [](const char*, size_t, uint64_t, uint64_t) { return false; };
                        cl.send(req);  // fails on purpose: the client cut it
                        continue;
                    }
                    json b = body;
                    if (i % 2) b["stream"] = true;
                    auto r = cl.Post("/v1/completions", b.dump(), "application/json");
                    if (!r || r->status != 200) {
                        ++failures;
                        ADD_FAILURE() << "client " << c << " request " << i << ": "
                                      << (r ? std::to_string(r->status) + " " + r->body : httplib::to_string(r.error()));
                    }
                }
            });
        for (auto& t : threads) t.join();
        return failures.load();
    };
    EXPECT_EQ(round(8, 2), 0);  // warm-up: thread pools and buffers at their size
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const auto before = threads_and_rss(s.pid());
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(round(32, 4), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(120));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const auto after = threads_and_rss(s.pid());
    EXPECT_LE(after.first, before.first) << "threads leaked";
    EXPECT_LT(after.second, before.second + 64 * 1024) << "resident memory grew by more than 64 MB";
    // Every request is counted, none is still running or waiting.
    auto m = s.client().Get("/metrics");
    ASSERT_TRUE(m);
    EXPECT_NE(m->body.find("dlm_requests_running 0"), std::string::npos) << m->body;
    EXPECT_NE(m->body.find("dlm_queue_waiting 0"), std::string::npos) << m->body;
}

// The playground: one page with its assets inside, and, in headless Chromium, a run of
// the default prompt on both models that fills both canvases (the page's own checks),
// with a screenshot.
TEST(server, playground_page) {
    auto c = server().client();
    auto r = c.Get("/");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(r->get_header_value("Content-Type").find("text/html"), std::string::npos);
    EXPECT_NE(r->get_header_value("Content-Security-Policy").find("default-src 'self'"), std::string::npos);
    EXPECT_NE(r->body.find("<script>"), std::string::npos);
    EXPECT_EQ(r->body.find("<script src"), std::string::npos) << "the page must need nothing from elsewhere";
    EXPECT_EQ(r->body.find("http"), std::string::npos) << "no outside address in the page";
    auto traversal = c.Get("/../../etc/passwd");
    ASSERT_TRUE(traversal);
    EXPECT_NE(traversal->status, 200);
}

TEST(server, playground_runs_in_headless_chromium) {
    if (!fs::exists("/usr/bin/chromium")) GTEST_SKIP() << "chromium not installed: the playground is not run in a browser";
    if (std::system("command -v python3 >/dev/null 2>&1") != 0) GTEST_SKIP() << "python3 not installed";
    const std::string shot = ::testing::TempDir() + "dlm_playground_" + std::to_string(::getpid()) + ".png";
    remove_at_exit(shot);
    const std::string cmd = "python3 " + std::string(DLM_SOURCE_DIR) + "/scripts/check-playground.py http://127.0.0.1:" +
                            std::to_string(server().port()) + "/#autorun --timeout 90 --screenshot " + shot;
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    EXPECT_GT(fs::exists(shot) ? fs::file_size(shot) : 0, 10000u) << "no screenshot";
}

// What a stream may send of a text still growing: not the tail a stop string could
// claim, not half a character, not a trailing U+FFFD (a character a token cut, which
// the next token completes).
TEST(server, streamed_text_holds_back_what_may_still_change) {
    EXPECT_EQ(dlm::text_sendable_length("hello", {}), 5u);
    EXPECT_EQ(dlm::text_sendable_length("hello wor", {"world"}), 5u);            // 4 bytes held
    EXPECT_EQ(dlm::text_sendable_length("caf\xC3\xA9", {"xy"}), 3u);           // the cut would split "é"
    EXPECT_EQ(dlm::text_sendable_length("ab\xEF\xBF\xBD", {}), 2u);          // a trailing replacement
    EXPECT_EQ(dlm::text_sendable_length("ab\xEF\xBF\xBD\xEF\xBF\xBD", {}), 2u);
    EXPECT_EQ(dlm::text_sendable_length("a\xEF\xBF\xBD" "b", {}), 5u);  // one inside stays
    EXPECT_EQ(dlm::text_sendable_length("ab", {"abc"}), 0u);
}
