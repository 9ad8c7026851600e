#include "models/init.h"

#include <cmath>
#include <random>
#include <string_view>

namespace dlm {

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool is_norm(std::string_view name) {
    return name.find("LayerNorm") != std::string_view::npos || name.find("layer_norm") != std::string_view::npos ||
           name.find(".ln_") != std::string_view::npos;
}

}  // namespace

void model_init_random(Model& m, uint64_t seed) {
    const ModelConfig& c = m.config();
    std::mt19937_64 rng(seed);
    for (auto& e : m.params().entries()) {
        float* p = m.params().get(e.offset);
        const int64_t n = e.numel();
        const bool norm = is_norm(e.name);
        if (ends_with(e.name, ".bias") || ends_with(e.name, "lm_head.bias") || e.name == "cls.predictions.bias") {
            std::fill(p, p + n, 0.0f);
            continue;
        }
        if (norm) {
            std::fill(p, p + n, 1.0f);
            continue;
        }
        float std = c.initializer_range;
        if (c.model_type == "gpt2" && ends_with(e.name, "c_proj.weight"))
            std /= std::sqrt(2.0f * static_cast<float>(c.num_layers));
        std::normal_distribution<float> normal(0.0f, std);
        for (int64_t i = 0; i < n; ++i) p[i] = normal(rng);
        // nn.Embedding(padding_idx=pad) rows start at zero (RoBERTa word and position
        // embeddings, BERT word embeddings).
        if (c.pad_token_id >= 0 && e.shape.size() == 2 && c.model_type != "gpt2" &&
            (ends_with(e.name, "word_embeddings.weight") ||
             (c.model_type == "roberta" && ends_with(e.name, "position_embeddings.weight"))) &&
            c.pad_token_id < e.shape[0])
            std::fill(p + c.pad_token_id * e.shape[1], p + (c.pad_token_id + 1) * e.shape[1], 0.0f);
    }
}

}  // namespace dlm
