#include "core/cpu.h"

#include <omp.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace dlm {

void denormals_flush_enable() {
#if defined(__x86_64__) || defined(__i386__)
    const int n = omp_get_max_threads();
#pragma omp parallel num_threads(n)
    _mm_setcsr(_mm_getcsr() | 0x8040);  // FTZ (bit 15) | DAZ (bit 6)
#endif
}

namespace {

// The level a native build's kernels were compiled for.
constexpr CpuLevel compiled_level() {
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && defined(__AVX512VL__)
    return CpuLevel::v4;
#elif defined(__AVX2__) && defined(__FMA__)
    return CpuLevel::v3;
#else
    return CpuLevel::v2;
#endif
}

CpuLevel level_lowered(CpuLevel want) {
    const CpuLevel best = cpu_level_supported();
    return static_cast<int>(want) > static_cast<int>(best) ? best : want;
}

// DLM_CPU's level, or the CPU's best when it is unset.
CpuLevel level_from_environment() {
    const CpuLevel best = cpu_level_supported();
    const char* env = std::getenv("DLM_CPU");
    if (!env || !*env) return best;
    CpuLevel want;
    if (!std::strcmp(env, "avx512") || !std::strcmp(env, "x86-64-v4")) want = CpuLevel::v4;
    else if (!std::strcmp(env, "avx2") || !std::strcmp(env, "x86-64-v3")) want = CpuLevel::v3;
    else if (!std::strcmp(env, "sse4.2") || !std::strcmp(env, "x86-64-v2")) want = CpuLevel::v2;
    else {
        std::fprintf(stderr, "dlm: warning: DLM_CPU=%s is not a level (avx512, avx2, sse4.2); using %s\n", env,
                     cpu_level_name(best));
        return best;
    }
    if (static_cast<int>(want) <= static_cast<int>(best)) return want;
    std::fprintf(stderr, "dlm: warning: DLM_CPU=%s but this CPU supports %s at most; using it\n", env,
                 cpu_level_name(best));
    return best;
}

std::atomic<int> g_level{0};  // 0: not chosen yet

}  // namespace

bool cpu_portable_build() {
#if defined(DLM_PORTABLE)
    return true;
#else
    return false;
#endif
}

CpuLevel cpu_level_supported() {
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("x86-64-v4")) return CpuLevel::v4;
    if (__builtin_cpu_supports("x86-64-v3")) return CpuLevel::v3;
#endif
    return CpuLevel::v2;
}

CpuLevel cpu_level() {
    if (!cpu_portable_build()) return compiled_level();
    int l = g_level.load(std::memory_order_relaxed);
    if (l == 0) {
        int fresh = static_cast<int>(level_from_environment());
        // Another thread may have chosen first (it read the same environment).
        l = g_level.compare_exchange_strong(l, fresh) ? fresh : l;
    }
    return static_cast<CpuLevel>(l);
}

CpuLevel cpu_level_force(CpuLevel level) {
    if (!cpu_portable_build()) return compiled_level();
    g_level.store(static_cast<int>(level_lowered(level)));
    return cpu_level();
}

const char* cpu_level_name(CpuLevel level) {
    switch (level) {
    case CpuLevel::v4: return "avx512";
    case CpuLevel::v3: return "avx2";
    default: return "sse4.2";
    }
}

}  // namespace dlm
