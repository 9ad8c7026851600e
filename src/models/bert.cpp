// BERT masked language model (HF BertForMaskedLM): the post-LN encoder of
// models/encoder_mlm.h under the prefix "bert.", the head "cls.predictions." with its
// dense and LayerNorm under "cls.predictions.transform." (BertPredictionHeadTransform,
// activation hidden_act), the decoder tied to the word embeddings and the output bias.
// Position ids are 0..T-1; token type ids 0. The tokenizer is WordPiece
// (tokenizer/wordpiece.h).
#include "models/architecture.h"
#include "models/encoder_mlm.h"

namespace dlm {

namespace {

void bert_config_read(const nlohmann::ordered_json& j, ModelConfig& c, const std::string& where) {
    encoder_mlm_config_read(j, c, where, {/*type_vocab_size=*/2, /*pad=*/0, /*bos=*/-1, /*eos=*/-1});
}

std::unique_ptr<Model> bert_create(const ModelConfig& c) {
    return encoder_mlm_create(
        c, {"bert.", "cls.predictions.", "cls.predictions.transform.", "LayerNorm", c.activation, false});
}

}  // namespace

const Architecture& bert_architecture() {
    static const Architecture a{"BertForMaskedLM", "bert", bert_config_read, encoder_mlm_config_write, bert_create};
    return a;
}

}  // namespace dlm
