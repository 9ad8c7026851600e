#include "kernels/gemv.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/profile.h"
#include "kernels/gemm.h"
#include "kernels/isa.h"
#include "kernels/vector_math.h"

namespace dlm {
DLM_ISA_BEGIN

namespace {

// The widest float vector the build targets: 16 lanes with AVX-512, 8 with AVX2, 4
// otherwise. Sizing the vectors (and so the register tiles below) by the target keeps
// every accumulator in a register: 512-bit vectors on AVX2 are split by the compiler
// into twice as many registers as the tiles were sized for, and spill.
#if defined(__AVX512F__)
constexpr int64_t kLanes = 16;
#elif defined(__AVX2__)
constexpr int64_t kLanes = 8;
#else
constexpr int64_t kLanes = 4;
#endif
typedef float vfloat __attribute__((vector_size(kLanes * 4)));
typedef uint16_t vhalf __attribute__((vector_size(kLanes * 2)));
typedef uint32_t vword __attribute__((vector_size(kLanes * 4)));

inline vfloat load(const float* p) {
    vfloat x;
    std::memcpy(&x, p, sizeof x);
    return x;
}
// kLanes bf16 weights widened to fp32 (a bf16 is the top half of an fp32).
inline vfloat load(const uint16_t* p) {
    vhalf h;
    std::memcpy(&h, p, sizeof h);
    const vword w = __builtin_convertvector(h, vword) << 16;
    vfloat x;
    std::memcpy(&x, &w, sizeof x);
    return x;
}
inline void store(float* p, vfloat x) { std::memcpy(p, &x, sizeof x); }
inline float lanes_sum(vfloat x) {
    float s = 0;
    for (int i = 0; i < kLanes; ++i) s += x[i];
    return s;
}

// Columns [j0, j0 + kLanes) of out[N] = inp[K] x weight[K, N] + bias, bf16 weights:
// one accumulator while the rows of weight stream by once (the kLanes-column groups of
// conv1d_rest_bf16).
void conv1d_group_bf16(float* out, const float* inp, const uint16_t* weight, const float* bias, int64_t k,
                       int64_t n, int64_t j0) {
    vfloat acc = bias ? load(bias + j0) : vfloat{};
    for (int64_t kk = 0; kk < k; ++kk) acc += inp[kk] * load(weight + kk * n + j0);
    store(out + j0, acc);
}

// The last cols < kLanes columns from j0: the group computation on zero-padded vectors,
// so that every column is summed the same way (bias first, then k ascending) wherever
// it falls.
void conv1d_tail_bf16(float* out, const float* inp, const uint16_t* weight, const float* bias, int64_t k,
                      int64_t n, int64_t j0, int64_t cols) {
    const auto bytes = static_cast<size_t>(cols) * sizeof(float);
    vfloat acc{};
    if (bias) std::memcpy(&acc, bias + j0, bytes);
    for (int64_t kk = 0; kk < k; ++kk) {
        vfloat wv{};
        for (int64_t i = 0; i < cols; ++i) wv[i] = bf16_widen(weight[kk * n + j0 + i]);
        acc += inp[kk] * wv;
    }
    std::memcpy(out + j0, &acc, bytes);
}

// bf16 weights, columns [j0, j0 + 2 kLanes W) of a matrix with row stride ld: one
// vector load holds 2 kLanes columns as kLanes pairs; `<< 16` widens the even columns
// and `& 0xffff0000` the odd ones, so the widening costs one operation per kLanes
// weights instead of two. The weights `ahead` elements on are prefetched (a hint: it
// never faults, so the last rows need no guard).
template <int W>
void conv1d_tile_bf16(float* out, const float* inp, const uint16_t* weight, const float* bias, int64_t k,
                      int64_t ld, int64_t j0, int64_t ahead) {
    constexpr int64_t G = 2 * kLanes;  // columns per group
    vfloat even[W] = {}, odd[W] = {};  // every lane set below; zeroed so no level warns
    for (int w = 0; w < W; ++w) {
        for (int i = 0; i < kLanes; ++i) {
            even[w][i] = bias ? bias[j0 + G * w + 2 * i] : 0.0f;
            odd[w][i] = bias ? bias[j0 + G * w + 2 * i + 1] : 0.0f;
        }
    }
    const vword high = vword{} + 0xffff0000u;
    for (int64_t kk = 0; kk < k; ++kk) {
        const uint16_t* wr = weight + kk * ld + j0;
        for (int64_t c = 0; c < W * G; c += 32) __builtin_prefetch(wr + ahead + c, 0, 0);  // once per 64 bytes
        const float a = inp[kk];
        for (int w = 0; w < W; ++w) {
            vword pair;
            std::memcpy(&pair, wr + G * w, sizeof pair);
            const vword lo = pair << 16, hi = pair & high;
            vfloat fl, fh;
            std::memcpy(&fl, &lo, sizeof fl);
            std::memcpy(&fh, &hi, sizeof fh);
            even[w] += a * fl;
            odd[w] += a * fh;
        }
    }
    for (int w = 0; w < W; ++w)
        for (int i = 0; i < kLanes; ++i) {
            out[j0 + G * w + 2 * i] = even[w][i];
            out[j0 + G * w + 2 * i + 1] = odd[w][i];
        }
}

// The bf16 GEMVs' tile: kTileCols columns = 256 bytes of each weight row, in passes of
// kPassGroups groups of 2 kLanes columns: 8 accumulators, which fit the registers
// whatever the width (AVX-512: one pass of 4 groups; AVX2: two passes of 4, the second
// reading the tile's other half, mostly from L2). Wider tiles balance badly over two
// threads for N = 768.
constexpr int kPassGroups = static_cast<int>(std::min<int64_t>(4, kTileCols / (2 * kLanes)));
constexpr int64_t kPassCols = 2 * kLanes * kPassGroups;
static_assert(kTileCols % kPassCols == 0, "a tile is a whole number of passes");

void tile_bf16(float* out, const float* inp, const uint16_t* weight, const float* bias, int64_t k, int64_t ld,
               int64_t j0, int64_t ahead) {
    for (int64_t p = 0; p < kTileCols; p += kPassCols)
        conv1d_tile_bf16<kPassGroups>(out, inp, weight, bias, k, ld, j0 + p, ahead);
}

// Columns [j0, n) of a plain bf16 [K, n] block (fewer than one tile): kLanes-column
// groups, then the ragged tail, each summed as the tiles are.
void conv1d_rest_bf16(float* out, const float* inp, const uint16_t* weight, const float* bias, int64_t k,
                      int64_t n, int64_t j0) {
    for (int64_t j = j0; j < n; j += kLanes) {
        const int64_t cols = std::min<int64_t>(kLanes, n - j);
        if (cols == kLanes) conv1d_group_bf16(out, inp, weight, bias, k, n, j);
        else conv1d_tail_bf16(out, inp, weight, bias, k, n, j, cols);
    }
}

// One chunk of the fp32 Conv1D GEMV: part[N] = sum over rows kk in [k0, k1), ascending,
// of inp[kk] x weight[kk, :]. R rows are folded into the partial per pass over it, so
// it is loaded and stored once per R rows while R whole rows stream by.
template <int R>
void conv1d_chunk(float* part, const float* inp, const float* weight, int64_t k0, int64_t k1, int64_t n) {
    const int64_t nv = n / kLanes * kLanes;
    std::fill(part, part + n, 0.0f);
    for (int64_t kk = k0; kk < k1; kk += R) {
        const int64_t rows = std::min<int64_t>(R, k1 - kk);
        const float* w = weight + kk * n;
        const float* x = inp + kk;
        if (rows == R) {
            for (int64_t j = 0; j < nv; j += kLanes) {
                vfloat acc = load(part + j);
                for (int q = 0; q < R; ++q) acc += x[q] * load(w + q * n + j);
                store(part + j, acc);
            }
        } else {
            for (int64_t q = 0; q < rows; ++q)
                for (int64_t j = 0; j < nv; j += kLanes) store(part + j, load(part + j) + x[q] * load(w + q * n + j));
        }
        for (int64_t j = nv; j < n; ++j)
            for (int64_t q = 0; q < rows; ++q) part[j] += x[q] * w[q * n + j];
    }
}

// fp32 tiles (and the plain GEMV's chunks): out[j] = bias[j], then + the sum of each of
// kGemvChunks fixed chunks of rows in turn, each chunk summed from zero, k ascending.
// conv1d_row_f32 sums every column this way, so the tiled and plain GEMVs agree bit for bit.
inline int64_t chunk_begin(int64_t c, int64_t k) {
    return std::min(k, c * ((k + kGemvChunks - 1) / kGemvChunks));
}

// G kLanes-column groups from w (row stride ld) into out[G kLanes]: G accumulators while
// the rows stream by; each chunk's sums are added to out as they complete.
template <int G>
void group_f32(float* out, const float* inp, const float* w, const float* bias, int64_t k, int64_t ld) {
    for (int g = 0; g < G; ++g) store(out + g * kLanes, bias ? load(bias + g * kLanes) : vfloat{});
    for (int64_t c = 0; c < kGemvChunks; ++c) {
        vfloat acc[G] = {};
        for (int64_t kk = chunk_begin(c, k); kk < chunk_begin(c + 1, k); ++kk) {
            const float a = inp[kk];
            const float* row = w + kk * ld;
            for (int g = 0; g < G; ++g) acc[g] += a * load(row + g * kLanes);
        }
        for (int g = 0; g < G; ++g) store(out + g * kLanes, load(out + g * kLanes) + acc[g]);
    }
}

// The last cols < kLanes columns of a block with row stride ld: group_f32 on zero-padded
// vectors, so that the ragged columns are summed (and contracted to FMAs) as the others.
void columns_f32(float* out, const float* inp, const float* w, const float* bias, int64_t k, int64_t ld,
                 int64_t cols) {
    const auto bytes = static_cast<size_t>(cols) * sizeof(float);
    vfloat total{};
    if (bias) std::memcpy(&total, bias, bytes);
    for (int64_t c = 0; c < kGemvChunks; ++c) {
        vfloat acc{};
        for (int64_t kk = chunk_begin(c, k); kk < chunk_begin(c + 1, k); ++kk) {
            vfloat wv{};
            std::memcpy(&wv, w + kk * ld, bytes);
            acc += inp[kk] * wv;
        }
        total += acc;
    }
    std::memcpy(out, &total, bytes);
}

// One fp32 tile: kTileColsF32 columns = 256 bytes of each row, as the bf16 tile, in
// passes of up to 8 accumulators (AVX-512: one pass of 4; AVX2: one of 8; SSE: two of 8).
constexpr int kGroupsF32 = static_cast<int>(std::min<int64_t>(8, kTileColsF32 / kLanes));
static_assert(kTileColsF32 % (kGroupsF32 * kLanes) == 0, "an fp32 tile is a whole number of passes");

void tile_f32(float* out, const float* inp, const float* w, const float* bias, int64_t k, int64_t ld) {
    for (int64_t p = 0; p < kTileColsF32; p += kGroupsF32 * kLanes)
        group_f32<kGroupsF32>(out + p, inp, w + p, bias ? bias + p : nullptr, k, ld);
}

// fp32 Conv1D GEMV, one row: the K rows are cut into kGemvChunks fixed chunks, each
// summed into its own partial row (scratch[c, N]) while its rows stream by whole, then
// out = bias + the partials in chunk order. Whole rows read contiguously run at 21-27
// GB/s here, against 10-15 for register tiles of columns over the same plain rows (2
// threads); the chunks do not depend on the thread count, so neither do the sums.
void conv1d_row_f32(float* out, float* scratch, const float* inp, const float* weight, const float* bias, int64_t k,
                    int64_t n) {
#pragma omp parallel
    {
#pragma omp for schedule(static)
        for (int64_t c = 0; c < kGemvChunks; ++c)
            conv1d_chunk<8>(scratch + c * n, inp, weight, chunk_begin(c, k), chunk_begin(c + 1, k), n);
#pragma omp for schedule(static)
        for (int64_t j0 = 0; j0 < n; j0 += 256)
            for (int64_t j = j0; j < std::min(n, j0 + 256); ++j) {
                float s = bias ? bias[j] : 0.0f;
                for (int64_t c = 0; c < kGemvChunks; ++c) s += scratch[c * n + j];
                out[j] = s;
            }
    }
}

// out[j0 .. j0 + R) = rows j0.. of weight [N, K] dotted with inp[K] (+ bias): R
// independent accumulator chains. bf16 rows are prefetched 512 bytes ahead, once per
// cache line (33 -> 40 GB/s on the LM head).
template <int R, typename T>
void linear_block(float* out, const float* inp, const T* weight, const float* bias, int64_t k, int64_t j0) {
    vfloat acc[R] = {};
    const int64_t kv = k / kLanes * kLanes;
    for (int64_t kk = 0; kk < kv; kk += kLanes) {
        const vfloat x = load(inp + kk);
        if constexpr (sizeof(T) == 2)
            if (kk % 32 == 0)
                for (int r = 0; r < R; ++r) __builtin_prefetch(weight + (j0 + r) * k + kk + 256, 0, 0);
        for (int r = 0; r < R; ++r) acc[r] += x * load(weight + (j0 + r) * k + kk);
    }
    for (int r = 0; r < R; ++r) {
        float s = lanes_sum(acc[r]);
        for (int64_t kk = kv; kk < k; ++kk) s += inp[kk] * bf16_widen(weight[(j0 + r) * k + kk]);
        out[j0 + r] = bias ? s + bias[j0 + r] : s;
    }
}

template <int R, typename T>
void linear_row(float* out, const float* inp, const T* weight, const float* bias, int64_t k, int64_t n) {
    const int64_t blocks = n / R;
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t <= blocks; ++t) {
        if (t < blocks) linear_block<R, T>(out, inp, weight, bias, k, t * R);
        else
            for (int64_t j = blocks * R; j < n; ++j) linear_block<1, T>(out, inp, weight, bias, k, j);
    }
}


// out[I, K] (=, or += when accumulate) columns ids[i] of a [K, N] matrix in tiles of
// tile_cols columns, widened to fp32.
inline float to_f32(float x) { return x; }
inline float to_f32(uint16_t x) { return bf16_widen(x); }

template <typename T>
void columns_gather(float* out, const int32_t* ids, const T* tiled, int64_t count, int64_t k, int64_t n,
                    int64_t tile_cols, bool accumulate) {
    for (int64_t i = 0; i < count; ++i) {
        const int64_t j = ids[i];
        DLM_ASSERT(j >= 0 && j < n);
        float* o = out + i * k;
        for (int64_t kk = 0; kk < k; ++kk) {
            const float v = to_f32(tiled[tiled_index(kk, j, k, n, tile_cols)]);
            o[kk] = accumulate ? o[kk] + v : v;
        }
    }
}

}  // namespace

