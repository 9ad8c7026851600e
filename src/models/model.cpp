#include "models/model.h"

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "core/file.h"

namespace dlm {

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
}

}  // namespace

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
    if (bf16_only) arena_.bf16_only_begin();
    else arena_.layouts_reset();
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
            st.read_bf16(*t, arena_.bf16_copy(e.offset));
        else
            st.read_f32(*t, params_.get(e.offset));
        st.pages_drop(*t);  // a tied tensor read twice is mapped in again: harmless
        used[t - st.tensors().data()] = true;
    }
    if (bf16_only) arena_.bf16_only_end();
    std::vector<std::string> unused;
    for (size_t i = 0; i < used.size(); ++i)
        if (!used[i] && !name_ignored(st.tensors()[i].name)) unused.push_back(st.tensors()[i].name);
    if (!unused.empty())
        std::fprintf(stderr, "dlm: warning: %s: %zu tensor(s) not used by %s, e.g. '%s'\n",
                     st.path().c_str(), unused.size(), config_.architecture.c_str(), unused[0].c_str());
}

void Model::encoder_kv_prepare(EncoderKv& kv, const ForwardInput& in) const {
    if (in.mask) fail("forward_kv: the key/value cache takes canvases without padding (mask nullptr)");
    kv.batch = in.batch;
    kv.seq = in.seq;
    kv.kv.resize(static_cast<size_t>(config_.num_layers * in.batch * in.seq * 2 * config_.hidden_size));
}

void Model::encoder_span_check(const EncoderKv& kv, int64_t q0, int64_t q1) const {
    if (kv.batch < 1) fail("forward_span: the key/value cache is empty (call forward_kv first)");
    if (q0 < 0 || q1 <= q0 || q1 > kv.seq)
        fail("forward_span: span [{}, {}) is not inside the cached canvas of {} positions", q0, q1, kv.seq);
}

void Model::forward_kv(EncoderKv&, const ForwardInput&) {
    fail("{} has no encoder key/value cache: it is not a bidirectional encoder", config_.architecture);
}

void Model::forward_span(EncoderKv&, const int32_t*, int64_t, int64_t) {
    fail("{} has no encoder key/value cache: it is not a bidirectional encoder", config_.architecture);
}

void Model::train_dtype_set(DType t) {
    if (t != DType::F32 && t != DType::BF16) fail("training dtype must be F32 or BF16, not {}", dtype_name(t));
    arena_.train_dtype = t;
}

void Model::attention(float* out, float* att, float* dropout_scratch, const float* q, const float* k, const float* v,
                      const int32_t* key_mask, const attention_shape& s, bool train) {
    if (train || arena_.compute_dtype() != DType::BF16 || s.dropout > 0.0f) {
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
    if (!arena_.has_f32_matrices()) fail("{}: this {} was loaded for bf16 inference only: load it in fp32 to save it", dir, config_.architecture);
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) fail("{}: cannot create folder: {}", dir, ec.message());
    std::vector<TensorToWrite> ts;
    std::vector<std::vector<float>> plain;  // tiled fp32 matrices, in their plain layout again
    for (auto& e : params_.entries()) ts.push_back({e.name, e.shape, arena_.plain_f32(e.offset, e.numel(), plain)});
    // Weights first, config last: a folder whose config.json is new has new weights.
    safetensors_write(dir + "/model.safetensors", ts, dtype);
    config_save(config_, dir + "/config.json");
}

std::unique_ptr<Model> model_load(const std::string& dir, DType dtype) {
    if (dtype != DType::F32 && dtype != DType::BF16 && dtype != DType::I8)
        fail("models load as F32, BF16 or I8 (q8), not {}", dtype_name(dtype));
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
    // q8 quantizes the bf16 values (a bf16-only load: no fp32 copy kept) as each matrix is
    // first read.
    m->load_weights(reader, dtype != DType::F32);
    if (dtype == DType::I8) m->compute_dtype_set(DType::I8);
    return m;
}

}  // namespace dlm
