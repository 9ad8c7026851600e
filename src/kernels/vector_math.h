// Vectorised libm: re-declares expf, erff and tanhf as OpenMP SIMD functions so that
// loops calling them are vectorised into glibc's libmvec variants (_ZGVeN16v_expf ...,
// max error 4 ulp) instead of one scalar call per element. glibc only declares these
// under -ffast-math, which we do not want for the kernels (it would break the
// -inf/finfo.min arithmetic of masked attention).
#pragma once

#include <cmath>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(_OPENMP)
extern "C" {
#pragma omp declare simd notinbranch
float expf(float) noexcept;
#pragma omp declare simd notinbranch
float erff(float) noexcept;
#pragma omp declare simd notinbranch
float tanhf(float) noexcept;
}
#endif