void conv1d_forward_gemv(float* out, float* scratch, const float* inp, const float* weight, const float* bias,
                         int64_t m, int64_t k, int64_t n) {
    DLM_PROFILE("gemv");
    for (int64_t r = 0; r < m; ++r) conv1d_row_f32(out + r * n, scratch, inp + r * k, weight, bias, k, n);
}

void linear_forward_gemv(float* out, const float* inp, const float* weight, const float* bias, int64_t m,
                         int64_t k, int64_t n) {
    DLM_PROFILE("gemv");
    // 8 rows in flight, as for bf16: 20 -> 22 GB/s on the LM head.
    for (int64_t r = 0; r < m; ++r) linear_row<8>(out + r * n, inp + r * k, weight, bias, k, n);
}

void conv1d_forward_gemv_bf16(float* out, const float* inp, const uint16_t* weight, const float* bias, int64_t m,
                              int64_t k, int64_t n) {
    DLM_PROFILE("gemv_bf16");
    const int64_t tile = kTileCols, tiles = n / tile;
    for (int64_t r = 0; r < m; ++r) {
        float* o = out + r * n;
        const float* x = inp + r * k;
        // Two rows ahead: 25-38 -> 34-41 GB/s on GPT-2's matrices (one matrix at a time).
#pragma omp parallel for schedule(static)
        for (int64_t t = 0; t < tiles; ++t) tile_bf16(o, x, weight, bias, k, n, t * tile, 2 * n);
        conv1d_rest_bf16(o, x, weight, bias, k, n, tiles * tile);
    }
}

