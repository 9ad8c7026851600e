// The post-LayerNorm transformer encoder with a masked-LM head that BERT and RoBERTa
// share (HF's BertModel / RobertaModel + BertOnlyMLMHead / RobertaLMHead). The
// architecture files (models/bert.cpp, models/roberta.cpp) give what differs between
// the members: the tensor names, the position ids, the head's activation and the
// defaults of their config.json keys.
#pragma once

#include <memory>
#include <string>

#include "models/model.h"

namespace dlm {

struct EncoderMlmSpec {
    std::string encoder;    // prefix of embeddings and layers: "roberta." / "bert."
    std::string head;       // prefix of decoder.weight and the output bias: "lm_head." / "cls.predictions."
    std::string transform;  // prefix of the head's dense and norm: "lm_head." / "cls.predictions.transform."
    std::string head_norm;  // the head norm's name: "layer_norm" / "LayerNorm"
    Activation head_activation = Activation::gelu_erf;
    // RoBERTa: position ids count real tokens from pad_token_id + 1 and padding gets
    // pad_token_id (whose position row gets no gradient); BERT: 0..T-1.
    bool positions_after_padding = false;
};

std::unique_ptr<Model> encoder_mlm_create(const ModelConfig& c, EncoderMlmSpec spec);

// BertConfig-style keys (hidden_size, num_hidden_layers, layer_norm_eps, hidden_act, ...)
// with the member's defaults for what a file may leave out.
struct EncoderConfigDefaults {
    int64_t type_vocab_size;
    int32_t pad, bos, eos;
};
void encoder_mlm_config_read(const nlohmann::ordered_json& j, ModelConfig& c, const std::string& where,
                             const EncoderConfigDefaults& defaults);
void encoder_mlm_config_write(const ModelConfig& c, nlohmann::ordered_json& j);

}  // namespace dlm
