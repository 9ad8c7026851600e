#include "models/model.h"

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "core/file.h"
#include "kernels/decode.h"
#include "kernels/embedding.h"
#include "kernels/gemm.h"

namespace dlm {

// Factories of the architecture files (models/roberta.cpp, models/gpt2.cpp).
std::unique_ptr<Model> roberta_create(const ModelConfig& c);
std::unique_ptr<Model> gpt2_create(const ModelConfig& c);

namespace {

struct architecture_entry {
    const char* name;
    std::unique_ptr<Model> (*create)(const ModelConfig&);
};

// The registry: HuggingFace `architectures` name -> implementation.
const architecture_entry kArchitectures[] = {
    {"RobertaForMaskedLM", roberta_create},
    {"BertForMaskedLM", roberta_create},
    {"GPT2LMHeadModel", gpt2_create},
};

std::string shape_str(const std::vector<int64_t>& s) {
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
}

}  // namespace

int64_t ParamEntry::numel() const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
}

int64_t ParamTable::declare(const std::string& name, std::vector<int64_t> shape) {
    DLM_ASSERT_MSG(data_.empty(), "declare() after allocate()");
    DLM_ASSERT_MSG(!index_.count(name), name.c_str());
    ParamEntry e{name, std::move(shape), total_};
    // No padding between tensors: consecutive declarations are contiguous, which lets
    // a model fuse them (RoBERTa's query/key/value become one [3C, C] GEMM).
    total_ += e.numel();
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

std::vector<std::string> Model::name_aliases(const std::string& name) const {
    std::vector<std::string> out;
    // Old BERT-style checkpoints call LayerNorm parameters gamma and beta.
    auto swap_suffix = [&](const std::string& from, const std::string& to) {
        if (name.size() > from.size() && name.compare(name.size() - from.size(), from.size(), from) == 0 &&
            name.find("LayerNorm") != std::string::npos)
            out.push_back(name.substr(0, name.size() - from.size()) + to);
    };
    swap_suffix(".weight", ".gamma");
    swap_suffix(".bias", ".beta");
    return out;
}

void Model::load_weights(const SafetensorsReader& st, bool bf16_only) {
    std::vector<bool> used(st.tensors().size(), false);
    if (bf16_only) params_bf16_.assign(static_cast<size_t>(params_.size()), 0);
    packed_clear();
    tiled_.clear();
    for (auto& e : params_.entries()) {
        const TensorInfo* t = st.find(e.name);
        if (!t)
            for (auto& alias : name_aliases(e.name))
                if ((t = st.find(alias))) break;
        if (!t)
            fail("{}: tensor '{}' is missing (needed by {} with this config.json)", st.path(), e.name,
                 config_.architecture);
        if (t->shape != e.shape)
            fail("{}: tensor '{}' has shape {} but config.json implies {}", st.path(), t->name,
                 shape_str(t->shape), shape_str(e.shape));
        if (bf16_only && e.shape.size() == 2)
            st.read_bf16(*t, params_bf16_.data() + e.offset);
        else
            st.read_f32(*t, params_.get(e.offset));
        st.pages_drop(*t);  // a tied tensor read twice is mapped in again: harmless
        used[t - st.tensors().data()] = true;
    }
    if (bf16_only) {
        compute_dtype_ = DType::BF16;
        has_f32_matrices_ = false;
    }
    std::vector<std::string> unused;
    for (size_t i = 0; i < used.size(); ++i)
        if (!used[i] && !name_ignored(st.tensors()[i].name)) unused.push_back(st.tensors()[i].name);
    if (!unused.empty())
        std::fprintf(stderr, "dlm: warning: %s: %zu tensor(s) not used by %s, e.g. '%s'\n",
                     st.path().c_str(), unused.size(), config_.architecture.c_str(), unused[0].c_str());
}

void Model::forward_kv(EncoderKv&, const ForwardInput&) {
    fail("{} has no encoder key/value cache: it is not a bidirectional encoder", config_.architecture);
}

void Model::forward_span(EncoderKv&, const int32_t*, int64_t, int64_t) {
    fail("{} has no encoder key/value cache: it is not a bidirectional encoder", config_.architecture);
}

void Model::compute_dtype_set(DType t) {
    if (t != DType::F32 && t != DType::BF16) fail("compute dtype must be F32 or BF16, not {}", dtype_name(t));
    if (!has_f32_matrices_) {
        if (t != DType::BF16)
            fail("this {} was loaded for bf16 inference only (no fp32 weights): load it again to compute in {}",
                 config_.architecture, dtype_name(t));
        return;
    }
    if (t == compute_dtype_ && t == DType::F32) return;  // keeps fp32 tiles
    arena_untile();
    compute_dtype_ = t;
    if (t == DType::F32) {
        packed_clear();
        tiled_.clear();
        params_bf16_.clear();
        params_bf16_.shrink_to_fit();
        return;
    }
    bf16_copies_write();
}

void Model::arena_untile() {
    if (compute_dtype_ != DType::F32 || tiled_.empty()) return;  // the tiles are in the bf16 copies, or none
    for (int64_t w : tiled_) {
        const tile_spec& t = tileable_.at(w);
        std::vector<float> scratch(static_cast<size_t>(tiled_pack_scratch(t.k, t.n, t.transposed, kTileColsF32)));
        tiled_unpack_f32(params_.get(w), scratch.data(), t.k, t.n, t.transposed);
    }
    tiled_.clear();
}

void Model::bf16_copies_write() {
    arena_untile();  // reads the plain fp32 layout
    packed_clear();  // written plain
    tiled_.clear();
    params_bf16_.resize(static_cast<size_t>(params_.size()));
    for (auto& e : params_.entries())
        if (e.shape.size() == 2)  // only matrices go through GEMMs
            f32_to_bf16_convert(params_bf16_.data() + e.offset, params_.get(e.offset), e.numel());
}

void Model::prepack_set(bool on) {
    prepack_ = on;
    if (!on) packed_copies_.clear();  // the plain copies are still there
    if (!on) arena_untile();
    if (on || (packed_.empty() && tiled_.empty())) return;
    if (!has_f32_matrices_) fail("this {} was loaded for bf16 inference only: its packed weights cannot be unpacked", config_.architecture);
    compute_dtype_set(DType::BF16);  // plain copies again
}

void Model::train_dtype_set(DType t) {
    if (t != DType::F32 && t != DType::BF16) fail("training dtype must be F32 or BF16, not {}", dtype_name(t));
    train_dtype_ = t;
}

Model::TrainScope Model::train_scope() {
    if (!has_f32_matrices_) fail("this {} was loaded for bf16 inference only: load it in fp32 to train", config_.architecture);
    arena_untile();  // the backward and the optimizer read the plain layout
    TrainScope scope{this, compute_dtype_};
    // The master weights changed since the last step: round them again (cheap next to the step).
    if (train_dtype_ == DType::BF16) bf16_copies_write();
    compute_dtype_ = train_dtype_;
    training_ = true;
    return scope;
}

uint16_t* Model::grad_scratch(int64_t n) {
    if (static_cast<int64_t>(grad_bf16_.size()) < n) grad_bf16_.resize(static_cast<size_t>(n));
    return grad_bf16_.data();
}

void Model::linear_grad(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, int64_t w,
                        int64_t n, int64_t c, int64_t oc) {
    if (train_dtype_ == DType::BF16) {
        linear_backward_bf16(dinp, dweight, dbias, dout, inp, params_bf16_.data() + w, grad_scratch(n * (c + oc)), n, c, oc);
    } else {
        linear_backward(dinp, dweight, dbias, dout, inp, params_.get(w), n, c, oc);
    }
}

void Model::conv1d_grad(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, int64_t w,
                        int64_t n, int64_t c, int64_t oc) {
    if (train_dtype_ == DType::BF16) {
        conv1d_backward_bf16(dinp, dweight, dbias, dout, inp, params_bf16_.data() + w, grad_scratch(n * (c + oc)), n, c, oc);
    } else {
        conv1d_backward(dinp, dweight, dbias, dout, inp, params_.get(w), n, c, oc);
    }
}

void Model::embedding_lookup(float* out, const int32_t* ids, int64_t table, int64_t n, int64_t c, bool accumulate,
                             bool train) const {
    DLM_ASSERT_MSG(!train || has_f32_matrices_, "training a model loaded for bf16 inference only");
    if (!train && compute_dtype_ == DType::BF16 && tiled_.count(table))  // a tied LM head, tiled
        tiled_columns_gather_bf16(out, ids, params_bf16_.data() + table, n, c, tileable_.at(table).n, accumulate);
    else if (!train && tiled_.count(table))
        tiled_columns_gather_f32(out, ids, params_.get(table), n, c, tileable_.at(table).n, accumulate);
    else if (!train && compute_dtype_ == DType::BF16)
        embedding_forward_bf16(out, ids, params_bf16_.data() + table, n, c, accumulate);
    else
        embedding_forward(out, ids, params_.get(table), n, c, accumulate);
}

bool Model::weight_tiled(int64_t w) {
    if (tiled_.count(w)) return true;
    const auto it = tileable_.find(w);
    if (it == tileable_.end() || training_ || !prepack_) return false;
    const tile_spec& t = it->second;
    if (compute_dtype_ == DType::BF16) {
        std::vector<uint16_t> scratch(static_cast<size_t>(tiled_pack_scratch(t.k, t.n, t.transposed)));
        tiled_pack_bf16(params_bf16_.data() + w, scratch.data(), t.k, t.n, t.transposed);
    } else {  // in the fp32 arena itself: arena_untile restores the plain layout when needed
        std::vector<float> scratch(static_cast<size_t>(tiled_pack_scratch(t.k, t.n, t.transposed, kTileColsF32)));
        tiled_pack_f32(params_.get(w), scratch.data(), t.k, t.n, t.transposed);
    }
    tiled_.insert(w);
    return true;
}

void Model::gemv(float* out, const float* inp, int64_t w, const float* bias, int64_t m) {
    const auto it = tileable_.find(w);
    DLM_ASSERT_MSG(it != tileable_.end(), "gemv on a weight the model did not declare tileable");
    const tile_spec& t = it->second;
    if (compute_dtype_ != DType::BF16) {
        if (weight_tiled(w)) tiled_gemv_f32(out, inp, params_.get(w), bias, m, t.k, t.n);
        else if (t.transposed) linear_forward_gemv(out, inp, params_.get(w), bias, m, t.k, t.n);
        else {
            if (static_cast<int64_t>(gemv_scratch_.size()) < kGemvChunks * t.n)
                gemv_scratch_.resize(static_cast<size_t>(kGemvChunks * t.n));
            conv1d_forward_gemv(out, gemv_scratch_.data(), inp, params_.get(w), bias, m, t.k, t.n);
        }
    } else if (weight_tiled(w)) {
        tiled_gemv_bf16(out, inp, params_bf16_.data() + w, bias, m, t.k, t.n);
    } else if (t.transposed) {
        linear_forward_gemv_bf16(out, inp, params_bf16_.data() + w, bias, m, t.k, t.n);
    } else {
        conv1d_forward_gemv_bf16(out, inp, params_bf16_.data() + w, bias, m, t.k, t.n);
    }
}

uint16_t* Model::act_bf16_room(int64_t n) {
    if (static_cast<int64_t>(act_bf16_.size()) < n) act_bf16_.resize(static_cast<size_t>(n));
    return act_bf16_.data();
}

uint16_t* Model::linear_input_bf16(int64_t n, int64_t c) {
    return compute_dtype_ == DType::BF16 && !training_ ? act_bf16_room(n * c) : nullptr;
}

void Model::linear(float* out, const float* inp, int64_t w, const float* bias, int64_t n, int64_t c, int64_t oc) {
    DLM_ASSERT_MSG(inp || (compute_dtype_ == DType::BF16 && static_cast<int64_t>(act_bf16_.size()) >= n * c),
                   "linear without an input: only after linear_input_bf16");
    if (compute_dtype_ == DType::BF16) {
        uint16_t* a16 = act_bf16_room(n * c);
        if (weight_tiled(w)) {
            tiled_forward_bf16(out, a16, inp, params_bf16_.data() + w, bias, n, c, oc);
            return;
        }
        if (prepack_ && !training_ && packable_copy_.count(w)) {
            auto it = packed_copies_.find(w);
            if (it == packed_copies_.end()) {
                const int64_t size = linear_weight_packed_size_bf16(c, oc);
                if (size > 0) {
                    HugePageVector<uint16_t> packed(static_cast<size_t>(size));
                    linear_weight_pack_bf16_copy(packed.data(), params_bf16_.data() + w, c, oc);
                    it = packed_copies_.emplace(w, std::move(packed)).first;
                }
            }
            if (it != packed_copies_.end()) {
                linear_forward_bf16_packed(out, a16, inp, it->second.data(), bias, n, c, oc);
                return;
            }
        }
        if (prepack_ && !training_ && packable_.count(w) && !unpackable_.count(w)) {
            if (!packed_.count(w)) {
                if (linear_weight_pack_bf16(params_bf16_.data() + w, c, oc)) packed_.insert(w);
                else unpackable_.insert(w);
            }
            if (packed_.count(w)) {
                linear_forward_bf16_packed(out, a16, inp, params_bf16_.data() + w, bias, n, c, oc);
                return;
            }
        }
        linear_forward_bf16(out, a16, inp, params_bf16_.data() + w, bias, n, c, oc);
    } else if (weight_tiled(w)) {
        tiled_forward_f32(out, inp, params_.get(w), bias, n, c, oc);
    } else {
        linear_forward(out, inp, params_.get(w), bias, n, c, oc);
    }
}

void Model::conv1d(float* out, const float* inp, int64_t w, const float* bias, int64_t n, int64_t c, int64_t oc) {
    if (compute_dtype_ == DType::BF16) {
        uint16_t* a16 = act_bf16_room(n * c);
        if (weight_tiled(w)) tiled_forward_bf16(out, a16, inp, params_bf16_.data() + w, bias, n, c, oc);
        else conv1d_forward_bf16(out, a16, inp, params_bf16_.data() + w, bias, n, c, oc);
    } else if (weight_tiled(w)) {
        tiled_forward_f32(out, inp, params_.get(w), bias, n, c, oc);
    } else {
        conv1d_forward(out, inp, params_.get(w), bias, n, c, oc);
    }
}

void Model::attention(float* out, float* att, float* dropout_scratch, const float* q, const float* k, const float* v,
                      const int32_t* key_mask, const attention_shape& s, bool train) {
    if (train || compute_dtype_ != DType::BF16 || s.dropout > 0.0f) {
        attention_forward(out, att, dropout_scratch, q, k, v, key_mask, s);
        return;
    }
    const int64_t need = attention_bf16_scratch(s);
    if (static_cast<int64_t>(attn_bf16_.size()) < need) attn_bf16_.resize(static_cast<size_t>(need));
    attention_forward_bf16(out, att, attn_bf16_.data(), q, k, v, key_mask, s);
}

void Model::check_ids(const ForwardInput& in) const {
    const int64_t n = in.batch * in.seq;
    for (int64_t i = 0; i < n; ++i) {
        int32_t id = in.ids[i];
        if (id < 0 || id >= config_.vocab_size)
            fail("token id {} (batch {}, position {}) is outside the vocabulary [0, {})", id, i / in.seq,
                 i % in.seq, config_.vocab_size);
    }
}

void Model::targets_gather(const TrainInput& t, std::vector<int64_t>& rows, std::vector<int32_t>& targets,
                           std::vector<float>& weights) const {
    const int64_t n = t.in.batch * t.in.seq;
    rows.clear();
    targets.clear();
    weights.clear();
    for (int64_t r = 0; r < n; ++r) {
        const int32_t y = t.targets[r];
        if (y == kIgnoreTarget) continue;
        if (y < 0 || y >= config_.vocab_size)
            fail("target id {} (batch {}, position {}) is outside the vocabulary [0, {})", y, r / t.in.seq,
                 r % t.in.seq, config_.vocab_size);
        rows.push_back(r);
        targets.push_back(y);
        weights.push_back(t.weights ? t.weights[r] : 1.0f);
    }
    if (!t.weights && !rows.empty())
        for (auto& w : weights) w = 1.0f / static_cast<float>(rows.size());
}

void Model::save(const std::string& dir, DType dtype) const {
    if (!has_f32_matrices_) fail("{}: this {} was loaded for bf16 inference only: load it in fp32 to save it", dir, config_.architecture);
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) fail("{}: cannot create folder: {}", dir, ec.message());
    std::vector<TensorToWrite> ts;
    std::vector<std::vector<float>> plain;  // tiled fp32 matrices, in their plain layout again
    plain.reserve(tiled_.size());
    for (auto& e : params_.entries()) {
        const float* data = params_.get(e.offset);
        if (compute_dtype_ == DType::F32 && tiled_.count(e.offset)) {
            const tile_spec& t = tileable_.at(e.offset);
            std::vector<float> scratch(static_cast<size_t>(tiled_pack_scratch(t.k, t.n, t.transposed, kTileColsF32)));
            plain.emplace_back(data, data + e.numel());
            tiled_unpack_f32(plain.back().data(), scratch.data(), t.k, t.n, t.transposed);
            data = plain.back().data();
        }
        ts.push_back({e.name, e.shape, data});
    }
    // Weights first, config last: a folder whose config.json is new has new weights.
    safetensors_write(dir + "/model.safetensors", ts, dtype);
    config_save(config_, dir + "/config.json");
}