void linear_forward_gemv_bf16(float* out, const float* inp, const uint16_t* weight, const float* bias, int64_t m,
                              int64_t k, int64_t n) {
    DLM_PROFILE("gemv_bf16");
    // 8 rows in flight: 28 -> 33 GB/s on the 77 MB LM head.
    for (int64_t r = 0; r < m; ++r) linear_row<8>(out + r * n, inp + r * k, weight, bias, k, n);
}

int64_t tiled_pack_scratch(int64_t k, int64_t n, bool transposed, int64_t tile_cols) {
    // An nn.Linear weight's tile t is made of rows [tile_cols t, tile_cols (t + 1)), which
    // occupy exactly the tile's place: one tile of scratch. A Conv1D tile gathers a slab
    // of every row: the whole matrix.
    return transposed ? std::min(n, tile_cols) * k : k * n;
}

namespace {

// In place, plain -> tiled (pack) or tiled -> plain (!pack), for either element type.
template <typename T>
void tiles_permute(T* w, T* scratch, int64_t k, int64_t n, bool transposed, int64_t tile_cols, bool pack) {
    if (!transposed) {
        std::memcpy(scratch, w, static_cast<size_t>(k * n) * sizeof(T));
#pragma omp parallel for schedule(static)
        for (int64_t kk = 0; kk < k; ++kk)
            for (int64_t j = 0; j < n; ++j) {
                const int64_t t = tiled_index(kk, j, k, n, tile_cols);
                if (pack) w[t] = scratch[kk * n + j];
                else w[kk * n + j] = scratch[t];
            }
        return;
    }
    // Block by block (tile_cols rows of the [N, K] weight, or the last ones): copy the
    // block out, write it back transposed. 32 values of a row (a cache line or two) per
    // column at a time.
    for (int64_t j0 = 0; j0 < n; j0 += tile_cols) {
        const int64_t cols = std::min(tile_cols, n - j0);
        T* block = w + j0 * k;
        std::memcpy(scratch, block, static_cast<size_t>(cols * k) * sizeof(T));
        for (int64_t kb = 0; kb < k; kb += 32)
            for (int64_t j = 0; j < cols; ++j)
                for (int64_t kk = kb; kk < std::min(k, kb + 32); ++kk) {
                    if (pack) block[kk * cols + j] = scratch[j * k + kk];
                    else block[j * k + kk] = scratch[kk * cols + j];
                }
    }
}

}  // namespace

