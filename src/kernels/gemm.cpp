#include "kernels/gemm.h"

#include "core/profile.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/cpu.h"
#include "core/error.h"
#include "kernels/gemv.h"
#include "kernels/quant.h"

namespace dlm {

namespace {

dnnl::engine& cpu_engine() {
    static dnnl::engine e = [] {
        // No VTune/perf JIT annotations: they cost ~7% of primitive creation.
        dnnl::set_jit_profiling_flags(0);
        denormals_flush_enable();
        return dnnl::engine(dnnl::engine::kind::cpu, 0);
    }();
    return e;
}

dnnl::stream& cpu_stream() {
    static dnnl::stream s(cpu_engine());
    return s;
}

using view_key = std::array<int64_t, 8>;
view_key view_key_of(const gemm_view& v) {
    return {v.batch0, v.batch1, v.rows, v.cols, v.stride_b0, v.stride_b1, v.stride_row, v.stride_col};
}

// (a, b, c views, bias?, accumulate?, bf16 inputs?)
using gemm_key = std::tuple<view_key, view_key, view_key, bool, bool, bool>;

dnnl::memory::desc md_of(const gemm_view& v, dnnl::memory::data_type t = dnnl::memory::data_type::f32) {
    using dims = dnnl::memory::dims;
    return dnnl::memory::desc(dims{v.batch0, v.batch1, v.rows, v.cols}, t,
                              dims{v.stride_b0, v.stride_b1, v.stride_row, v.stride_col});
}

struct gemm_entry {
    dnnl::matmul prim;
    dnnl::memory::desc a, b, c, bias;
};

std::mutex g_mutex;
std::map<gemm_key, gemm_entry> g_cache;

const gemm_entry& gemm_entry_get(const gemm_view& av, const gemm_view& bv, const gemm_view& cv,
                                 bool has_bias, bool accumulate, bool bf16 = false) {
    gemm_key key{view_key_of(av), view_key_of(bv), view_key_of(cv), has_bias, accumulate, bf16};
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = g_cache.find(key);
    if (it != g_cache.end()) return it->second;
    gemm_entry e;
    const auto in_type = bf16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
    e.a = md_of(av, in_type);
    e.b = md_of(bv, in_type);
    e.c = md_of(cv);
    if (has_bias) {
        using dims = dnnl::memory::dims;
        e.bias = dnnl::memory::desc(dims{1, 1, 1, cv.cols}, dnnl::memory::data_type::f32,
                                    dims{cv.cols, cv.cols, cv.cols, 1});
    }
    dnnl::primitive_attr attr;
    if (accumulate) {
        dnnl::post_ops po;
        po.append_sum(1.0f);
        attr.set_post_ops(po);
    }
    auto desc = has_bias ? dnnl::matmul::desc(e.a, e.b, e.bias, e.c) : dnnl::matmul::desc(e.a, e.b, e.c);
    e.prim = dnnl::matmul(dnnl::matmul::primitive_desc(desc, attr, cpu_engine()));
    return g_cache.emplace(key, std::move(e)).first->second;
}

// Runs a cached matmul on raw buffers (bias optional) and waits for it.
void matmul_run(const dnnl::matmul& prim, const dnnl::memory::desc& a_md, const void* a, const dnnl::memory::desc& b_md,
                const void* b, const dnnl::memory::desc& c_md, float* c, const dnnl::memory::desc& bias_md,
                const float* bias) {
    auto& eng = cpu_engine();
    std::unordered_map<int, dnnl::memory> args{
        {DNNL_ARG_SRC, dnnl::memory(a_md, eng, const_cast<void*>(a))},
        {DNNL_ARG_WEIGHTS, dnnl::memory(b_md, eng, const_cast<void*>(b))},
        {DNNL_ARG_DST, dnnl::memory(c_md, eng, c)},
    };
    if (bias) args.emplace(DNNL_ARG_BIAS, dnnl::memory(bias_md, eng, const_cast<float*>(bias)));
    prim.execute(cpu_stream(), args);
    cpu_stream().wait();
}

}  // namespace

void gemm_f32(const float* a, const gemm_view& av, const float* b, const gemm_view& bv, float* c,
              const gemm_view& cv, const float* bias, float beta) {
    DLM_ASSERT(av.cols == bv.rows && av.rows == cv.rows && bv.cols == cv.cols);
    DLM_ASSERT(beta == 0.0f || beta == 1.0f);
    if (cv.rows == 0 || cv.cols == 0) return;
    const gemm_entry& e = gemm_entry_get(av, bv, cv, bias != nullptr, beta != 0.0f);
    matmul_run(e.prim, e.a, a, e.b, b, e.c, c, e.bias, bias);
}

namespace {

// Whether oneDNN has a bf16 matmul for this CPU: it needs AVX-512 (or AVX2 with the
// VNNI-2 extension); on plain AVX2 primitive creation fails. DLM_BF16_EMULATE=1 says
// no on any CPU (to run the whole suite the way an AVX2 machine does).
bool bf16_native_probe() {
    const char* env = std::getenv("DLM_BF16_EMULATE");
    if (env && *env && std::strcmp(env, "0") != 0) return false;
    try {
        const gemm_view v = gemm_matrix(2, 2, 2);
        gemm_entry_get(v, v, v, false, false, true);
        return true;
    } catch (const dnnl::error&) {
        return false;
    }
}

std::atomic<bool> g_bf16_emulation_forced{false};

// dst[rows, cols] (contiguous) = fp32 of src viewed with the given strides; the loop
// order follows whichever source stride is 1.
void bf16_widen_view(float* dst, const uint16_t* src, int64_t rows, int64_t cols, int64_t s_row, int64_t s_col) {
    if (s_col == 1 || s_row != 1) {
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < rows; ++r)
#pragma omp simd
            for (int64_t j = 0; j < cols; ++j) dst[r * cols + j] = bf16_widen(src[r * s_row + j * s_col]);
    } else {
#pragma omp parallel for schedule(static)
        for (int64_t j = 0; j < cols; ++j)
            for (int64_t r = 0; r < rows; ++r) dst[r * cols + j] = bf16_widen(src[r + j * s_col]);
    }
}

// The bf16 product without bf16 hardware: operands widened to fp32 in blocks of at
// most kBlock elements, then the fp32 GEMM. A product of two bf16 values is exact in
// fp32, so this is the native result up to the order of the fp32 sums.
void gemm_bf16_emulated(const uint16_t* a, const gemm_view& av, const uint16_t* b, const gemm_view& bv, float* c,
                        const gemm_view& cv, const float* bias, float beta) {
    constexpr int64_t kBlock = int64_t{1} << 22;
    thread_local std::vector<float> wa, wb;  // grow once, reused: no allocation per call
    const int64_t m = cv.rows, n = cv.cols, k = av.cols;
    const int64_t mb = std::max<int64_t>(1, std::min(m, kBlock / std::max<int64_t>(k, 1)));
    const int64_t nb = std::max<int64_t>(1, std::min(n, kBlock / std::max<int64_t>(k, 1)));
    if (static_cast<int64_t>(wa.size()) < mb * k) wa.resize(static_cast<size_t>(mb * k));
    if (static_cast<int64_t>(wb.size()) < nb * k) wb.resize(static_cast<size_t>(nb * k));
    for (int64_t i0 = 0; i0 < cv.batch0; ++i0)
        for (int64_t i1 = 0; i1 < cv.batch1; ++i1) {
            // A batch dimension of size 1 is broadcast, as in oneDNN.
            const uint16_t* a2 = a + (av.batch0 == 1 ? 0 : i0) * av.stride_b0 + (av.batch1 == 1 ? 0 : i1) * av.stride_b1;
            const uint16_t* b2 = b + (bv.batch0 == 1 ? 0 : i0) * bv.stride_b0 + (bv.batch1 == 1 ? 0 : i1) * bv.stride_b1;
            float* c2 = c + i0 * cv.stride_b0 + i1 * cv.stride_b1;
            for (int64_t j0 = 0; j0 < n; j0 += nb) {
                const int64_t jn = std::min(nb, n - j0);
                bf16_widen_view(wb.data(), b2 + j0 * bv.stride_col, k, jn, bv.stride_row, bv.stride_col);
                for (int64_t r0 = 0; r0 < m; r0 += mb) {
                    const int64_t rn = std::min(mb, m - r0);
                    bf16_widen_view(wa.data(), a2 + r0 * av.stride_row, rn, k, av.stride_row, av.stride_col);
                    const gemm_view out{1, 1, rn, jn, rn * cv.stride_row, rn * cv.stride_row, cv.stride_row, cv.stride_col};
                    gemm_f32(wa.data(), gemm_matrix(rn, k, k), wb.data(), gemm_matrix(k, jn, jn),
                             c2 + r0 * cv.stride_row + j0 * cv.stride_col, out, bias ? bias + j0 : nullptr, beta);
                }
            }
        }
}

}  // namespace

