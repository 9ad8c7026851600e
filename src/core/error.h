// Errors and invariant checks.
//
// dlm::Error is thrown at boundaries (files, CLI, user input): its message is one
// line that names what went wrong and where ("model.safetensors: tensor 'x' ...").
// DLM_ASSERT checks internal invariants: a failure is a bug in dlm, so it prints
// file and line and aborts.
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace dlm {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Throws dlm::Error with a fmt-formatted message.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
    throw Error(fmt::format(f, std::forward<Args>(args)...));
}

[[noreturn]] void assert_fail(const char* expr, const char* file, int line, const char* msg);

}  // namespace dlm

#define DLM_ASSERT(cond)                                                          \
    do {                                                                          \
        if (!(cond)) ::dlm::assert_fail(#cond, __FILE__, __LINE__, nullptr);      \
    } while (0)

#define DLM_ASSERT_MSG(cond, msg)                                                 \
    do {                                                                          \
        if (!(cond)) ::dlm::assert_fail(#cond, __FILE__, __LINE__, (msg));        \
    } while (0)
