// --dtype auto: bf16 only where it is the fast choice. Without native bf16 matrix
// products (a CPU without AVX-512, or DLM_BF16_EMULATE=1) gemm_bf16 widens its operands
// to fp32 for every product, which makes bf16 slower than f32 itself.
#include <fmt/format.h>

#include <cstdio>

#include "command.h"
#include "core/error.h"

namespace dlm::cli {

std::string dtype_option_help(const std::string& what) {
    return what + "; q8: int8 weights (one scale per output row), quantized on load; auto (the default): bf16 "
                  "where this CPU has native bf16 matrix products, else f32";
}

CLI::Option* add_dtype_option(CLI::App& sub, std::string& dtype, const std::string& what) {
    return sub.add_option("--dtype", dtype, dtype_option_help(what))->capture_default_str();
}

DType dtype_option_resolve(const std::string& value, bool bf16_native) {
    if (value == "auto") return bf16_native ? DType::BF16 : DType::F32;
    if (value == "bf16") return DType::BF16;
    if (value == "f32") return DType::F32;
    if (value == "q8") return DType::I8;
    fail("--dtype must be auto, bf16, f32 or q8, not '{}'", value);
}

std::string dtype_option_name(DType dtype) {
    return dtype == DType::BF16 ? "bf16" : dtype == DType::I8 ? "q8" : "f32";
}

void dtype_option_report(const std::string& value, bool bf16_native) {
    static bool reported = false;  // compare runs two models, bench many workloads: one line
    if (reported) return;
    std::string why;
    if (value == "auto")
        why = bf16_native ? "auto: this CPU has native bf16 matrix products"
                          : "auto: no native bf16 matrix products on this CPU; --dtype bf16 emulates them, slower";
    else if (value == "bf16" && !bf16_native)
        why = "emulated: no native bf16 matrix products on this CPU; --dtype f32 is faster here";
    if (why.empty()) return;  // a dtype given and run as given: nothing to add
    reported = true;
    fmt::print(stderr, "dlm: dtype {} ({})\n", dtype_option_name(dtype_option_resolve(value, bf16_native)), why);
    std::fflush(stderr);
}

}  // namespace dlm::cli