bool gemm_bf16_native() {
    static const bool native = bf16_native_probe();
    return native && !g_bf16_emulation_forced.load();
}

void gemm_bf16_emulation_force(bool on) { g_bf16_emulation_forced.store(on); }

void gemm_bf16(const uint16_t* a, const gemm_view& av, const uint16_t* b, const gemm_view& bv, float* c,
               const gemm_view& cv, const float* bias, float beta) {
    DLM_ASSERT(av.cols == bv.rows && av.rows == cv.rows && bv.cols == cv.cols);
    DLM_ASSERT(beta == 0.0f || beta == 1.0f);
    if (cv.rows == 0 || cv.cols == 0) return;
    if (!gemm_bf16_native()) return gemm_bf16_emulated(a, av, b, bv, c, cv, bias, beta);
    const gemm_entry& e = gemm_entry_get(av, bv, cv, bias != nullptr, beta != 0.0f, true);
    matmul_run(e.prim, e.a, a, e.b, b, e.c, c, e.bias, bias);
}

namespace {

// The blocked weight layout oneDNN picks for a [C] x [OC] bf16 product (chosen at 256
// rows; the same layout serves any row count).
const dnnl::memory::desc& packed_weight_desc(int64_t c, int64_t oc) {
    static std::map<std::pair<int64_t, int64_t>, dnnl::memory::desc> cache;
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = cache.find({c, oc});
    if (it != cache.end()) return it->second;
    using dims = dnnl::memory::dims;
    using tag = dnnl::memory::format_tag;
    const auto bf16 = dnnl::memory::data_type::bf16;
    dnnl::matmul::desc d(dnnl::memory::desc(dims{256, c}, bf16, tag::ab), dnnl::memory::desc(dims{c, oc}, bf16, tag::any),
                         dnnl::memory::desc(dims{256, oc}, dnnl::memory::data_type::f32, tag::ab));
    return cache.emplace(std::make_pair(c, oc), dnnl::matmul::primitive_desc(d, cpu_engine()).weights_desc()).first->second;
}

struct packed_entry {
    dnnl::matmul prim;
    dnnl::memory::desc a, c, bias;
};

const packed_entry& packed_entry_get(int64_t n, int64_t c, int64_t oc, bool has_bias) {
    static std::map<std::tuple<int64_t, int64_t, int64_t, bool>, packed_entry> cache;
    const dnnl::memory::desc& w = packed_weight_desc(c, oc);
    std::lock_guard<std::mutex> lock(g_mutex);
    auto key = std::make_tuple(n, c, oc, has_bias);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
    using dims = dnnl::memory::dims;
    using tag = dnnl::memory::format_tag;
    packed_entry e;
    e.a = dnnl::memory::desc(dims{n, c}, dnnl::memory::data_type::bf16, tag::ab);
    e.c = dnnl::memory::desc(dims{n, oc}, dnnl::memory::data_type::f32, tag::ab);
    if (has_bias) e.bias = dnnl::memory::desc(dims{1, oc}, dnnl::memory::data_type::f32, tag::ab);
    auto d = has_bias ? dnnl::matmul::desc(e.a, w, e.bias, e.c) : dnnl::matmul::desc(e.a, w, e.c);
    e.prim = dnnl::matmul(dnnl::matmul::primitive_desc(d, cpu_engine()));
    return cache.emplace(key, std::move(e)).first->second;
}

}  // namespace

