// The architecture registry: models/architectures.def's entries, looked up by the
// HuggingFace names of config.json.
#include <string_view>
#include <vector>

#include "core/error.h"
#include "models/architecture.h"
#include "models/model.h"

namespace dlm {

#define DLM_ARCHITECTURE(id) const Architecture& id##_architecture();
#include "models/architectures.def"
#undef DLM_ARCHITECTURE

namespace {

const std::vector<const Architecture*>& architectures() {
    static const std::vector<const Architecture*> all = {
#define DLM_ARCHITECTURE(id) &id##_architecture(),
#include "models/architectures.def"
#undef DLM_ARCHITECTURE
    };
    return all;
}

std::string names_list() {
    std::string known;
    for (auto* a : architectures()) known += (known.empty() ? "" : ", ") + std::string(a->name);
    return known;
}

}  // namespace

const Architecture& architecture_of(const ModelConfig& c) {
    for (auto* a : architectures())
        if (c.architecture == a->name) return *a;
    fail("architecture '{}' is not supported (supported: {})", c.architecture, names_list());
}

void architecture_resolve(ModelConfig& c, const std::string& where) {
    if (c.architecture.empty()) {  // older configs omit architectures: the family's LM head
        for (auto* a : architectures())
            if (c.model_type == a->model_type) {
                c.architecture = a->name;
                return;
            }
        fail("{}: no 'architectures' and no known 'model_type'", where);
    }
    for (auto* a : architectures())
        if (c.architecture == a->name) {
            if (c.model_type.empty()) c.model_type = a->model_type;
            if (c.model_type != a->model_type)
                fail("{}: model_type '{}' does not match architecture {} (model_type '{}')", where, c.model_type,
                     c.architecture, a->model_type);
            return;
        }
    fail("{}: architecture '{}' (model_type '{}') is not supported (supported: {})", where, c.architecture,
         c.model_type, names_list());
}

void architecture_config_read(const nlohmann::ordered_json& j, ModelConfig& c, const std::string& where) {
    architecture_of(c).config_read(j, c, where);
}

void architecture_config_write(const ModelConfig& c, nlohmann::ordered_json& j) {
    architecture_of(c).config_write(c, j);
}

std::vector<std::string> model_architectures() {
    std::vector<std::string> r;
    for (auto* a : architectures()) r.push_back(a->name);
    return r;
}

std::unique_ptr<Model> model_create(const ModelConfig& config) { return architecture_of(config).create(config); }

}  // namespace dlm