std::vector<std::string> model_architectures() {
    std::vector<std::string> r;
    for (auto& a : kArchitectures) r.push_back(a.name);
    return r;
}

std::unique_ptr<Model> model_create(const ModelConfig& config) {
    for (auto& a : kArchitectures)
        if (config.architecture == a.name) return a.create(config);
    std::string known;
    for (auto& a : kArchitectures) known += (known.empty() ? "" : ", ") + std::string(a.name);
    fail("architecture '{}' is not supported (supported: {})", config.architecture, known);
}

std::unique_ptr<Model> model_load(const std::string& dir, DType dtype) {
    if (dtype != DType::F32 && dtype != DType::BF16) fail("models load as F32 or BF16, not {}", dtype_name(dtype));
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0) fail("{}: model folder not found", dir);
    if (!S_ISDIR(st.st_mode)) fail("{}: not a folder (expected a model folder with config.json and model.safetensors)", dir);
    const std::string config_path = dir + "/config.json";
    if (!file_exists(config_path)) fail("{}: config.json is missing: not a HuggingFace model folder", dir);
    ModelConfig config = config_load(config_path);
    const std::string weights = dir + "/model.safetensors";
    if (!file_exists(weights)) {
        if (file_exists(dir + "/pytorch_model.bin"))
            fail("{}: model.safetensors is missing (dlm reads safetensors, not pytorch_model.bin; save the model with safe_serialization=True)", dir);
        fail("{}: model.safetensors is missing", dir);
    }
    std::unique_ptr<Model> m;
    try {
        m = model_create(config);
    } catch (const Error& e) {
        fail("{}: {}", config_path, e.what());
    }
    SafetensorsReader reader(weights);
    m->load_weights(reader, dtype == DType::BF16);
    return m;
}

}  // namespace dlm