int64_t linear_weight_packed_size_bf16(int64_t c, int64_t oc) {
    if (!gemm_bf16_native()) return 0;
    return static_cast<int64_t>(packed_weight_desc(c, oc).get_size() / sizeof(uint16_t));
}

void linear_weight_pack_bf16_copy(uint16_t* packed, const uint16_t* weight, int64_t c, int64_t oc) {
    DLM_ASSERT(gemm_bf16_native());
    // nn.Linear [OC, C] is the [C] x [OC] operand read transposed: format "ba".
    const dnnl::memory::desc plain(dnnl::memory::dims{c, oc}, dnnl::memory::data_type::bf16, dnnl::memory::format_tag::ba);
    auto& eng = cpu_engine();
    dnnl::memory src(plain, eng, const_cast<uint16_t*>(weight)), dst(packed_weight_desc(c, oc), eng, packed);
    dnnl::reorder(src, dst).execute(cpu_stream(), src, dst);
    cpu_stream().wait();
}

bool linear_weight_pack_bf16(uint16_t* weight, int64_t c, int64_t oc) {
    // In place only where the packed layout has the plain one's size; without oneDNN's
    // bf16 kernels the size is 0 and the emulation reads the plain layout.
    if (linear_weight_packed_size_bf16(c, oc) != c * oc) return false;
    const std::vector<uint16_t> plain(weight, weight + c * oc);
    linear_weight_pack_bf16_copy(weight, plain.data(), c, oc);
    return true;
}

