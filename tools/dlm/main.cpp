// dlm: text-diffusion language models in C++. The tool is thin: each subcommand
// lives in its own tools/dlm/cmd_*.cpp and calls into the library.
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "command.h"
#include "train/distributed.h"
#include "core/cpu.h"
#include "core/error.h"
#include "core/file.h"

namespace dlm::cli {

namespace {
struct registered_command {
    int order;
    std::string name, help;
    command_setup_fn setup;
};
std::vector<registered_command>& command_table() {
    static std::vector<registered_command> table;
    return table;
}
}  // namespace

command_registration::command_registration(int order, std::string name, std::string help,
                                           command_setup_fn setup) {
    command_table().push_back({order, std::move(name), std::move(help), std::move(setup)});
}

void add_threads_option(CLI::App& sub, int& threads) {
    sub.add_option("-t,--threads", threads, "Number of threads (0 = all cores)")
        ->check(CLI::NonNegativeNumber);
}

int threads_effective() { return omp_get_max_threads(); }

std::string shipped_model_dir(const std::string& name) {
    const char* env = name == "dlm-diffusion" ? std::getenv("DLM_MODEL") : nullptr;
    std::string dir = env ? env : std::string(DLM_SOURCE_DIR) + "/models/" + name;
    if (!file_exists(dir + "/config.json"))
        fail("no model given and no shipped model at {}: pass a model folder (-m DIR)", dir);
    return dir;
}

void threads_apply(int threads) {
    if (threads > 0) omp_set_num_threads(threads);
    denormals_flush_enable();
}

// Reports an error and gives the exit code; in a multi-process training job the other
// ranks are stopped too (they would wait for this one forever).
int error_exit(const char* what) {
    if (dlm::distributed_size() > 1)
        std::fprintf(stderr, "dlm: error (rank %d of %d): %s; stopping every rank\n", dlm::distributed_rank(),
                     dlm::distributed_size(), what);
    else
        std::fprintf(stderr, "dlm: error: %s\n", what);
    dlm::distributed_abort(1);
    return 1;
}

}  // namespace dlm::cli

int main(int argc, char** argv) {
    using namespace dlm::cli;
    setting_flags_install();
    CLI::App app{"dlm: text-diffusion language models in C++"};
    // Which kernels run (and, for a bad DLM_CPU, the warning) on every command's stderr.
    const dlm::CpuLevel level = dlm::cpu_level();
    app.set_version_flag("--version", std::string("dlm 0.1.0 (") +
                                          (dlm::cpu_portable_build() ? "portable build" : "native build") +
                                          ", kernels " + dlm::cpu_level_name(level) + ")");
    app.require_subcommand(1);
    auto& table = command_table();
    std::sort(table.begin(), table.end(),
              [](const auto& a, const auto& b) { return a.order < b.order; });
    for (auto& c : table) c.setup(*app.add_subcommand(c.name, c.help));
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const dlm::Error& e) {
        return error_exit(e.what());
    } catch (const std::bad_alloc&) {
        return error_exit("out of memory");
    } catch (const std::exception& e) {
        return error_exit(e.what());
    }
    return 0;
}
