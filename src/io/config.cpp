#include "io/config.h"

#include "core/error.h"
#include "core/file.h"

namespace dlm {

namespace {

template <typename T>
T get_or(const nlohmann::ordered_json& j, const char* key, T fallback, const std::string& where) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    try {
        return it->get<T>();
    } catch (const nlohmann::json::exception&) {
        fail("{}: key '{}' has the wrong type ({})", where, key, it->dump());
    }
}

template <typename T>
T get_required(const nlohmann::ordered_json& j, const char* key, const std::string& where) {
    if (!j.contains(key) || j[key].is_null()) fail("{}: missing key '{}'", where, key);
    return get_or<T>(j, key, T{}, where);
}

Activation activation_parse(const std::string& s, const std::string& where) {
    // HF ACT2FN: "gelu" is the exact erf form; "gelu_new", "gelu_pytorch_tanh" and
    // "gelu_fast" are the tanh approximation (gelu_fast differs in the last bits only).
    if (s == "gelu") return Activation::gelu_erf;
    if (s == "gelu_new" || s == "gelu_pytorch_tanh") return Activation::gelu_tanh;
    fail("{}: activation '{}' is not supported (supported: gelu, gelu_new, gelu_pytorch_tanh)", where, s);
}

const char* activation_name(Activation a) { return a == Activation::gelu_erf ? "gelu" : "gelu_new"; }

}  // namespace

ModelConfig config_parse(const nlohmann::ordered_json& j, const std::string& where) {
    if (!j.is_object()) fail("{}: not a JSON object", where);
    ModelConfig c;
    c.json = j;
    auto arch = j.find("architectures");
    if (arch != j.end() && arch->is_array() && !arch->empty() && (*arch)[0].is_string())
        c.architecture = (*arch)[0].get<std::string>();
    c.model_type = get_or<std::string>(j, "model_type", "", where);
    if (c.architecture.empty()) {
        // Older configs omit architectures; infer the LM head from the family.
        if (c.model_type == "roberta") c.architecture = "RobertaForMaskedLM";
        else if (c.model_type == "bert") c.architecture = "BertForMaskedLM";
        else if (c.model_type == "gpt2") c.architecture = "GPT2LMHeadModel";
        else fail("{}: no 'architectures' and no known 'model_type'", where);
    }
    if (c.model_type.empty()) {
        if (c.architecture.rfind("Roberta", 0) == 0) c.model_type = "roberta";
        else if (c.architecture.rfind("Bert", 0) == 0) c.model_type = "bert";
        else if (c.architecture.rfind("GPT2", 0) == 0) c.model_type = "gpt2";
    }
    c.vocab_size = get_required<int64_t>(j, "vocab_size", where);
    c.tie_word_embeddings = get_or<bool>(j, "tie_word_embeddings", true, where);
    c.initializer_range = get_or<float>(j, "initializer_range", 0.02f, where);
    if (c.model_type == "gpt2") {
        c.hidden_size = get_required<int64_t>(j, "n_embd", where);
        c.num_layers = get_required<int64_t>(j, "n_layer", where);
        c.num_heads = get_required<int64_t>(j, "n_head", where);
        c.intermediate_size = get_or<int64_t>(j, "n_inner", 4 * c.hidden_size, where);
        c.max_positions = get_required<int64_t>(j, "n_positions", where);
        c.layer_norm_eps = get_or<float>(j, "layer_norm_epsilon", 1e-5f, where);
        c.activation = activation_parse(get_or<std::string>(j, "activation_function", "gelu_new", where), where);
        c.hidden_dropout = get_or<float>(j, "resid_pdrop", 0.1f, where);
        c.embedding_dropout = get_or<float>(j, "embd_pdrop", 0.1f, where);
        c.attention_dropout = get_or<float>(j, "attn_pdrop", 0.1f, where);
        c.bos_token_id = get_or<int32_t>(j, "bos_token_id", static_cast<int32_t>(c.vocab_size - 1), where);
        c.eos_token_id = get_or<int32_t>(j, "eos_token_id", static_cast<int32_t>(c.vocab_size - 1), where);
        c.pad_token_id = get_or<int32_t>(j, "pad_token_id", -1, where);
        if (!get_or<bool>(j, "scale_attn_weights", true, where))
            fail("{}: scale_attn_weights=false is not supported", where);
        if (get_or<bool>(j, "scale_attn_by_inverse_layer_idx", false, where))
            fail("{}: scale_attn_by_inverse_layer_idx=true is not supported", where);
        if (get_or<bool>(j, "add_cross_attention", false, where))
            fail("{}: add_cross_attention=true is not supported", where);
    } else if (c.model_type == "roberta" || c.model_type == "bert") {
        c.hidden_size = get_required<int64_t>(j, "hidden_size", where);
        c.num_layers = get_required<int64_t>(j, "num_hidden_layers", where);
        c.num_heads = get_required<int64_t>(j, "num_attention_heads", where);
        c.intermediate_size = get_required<int64_t>(j, "intermediate_size", where);
        c.max_positions = get_required<int64_t>(j, "max_position_embeddings", where);
        c.type_vocab_size = get_or<int64_t>(j, "type_vocab_size", c.model_type == "bert" ? 2 : 1, where);
        c.layer_norm_eps = get_or<float>(j, "layer_norm_eps", 1e-12f, where);
        c.activation = activation_parse(get_or<std::string>(j, "hidden_act", "gelu", where), where);
        c.hidden_dropout = get_or<float>(j, "hidden_dropout_prob", 0.1f, where);
        c.embedding_dropout = c.hidden_dropout;
        c.attention_dropout = get_or<float>(j, "attention_probs_dropout_prob", 0.1f, where);
        c.pad_token_id = get_or<int32_t>(j, "pad_token_id", c.model_type == "roberta" ? 1 : 0, where);
        c.bos_token_id = get_or<int32_t>(j, "bos_token_id", c.model_type == "roberta" ? 0 : -1, where);
        c.eos_token_id = get_or<int32_t>(j, "eos_token_id", c.model_type == "roberta" ? 2 : -1, where);
        auto pet = get_or<std::string>(j, "position_embedding_type", "absolute", where);
        if (pet != "absolute")
            fail("{}: position_embedding_type '{}' is not supported (only 'absolute')", where, pet);
    } else {
        fail("{}: model_type '{}' is not supported (supported: roberta, bert, gpt2)", where, c.model_type);
    }
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
    if (c.model_type == "gpt2") {
        j["n_embd"] = c.hidden_size;
        j["n_layer"] = c.num_layers;
        j["n_head"] = c.num_heads;
        j["n_inner"] = c.intermediate_size;
        j["n_positions"] = c.max_positions;
        if (!j.contains("layer_norm_epsilon")) j["layer_norm_epsilon"] = static_cast<double>(c.layer_norm_eps);
        j["activation_function"] = activation_name(c.activation);
    } else {
        j["hidden_size"] = c.hidden_size;
        j["num_hidden_layers"] = c.num_layers;
        j["num_attention_heads"] = c.num_heads;
        j["intermediate_size"] = c.intermediate_size;
        j["max_position_embeddings"] = c.max_positions;
        j["type_vocab_size"] = c.type_vocab_size;
        if (!j.contains("layer_norm_eps")) j["layer_norm_eps"] = static_cast<double>(c.layer_norm_eps);
        j["hidden_act"] = activation_name(c.activation);
    }
    file_write_atomic(path, j.dump(2) + "\n");
}

}  // namespace dlm
