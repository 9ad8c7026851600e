// Runs the dlm binary in tests and captures its exit code, stdout and stderr.
#pragma once

#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "core/file.h"

struct cli_result {
    int code = -1;        // exit code; -1 if killed by a signal (a crash)
    std::string out, err;
};

// Files and folders a test process made under a per-process name, removed when the
// process exits (one model folder per process would otherwise pile up in /tmp, run
// after run).
inline void remove_at_exit(const std::string& path) {
    static struct registry {
        std::vector<std::string> paths;
        ~registry() {
            for (const auto& p : paths) {
                std::error_code ec;
                std::filesystem::remove_all(p, ec);
            }
        }
    } owned;
    owned.paths.push_back(path);
}

// Waits until `path` exists (a background run's checkpoint); false after `seconds`.
inline bool wait_for(const std::string& path, double seconds) {
    const auto t0 = std::chrono::steady_clock::now();
    while (!std::filesystem::exists(path)) {
        if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > seconds) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
}

// env: what goes before the binary on the command line: shell assignments for this
// run only ("DLM_BF16_EMULATE=1"), or a launcher ("mpirun -np 2").
inline cli_result cli_run(const std::string& args, const std::string& env = "") {
    static int counter = 0;
    std::string base = ::testing::TempDir() + "dlm_cli_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    std::string cmd = (env.empty() ? "" : env + " ") + std::string(DLM_BINARY) + " " + args + " >" + base + ".out 2>" +
                      base + ".err </dev/null";
    int status = std::system(cmd.c_str());
    cli_result r;
    if (WIFEXITED(status)) r.code = WEXITSTATUS(status);
    r.out = dlm::file_read(base + ".out");
    r.err = dlm::file_read(base + ".err");
    std::filesystem::remove(base + ".out");
    std::filesystem::remove(base + ".err");
    return r;
}
