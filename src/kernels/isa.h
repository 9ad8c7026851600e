// Kernels built once per x86-64 level. A portable build (cmake -DDLM_NATIVE=OFF) compiles
// the files that hold the hot loops (decode, attention, layer norm, activations,
// embeddings, losses, dropout, sampling) three times: for x86-64-v2 (SSE4.2), v3 (AVX2,
// FMA) and v4 (AVX-512), each time with DLM_ISA naming a namespace of its own
// (isa_v2, isa_v3, isa_v4). Those files wrap their definitions in DLM_ISA_BEGIN /
// DLM_ISA_END; kernels/dispatch.cpp defines the public names, each calling the
// variant of the level cpu_level() chose (core/cpu.h). A native build (-march=native)
// compiles them once, and the macros are empty: the public names are the kernels.
//
// A variant file must not define anything the linker could merge across levels (an
// inline function or template kept out of line would be shared, AVX-512 code and all,
// with the other levels): CMake checks its objects for weak symbols.
#pragma once

#if defined(DLM_ISA)
#define DLM_ISA_BEGIN namespace DLM_ISA {
#define DLM_ISA_END }
#else
#define DLM_ISA_BEGIN
#define DLM_ISA_END
#endif