void linear_forward_bf16_packed(float* out, uint16_t* inp_bf16, const float* inp, const uint16_t* packed_weight,
                                const float* bias, int64_t n, int64_t c, int64_t oc) {
    DLM_PROFILE("linear_bf16");
    if (n == 0) return;
    if (inp) f32_to_bf16_convert(inp_bf16, inp, n * c);
    const packed_entry& e = packed_entry_get(n, c, oc, bias != nullptr);
    matmul_run(e.prim, e.a, inp_bf16, packed_weight_desc(c, oc), packed_weight, e.c, out, e.bias, bias);
}

namespace {

dnnl::primitive_attr q8_attr() {  // per-column output scales, given at run time
    dnnl::primitive_attr attr;
    attr.set_output_scales(1 << 1, {DNNL_RUNTIME_F32_VAL});
    return attr;
}

// The plain codes q[OC, C] are the [C] x [OC] operand read transposed: format "ba".
dnnl::memory::desc q8_weight_desc(int64_t c, int64_t oc) {
    return dnnl::memory::desc(dnnl::memory::dims{c, oc}, dnnl::memory::data_type::s8, dnnl::memory::format_tag::ba);
}

struct q8_entry {
    dnnl::matmul prim;
    dnnl::memory::desc a, c, scales;
};

const q8_entry& q8_entry_get(int64_t n, int64_t c, int64_t oc) {
    static std::map<std::tuple<int64_t, int64_t, int64_t>, q8_entry> cache;
    const dnnl::memory::desc w = q8_weight_desc(c, oc);
    std::lock_guard<std::mutex> lock(g_mutex);
    auto key = std::make_tuple(n, c, oc);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
    using dims = dnnl::memory::dims;
    using tag = dnnl::memory::format_tag;
    q8_entry e;
    e.a = dnnl::memory::desc(dims{n, c}, dnnl::memory::data_type::s8, tag::ab);
    e.c = dnnl::memory::desc(dims{n, oc}, dnnl::memory::data_type::f32, tag::ab);
    e.scales = dnnl::memory::desc(dims{oc}, dnnl::memory::data_type::f32, tag::a);
    e.prim = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(e.a, w, e.c), q8_attr(), cpu_engine()));
    return cache.emplace(key, std::move(e)).first->second;
}

