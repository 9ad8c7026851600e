#include "io/training_metadata.h"

#include <algorithm>

namespace dlm {

TrainingMetadata training_metadata_read(const ModelConfig& config) {
    TrainingMetadata m;
    if (!config.json.contains("dlm")) return m;
    const auto& j = config.json["dlm"];
    m.recorded = true;
    m.objective = j.value("objective", "");
    m.block_size = j.value("block_size", m.block_size);
    if (j.contains("prefix")) {
        const auto& p = j["prefix"];
        m.prefix_recorded = true;
        if (p.is_array()) {
            m.random_prefix = true;
            m.prefix_min = p.at(0).get<int64_t>();
            m.prefix_max = p.at(1).get<int64_t>();
        } else {
            m.prefix = p.get<int64_t>();
        }
    }
    m.mask_mode = j.value("mask_mode", "");
    m.mask_rates = j.value("mask_rates", std::vector<float>{});
    m.blocks = j.value("blocks", "");
    m.wrap = j.value("wrap", m.wrap);
    m.unit_max_tokens = j.value("unit_max_tokens", m.unit_max_tokens);
    m.init = j.value("init", "");
    m.train_dtype = j.value("train_dtype", "");
    return m;
}

nlohmann::ordered_json training_metadata_json(const TrainingMetadata& m) {
    return {{"objective", m.objective},
            {"block_size", m.block_size},
            {"prefix", m.random_prefix ? nlohmann::ordered_json::array({m.prefix_min, m.prefix_max})
                                       : nlohmann::ordered_json(m.prefix)},
            {"mask_mode", m.mask_mode},
            {"mask_rates", m.mask_rates},
            {"blocks", m.blocks},
            {"wrap", m.wrap},
            {"unit_max_tokens", m.unit_max_tokens},
            {"init", m.init},
            {"train_dtype", m.train_dtype}};
}

int64_t training_window(const TrainingMetadata& meta, const ModelConfig& config) {
    return std::min<int64_t>(meta.block_size, config.max_sequence());
}

}  // namespace dlm
