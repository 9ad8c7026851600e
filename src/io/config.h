// config.json of a HuggingFace model folder, read into one struct whatever the
// family. The common keys (architectures, model_type, vocab_size, ...) are read here;
// each architecture reads its own (RoBERTa/BERT hidden_size/num_hidden_layers, GPT-2
// n_embd/n_layer, ...) in its model file (models/architecture.h). The original JSON
// is kept so that a saved checkpoint writes back every key.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "kernels/activation.h"

namespace dlm {


struct ModelConfig {
    std::string architecture;  // architectures[0], e.g. "RobertaForMaskedLM"
    std::string model_type;    // "roberta", "bert", "gpt2", ...
    int64_t vocab_size = 0;
    int64_t hidden_size = 0;        // C
    int64_t num_layers = 0;         // L
    int64_t num_heads = 0;          // NH
    int64_t intermediate_size = 0;  // FFN width
    int64_t max_positions = 0;      // rows of the position embedding table
    int64_t type_vocab_size = 0;    // BERT/RoBERTa token types (0 for GPT-2)
    float layer_norm_eps = 1e-5f;
    Activation activation = Activation::gelu_erf;
    float hidden_dropout = 0.1f;     // hidden_dropout_prob / resid_pdrop
    float attention_dropout = 0.1f;  // attention_probs_dropout_prob / attn_pdrop
    float embedding_dropout = 0.1f;  // hidden_dropout_prob / embd_pdrop
    float initializer_range = 0.02f;
    int32_t pad_token_id = -1;
    int32_t bos_token_id = -1;
    int32_t eos_token_id = -1;
    bool tie_word_embeddings = true;
    bool causal = false;           // a causal LM (set by the architecture)
    int64_t position_offset = 0;   // position id of the first token (RoBERTa: pad_token_id + 1)
    int64_t mlp_matrices = 2;      // C x F matrices per MLP: in and out, or 3 gated (GeGLU: input, gate, out)
    nlohmann::ordered_json json;  // the file as read (updated on save)

    int64_t head_dim() const { return hidden_size / num_heads; }
    // Longest sequence the position table allows (RoBERTa's positions start after
    // pad_token_id, so 514 rows hold 512 tokens).
    int64_t max_sequence() const { return max_positions - position_offset; }
    bool is_causal() const { return causal; }
};

// Reading keys, for the architectures' readers: a missing or null key gives the
// fallback (config_require: an error naming `where` and the key), a wrong type an error.
template <typename T>
T config_get(const nlohmann::ordered_json& j, const char* key, T fallback, const std::string& where);
template <typename T>
T config_require(const nlohmann::ordered_json& j, const char* key, const std::string& where);
// HF ACT2FN names of the supported activations, both ways.
Activation activation_parse(const std::string& s, const std::string& where);
const char* activation_name(Activation a);

[[noreturn]] void config_key_type_fail(const std::string& where, const char* key, const std::string& value);
[[noreturn]] void config_key_missing_fail(const std::string& where, const char* key);

// The registered architectures' part of parsing (models/registry.cpp): fills whichever
// of architecture and model_type the file left out from the other (or fails naming
// what is not supported), and reads / writes the architecture's own keys.
void architecture_resolve(ModelConfig& c, const std::string& where);
void architecture_config_read(const nlohmann::ordered_json& j, ModelConfig& c, const std::string& where);
void architecture_config_write(const ModelConfig& c, nlohmann::ordered_json& j);

// Parses and validates a config.json; errors name the file and the key.
ModelConfig config_load(const std::string& path);
ModelConfig config_parse(const nlohmann::ordered_json& j, const std::string& where);
// Writes config.json atomically (the stored JSON with the struct's values folded back in).
void config_save(const ModelConfig& c, const std::string& path);

template <typename T>
T config_get(const nlohmann::ordered_json& j, const char* key, T fallback, const std::string& where) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    try {
        return it->get<T>();
    } catch (const nlohmann::json::exception&) {
        config_key_type_fail(where, key, it->dump());
    }
}

template <typename T>
T config_require(const nlohmann::ordered_json& j, const char* key, const std::string& where) {
    if (!j.contains(key) || j[key].is_null()) config_key_missing_fail(where, key);
    return config_get<T>(j, key, T{}, where);
}

}  // namespace dlm
