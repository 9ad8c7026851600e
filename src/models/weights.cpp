#include "models/weights.h"

#include <algorithm>

#include "core/error.h"
#include "kernels/gemv.h"
#include "kernels/embedding.h"
#include "kernels/gemm.h"
#include "kernels/quant.h"

namespace dlm {

int64_t ParamEntry::numel() const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
}

int64_t ParamTable::declare(const std::string& name, std::vector<int64_t> shape, ParamRole role, ParamInit init) {
    DLM_ASSERT_MSG(data_.empty(), "declare() after allocate()");
    DLM_ASSERT_MSG(!index_.count(name), name.c_str());
    ParamEntry e{name, std::move(shape), total_, role, init};
    total_ += e.numel();  // no padding: consecutive declarations are contiguous
    index_[name] = entries_.size();
    entries_.push_back(std::move(e));
    return entries_.back().offset;
}

void ParamTable::allocate() { data_ = FloatArena(static_cast<size_t>(total_)); }  // zero pages, untouched

FloatArena& ParamTable::grads() {
    if (grad_.size() != data_.size()) grad_.assign(data_.size(), 0.0f);
    return grad_;
}

void ParamTable::grads_zero() { std::fill(grads().begin(), grads().end(), 0.0f); }

const ParamEntry* ParamTable::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &entries_[it->second];
}

// ---- Linear ----

Linear::Linear(WeightArena* arena, int64_t weight, int64_t bias, int64_t in, int64_t out, WeightLayout layout,
               WeightUse use)
    : arena_(arena), weight_(weight), bias_(bias), in_(in), out_(out), layout_(layout), use_(use) {}

const float* Linear::bias() const { return bias_ >= 0 ? arena_->params.get(bias_) : nullptr; }

uint16_t* Linear::input_bf16(int64_t n) {
    return arena_->compute_ == DType::BF16 && !arena_->training_ ? arena_->act_bf16(n * in_) : nullptr;
}

bool Linear::tiled_now() {
    if (tiled_) return true;
    WeightArena& a = *arena_;
    if (use_ != WeightUse::streamed || a.training_ || !a.prepack_) return false;
    const bool transposed = layout_ == WeightLayout::out_in;
    if (a.compute_ == DType::BF16) {
        std::vector<uint16_t> scratch(static_cast<size_t>(tiled_pack_scratch(in_, out_, transposed)));
        tiled_pack_bf16(a.bf16_.data() + weight_, scratch.data(), in_, out_, transposed);
    } else {  // in the fp32 arena itself: untile_f32 restores the plain layout when needed
        std::vector<float> scratch(static_cast<size_t>(tiled_pack_scratch(in_, out_, transposed, kTileColsF32)));
        tiled_pack_f32(a.params.get(weight_), scratch.data(), in_, out_, transposed);
    }
    tiled_ = true;
    return true;
}

void Linear::untile_f32() {
    if (!tiled_ || arena_->compute_ != DType::F32) return;  // bf16 tiles live in the copies
    const bool transposed = layout_ == WeightLayout::out_in;
    std::vector<float> scratch(static_cast<size_t>(tiled_pack_scratch(in_, out_, transposed, kTileColsF32)));
    tiled_unpack_f32(arena_->params.get(weight_), scratch.data(), in_, out_, transposed);
    tiled_ = false;
}

void Linear::layout_reset() {
    packed_ = false;
    tiled_ = false;
    HugePageVector<uint16_t>().swap(packed_copy_);
    HugePageVector<int8_t>().swap(q8_);
    std::vector<float>().swap(q8_scale_);
}

void Linear::q8_prepare() {
    if (!q8_.empty()) return;
    WeightArena& a = *arena_;
    if (in_ % 32 != 0)
        fail("q8 needs matrices whose input size is a multiple of 32; this one has {} inputs (use bf16 or f32)", in_);
    // The loaded values: the fp32 arena (plain: compute_dtype_set untiled it), or the bf16
    // copies of a bf16-only load.
    std::vector<float> widened;
    const float* w = a.params.get(weight_);
    if (!a.has_f32_) {
        widened.resize(static_cast<size_t>(in_ * out_));
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < in_ * out_; ++i) widened[i] = bf16_widen(a.bf16_[weight_ + i]);
        w = widened.data();
    }
    q8_ = HugePageVector<int8_t>(static_cast<size_t>(in_ * out_));
    q8_scale_.resize(static_cast<size_t>(out_));
    q8_weights_quantize(q8_.data(), q8_scale_.data(), w, out_, in_, layout_ == WeightLayout::in_out);
}

