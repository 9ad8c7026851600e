#include "generation/generation_config.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"

namespace dlm {

namespace {

// The value at key if present and not null, checked for type (and range by the caller).
template <typename T>
std::optional<T> value_get(const nlohmann::json& j, const char* key, const std::string& where) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    const bool ok = std::is_same_v<T, std::string> ? it->is_string()
                    : std::is_same_v<T, bool>      ? it->is_boolean()
                    : std::is_integral_v<T>        ? it->is_number_integer()
                                                   : it->is_number();
    if (!ok) fail("{}: key '{}' has the wrong type ({})", where, key, it->dump());
    return it->get<T>();
}

void range_check(bool ok, const std::string& where, const char* key, const std::string& need) {
    if (!ok) fail("{}: key '{}' must be {}", where, key, need);
}

}  // namespace

GenerationDefaults generation_defaults_load(const std::string& folder) {
    GenerationDefaults g;
    const std::string path = folder + "/generation_config.json";
    if (!file_exists(path)) return g;
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(file_read(path));
    } catch (const nlohmann::json::exception& e) {
        fail("{}: invalid JSON ({})", path, e.what());
    }
    if (!j.is_object()) fail("{}: not a JSON object", path);

    g.temperature = value_get<float>(j, "temperature", path);
    g.top_k = value_get<int64_t>(j, "top_k", path);
    g.top_p = value_get<float>(j, "top_p", path);
    g.max_new_tokens = value_get<int64_t>(j, "max_new_tokens", path);
    g.sampler = value_get<std::string>(j, "diffusion_sampler", path);
    g.steps = value_get<int64_t>(j, "diffusion_steps", path);
    g.threshold = value_get<float>(j, "diffusion_threshold", path);
    g.block = value_get<int64_t>(j, "diffusion_block", path);
    g.cache = value_get<std::string>(j, "diffusion_cache", path);
    g.commit = value_get<std::string>(j, "diffusion_commit", path);
    g.factor = value_get<float>(j, "diffusion_factor", path);
    g.entropy_bound = value_get<float>(j, "diffusion_entropy_bound", path);
    // HF: do_sample false means greedy decoding whatever the temperature says.
    if (auto sample = value_get<bool>(j, "do_sample", path); sample && !*sample) g.temperature = 0.0f;

    if (g.temperature) range_check(*g.temperature >= 0, path, "temperature", "at least 0");
    if (g.top_k) range_check(*g.top_k >= 0, path, "top_k", "at least 0");
    if (g.top_p) range_check(*g.top_p > 0 && *g.top_p <= 1, path, "top_p", "in (0, 1]");
    if (g.max_new_tokens) range_check(*g.max_new_tokens >= 1, path, "max_new_tokens", "at least 1");
    if (g.steps) range_check(*g.steps >= 0, path, "diffusion_steps", "at least 0");
    if (g.threshold) range_check(*g.threshold > 0 && *g.threshold <= 1, path, "diffusion_threshold", "in (0, 1]");
    if (g.block) range_check(*g.block >= 0, path, "diffusion_block", "at least 0");
    if (g.factor) range_check(*g.factor > 0, path, "diffusion_factor", "above 0");
    if (g.entropy_bound) range_check(*g.entropy_bound >= 0, path, "diffusion_entropy_bound", "at least 0");
    if (g.cache && *g.cache != "none" && *g.cache != "prefix" && *g.cache != "dual")
        fail("{}: key 'diffusion_cache' must be none, prefix or dual (got '{}')", path, *g.cache);
    if (g.commit && *g.commit != "threshold" && *g.commit != "factor" && *g.commit != "entropy")
        fail("{}: key 'diffusion_commit' must be threshold, factor or entropy (got '{}')", path, *g.commit);
    if (g.sampler && *g.sampler != "remask" && *g.sampler != "confidence" && *g.sampler != "lowconf")
        fail("{}: key 'diffusion_sampler' must be remask, confidence or lowconf (got '{}')", path, *g.sampler);
    return g;
}

SamplingParams sampling_resolve(SamplingParams p, const GenerationDefaults& g, const SamplingChoices& c) {
    p.temperature = c.temperature.value_or(g.temperature.value_or(p.temperature));
    p.top_k = c.top_k.value_or(g.top_k.value_or(p.top_k));
    p.top_p = c.top_p.value_or(g.top_p.value_or(p.top_p));
    return p;
}

}  // namespace dlm
