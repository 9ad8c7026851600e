// A language model loaded from a HuggingFace folder (config.json + model.safetensors).
//
//   auto m = dlm::model_load("roberta-base");     // picks the class by `architectures`
//   m->forward({ids, mask, nullptr, B, T});       // trunk: final hidden states [B*T, C]
//   m->logits(rows, out);                         // LM head, only at the rows asked for
//
// Every parameter lives in one arena (ParamTable), declared once per architecture with
// its HuggingFace name and stored shape, so loading, saving, zeroing gradients and the
// optimizer step are flat loops over one buffer.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/zero_pages.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "kernels/attention.h"
#include "models/weights.h"

namespace dlm {

// One batch: ids[B, T]; mask[B, T] 1 = token, 0 = padding (nullptr = all ones);
// positions[B, T] overrides the architecture's position ids (nullptr = default).
struct ForwardInput {
    const int32_t* ids = nullptr;
    const int32_t* mask = nullptr;
    const int32_t* positions = nullptr;
    int64_t batch = 0, seq = 0;
};

// One training micro-batch. targets[B*T]: the token id row r must predict, or -100
// (no loss at that row; for a causal LM the caller shifts: targets[t] = ids[t + 1]).
// weights[B*T] (nullptr: 1 / number of targets, the mean HF computes) scale each row's
// cross-entropy in the returned loss and its gradient.
struct TrainInput {
    ForwardInput in;
    const int32_t* targets = nullptr;
    const float* weights = nullptr;
    bool dropout = false;   // model.train(): dropout with the config's rates
    uint64_t seed = 0;      // dropout stream of this micro-batch
    // Called by forward_backward as it goes down the layers: every gradient at arena
    // offset >= the argument is final (data-parallel training starts exchanging them).
    std::function<void(int64_t offset)> grads_final;
};

constexpr int32_t kIgnoreTarget = -100;

// Key/value cache of a causal model for incremental decoding.
struct KvCache {
    int64_t batch = 0, capacity = 0, length = 0;  // length: slots filled so far (padding included)
    HugePageVector<float> k, v;                   // [L, B, capacity, C] each (fresh per generation: huge pages)
    std::vector<int32_t> mask;                    // [B, capacity] 1 = real token
};

// Keys and values of an encoder's canvas, per layer (Model::forward_kv).
struct EncoderKv {
    int64_t batch = 0, seq = 0;
    HugePageVector<float> kv;  // [L, B, T, 2C]: each position's key, then its value
};

class Model {
public:
    virtual ~Model() = default;

    const ModelConfig& config() const { return config_; }
    // For metadata only (e.g. the training recipe stored under config.json's "dlm" key):
    // the sizes must not change after construction.
    nlohmann::ordered_json& config_json() { return config_.json; }
    ParamTable& params() { return params_; }
    const ParamTable& params() const { return params_; }
    int64_t parameter_count() const { return params_.size(); }

    // Runs embeddings and layers. Throws dlm::Error for ids outside the vocabulary or
    // sequences longer than the position table.
    virtual void forward(const ForwardInput& in) = 0;
    // Final hidden states of the last forward, [B*T, C] (RoBERTa: before the LM head;
    // GPT-2: after ln_f).
    virtual const float* hidden() const = 0;
    // hidden_states as HuggingFace's output_hidden_states returns them: l = 0 is the
    // embedding output, l = 1..L the layer outputs (GPT-2: the last one after ln_f).
    virtual const float* hidden_state(int64_t l) const = 0;
    // LM-head logits out[rows.size(), V] for rows (b * T + t) of the last forward.
    virtual void logits(std::span<const int64_t> rows, float* out) = 0;

    // Forward with saved activations, cross-entropy at the rows that have a target
    // (logits are computed there only), backward; gradients are ADDED to
    // params().grads(). Returns the loss (sum of weighted row losses).
    virtual double forward_backward(const TrainInput& t) = 0;

    // Precision of inference matrix products: F32 (the reference) or BF16 (weights
    // rounded once here, activations rounded per product, fp32 accumulation).
    // Training always runs in fp32. A model loaded with model_load(dir, DType::BF16) has
    // no fp32 matrices and can only compute in BF16.
    void compute_dtype_set(DType t) { arena_.compute_dtype_set(t, config_.architecture); }
    // Mixed-precision training (BF16): the matrix products of forward_backward take bf16
    // copies of the fp32 master weights (refreshed at each call) and bf16-rounded
    // activations and gradients, accumulating in fp32; gradients, the optimizer and
    // everything else stay fp32. F32 (the default) is the reference.
    void train_dtype_set(DType t);
    DType train_dtype() const { return arena_.train_dtype; }
    // bf16 inference prepacks weights on first use (on by default; off keeps the plain
    // layout, for comparisons): oneDNN's blocked layout for the matrices only products
    // read (encoders), column tiles for what a causal model streams when decoding
    // (models/weights.h). prepacked_count reports how many are laid out so now.
    void prepack_set(bool on) { arena_.prepack_set(on, config_.architecture); }
    int64_t prepacked_count() const { return arena_.laid_out_count(); }
    // False after a bf16-only load: the fp32 copies of the matrices were never made.
    bool has_f32_matrices() const { return arena_.has_f32_matrices(); }
    DType compute_dtype() const { return arena_.compute_dtype(); }

