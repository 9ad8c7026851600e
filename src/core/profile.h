// A per-kernel time breakdown for `--profile`: scopes named by kernel accumulate wall
// time (and call counts) while profiling is on; off, a scope costs one branch.
//
//   { DLM_PROFILE("attention"); attention_forward(...); }
//   profile_enable(true); ... ; profile_report(stderr);
#pragma once

#include <chrono>
#include <cstdio>

namespace dlm {

void profile_enable(bool on);
bool profile_enabled();
void profile_reset();
void profile_report(std::FILE* out);
void profile_add(const char* name, double seconds);

class ProfileScope {
public:
    explicit ProfileScope(const char* name) : name_(profile_enabled() ? name : nullptr) {
        if (name_) t0_ = std::chrono::steady_clock::now();
    }
    // Out of line: an inline destructor left out of line by the compiler would be a weak
    // symbol in every kernel variant of a portable build (kernels/isa.h).
    ~ProfileScope();

private:
    const char* name_;
    std::chrono::steady_clock::time_point t0_;
};

}  // namespace dlm

#define DLM_PROFILE_CAT2(a, b) a##b
#define DLM_PROFILE_CAT(a, b) DLM_PROFILE_CAT2(a, b)
#define DLM_PROFILE(name) ::dlm::ProfileScope DLM_PROFILE_CAT(dlm_profile_scope_, __LINE__)(name)
