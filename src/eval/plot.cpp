#include "eval/plot.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/file.h"

extern char** environ;

namespace dlm {

std::string plot_quote(const std::string& text) {
    std::string out = "'";
    for (char ch : text) {
        out += ch;
        if (ch == '\'') out += '\'';
    }
    return out + "'";
}

std::string plot_script_path(const std::string& name) {
    const char* env = std::getenv("DLM_SCRIPTS_DIR");
    return (env && *env ? std::string(env) : std::string(DLM_SOURCE_DIR) + "/scripts") + "/" + name;
}

std::string plot_terminal_for(const std::string& path) {
    const std::string ext = std::filesystem::path(path).extension().string();
    if (ext == ".png") return "pngcairo";
    if (ext == ".svg") return "svg";
    fail("{}: a plot must be a .png or .svg file", path);
}

PlotResult gnuplot_run(const std::string& script, const std::vector<std::pair<std::string, std::string>>& vars) {
    if (!file_exists(script)) return {false, "the plot script " + script + " is missing"};
    std::string defs;
    for (const auto& [k, v] : vars) defs += k + "=" + v + "; ";
    // gnuplot's messages go to a temporary file, read back if it fails.
    std::string err_path = (std::filesystem::temp_directory_path() / "dlm_gnuplot_XXXXXX").string();
    const int err_fd = ::mkstemp(err_path.data());
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    if (err_fd >= 0) posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
    std::string a0 = "gnuplot", a1 = "-e";
    std::string a3 = script;
    char* argv[] = {a0.data(), a1.data(), defs.data(), a3.data(), nullptr};
    pid_t pid = 0;
    const int rc = ::posix_spawnp(&pid, "gnuplot", &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    PlotResult r;
    if (rc != 0) {
        r.message = rc == ENOENT ? "gnuplot is not installed (Debian: apt install gnuplot-nox)"
                                 : std::string("cannot run gnuplot: ") + std::strerror(rc);
    } else {
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        r.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!r.ok) {
            std::string text = err_fd >= 0 ? file_read(err_path) : "";
            while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
            const size_t nl = text.rfind('\n');
            r.message = "gnuplot failed" + (text.empty() ? std::string() : ": " + text.substr(nl == std::string::npos ? 0 : nl + 1));
        }
    }
    if (err_fd >= 0) {
        ::close(err_fd);
        ::unlink(err_path.c_str());
    }
    return r;
}

}  // namespace dlm