// q8: a row or two (decoding) through the GEMV kernel, which streams the codes once at
// the read bandwidth; more rows through oneDNN's int8 matmul, on the same plain codes.
void Linear::product_q8(float* out, const float* inp, int64_t n, const float* b) {
    DLM_ASSERT_MSG(inp, "Linear::forward without an input in q8");
    WeightArena& a = *arena_;
    q8_prepare();
    if (n <= kQ8GemvMaxRows) {
        void* scratch = a.gemv_scratch(q8_gemv_scratch(n, in_) / static_cast<int64_t>(sizeof(float)) + 1);
        q8_gemv(out, scratch, inp, q8_.data(), q8_scale_.data(), b, n, in_, out_);
    } else {
        linear_forward_q8(out, a.act_q8(n * in_), a.row_scales(n), inp, q8_.data(), q8_scale_.data(), b, n, in_, out_);
    }
}

void Linear::forward(float* out, const float* inp, int64_t n, bool with_bias) {
    WeightArena& a = *arena_;
    const float* b = with_bias ? bias() : nullptr;
    if (a.compute_ == DType::BF16) {
        product_bf16(out, inp, n, b);
        return;
    }
    if (a.compute_ == DType::I8) {
        product_q8(out, inp, n, b);
        return;
    }
    DLM_ASSERT_MSG(inp, "Linear::forward without an input outside bf16 inference");
    const float* w = a.params.get(weight_);
    if (tiled_now()) tiled_forward_f32(out, inp, w, b, n, in_, out_);
    else if (layout_ == WeightLayout::out_in) linear_forward(out, inp, w, b, n, in_, out_);
    else conv1d_forward(out, inp, w, b, n, in_, out_);
}

// The bf16 routes, best first: column tiles (streamed weights), a packed copy (a tied
// decoder), the weight packed in place (products only), the plain copy.
void Linear::product_bf16(float* out, const float* inp, int64_t n, const float* b) {
    WeightArena& a = *arena_;
    DLM_ASSERT_MSG(inp || static_cast<int64_t>(a.act_bf16_.size()) >= n * in_,
                   "Linear::forward without an input: only after input_bf16");
    uint16_t* a16 = a.act_bf16(n * in_);
    uint16_t* w16 = a.bf16_.data() + weight_;
    if (tiled_now()) {
        tiled_forward_bf16(out, a16, inp, w16, b, n, in_, out_);
        return;
    }
    if (layout_ == WeightLayout::in_out) {
        conv1d_forward_bf16(out, a16, inp, w16, b, n, in_, out_);
        return;
    }
    const bool infer = a.prepack_ && !a.training_;
    if (infer && use_ == WeightUse::products_and_rows) {
        if (packed_copy_.empty()) {
            const int64_t size = linear_weight_packed_size_bf16(in_, out_);
            if (size > 0) {
                packed_copy_ = HugePageVector<uint16_t>(static_cast<size_t>(size));
                linear_weight_pack_bf16_copy(packed_copy_.data(), w16, in_, out_);
            }
        }
        if (!packed_copy_.empty()) {
            linear_forward_bf16_packed(out, a16, inp, packed_copy_.data(), b, n, in_, out_);
            return;
        }
    }
    if (infer && use_ == WeightUse::products && !unpackable_) {
        if (!packed_) {
            packed_ = linear_weight_pack_bf16(w16, in_, out_);
            unpackable_ = !packed_;
        }
        if (packed_) {
            linear_forward_bf16_packed(out, a16, inp, w16, b, n, in_, out_);
            return;
        }
    }
    linear_forward_bf16(out, a16, inp, w16, b, n, in_, out_);
}

void Linear::gemv(float* out, const float* inp, int64_t m, bool with_bias) {
    DLM_ASSERT_MSG(use_ == WeightUse::streamed, "gemv on a weight not declared streamed");
    WeightArena& a = *arena_;
    const float* b = with_bias ? bias() : nullptr;
    const bool out_in = layout_ == WeightLayout::out_in;
    if (a.compute_ == DType::I8) {
        product_q8(out, inp, m, b);
        return;
    }
    if (a.compute_ != DType::BF16) {
        const float* w = a.params.get(weight_);
        if (tiled_now()) tiled_gemv_f32(out, inp, w, b, m, in_, out_);
        else if (out_in) linear_forward_gemv(out, inp, w, b, m, in_, out_);
        else conv1d_forward_gemv(out, a.gemv_scratch(kGemvChunks * out_), inp, w, b, m, in_, out_);
        return;
    }
    const uint16_t* w16 = a.bf16_.data() + weight_;
    if (tiled_now()) tiled_gemv_bf16(out, inp, w16, b, m, in_, out_);
    else if (out_in) linear_forward_gemv_bf16(out, inp, w16, b, m, in_, out_);
    else conv1d_forward_gemv_bf16(out, inp, w16, b, m, in_, out_);
}

