#include "io/config.h"

#include "core/error.h"
#include "core/file.h"

namespace dlm {

void config_key_type_fail(const std::string& where, const char* key, const std::string& value) {
    fail("{}: key '{}' has the wrong type ({})", where, key, value);
}

void config_key_missing_fail(const std::string& where, const char* key) { fail("{}: missing key '{}'", where, key); }

Activation activation_parse(const std::string& s, const std::string& where) {
    // HF ACT2FN: "gelu" is the exact erf form; "gelu_new", "gelu_pytorch_tanh" and
    // "gelu_fast" are the tanh approximation (gelu_fast differs in the last bits only).
    if (s == "gelu") return Activation::gelu_erf;
    if (s == "gelu_new" || s == "gelu_pytorch_tanh") return Activation::gelu_tanh;
    fail("{}: activation '{}' is not supported (supported: gelu, gelu_new, gelu_pytorch_tanh)", where, s);
}

const char* activation_name(Activation a) { return a == Activation::gelu_erf ? "gelu" : "gelu_new"; }

ModelConfig config_parse(const nlohmann::ordered_json& j, const std::string& where) {
    if (!j.is_object()) fail("{}: not a JSON object", where);
    ModelConfig c;
    c.json = j;
    auto arch = j.find("architectures");
    if (arch != j.end() && arch->is_array() && !arch->empty() && (*arch)[0].is_string())
        c.architecture = (*arch)[0].get<std::string>();
    c.model_type = config_get<std::string>(j, "model_type", "", where);
    architecture_resolve(c, where);
    c.vocab_size = config_require<int64_t>(j, "vocab_size", where);
    c.tie_word_embeddings = config_get<bool>(j, "tie_word_embeddings", true, where);
    c.initializer_range = config_get<float>(j, "initializer_range", 0.02f, where);
    architecture_config_read(j, c, where);
    auto positive = [&](int64_t v, const char* what) {
        if (v <= 0) fail("{}: '{}' must be positive, got {}", where, what, v);
    };
    positive(c.vocab_size, "vocab_size");
    positive(c.hidden_size, "hidden size");
    positive(c.num_layers, "number of layers");
    positive(c.num_heads, "number of heads");
    positive(c.intermediate_size, "intermediate size");
    positive(c.max_positions, "max positions");
    if (c.hidden_size % c.num_heads != 0)
        fail("{}: hidden size {} is not divisible by the number of heads {}", where, c.hidden_size, c.num_heads);
    return c;
}

ModelConfig config_load(const std::string& path) {
    std::string text = file_read(path);
    nlohmann::ordered_json j;
    try {
        j = nlohmann::ordered_json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        fail("{}: invalid JSON ({})", path, e.what());
    }
    return config_parse(j, path);
}

void config_save(const ModelConfig& c, const std::string& path) {
    nlohmann::ordered_json j = c.json;
    j["architectures"] = {c.architecture};
    j["model_type"] = c.model_type;
    j["vocab_size"] = c.vocab_size;
    architecture_config_write(c, j);
    file_write_atomic(path, j.dump(2) + "\n");
}

}  // namespace dlm
