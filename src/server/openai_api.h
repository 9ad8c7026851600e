// The OpenAI-compatible request and response shapes of `dlm serve`, as pure JSON in
// and out (no sockets: the tests and fuzzers drive them directly).
//
//   POST /v1/completions {"model", "prompt": string | [string], "max_tokens",
//        "temperature", "top_p", "seed", "n", "stop": string | [string], "stream",
//        "stream_options": {"include_usage"}}, plus dlm's own fields: "top_k",
//        "sampler", "steps", "threshold", "block", "cache", "commit", "factor",
//        "entropy_bound", "stream_steps" (every denoising step as an event).
//
// Unknown fields are ignored, as OpenAI's own server does for fields it does not use;
// a known field of the wrong type or out of range is a 400 naming it.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "generation/generation_config.h"
#include "request/diffusion_request.h"

namespace dlm {

// An error as the API returns it: HTTP status and OpenAI's error object
// {"error": {"message", "type", "param", "code"}}.
struct ApiError : std::runtime_error {
    int status;
    std::string type, param, code;
    ApiError(int status_, std::string message, std::string param_ = "", std::string type_ = "invalid_request_error",
             std::string code_ = "")
        : std::runtime_error(std::move(message)), status(status_), type(std::move(type_)), param(std::move(param_)),
          code(std::move(code_)) {}
};
std::string api_error_body(const ApiError& e);

// What a request may ask for at most (the server's flags).
struct ApiLimits {
    int64_t max_tokens = 1024;  // "max_tokens" (also bounded by the model's window)
    int64_t max_n = 8;          // "n" x prompts: samples in one request
    int64_t max_prompt_chars = 65536;
};

struct CompletionRequest {
    std::string model;                 // empty: the server's first model
    std::vector<std::string> prompts;  // "prompt": one string or an array of them
    std::optional<int64_t> max_tokens;
    SamplingChoices sampling;
    std::optional<uint64_t> seed;
    int64_t n = 1;
    std::vector<std::string> stop;
    bool stream = false, stream_steps = false, include_usage = false;
    // The diffusion settings (sampler, cache, commit, steps, block, threshold, factor,
    // entropy_bound); the request's own fields above give the rest of a run's choices.
    DiffusionChoices diffusion;
};

// Parses a /v1/completions body; throws ApiError (400) for malformed JSON, a missing
// prompt, wrong types or values out of range.
CompletionRequest completion_request_parse(const std::string& body, const ApiLimits& limits);

// One choice of a finished completion.
struct CompletionChoice {
    std::string text;
    std::string finish_reason;  // "stop" (a stop string or the end of text), "length"
};

struct CompletionUsage {
    int64_t prompt_tokens = 0, completion_tokens = 0;
};

// The text_completion object (non-streamed answer).
nlohmann::json completion_response(const std::string& id, int64_t created, const std::string& model,
                                   const std::vector<CompletionChoice>& choices, const CompletionUsage& usage);
// One streamed chunk: a text delta of choice `index`, and its finish reason when it ends.
nlohmann::json completion_chunk(const std::string& id, int64_t created, const std::string& model, int64_t index,
                                const std::string& text, const std::optional<std::string>& finish_reason);
// A Server-Sent Events frame: "data: <json>\n\n".
std::string sse_frame(const nlohmann::json& data);
inline const char* sse_done() { return "data: [DONE]\n\n"; }

// Cuts text at the first of the stop strings; true when one was found.
bool text_stop_cut(std::string& text, const std::vector<std::string>& stop);
// How much of a text still growing can be streamed now: all but what a stop string
// could yet claim (its length - 1 at the end), a character that cut would split, and
// a trailing U+FFFD (a token ending inside a character decodes to one until the next
// token completes the character).
size_t text_sendable_length(const std::string& text, const std::vector<std::string>& stop);

}  // namespace dlm