void Linear::backward(float* dinp, const float* dout, const float* inp, int64_t n) {
    WeightArena& a = *arena_;
    float* dw = a.params.grad(weight_);
    float* db = bias_ >= 0 ? a.params.grad(bias_) : nullptr;
    const bool out_in = layout_ == WeightLayout::out_in;
    if (a.train_dtype == DType::BF16) {
        const uint16_t* w16 = a.bf16_.data() + weight_;
        uint16_t* scratch = a.grad_bf16(n * (in_ + out_));
        if (out_in) linear_backward_bf16(dinp, dw, db, dout, inp, w16, scratch, n, in_, out_);
        else conv1d_backward_bf16(dinp, dw, db, dout, inp, w16, scratch, n, in_, out_);
    } else {
        const float* w = a.params.get(weight_);
        if (out_in) linear_backward(dinp, dw, db, dout, inp, w, n, in_, out_);
        else conv1d_backward(dinp, dw, db, dout, inp, w, n, in_, out_);
    }
}

// ---- Embedding ----

Embedding::Embedding(WeightArena* arena, int64_t table, int64_t rows, int64_t cols, const Linear* tied)
    : arena_(arena), table_(table), rows_(rows), cols_(cols), tied_(tied) {}

void Embedding::lookup(float* out, const int32_t* ids, int64_t n, bool accumulate, bool train) const {
    const WeightArena& a = *arena_;
    DLM_ASSERT_MSG(!train || a.has_f32_, "training a model loaded for bf16 inference only");
    // q8 keeps the tables it looks up as loaded: fp32, or the bf16 copies of a bf16-only load.
    const bool bf16 = !train && (a.compute_ == DType::BF16 || (a.compute_ == DType::I8 && !a.has_f32_));
    if (!train && tied_ && tied_->tiled_) {  // a tied LM head, tiled: its columns are our rows
        if (bf16) tiled_columns_gather_bf16(out, ids, a.bf16_.data() + table_, n, cols_, rows_, accumulate);
        else tiled_columns_gather_f32(out, ids, a.params.get(table_), n, cols_, rows_, accumulate);
    } else if (bf16) {
        embedding_forward_bf16(out, ids, a.bf16_.data() + table_, n, cols_, accumulate);
    } else {
        embedding_forward(out, ids, a.params.get(table_), n, cols_, accumulate);
    }
}

void Embedding::backward(const float* dout, const int32_t* ids, int64_t n, int32_t padding_idx) {
    embedding_backward(arena_->params.grad(table_), dout, ids, n, cols_, padding_idx);
}

// ---- WeightArena ----

Linear* WeightArena::linear_add(int64_t weight, int64_t bias, int64_t in, int64_t out, WeightLayout layout,
                                WeightUse use) {
    return &linears_.emplace_back(this, weight, bias, in, out, layout, use);
}

Embedding* WeightArena::embedding_add(int64_t table, int64_t rows, int64_t cols, const Linear* tied) {
    return &embeddings_.emplace_back(this, table, rows, cols, tied);
}

void WeightArena::untile_f32() {
    for (Linear& l : linears_) l.untile_f32();
}

void WeightArena::layouts_reset() {
    untile_f32();
    for (Linear& l : linears_) l.layout_reset();
}

void WeightArena::bf16_copies_write() {
    layouts_reset();  // reads the plain fp32 layout; the copies are written plain
    bf16_.resize(static_cast<size_t>(params.size()));
    for (auto& e : params.entries())
        if (e.shape.size() == 2)  // only matrices go through products
            f32_to_bf16_convert(bf16_.data() + e.offset, params.get(e.offset), e.numel());
}

