// The parameter arena and the weights that live in it.
//
// Every parameter of a model lives in one fp32 arena (ParamTable: HuggingFace names,
// stored shapes, offsets), so loading, saving, zeroing gradients and the optimizer
// step are flat loops over one buffer. Matrices are read through weight objects that
// own how they are computed with:
//   Linear     a matrix read by products: its fp32 view, its bf16 copy, its int8 codes
//              (compute dtype I8, "q8": kernels/quant.h), its layout for the products
//              that read it (oneDNN's blocked layout, a packed copy, or column tiles for
//              decoding) and its forward, GEMV and backward;
//   Embedding  a table read row by row (lookups); tied to a Linear when the LM head
//              shares it, whose layout it then follows.
// WeightArena holds the arena, the bf16 copies, the precision state they are read in
// and the weight objects (which an architecture declares once and keeps pointers to).
//
//   auto& a = arena_;
//   int64_t w = a.params.declare("x.dense.weight", {OC, C}), b = a.params.declare("x.dense.bias", {OC});
//   Linear* dense = a.linear_add(w, b, C, OC, WeightLayout::out_in, WeightUse::products);
//   a.params.allocate();
//   dense->forward(out, inp, n);            // out[n, OC] = inp[n, C] W^T + b
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "core/zero_pages.h"
#include "io/safetensors.h"

namespace dlm {

// What a tensor is, which decides its initialisation (HF _init_weights) and whether
// the optimizer decays it: matrices and embedding tables ~ N(0, initializer_range /
// std_divisor) and decayed; biases 0, norm weights 1, neither decayed.
enum class ParamRole { matrix, embedding, bias, norm };

struct ParamInit {
    float std_divisor = 1.0f;  // GPT-2's residual projections: sqrt(2 n_layer)
    int64_t zero_row = -1;   // nn.Embedding(padding_idx): this row starts at zero
};

struct ParamEntry {
    std::string name;            // HuggingFace tensor name
    std::vector<int64_t> shape;  // as stored in model.safetensors
    int64_t offset = 0;          // into ParamTable::data, in floats
    ParamRole role = ParamRole::matrix;
    ParamInit init;
    int64_t numel() const;
};

// The arena's storage: untouched pages cost no memory (a bf16-only load never writes
// the fp32 matrices).
using FloatArena = std::vector<float, ZeroPageAllocator<float>>;

// [begin, end) of a parameter arena (a shard of it: train/gradient_sync.h).
struct ParamRange {
    int64_t begin = 0, end = 0;
};

class ParamTable {
public:
    // Declares a tensor; returns its offset. Call before allocate(). Consecutive
    // declarations are contiguous (query/key/value can be read as one matrix).
    int64_t declare(const std::string& name, std::vector<int64_t> shape, ParamRole role, ParamInit init = {});
    void allocate();  // zero-filled
    float* get(int64_t offset) { return data_.data() + offset; }
    const float* get(int64_t offset) const { return data_.data() + offset; }
    const std::vector<ParamEntry>& entries() const { return entries_; }
    const ParamEntry* find(const std::string& name) const;
    FloatArena& data() { return data_; }
    const FloatArena& data() const { return data_; }
    int64_t size() const { return total_; }

    // The gradient arena: same layout as data(), allocated on first use.
    float* grad(int64_t offset) { return grads().data() + offset; }
    FloatArena& grads();
    void grads_zero();

private:
    std::vector<ParamEntry> entries_;
    std::map<std::string, size_t> index_;
    FloatArena data_, grad_;
    int64_t total_ = 0;
};

// How a matrix is stored: nn.Linear [out, in] or GPT-2's Conv1D [in, out].
enum class WeightLayout { out_in, in_out };

// Who reads a matrix, which decides the layout inference may give it:
//   products          only matrix products: the bf16 copy is packed in place (oneDNN);
//   products_and_rows products, and lookups row by row (a decoder tied to the word
//                     embeddings): products read a packed copy of its own;
//   streamed          read once per decoded token (a causal model's matrices and LM
//                     head): rewritten in place into column tiles (kernels/gemv.h),
//                     in the fp32 arena or the bf16 copy, which every reader follows.
enum class WeightUse { products, products_and_rows, streamed };

class WeightArena;

class Linear {
public:
    Linear(WeightArena* arena, int64_t weight, int64_t bias, int64_t in, int64_t out, WeightLayout layout,
           WeightUse use);

    // out[n, out] = inp[n, in] W^T + b in the compute dtype (bias left out when
    // with_bias is false: a fused epilogue adds it). inp nullptr in bf16 inference takes
    // the input a kernel already rounded into input_bf16(n).
    void forward(float* out, const float* inp, int64_t n, bool with_bias = true);
    // The same for a few rows that stream the weight once each (decoding a token);
    // streamed weights only.
    void gemv(float* out, const float* inp, int64_t m, bool with_bias = true);
    // Backward of forward() in the training dtype: dinp[n, in] += dout W; the weight's
    // (and bias's) gradients are added into the arena's gradients.
    void backward(float* dinp, const float* dout, const float* inp, int64_t n);
    // Where a kernel may write the next product's input [n, in] rounded to bf16 (bf16
    // inference), else nullptr.
    uint16_t* input_bf16(int64_t n);