void tiled_pack_bf16(uint16_t* w, uint16_t* scratch, int64_t k, int64_t n, bool transposed) {
    tiles_permute(w, scratch, k, n, transposed, kTileCols, true);
}

void tiled_pack_f32(float* w, float* scratch, int64_t k, int64_t n, bool transposed) {
    tiles_permute(w, scratch, k, n, transposed, kTileColsF32, true);
}

void tiled_unpack_f32(float* w, float* scratch, int64_t k, int64_t n, bool transposed) {
    tiles_permute(w, scratch, k, n, transposed, kTileColsF32, false);
}

void tiled_gemv_bf16(float* out, const float* inp, const uint16_t* tiled, const float* bias, int64_t m, int64_t k,
                     int64_t n) {
    DLM_PROFILE("gemv_bf16");
    const int64_t tiles = n / kTileCols, full = tiles * kTileCols;
    const int64_t items = tiles + (n > full ? 1 : 0);  // no empty item: it would unbalance the threads
    for (int64_t r = 0; r < m; ++r) {
        float* o = out + r * n;
        const float* x = inp + r * k;
#pragma omp parallel for schedule(static)
        for (int64_t t = 0; t < items; ++t) {
            const float* b = bias ? bias + t * kTileCols : nullptr;
            // 8 rows (2 KB) ahead, past the tile's end into the next one: 29 -> 33 GB/s.
            if (t < tiles)
                tile_bf16(o + t * kTileCols, x, tiled + t * k * kTileCols, b, k, kTileCols, 0, 8 * kTileCols);
            else conv1d_rest_bf16(o + full, x, tiled + full * k, b, k, n - full, 0);
        }
    }
}

