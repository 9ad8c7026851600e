// How subcommands plug into the `dlm` tool: each tools/dlm/cmd_*.cpp file
// defines one static `command_registration` that adds its subcommand to the app.
// main.cpp never needs to change when a subcommand is added.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace dlm::cli {

using command_setup_fn = std::function<void(CLI::App& sub)>;

struct command_registration {
    // `order` sorts the subcommands in `dlm --help` (smaller first).
    command_registration(int order, std::string name, std::string help, command_setup_fn setup);
};

// Options shared by many subcommands.
void add_threads_option(CLI::App& sub, int& threads);
void threads_apply(int threads);  // 0 = all cores
int threads_effective();          // the threads parallel regions will use

// The folder of a model the project ships (models/NAME in the source tree), used when
// -m is not given; the environment variable DLM_MODEL replaces the default diffusion
// model. Fails with a message when the folder holds no config.json.
std::string shipped_model_dir(const std::string& name);

}  // namespace dlm::cli