    const float* bias() const;
    int64_t in() const { return in_; }
    int64_t out() const { return out_; }
    int64_t weight_offset() const { return weight_; }

private:
    friend class WeightArena;
    friend class Embedding;
    bool tiled_now();  // tiles it if it may be (streamed, inference, prepack on)
    void product_bf16(float* out, const float* inp, int64_t n, const float* b);
    void product_q8(float* out, const float* inp, int64_t n, const float* b);
    void q8_prepare();  // the codes, in the layout of this weight's readers
    void untile_f32();
    void layout_reset();
    bool laid_out() const { return packed_ || tiled_ || !packed_copy_.empty() || !q8_.empty(); }

    WeightArena* arena_;
    int64_t weight_, bias_, in_, out_;
    WeightLayout layout_;
    WeightUse use_;
    // Inference layout state; any rewrite of the bf16 copies resets it.
    bool packed_ = false, unpackable_ = false, tiled_ = false;
    HugePageVector<uint16_t> packed_copy_;
    // q8: the codes of W [out, in] with one scale per output row (plain: the GEMV and
    // oneDNN's int8 matmul both read them).
    HugePageVector<int8_t> q8_;
    std::vector<float> q8_scale_;
};

class Embedding {
public:
    // table [rows, cols] at its arena offset; tied: the Linear sharing the storage (an
    // LM head), whose tiles lookups then read, or nullptr.
    Embedding(WeightArena* arena, int64_t table, int64_t rows, int64_t cols, const Linear* tied);
    // out[n, cols] (+= when accumulate) = rows ids of the table: from the bf16 copy when
    // computing in bf16 (as the products see the weights), else (and always when
    // training) from the fp32 arena.
    void lookup(float* out, const int32_t* ids, int64_t n, bool accumulate, bool train) const;
    // Gradient rows of ids += dout[n, cols]; rows equal to padding_idx get none (HF's
    // padding_idx), -1 = none.
    void backward(const float* dout, const int32_t* ids, int64_t n, int32_t padding_idx = -1);
    int64_t offset() const { return table_; }

private:
    WeightArena* arena_;
    int64_t table_, rows_, cols_;
    const Linear* tied_;
};

class WeightArena {
public:
    ParamTable params;

    // The weight objects; pointers stay valid for the arena's life.
    Linear* linear_add(int64_t weight, int64_t bias, int64_t in, int64_t out, WeightLayout layout, WeightUse use);
    Embedding* embedding_add(int64_t table, int64_t rows, int64_t cols, const Linear* tied = nullptr);

    // Precision of inference products (see Model::compute_dtype_set).
    void compute_dtype_set(DType t, const std::string& arch);
    DType compute_dtype() const { return compute_; }
    // Precision of the training products; training() is true inside forward_backward.
    DType train_dtype = DType::F32;
    bool training() const { return training_; }
    // Enters training: the plain fp32 layout, fresh bf16 copies in bf16 training, and
    // the training dtype as the compute dtype; training_end restores `saved`.
    DType training_begin(const std::string& arch);
    void training_end(DType saved);
    void prepack_set(bool on, const std::string& arch);
    int64_t laid_out_count() const;
    bool has_f32_matrices() const { return has_f32_; }

    // Loads one tensor's values: into the fp32 arena, or (bf16_only, matrices) straight
    // into the bf16 copies. bf16_only_begin/_end frame a bf16-only load.
    void bf16_only_begin();
    void bf16_only_end();
    uint16_t* bf16_copy(int64_t offset) { return bf16_.data() + offset; }
    // The fp32 values of [offset, offset + n) in the plain layout: the arena itself, or
    // (a tiled fp32 matrix) a plain copy made in `keep`.
    const float* plain_f32(int64_t offset, int64_t n, std::vector<std::vector<float>>& keep) const;
    // Drops every inference layout and puts fp32 tiles back in the plain layout.
    void layouts_reset();

    // Scratch shared by the products.
    uint16_t* act_bf16(int64_t n);
    int8_t* act_q8(int64_t n);
    float* row_scales(int64_t n);
    uint16_t* grad_bf16(int64_t n);
    float* gemv_scratch(int64_t n);

private:
    void untile_f32();
    void bf16_copies_write();

    std::deque<Linear> linears_;
    std::deque<Embedding> embeddings_;
    HugePageVector<uint16_t> bf16_;  // bf16 copies of the matrices (same offsets as the arena)
    DType compute_ = DType::F32;
    bool training_ = false, prepack_ = true, has_f32_ = true;
    std::vector<uint16_t> act_bf16_, grad_bf16_;
    std::vector<int8_t> act_q8_;
    std::vector<float> row_scales_;
    std::vector<float> gemv_scratch_;
    friend class Linear;
    friend class Embedding;
};

}  // namespace dlm
