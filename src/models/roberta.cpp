// RoBERTa masked language model (HF RobertaForMaskedLM): the post-LN encoder of
// models/encoder_mlm.h under the prefix "roberta.", the head "lm_head." (dense,
// layer_norm, decoder tied to the word embeddings, bias). The head's GELU is the erf
// form whatever hidden_act says (HF's RobertaLMHead calls gelu). Position ids count
// real tokens from pad_token_id + 1; padding gets pad_token_id.
#include "models/architecture.h"
#include "models/encoder_mlm.h"

namespace dlm {

namespace {

void roberta_config_read(const nlohmann::ordered_json& j, ModelConfig& c, const std::string& where) {
    encoder_mlm_config_read(j, c, where, {/*type_vocab_size=*/1, /*pad=*/1, /*bos=*/0, /*eos=*/2});
    c.position_offset = c.pad_token_id + 1;  // 514 rows hold 512 tokens
}

std::unique_ptr<Model> roberta_create(const ModelConfig& c) {
    return encoder_mlm_create(c, {"roberta.", "lm_head.", "lm_head.", "layer_norm", Activation::gelu_erf, true});
}

}  // namespace

const Architecture& roberta_architecture() {
    static const Architecture a{"RobertaForMaskedLM", "roberta", roberta_config_read, encoder_mlm_config_write,
                                roberta_create};
    return a;
}

}  // namespace dlm