// Without VNNI: the same quantized product through fp32. The codes and their scales are
// widened (each value x_q * s exactly as the int8 route's factors), then the fp32 GEMM:
// the results agree with the int8 route up to float rounding. (oneDNN 2.6's s8 x s8
// matmul without VNNI, held to AVX2, returned wrong sums: off by ~127x.)
void q8_forward_f32(float* out, const int8_t* xq, const float* xs, const int8_t* q, const float* scale,
                    const float* bias, int64_t n, int64_t c, int64_t oc) {
    static thread_local std::vector<float> x32, w32;
    x32.resize(static_cast<size_t>(n * c));
    w32.resize(static_cast<size_t>(oc * c));
    q8_weights_dequantize(x32.data(), xq, xs, n, c);
    q8_weights_dequantize(w32.data(), q, scale, oc, c);
    linear_forward(out, x32.data(), w32.data(), bias, n, c, oc);
}

}  // namespace

bool gemm_q8_native() {
    // VNNI in the ISA oneDNN runs (DNNL_MAX_CPU_ISA may hold it lower), and a product
    // whose pair sums overflow 16 bits coming out exact.
    static const bool native = [] {
        using isa = dnnl::cpu_isa;
        const isa e = dnnl::get_effective_cpu_isa();
        if (e != isa::avx2_vnni && e != isa::avx512_core_vnni && e != isa::avx512_core_bf16 && e != isa::avx512_core_amx)
            return false;
        constexpr int64_t k = 64;
        std::vector<int8_t> x(k), w(k);
        for (int64_t i = 0; i < k; ++i) x[i] = w[i] = i % 2 ? -127 : 127;
        auto& eng = cpu_engine();
        const q8_entry& e1 = q8_entry_get(1, k, 1);
        float out = 0, one = 1;
        e1.prim.execute(cpu_stream(), {{DNNL_ARG_SRC, dnnl::memory(e1.a, eng, x.data())},
                                       {DNNL_ARG_WEIGHTS, dnnl::memory(q8_weight_desc(k, 1), eng, w.data())},
                                       {DNNL_ARG_DST, dnnl::memory(e1.c, eng, &out)},
                                       {DNNL_ARG_ATTR_OUTPUT_SCALES, dnnl::memory(e1.scales, eng, &one)}});
        cpu_stream().wait();
        return out == static_cast<float>(k * 127 * 127);
    }();
    return native;
}

void linear_forward_q8(float* out, int8_t* inp_q8, float* row_scale, const float* inp, const int8_t* q,
                       const float* scale, const float* bias, int64_t n, int64_t c, int64_t oc) {
    DLM_PROFILE("linear_q8");
    if (n == 0) return;
    q8_rows_quantize(inp_q8, row_scale, inp, n, c);
    if (!gemm_q8_native()) return q8_forward_f32(out, inp_q8, row_scale, q, scale, bias, n, c, oc);
    const q8_entry& e = q8_entry_get(n, c, oc);
    auto& eng = cpu_engine();
    std::unordered_map<int, dnnl::memory> args{
        {DNNL_ARG_SRC, dnnl::memory(e.a, eng, inp_q8)},
        {DNNL_ARG_WEIGHTS, dnnl::memory(q8_weight_desc(c, oc), eng, const_cast<int8_t*>(q))},
        {DNNL_ARG_DST, dnnl::memory(e.c, eng, out)},
        {DNNL_ARG_ATTR_OUTPUT_SCALES, dnnl::memory(e.scales, eng, const_cast<float*>(scale))},
    };
    e.prim.execute(cpu_stream(), args);
    cpu_stream().wait();
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < n; ++r) {
        float* o = out + r * oc;
        const float s = row_scale[r];
        if (bias) {
#pragma omp simd
            for (int64_t j = 0; j < oc; ++j) o[j] = o[j] * s + bias[j];
        } else {
#pragma omp simd
            for (int64_t j = 0; j < oc; ++j) o[j] *= s;
        }
    }
}

void f32_to_bf16_convert(uint16_t* out, const float* in, int64_t n) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) out[i] = bf16_round(in[i]);
}

