// dlm export: a model folder rewritten for shipping: weights in another dtype (bf16
// halves the files), config.json, generation_config.json if any, tokenizer files,
// nothing else (no optimizer state).
#include <fmt/format.h>

#include <filesystem>

#include "command.h"
#include "core/error.h"
#include "core/file.h"
#include "generation/generation_config.h"
#include "io/safetensors.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace dlm::cli {
namespace {

struct export_options {
    std::string model, output, dtype = "bf16", tokenizer;
};

void export_cmd(const export_options& o) {
    DType dt;
    if (o.dtype == "bf16") dt = DType::BF16;
    else if (o.dtype == "f16") dt = DType::F16;
    else if (o.dtype == "f32") dt = DType::F32;
    else fail("--dtype must be bf16, f16 or f32, not '{}'", o.dtype);
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::exists(o.output, ec) && fs::equivalent(o.output, o.model, ec))
        fail("{}: the output folder must differ from the model folder", o.output);
    auto m = model_load(o.model);
    generation_defaults_load(o.model);
    Tokenizer tok = Tokenizer::from_folder(o.tokenizer.empty() ? o.model : o.tokenizer);  // must load
    if (tok.vocab_size() > m->config().vocab_size)
        fail("the tokenizer has {} tokens but the model's vocabulary has {}", tok.vocab_size(), m->config().vocab_size);
    fs::create_directories(o.output, ec);
    if (ec) fail("{}: cannot create the output folder: {}", o.output, ec.message());
    m->save(o.output, dt);
    tokenizer_files_copy(o.tokenizer.empty() ? o.model : o.tokenizer, o.output);
    // The model's generation defaults travel with it (checked above, as generate reads them).
    if (const std::string gen = o.model + "/generation_config.json"; file_exists(gen))
        file_write_atomic(o.output + "/generation_config.json", file_read(gen));
    SafetensorsReader st(o.output + "/model.safetensors");
    int64_t bytes = 0;
    for (auto& t : st.tensors()) bytes += static_cast<int64_t>(t.end - t.begin);
    fmt::print(stderr, "dlm: exported {} ({:.2f} M parameters) to {} as {} ({:.1f} MB of weights)\n", o.model,
               m->parameter_count() / 1e6, o.output, o.dtype, bytes / 1e6);
}

command_registration reg(35, "export", "Write a model folder for shipping: weights as bf16/f16/f32, config and tokenizer",
                         [](CLI::App& sub) {
                             auto o = std::make_shared<export_options>();
                             sub.add_option("-m,--model", o->model, "Model folder (or a training checkpoint)")->required();
                             sub.add_option("-o,--output", o->output, "Output folder")->required();
                             sub.add_option("--dtype", o->dtype, "Stored dtype: bf16, f16 or f32")->capture_default_str();
                             sub.add_option("--tokenizer", o->tokenizer, "Tokenizer folder (default: the model folder)");
                             sub.callback([o] { export_cmd(*o); });
                         });

}  // namespace
}  // namespace dlm::cli
