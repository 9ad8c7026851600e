#include "core/cpu.h"

#include <omp.h>

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

}  // namespace dlm