void f32_to_bf16_convert_rows(uint16_t* out, const float* in, int64_t rows, int64_t cols, int64_t ld) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r)
#pragma omp simd
        for (int64_t j = 0; j < cols; ++j) out[r * cols + j] = bf16_round(in[r * ld + j]);
}

void linear_forward_bf16(float* out, uint16_t* inp_bf16, const float* inp, const uint16_t* weight, const float* bias,
                         int64_t n, int64_t c, int64_t oc) {
    DLM_PROFILE("linear_bf16");
    if (inp) f32_to_bf16_convert(inp_bf16, inp, n * c);
    gemm_bf16(inp_bf16, gemm_matrix(n, c, c), weight, gemm_matrix_t(c, oc, c), out, gemm_matrix(n, oc, oc), bias);
}

void conv1d_forward_bf16(float* out, uint16_t* inp_bf16, const float* inp, const uint16_t* weight, const float* bias,
                         int64_t n, int64_t c, int64_t oc) {
    DLM_PROFILE("linear_bf16");
    if (inp) f32_to_bf16_convert(inp_bf16, inp, n * c);
    gemm_bf16(inp_bf16, gemm_matrix(n, c, c), weight, gemm_matrix(c, oc, oc), out, gemm_matrix(n, oc, oc), bias);
}

namespace {

// out[N, OC] = inp[N, C] x tiled[C, OC] + bias, tiles of tile_cols columns: the bias
// first, then one batched product over the tiles (the input broadcast to each) and a
// plain one over the last OC % tile_cols columns, both accumulating onto it. product is
// gemm_f32 or gemm_bf16 on the operands' type.
template <typename T, typename Product>
void tiles_product(float* out, const T* inp, const T* tiled, const float* bias, int64_t n, int64_t c, int64_t oc,
                   int64_t tile_cols, Product product) {
    if (bias)
        for (int64_t r = 0; r < n; ++r) std::memcpy(out + r * oc, bias, static_cast<size_t>(oc) * sizeof(float));
    const float beta = bias ? 1.0f : 0.0f;
    const int64_t tc = tile_cols, tiles = oc / tc, full = tiles * tc;
    const gemm_view a = gemm_matrix(n, c, c);
    if (tiles > 0) {
        const gemm_view b{tiles, 1, c, tc, c * tc, c * tc, tc, 1};
        const gemm_view d{tiles, 1, n, tc, tc, tc, oc, 1};
        product(inp, a, tiled, b, out, d, nullptr, beta);
    }
    if (oc > full) {
        const int64_t rest = oc - full;
        const gemm_view d{1, 1, n, rest, n * oc, n * oc, oc, 1};
        product(inp, a, tiled + full * c, gemm_matrix(c, rest, rest), out + full, d, nullptr, beta);
    }
}

}  // namespace

void tiled_forward_bf16(float* out, uint16_t* inp_bf16, const float* inp, const uint16_t* tiled, const float* bias,
                        int64_t n, int64_t c, int64_t oc) {
    DLM_PROFILE("linear_bf16");
    if (inp) f32_to_bf16_convert(inp_bf16, inp, n * c);
    tiles_product(out, static_cast<const uint16_t*>(inp_bf16), tiled, bias, n, c, oc, kTileCols, gemm_bf16);
}

void tiled_forward_f32(float* out, const float* inp, const float* tiled, const float* bias, int64_t n, int64_t c,
                       int64_t oc) {
    DLM_PROFILE("linear");
    tiles_product(out, inp, tiled, bias, n, c, oc, kTileColsF32, gemm_f32);
}

void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t n,
                    int64_t c, int64_t oc) {
    DLM_PROFILE("linear");
    gemm_f32(inp, gemm_matrix(n, c, c), weight, gemm_matrix_t(c, oc, c), out, gemm_matrix(n, oc, oc), bias);
}

void conv1d_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t n,
                    int64_t c, int64_t oc) {
    DLM_PROFILE("linear");
    gemm_f32(inp, gemm_matrix(n, c, c), weight, gemm_matrix(c, oc, oc), out, gemm_matrix(n, oc, oc), bias);
}

