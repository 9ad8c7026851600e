// config.json of a HuggingFace model folder, read into one struct whatever the
// family (RoBERTa/BERT use hidden_size/num_hidden_layers, GPT-2 n_embd/n_layer).
// The original JSON is kept so that a saved checkpoint writes back every key.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "kernels/activation.h"

namespace dlm {


struct ModelConfig {
    std::string architecture;  // architectures[0], e.g. "RobertaForMaskedLM"
    std::string model_type;    // "roberta", "bert", "gpt2"
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
    nlohmann::ordered_json json;  // the file as read (updated on save)

    int64_t head_dim() const { return hidden_size / num_heads; }
    // Longest sequence the position table allows (RoBERTa's positions start after
    // pad_token_id, so 514 rows hold 512 tokens).
    int64_t max_sequence() const { return model_type == "roberta" ? max_positions - pad_token_id - 1 : max_positions; }
    bool is_causal() const { return model_type == "gpt2"; }
};

// Parses and validates a config.json; errors name the file and the key.
ModelConfig config_load(const std::string& path);
ModelConfig config_parse(const nlohmann::ordered_json& j, const std::string& where);
// Writes config.json atomically (the stored JSON with the struct's values folded back in).
void config_save(const ModelConfig& c, const std::string& path);

}  // namespace dlm
