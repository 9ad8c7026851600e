#include "core/error.h"

#include <cstdio>
#include <cstdlib>

namespace dlm {

void assert_fail(const char* expr, const char* file, int line, const char* msg) {
    std::fprintf(stderr, "dlm: internal error at %s:%d: assertion `%s` failed%s%s\n", file, line,
                 expr, msg ? ": " : "", msg ? msg : "");
    std::fflush(stderr);
    std::abort();
}

}  // namespace dlm