void bias_backward(float* dbias, const float* dout, int64_t n, int64_t oc) {
    // Each thread owns a slice of columns and walks the rows through it: contiguous
    // reads, no shared writes, sums independent of the thread count.
#pragma omp parallel
    {
        const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
        const int64_t j0 = oc * t / nt, j1 = oc * (t + 1) / nt;
        for (int64_t i = 0; i < n; ++i) {
            const float* row = dout + i * oc;
#pragma omp simd
            for (int64_t j = j0; j < j1; ++j) dbias[j] += row[j];
        }
    }
}

void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int64_t n, int64_t c, int64_t oc) {
    DLM_PROFILE("linear_backward");
    if (dinp)
        gemm_f32(dout, gemm_matrix(n, oc, oc), weight, gemm_matrix(oc, c, c), dinp, gemm_matrix(n, c, c), nullptr, 1.0f);
    if (dweight)
        gemm_f32(dout, gemm_matrix_t(oc, n, oc), inp, gemm_matrix(n, c, c), dweight, gemm_matrix(oc, c, c), nullptr,
                 1.0f);
    if (dbias) bias_backward(dbias, dout, n, oc);
}

void conv1d_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int64_t n, int64_t c, int64_t oc) {
    DLM_PROFILE("linear_backward");
    if (dinp)
        gemm_f32(dout, gemm_matrix(n, oc, oc), weight, gemm_matrix_t(oc, c, oc), dinp, gemm_matrix(n, c, c), nullptr,
                 1.0f);
    if (dweight)
        gemm_f32(inp, gemm_matrix_t(c, n, c), dout, gemm_matrix(n, oc, oc), dweight, gemm_matrix(c, oc, oc), nullptr,
                 1.0f);
    if (dbias) bias_backward(dbias, dout, n, oc);
}

namespace {

// Both layouts: weight [OC, C] (nn.Linear, conv1d false) or [C, OC] (GPT-2 Conv1D).
void backward_bf16(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                   const uint16_t* weight, uint16_t* scratch, int64_t n, int64_t c, int64_t oc, bool conv1d) {
    DLM_PROFILE("linear_backward_bf16");
    uint16_t* dout16 = scratch;
    uint16_t* inp16 = scratch + n * oc;
    if (dinp || dweight) f32_to_bf16_convert(dout16, dout, n * oc);
    if (dinp)
        gemm_bf16(dout16, gemm_matrix(n, oc, oc), weight, conv1d ? gemm_matrix_t(oc, c, oc) : gemm_matrix(oc, c, c), dinp,
                  gemm_matrix(n, c, c), nullptr, 1.0f);
    if (dweight) {
        f32_to_bf16_convert(inp16, inp, n * c);
        if (conv1d)  // dW[C, OC] += inp^T dout
            gemm_bf16(inp16, gemm_matrix_t(c, n, c), dout16, gemm_matrix(n, oc, oc), dweight, gemm_matrix(c, oc, oc),
                      nullptr, 1.0f);
        else  // dW[OC, C] += dout^T inp
            gemm_bf16(dout16, gemm_matrix_t(oc, n, oc), inp16, gemm_matrix(n, c, c), dweight, gemm_matrix(oc, c, c),
                      nullptr, 1.0f);
    }
    if (dbias) bias_backward(dbias, dout, n, oc);
}

}  // namespace

void linear_backward_bf16(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                          const uint16_t* weight, uint16_t* scratch, int64_t n, int64_t c, int64_t oc) {
    backward_bf16(dinp, dweight, dbias, dout, inp, weight, scratch, n, c, oc, false);
}

void conv1d_backward_bf16(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                          const uint16_t* weight, uint16_t* scratch, int64_t n, int64_t c, int64_t oc) {
    backward_bf16(dinp, dweight, dbias, dout, inp, weight, scratch, n, c, oc, true);
}

int64_t gemm_cache_size() {
    std::lock_guard<std::mutex> lock(g_mutex);
    return static_cast<int64_t>(g_cache.size());
}

}  // namespace dlm
