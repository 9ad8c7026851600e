// How subcommands plug into the `dlm` tool: each tools/dlm/cmd_*.cpp file
// defines one static `command_registration` that adds its subcommand to the app.
// main.cpp never needs to change when a subcommand is added.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include "io/safetensors.h"
#include "kernels/gemm.h"

namespace dlm::cli {

using command_setup_fn = std::function<void(CLI::App& sub)>;

struct command_registration {
    // `order` sorts the subcommands in `dlm --help` (smaller first).
    command_registration(int order, std::string name, std::string help, command_setup_fn setup);
};

// Library messages name settings by the flags that set them (setting_flags.cpp);
// main() installs this before parsing.
void setting_flags_install();

// Options shared by many subcommands.
void add_threads_option(CLI::App& sub, int& threads);
void threads_apply(int threads);  // 0 = all cores
int threads_effective();          // the threads parallel regions will use

// The folder of a model the project ships (models/NAME in the source tree), used when
// -m is not given; the environment variable DLM_MODEL replaces the default diffusion
// model. Fails with a message when the folder holds no config.json.
std::string shipped_model_dir(const std::string& name);

// --dtype of the commands that run a model (generate, compare, eval; bench takes a comma
// list of the same values): auto, the default, is bf16 where gemm_bf16_native() holds
// and f32 elsewhere (bf16 products are emulated there, slower); bf16 and f32 are taken
// as given. `what` starts the help text; the meaning of auto follows it.
CLI::Option* add_dtype_option(CLI::App& sub, std::string& dtype, const std::string& what);
std::string dtype_option_help(const std::string& what);
// The dtype a --dtype value stands for; any other value than auto, bf16 or f32 fails,
// naming --dtype. bench passes bf16_native as a child process answered it (oneDNN must
// not start in the parent before its forks); the others let it ask gemm_bf16_native().
DType dtype_option_resolve(const std::string& value, bool bf16_native = gemm_bf16_native());
// "bf16" or "f32": a resolved dtype as reports record it (never "auto").
std::string dtype_option_name(DType dtype);
// One line on stderr, once per process, when the choice needs saying: what auto chose
// and why, or that a given bf16 is emulated here. Commands call it when the work
// starts, after their input checks, so that an input error stays the only line.
void dtype_option_report(const std::string& value, bool bf16_native = gemm_bf16_native());

}  // namespace dlm::cli
