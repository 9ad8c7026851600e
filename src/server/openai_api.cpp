#include "server/openai_api.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace dlm {

namespace {

using json = nlohmann::json;

ApiError bad_field(const std::string& field, const std::string& what) {
    return ApiError(400, fmt::format("'{}' {}", field, what), field);
}

// The field's value when present (null counts as absent, as in OpenAI's API), checked
// for its JSON type.
const json* field_get(const json& body, const char* name) {
    auto it = body.find(name);
    return it == body.end() || it->is_null() ? nullptr : &*it;
}

std::optional<int64_t> int_field(const json& body, const char* name, int64_t lo, int64_t hi) {
    const json* v = field_get(body, name);
    if (!v) return std::nullopt;
    if (!v->is_number_integer()) throw bad_field(name, "must be an integer");
    // Unsigned values past int64 wrap negative in get<int64_t>: compare as unsigned first.
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(hi))
        throw bad_field(name, fmt::format("must be between {} and {}, got {}", lo, hi, v->get<uint64_t>()));
    const int64_t x = v->get<int64_t>();
    if (x < lo || x > hi) throw bad_field(name, fmt::format("must be between {} and {}, got {}", lo, hi, x));
    return x;
}

// lo_open: lo itself is excluded (top_p > 0).
std::optional<float> float_field(const json& body, const char* name, double lo, double hi, bool lo_open = false) {
    const json* v = field_get(body, name);
    if (!v) return std::nullopt;
    if (!v->is_number()) throw bad_field(name, "must be a number");
    const double x = v->get<double>();
    if (!std::isfinite(x) || x < lo || x > hi || (lo_open && x == lo))
        throw bad_field(name, fmt::format("must be in {}{:g}, {:g}], got {:g}", lo_open ? "(" : "[", lo, hi, x));
    return static_cast<float>(x);
}

std::optional<std::string> string_field(const json& body, const char* name) {
    const json* v = field_get(body, name);
    if (!v) return std::nullopt;
    if (!v->is_string()) throw bad_field(name, "must be a string");
    return v->get<std::string>();
}

bool bool_field(const json& body, const char* name) {
    const json* v = field_get(body, name);
    if (!v) return false;
    if (!v->is_boolean()) throw bad_field(name, "must be true or false");
    return v->get<bool>();
}

// A string or an array of strings (prompt, stop).
std::vector<std::string> strings_field(const json& body, const char* name) {
    const json* v = field_get(body, name);
    if (!v) return {};
    if (v->is_string()) return {v->get<std::string>()};
    if (!v->is_array()) throw bad_field(name, "must be a string or an array of strings");
    std::vector<std::string> out;
    for (const json& s : *v) {
        if (!s.is_string()) throw bad_field(name, "must be a string or an array of strings");
        out.push_back(s.get<std::string>());
    }
    return out;
}

}  // namespace

std::string api_error_body(const ApiError& e) {
    json err = {{"message", e.what()}, {"type", e.type}, {"param", nullptr}, {"code", nullptr}};
    if (!e.param.empty()) err["param"] = e.param;
    if (!e.code.empty()) err["code"] = e.code;
    return json{{"error", err}}.dump();
}