void WeightArena::compute_dtype_set(DType t, const std::string& arch) {
    if (t != DType::F32 && t != DType::BF16 && t != DType::I8)
        fail("compute dtype must be F32, BF16 or I8 (q8), not {}", dtype_name(t));
    if (t == DType::I8) {  // every matrix's codes now, from the values loaded
        if (compute_ == DType::I8) return;
        untile_f32();
        for (Linear& l : linears_) l.layout_reset();
        compute_ = t;
        for (Linear& l : linears_) l.q8_prepare();
        if (has_f32_) HugePageVector<uint16_t>().swap(bf16_);  // else they are the values (and the lookups)
        return;
    }
    if (!has_f32_) {
        if (t != DType::BF16)
            fail("this {} was loaded for bf16 inference only (no fp32 weights): load it again to compute in {}", arch,
                 dtype_name(t));
        return;
    }
    if (t == compute_ && t == DType::F32) return;  // keeps fp32 tiles
    untile_f32();
    compute_ = t;
    if (t == DType::F32) {
        for (Linear& l : linears_) l.layout_reset();
        HugePageVector<uint16_t>().swap(bf16_);
        return;
    }
    bf16_copies_write();
}

void WeightArena::prepack_set(bool on, const std::string& arch) {
    prepack_ = on;
    if (on) return;
    for (Linear& l : linears_) HugePageVector<uint16_t>().swap(l.packed_copy_);  // the plain copies are still there
    untile_f32();
    const bool in_place = std::any_of(linears_.begin(), linears_.end(), [](const Linear& l) { return l.laid_out(); });
    if (!in_place) return;
    if (!has_f32_) fail("this {} was loaded for bf16 inference only: its packed weights cannot be unpacked", arch);
    compute_dtype_set(DType::BF16, arch);  // plain copies again
}

int64_t WeightArena::laid_out_count() const {
    return std::count_if(linears_.begin(), linears_.end(), [](const Linear& l) { return l.laid_out(); });
}

DType WeightArena::training_begin(const std::string& arch) {
    if (!has_f32_) fail("this {} was loaded for bf16 inference only: load it in fp32 to train", arch);
    untile_f32();  // the backward and the optimizer read the plain layout
    const DType saved = compute_;
    if (saved == DType::I8)  // the weights will change: new codes after training
        for (Linear& l : linears_) l.layout_reset();
    // The master weights changed since the last step: round them again (cheap next to the step).
    if (train_dtype == DType::BF16) bf16_copies_write();
    compute_ = train_dtype;
    training_ = true;
    return saved;
}

void WeightArena::training_end(DType saved) {
    compute_ = saved;
    training_ = false;
}

void WeightArena::bf16_only_begin() {
    for (Linear& l : linears_) l.layout_reset();
    bf16_.assign(static_cast<size_t>(params.size()), 0);
}

void WeightArena::bf16_only_end() {
    compute_ = DType::BF16;
    has_f32_ = false;
}

const float* WeightArena::plain_f32(int64_t offset, int64_t n, std::vector<std::vector<float>>& keep) const {
    const float* data = params.get(offset);
    if (compute_ != DType::F32) return data;
    for (const Linear& l : linears_) {
        const int64_t size = l.in_ * l.out_;
        if (!l.tiled_ || offset < l.weight_ || offset + n > l.weight_ + size) continue;
        const bool transposed = l.layout_ == WeightLayout::out_in;
        std::vector<float> scratch(static_cast<size_t>(tiled_pack_scratch(l.in_, l.out_, transposed, kTileColsF32)));
        const float* w = params.get(l.weight_);
        keep.emplace_back(w, w + size);
        tiled_unpack_f32(keep.back().data(), scratch.data(), l.in_, l.out_, transposed);
        return keep.back().data() + (offset - l.weight_);
    }
    return data;
}

namespace {

// The first n elements of a scratch buffer that only grows.
template <typename T>
T* scratch_at_least(std::vector<T>& v, int64_t n) {
    if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
    return v.data();
}

}  // namespace

uint16_t* WeightArena::act_bf16(int64_t n) { return scratch_at_least(act_bf16_, n); }
uint16_t* WeightArena::grad_bf16(int64_t n) { return scratch_at_least(grad_bf16_, n); }
int8_t* WeightArena::act_q8(int64_t n) { return scratch_at_least(act_q8_, n); }
float* WeightArena::row_scales(int64_t n) { return scratch_at_least(row_scales_, n); }
float* WeightArena::gemv_scratch(int64_t n) { return scratch_at_least(gemv_scratch_, n); }

}  // namespace dlm
