// dlm inspect -m DIR: what a model folder holds.
#include <fmt/format.h>

#include <map>

#include "command.h"
#include "io/safetensors.h"
#include "models/model.h"

namespace dlm::cli {
namespace {

struct inspect_options {
    std::string model;
};

int inspect_run(const inspect_options& o) {
    auto m = model_load(o.model);
    const ModelConfig& c = m->config();
    SafetensorsReader st(o.model + "/model.safetensors");
    std::map<std::string, int64_t> dtypes;
    int64_t bytes = 0;
    for (auto& t : st.tensors()) {
        dtypes[dtype_name(t.dtype)] += t.numel();
        bytes += static_cast<int64_t>(t.end - t.begin);
    }
    std::string dt;
    for (auto& [k, v] : dtypes) dt += (dt.empty() ? "" : ", ") + k;
    fmt::print("folder:            {}\n", o.model);
    fmt::print("architecture:      {} ({})\n", c.architecture, c.is_causal() ? "causal LM" : "masked LM");
    fmt::print("vocab size:        {}\n", c.vocab_size);
    fmt::print("hidden size:       {}\n", c.hidden_size);
    fmt::print("layers:            {}\n", c.num_layers);
    fmt::print("attention heads:   {} (head size {})\n", c.num_heads, c.head_dim());
    fmt::print("intermediate size: {}\n", c.intermediate_size);
    fmt::print("max positions:     {}\n", c.max_positions);
    fmt::print("activation:        {}\n", c.activation == Activation::gelu_erf ? "gelu (erf)" : "gelu_new (tanh)");
    fmt::print("layer norm eps:    {:g}\n", c.layer_norm_eps);
    fmt::print("tied embeddings:   {}\n", c.tie_word_embeddings ? "yes" : "no");
    fmt::print("special ids:       bos {} eos {} pad {}\n", c.bos_token_id, c.eos_token_id, c.pad_token_id);
    fmt::print("parameters:        {} ({:.2f} M)\n", m->parameter_count(), m->parameter_count() / 1e6);
    fmt::print("stored dtype:      {} ({} tensors, {:.2f} MB of weights)\n", dt, st.tensors().size(), bytes / 1e6);
    return 0;
}

command_registration reg(10, "inspect", "Show a model folder's architecture, sizes and parameter count",
                         [](CLI::App& sub) {
                             auto o = std::make_shared<inspect_options>();
                             sub.add_option("-m,--model", o->model, "Model folder (config.json + model.safetensors)")
                                 ->required();
                             sub.callback([o] { inspect_run(*o); });
                         });

}  // namespace
}  // namespace dlm::cli
