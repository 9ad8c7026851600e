// CPU state that numerics depend on.
#pragma once

namespace dlm {

// Sets flush-to-zero and denormals-are-zero on every OpenMP thread. Softmax over
// long rows (attention, 50k-token vocabularies) produces values below 1e-38, and on
// x86 every denormal operand can cost a microcode assist of ~100 cycles; flushing
// them changes results by less than 1e-38. Cheap: call it whenever the thread count
// may have changed.
void denormals_flush_enable();

}  // namespace dlm
