// What an architecture file registers: its HuggingFace names, how it reads and writes
// its own config.json keys, and its factory. Each model file (models/roberta.cpp,
// models/bert.cpp, models/gpt2.cpp, ...) defines one, `<name>_architecture()`, and
// models/architectures.def lists them: adding an architecture is its file plus a line
// there.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "io/config.h"

namespace dlm {

class Model;

struct Architecture {
    const char* name;        // HF `architectures` entry, e.g. "RobertaForMaskedLM"
    const char* model_type;  // HF `model_type`, e.g. "roberta"
    // Reads the architecture's keys into c (sizes, eps, dropout, special ids, causal,
    // position offset); errors name `where` and the key.
    void (*config_read)(const nlohmann::ordered_json& j, ModelConfig& c, const std::string& where);
    // Folds c's values back into the architecture's keys of j.
    void (*config_write)(const ModelConfig& c, nlohmann::ordered_json& j);
    std::unique_ptr<Model> (*create)(const ModelConfig& c);
};

// The registered architecture named c.architecture; throws dlm::Error naming the
// supported ones.
const Architecture& architecture_of(const ModelConfig& c);

}  // namespace dlm