CompletionRequest completion_request_parse(const std::string& body_text, const ApiLimits& limits) {
    const json body = json::parse(body_text, nullptr, false);
    if (body.is_discarded()) throw ApiError(400, "the request body is not valid JSON");
    if (!body.is_object()) throw ApiError(400, "the request body must be a JSON object");
    CompletionRequest r;
    r.model = string_field(body, "model").value_or("");
    r.prompts = strings_field(body, "prompt");
    if (r.prompts.empty()) throw ApiError(400, "'prompt' is required (a string or an array of strings)", "prompt");
    for (const auto& p : r.prompts) {
        if (p.empty()) throw bad_field("prompt", "must not be empty");
        if (static_cast<int64_t>(p.size()) > limits.max_prompt_chars)
            throw bad_field("prompt", fmt::format("is longer than this server's {} bytes", limits.max_prompt_chars));
    }
    r.max_tokens = int_field(body, "max_tokens", 1, limits.max_tokens);
    r.sampling.temperature = float_field(body, "temperature", 0.0, 2.0);
    r.sampling.top_p = float_field(body, "top_p", 0.0, 1.0, true);
    r.sampling.top_k = int_field(body, "top_k", 0, std::numeric_limits<int32_t>::max());
    if (auto s = int_field(body, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()))
        r.seed = static_cast<uint64_t>(*s);
    r.n = int_field(body, "n", 1, limits.max_n).value_or(1);
    if (r.n * static_cast<int64_t>(r.prompts.size()) > limits.max_n)
        throw bad_field("n", fmt::format("x {} prompts asks for more than this server's {} samples per request",
                                         r.prompts.size(), limits.max_n));
    r.stop = strings_field(body, "stop");
    if (r.stop.size() > 4) throw bad_field("stop", "holds at most 4 strings");
    for (const auto& s : r.stop)
        if (s.empty()) throw bad_field("stop", "must not hold an empty string");
    r.stream = bool_field(body, "stream");
    r.stream_steps = bool_field(body, "stream_steps");
    if (const json* so = field_get(body, "stream_options")) {
        if (!so->is_object()) throw bad_field("stream_options", "must be an object");
        r.include_usage = bool_field(*so, "include_usage");
    }
    DiffusionChoices& d = r.diffusion;
    d.sampler = string_field(body, "sampler");
    d.cache = string_field(body, "cache");
    d.commit = string_field(body, "commit");
    d.steps = int_field(body, "steps", 1, 100000);
    d.block = int_field(body, "block", 1, 100000);
    d.threshold = float_field(body, "threshold", 0.0, 1.0, true);
    d.factor = float_field(body, "factor", 0.0, 1e6, true);
    d.entropy_bound = float_field(body, "entropy_bound", 0.0, 1e6, true);
    return r;
}

nlohmann::json completion_response(const std::string& id, int64_t created, const std::string& model,
                                   const std::vector<CompletionChoice>& choices, const CompletionUsage& usage) {
    json cs = json::array();
    for (size_t i = 0; i < choices.size(); ++i)
        cs.push_back({{"text", choices[i].text},
                      {"index", i},
                      {"logprobs", nullptr},
                      {"finish_reason", choices[i].finish_reason}});
    return {{"id", id},
            {"object", "text_completion"},
            {"created", created},
            {"model", model},
            {"choices", cs},
            {"usage",
             {{"prompt_tokens", usage.prompt_tokens},
              {"completion_tokens", usage.completion_tokens},
              {"total_tokens", usage.prompt_tokens + usage.completion_tokens}}}};
}

nlohmann::json completion_chunk(const std::string& id, int64_t created, const std::string& model, int64_t index,
                                const std::string& text, const std::optional<std::string>& finish_reason) {
    json choice = {{"text", text}, {"index", index}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
    if (finish_reason) choice["finish_reason"] = *finish_reason;
    return {{"id", id},
            {"object", "text_completion"},
            {"created", created},
            {"model", model},
            {"choices", json::array({choice})}};
}

std::string sse_frame(const nlohmann::json& data) {
    // dump() escapes control characters, so the payload holds no raw newline that would
    // end the event early; invalid UTF-8 (a token cut mid-character) is replaced.
    return "data: " + data.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

size_t text_sendable_length(const std::string& text, const std::vector<std::string>& stop) {
    size_t hold = 0;
    for (const auto& s : stop) hold = std::max(hold, s.size() - 1);
    size_t n = text.size() > hold ? text.size() - hold : 0;
    while (n > 0 && n < text.size() && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
    static const std::string replacement = "\xEF\xBF\xBD";
    while (n >= replacement.size() && text.compare(n - replacement.size(), replacement.size(), replacement) == 0)
        n -= replacement.size();
    return n;
}

bool text_stop_cut(std::string& text, const std::vector<std::string>& stop) {
    size_t cut = std::string::npos;
    for (const auto& s : stop) cut = std::min(cut, text.find(s));
    if (cut == std::string::npos) return false;
    text.resize(cut);
    return true;
}

}  // namespace dlm