    // Incremental decoding (causal models; the defaults throw dlm::Error "<arch> has no
    // KV cache: it is not a causal LM"). kv_cache_init sizes an empty cache.
    virtual void kv_cache_init(KvCache& cache, int64_t batch, int64_t capacity) const;
    // Appends tokens ids[B, T] (T >= 1; the prompt in one call, then one token per call)
    // at positions cache.length .. +T-1 and runs them through the model; afterwards
    // hidden() holds their final hidden states [B*T, C] and logits(rows) works on them
    // as after forward(). mask[B, T] (nullptr = all ones) marks padding (left-padded
    // prompts of different lengths in a batch). Position ids follow HF generation:
    // cumsum(attention_mask) - 1, and 1 at padding.
    virtual void forward_cached(KvCache& cache, const int32_t* ids, const int32_t* mask, int64_t T);
    // One decoding step of several caches at once (a server's concurrent generations:
    // each weight is read once for all): appends one token to every sample of every
    // cache, ids[N] and mask[N] stacked cache after cache (N = their batches summed);
    // afterwards hidden() / logits(rows) hold the N rows in that order. Each sample gets
    // what forward_cached on its own cache gives it.
    virtual void forward_cached_multi(std::span<KvCache* const> caches, const int32_t* ids, const int32_t* mask);

    // Block decoding of an encoder with a key/value cache (Fast-dLLM's prefix and dual
    // caches). forward_kv(kv, in) is forward(in) (no padding mask) that also keeps every
    // layer's keys and values of the B x T canvas in kv. forward_span(kv, ids, q0, q1)
    // then runs the layers on positions [q0, q1) of each sample only (ids[B, T]: the whole
    // canvas, which gives the positions): their queries attend to all T positions, with
    // fresh keys and values on [q0, q1) (written over the kept ones) and kv's elsewhere.
    // Afterwards hidden() holds the span's final states [B, q1 - q0, C] and logits(rows)
    // takes rows b * (q1 - q0) + (t - q0). Encoders only: the defaults throw dlm::Error.
    virtual void forward_kv(EncoderKv& kv, const ForwardInput& in);
    virtual void forward_span(EncoderKv& kv, const int32_t* ids, int64_t q0, int64_t q1);

    // Writes config.json and model.safetensors into dir (atomically, file by file).
    void save(const std::string& dir, DType dtype = DType::F32) const;

    // Fills the arena from a checkpoint: every declared tensor must be present
    // (under its name or a known alias) with the declared shape.
    // bf16_only: matrices go straight to their bf16 copies (compute dtype BF16, no
    // fp32 matrices: inference only, a little over half the memory).
    void load_weights(const SafetensorsReader& st, bool bf16_only = false);

protected:
    explicit Model(ModelConfig c) : config_(std::move(c)) {}
    // Other names a checkpoint may store a tensor under (prefix-less, gamma/beta...).
    virtual std::vector<std::string> name_aliases(const std::string& name) const;
    // Tensors a checkpoint may carry that this model does not use (buffers, tied copies).
    virtual bool name_ignored(const std::string& name) const = 0;
    void check_ids(const ForwardInput& in) const;
    // For an encoder's forward_kv / forward_span: sizes kv for the canvas in (which must
    // have no padding mask), or checks that [q0, q1) lies inside kv's canvas.
    void encoder_kv_prepare(EncoderKv& kv, const ForwardInput& in) const;
    void encoder_span_check(const EncoderKv& kv, int64_t q0, int64_t q1) const;
    // Start of forward_backward: checks the fp32 weights exist, refreshes the bf16 copies
    // in bf16 training, and sets the compute dtype to the training dtype until the
    // returned guard ends.
    struct TrainScope {
        WeightArena* arena;
        DType saved;
        ~TrainScope() { arena->training_end(saved); }
    };
    [[nodiscard]] TrainScope train_scope() { return {&arena_, arena_.training_begin(config_.architecture)}; }
    // Rows with a target (row ids, targets, weights), validated against the vocabulary.
    void targets_gather(const TrainInput& t, std::vector<int64_t>& rows, std::vector<int32_t>& targets,
                        std::vector<float>& weights) const;
    // Marks the start of layer l's parameters (call at its first declaration; layers in
    // order, after the embeddings); after layer l's backward, grads_final_after_layer
    // reports that gradients from there to the arena's end are final (the head's and
    // final norm's, declared after the layers, are finished before the layers' backward).
    void layer_params_begin() { layer_offsets_.push_back(params_.size()); }
    void grads_final_after_layer(const TrainInput& t, int64_t l) const {
        if (t.grads_final) t.grads_final(layer_offsets_[static_cast<size_t>(l)]);
    }

    // Attention in the compute dtype: bf16 inference takes the bf16 kernel (scratch
    // kept here), training and fp32 the fp32 one (dropout_scratch as attention_forward).
    void attention(float* out, float* att, float* dropout_scratch, const float* q, const float* k, const float* v,
                   const int32_t* key_mask, const attention_shape& s, bool train);

    ModelConfig config_;
    WeightArena arena_;
    ParamTable& params_ = arena_.params;

private:
    std::vector<uint16_t> attn_bf16_;
    std::vector<int64_t> layer_offsets_;
};

// Loads a model folder (config.json + model.safetensors); throws dlm::Error naming
// the file and the problem.
// dtype BF16: the bf16-only load (see Model::load_weights), ready to compute in BF16.
std::unique_ptr<Model> model_load(const std::string& dir, DType dtype = DType::F32);
// A model of the given configuration with zero weights (callers initialise them).
std::unique_ptr<Model> model_create(const ModelConfig& config);
// Architectures dlm knows (for messages).
std::vector<std::string> model_architectures();

}  // namespace dlm
