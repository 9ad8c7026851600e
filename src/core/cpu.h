// CPU state that numerics depend on, and the instruction-set level the kernels run at.
#pragma once

namespace dlm {

// Sets flush-to-zero and denormals-are-zero on every OpenMP thread. Softmax over
// long rows (attention, 50k-token vocabularies) produces values below 1e-38, and on
// x86 every denormal operand can cost a microcode assist of ~100 cycles; flushing
// them changes results by less than 1e-38. Cheap: call it whenever the thread count
// may have changed.
void denormals_flush_enable();

// The x86-64 levels a portable build carries kernels for (kernels/isa.h): v2 (SSE4.2),
// v3 (AVX2 + FMA), v4 (AVX-512 F/BW/DQ/VL).
enum class CpuLevel { v2 = 2, v3 = 3, v4 = 4 };

// Whether this binary is a portable build (kernels for every level, chosen at run time)
// rather than a native one (-march=native: one level, the compiler's).
bool cpu_portable_build();
// The level whose kernels run. Portable build: the best this CPU supports, unless the
// environment variable DLM_CPU names a lower one (avx2, sse4.2, or x86-64-v2/v3/v4;
// a level the CPU lacks is lowered to its best, with a warning on stderr). Native
// build: the level it was compiled for.
CpuLevel cpu_level();
// Runs another level's kernels from now on (tests compare them), lowered to what the
// CPU supports; returns the level now in force. No effect in a native build.
CpuLevel cpu_level_force(CpuLevel level);
// The best level this CPU supports.
CpuLevel cpu_level_supported();
// "avx512", "avx2" or "sse4.2".
const char* cpu_level_name(CpuLevel level);

}  // namespace dlm