void tiled_columns_gather_bf16(float* out, const int32_t* ids, const uint16_t* tiled, int64_t count, int64_t k,
                               int64_t n, bool accumulate) {
    DLM_PROFILE("embedding");
    columns_gather(out, ids, tiled, count, k, n, kTileCols, accumulate);
}

void tiled_gemv_f32(float* out, const float* inp, const float* tiled, const float* bias, int64_t m, int64_t k,
                    int64_t n) {
    DLM_PROFILE("gemv");
    const int64_t tiles = n / kTileColsF32, full = tiles * kTileColsF32, rest = n - full;
    // The rest block in kLanes groups, then the ragged columns: one item each, after the tiles.
    const int64_t groups = rest / kLanes, items = tiles + groups + (rest % kLanes ? 1 : 0);
    for (int64_t r = 0; r < m; ++r) {
        float* o = out + r * n;
        const float* x = inp + r * k;
#pragma omp parallel for schedule(static)
        for (int64_t t = 0; t < items; ++t) {
            if (t < tiles) {
                tile_f32(o + t * kTileColsF32, x, tiled + t * k * kTileColsF32, bias ? bias + t * kTileColsF32 : nullptr,
                         k, kTileColsF32);
            } else {
                const int64_t j = (t - tiles) * kLanes;  // into the rest block [K, rest]
                const float* b = bias ? bias + full + j : nullptr;
                if (t < tiles + groups) group_f32<1>(o + full + j, x, tiled + full * k + j, b, k, rest);
                else columns_f32(o + full + j, x, tiled + full * k + j, b, k, rest, rest - j);
            }
        }
    }
}

void tiled_columns_gather_f32(float* out, const int32_t* ids, const float* tiled, int64_t count, int64_t k, int64_t n,
                              bool accumulate) {
    DLM_PROFILE("embedding");
    columns_gather(out, ids, tiled, count, k, n, kTileColsF32, accumulate);
}

DLM_ISA_END
}  // namespace dlm
