#include "workloads/workloads.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fmt/format.h>
#include <vector>

#include "ar/generate_ar.h"
#include "core/error.h"
#include "core/file.h"
#include "core/rng.h"
#include "diffusion/collator.h"
#include "diffusion/generate.h"
#include "request/ar_request.h"
#include "request/diffusion_request.h"
#include "kernels/gemm.h"
#include "models/flops.h"
#include "models/init.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"
#include "train/adamw.h"

namespace dlm {

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

DType dtype_of(const std::string& d) {
    if (d == "f32") return DType::F32;
    if (d == "bf16") return DType::BF16;
    fail("unknown dtype '{}' (f32, bf16)", d);
}

// Best time of `reps` calls of f after one untimed warm-up call.
template <typename F>
double best_seconds(int reps, F&& f) {
    f();
    double best = 1e30;
    for (int r = 0; r < std::max(1, reps); ++r) {
        const auto t0 = clock_type::now();
        f();
        best = std::min(best, seconds_since(t0));
    }
    return best;
}

// One pass of streaming reads over data[n] (n a multiple of 64): many partial sums per
// thread, so memory, not the latency of one add chain, is the limit.
float read_pass(const float* data, int64_t n) {
    DLM_ASSERT(n % 64 == 0);
    float total = 0;
#pragma omp parallel reduction(+ : total)
    {
        float acc[64] = {};
#pragma omp for schedule(static)
        for (int64_t i = 0; i < n; i += 64)
#pragma omp simd
            for (int j = 0; j < 64; ++j) acc[j] += data[i + j];
        for (float x : acc) total += x;
    }
    return total;
}

// The folder bench_models_prepare writes a shape's random checkpoint to.
std::string bench_model_dir(const ModelConfig& c) {
    const char* tmp = std::getenv("TMPDIR");
    return fmt::format("{}/dlm-bench/{}-{}L-{}H", tmp && *tmp ? tmp : "/tmp", c.model_type, c.num_layers, c.hidden_size);
}

// Loaded from disk as `dlm generate` loads a model, so that peak memory is the real one
// (a bf16 load never holds fp32 matrices).
std::unique_ptr<Model> bench_model_load(const ModelConfig& c, const std::string& dtype) {
    const std::string dir = bench_model_dir(c);
    if (!file_exists(dir + "/model.safetensors")) fail("{}: not prepared (bench_models_prepare)", dir);
    return model_load(dir, dtype_of(dtype));
}

}  // namespace

void bench_models_prepare() {
    for (const ModelConfig& c : {bench_config_roberta_base(), bench_config_gpt2_small()}) {
        const std::string dir = bench_model_dir(c);
        if (file_exists(dir + "/model.safetensors")) continue;
        auto m = model_create(c);
        model_init_random(*m, 42);
        m->save(dir);  // fp32, as HuggingFace publishes roberta-base and gpt2
    }
}

ModelConfig bench_config_roberta_base() {
    nlohmann::ordered_json j = {
        {"architectures", {"RobertaForMaskedLM"}}, {"model_type", "roberta"}, {"vocab_size", 50265},
        {"hidden_size", 768}, {"num_hidden_layers", 12}, {"num_attention_heads", 12},
        {"intermediate_size", 3072}, {"max_position_embeddings", 514}, {"type_vocab_size", 1},
        {"layer_norm_eps", 1e-5}, {"hidden_act", "gelu"}, {"pad_token_id", 1}};
    return config_parse(j, "roberta-base shape");
}

ModelConfig bench_config_gpt2_small() {
    nlohmann::ordered_json j = {{"architectures", {"GPT2LMHeadModel"}}, {"model_type", "gpt2"},
                                {"vocab_size", 50257}, {"n_embd", 768}, {"n_layer", 12}, {"n_head", 12},
                                {"n_positions", 1024}, {"n_ctx", 1024}, {"activation_function", "gelu_new"},
                                {"layer_norm_epsilon", 1e-5}, {"bos_token_id", 50256}, {"eos_token_id", 50256}};
    return config_parse(j, "gpt2-small shape");
}

ModelConfig bench_config_train() {
    nlohmann::ordered_json j = {
        {"architectures", {"RobertaForMaskedLM"}}, {"model_type", "roberta"}, {"vocab_size", 50265},
        {"hidden_size", 384}, {"num_hidden_layers", 6}, {"num_attention_heads", 6}, {"intermediate_size", 1536},
        {"max_position_embeddings", 514}, {"type_vocab_size", 1}, {"layer_norm_eps", 1e-5}, {"hidden_act", "gelu"},
        {"pad_token_id", 1}};
    return config_parse(j, "6L-384H RoBERTa");
}

namespace {

// The model's denoiser, counting the matrix-product FLOPs of what it is asked (a span
// pass: its rows against the whole canvas's keys).
class counting_denoiser final : public Denoiser {
public:
    counting_denoiser(Model& m) : inner_(m), c_(m.config()) {}
    int64_t vocab_size() const override { return inner_.vocab_size(); }
    void logits(const int32_t* ids, int64_t batch, int64_t seq, std::span<const int64_t> rows, float* out) override {
        flops += forward_flops(c_, batch, seq, static_cast<double>(rows.size()));
        inner_.logits(ids, batch, seq, rows, out);
    }
    void logits_kv(const int32_t* ids, int64_t batch, int64_t seq, std::span<const int64_t> rows, float* out) override {
        flops += forward_flops(c_, batch, seq, static_cast<double>(rows.size()));
        inner_.logits_kv(ids, batch, seq, rows, out);
    }
    void logits_span(const int32_t* ids, int64_t batch, int64_t seq, int64_t q0, int64_t q1,
                     std::span<const int64_t> rows, float* out) override {
        const int64_t S = q1 - q0;
        flops += forward_flops(c_, batch, S, static_cast<double>(rows.size())) +
                 4.0 * static_cast<double>(batch * S * c_.num_layers * (seq - S) * c_.hidden_size);
        inner_.logits_span(ids, batch, seq, q0, q1, rows, out);
    }
    double flops = 0;

private:
    ModelDenoiser inner_;
    const ModelConfig& c_;
};

}  // namespace

BenchWorkloadResult bench_diffusion(const std::string& dtype, int reps, bool prepack, int64_t block,
                                    const std::string& cache) {
    const ModelConfig c = bench_config_roberta_base();
    auto model = bench_model_load(c, dtype);
    model->prepack_set(prepack);
    const int64_t T = 256, prompt = 16, steps = 10;
    // The recipe's canvas: <s> and 15 prompt tokens, 240 masks; roberta-base's special
    // tokens, as the random checkpoint carries no tokenizer.
    const PromptTokens special{0, 2, 1, 50264};
    std::vector<int32_t> ids(static_cast<size_t>(prompt - 1));
    for (int64_t t = 1; t < prompt; ++t) ids[t - 1] = 100 + static_cast<int32_t>(t);
    DiffusionChoices choices;
    choices.sampler = "remask";
    choices.steps = steps;
    choices.block = block;
    choices.cache = cache;
    choices.length = T - prompt;
    DiffusionRequest req = diffusion_request_resolve(*model, special, GenerationDefaults{}, choices);
    diffusion_request_place(req, {ids});
    auto counting = std::make_unique<counting_denoiser>(*model);
    counting_denoiser& den = *counting;
    req.denoiser = std::move(counting);
    BenchWorkloadResult r;
    // The remask sampler runs the LM head only at the positions it keeps each step; the
    // count is the same every repetition (the random streams restart with the seed).
    r.seconds = best_seconds(reps, [&] {
        den.flops = 0;
        diffusion_request_run(req);
    });
    r.flops = den.flops;
    r.items = static_cast<double>(T - prompt);
    r.unit = "tokens";
    r.model_bytes = static_cast<double>(model->parameter_count()) * (dtype == "bf16" ? 2 : 4);
    r.detail = fmt::format("roberta-base shape, remask, {} steps{}, {} tokens ({} prompt){}", steps,
                           block > 0 ? fmt::format(" per block of {}", block) : "", T, prompt,
                           req.options.cache != CacheMode::none ? fmt::format(", {} cache", cache) : "");
    return r;
}

BenchWorkloadResult bench_ar(const std::string& dtype, int reps, bool prepack) {
    const ModelConfig c = bench_config_gpt2_small();
    auto model = bench_model_load(c, dtype);
    model->prepack_set(prepack);
    const int64_t prompt = 16, tokens = 240;
    std::vector<int32_t> ids(prompt);
    for (int64_t t = 0; t < prompt; ++t) ids[t] = 100 + static_cast<int32_t>(t);
    ArChoices choices;
    choices.length = tokens;
    const ArOptions o = ar_options_resolve(GenerationDefaults{}, choices, -1);  // no eos: always the full length
    BenchWorkloadResult r;
    // The read bound is measured here, between the repetitions, on the same threads:
    // shared hosts' memory bandwidth drifts by a third within minutes and jumps within
    // seconds, so a bound measured once, earlier, or in a short burst says little about
    // a run. Streaming reads fill the gaps between repetitions (each about half a
    // repetition long, their mean rate, not their best); a repetition is set against the
    // mean of the reads on both sides, and the fraction reported is the median over the
    // repetitions.
    const std::vector<float> probe(size_t{64} << 20, 1.0f);  // 256 MB, far past any cache
    const int64_t probe_n = static_cast<int64_t>(probe.size());
    auto reads = [&](double seconds) {  // mean GB/s of whole passes over `seconds`
        const auto t0 = clock_type::now();
        int passes = 0;
        float sink = 0;
        do {
            sink += read_pass(probe.data(), probe_n);
            ++passes;
        } while (seconds_since(t0) < seconds);
        return (sink == -1.0f ? 0.0 : 1.0) * passes * static_cast<double>(probe_n) * 4.0 / seconds_since(t0) / 1e9;
    };
    const auto w0 = clock_type::now();
    ar_generate(*model, {ids}, o);  // warm-up
    const double warm = seconds_since(w0);
    r.seconds = 1e30;
    std::vector<double> fractions;
    double before = reads(warm / 2);
    const double C = static_cast<double>(c.hidden_size), F = static_cast<double>(c.intermediate_size);
    const double L = static_cast<double>(c.num_layers), V = static_cast<double>(c.vocab_size);
    const double wb = dtype == "bf16" ? 2.0 : 4.0;
    r.weight_bytes = static_cast<double>(tokens) * wb * (L * (4 * C * C + 2 * C * F) + V * C);
    for (int rep = 0; rep < std::max(1, reps); ++rep) {
        const auto t0 = clock_type::now();
        ar_generate(*model, {ids}, o);
        const double s = seconds_since(t0);
        r.seconds = std::min(r.seconds, s);
        const double after = reads(s / 2);
        fractions.push_back(r.weight_bytes / s / ((before + after) / 2 * 1e9));
        r.read_bandwidth = std::max(r.read_bandwidth, (before + after) / 2);
        before = after;
    }
    std::sort(fractions.begin(), fractions.end());
    r.read_bound_fraction = fractions[fractions.size() / 2];
    r.probe_bytes = static_cast<double>(probe.size() * sizeof(float));
    r.flops = forward_flops(c, 1, prompt, 1);
    for (int64_t t = 1; t < tokens; ++t)  // each decoding step: one token against prompt + t keys
        r.flops += 2 * L * (4 * C * C + 2 * C * F) + 4 * L * static_cast<double>(prompt + t) * C + 2 * C * V;
    r.items = static_cast<double>(tokens);
    r.unit = "tokens";
    r.model_bytes = static_cast<double>(model->parameter_count()) * wb;
    r.detail = fmt::format("gpt2-small shape, {} prompt + {} new tokens, KV cache", prompt, tokens);
    return r;
}

BenchWorkloadResult bench_train(const std::string& dtype, int reps) {
    const ModelConfig c = bench_config_train();
    auto model = model_create(c);
    model_init_random(*model, 42);
    model->train_dtype_set(dtype_of(dtype));
    AdamW opt(model->params(), {});
    CollatorVocab vocab;
    vocab.mask_id = 50264;
    vocab.pad_id = 1;
    vocab.special.assign(static_cast<size_t>(c.vocab_size), false);
    for (int id : {0, 1, 2, 3, 50264}) vocab.special[id] = true;
    const int64_t B = 8, T = 256;
    Rng rng(7);
    std::vector<int32_t> blocks(static_cast<size_t>(B * T));
    for (auto& x : blocks) x = 4 + static_cast<int32_t>(rng.below(50000));
    // One batch at the recipe's mean mask rate (0.55), the same every repetition, so the
    // best time and the FLOP count describe the same work.
    CollatorOptions co;
    co.rates = {0.55f};
    const CollatedBatch b = collate_diffusion(blocks.data(), B, T, vocab, co, rng);
    BenchWorkloadResult r;
    r.seconds = best_seconds(reps, [&] {
        model->params().grads_zero();
        TrainInput t{{b.ids.data(), nullptr, nullptr, B, T}, b.targets.data(), nullptr, true, rng.next(), {}};
        model->forward_backward(t);
        grad_clip(model->params(), 1.0);
        opt.step(model->params(), 5e-5f);
    });
    r.flops = train_step_flops(c, B, T, static_cast<double>(b.masked));
    r.items = static_cast<double>(B * T);
    r.unit = "tokens";
    r.model_bytes = static_cast<double>(model->parameter_count()) * 4;
    r.detail = fmt::format("6L-384H RoBERTa, diffusion step on {} x {}, AdamW{}", B, T,
                           dtype == "bf16" ? ", bf16 matrix products (mixed precision)" : "");
    return r;
}

BenchWorkloadResult bench_tokenizer(const std::string& tokenizer_dir, const std::string& text_file, int reps) {
    const std::string text = file_read(text_file);
    std::vector<std::string> lines;
    for (size_t i = 0; i < text.size();) {
        size_t j = text.find('\n', i);
        j = j == std::string::npos ? text.size() : j + 1;
        lines.push_back(text.substr(i, j - i));
        i = j;
    }
    BenchWorkloadResult r;
    // Cold: a fresh tokenizer (empty word cache) each time, as a first pass over new text.
    // Loading the vocabulary and merges is not timed: only the encoding.
    r.seconds = 1e30;
    for (int rep = 0; rep <= std::max(1, reps); ++rep) {
        Tokenizer fresh = Tokenizer::from_folder(tokenizer_dir);
        const auto t0 = clock_type::now();
        fresh.encode_batch(lines, false, omp_get_max_threads());
        if (rep > 0) r.seconds = std::min(r.seconds, seconds_since(t0));  // rep 0 warms up
    }
    r.items = static_cast<double>(text.size()) / 1e6;
    r.unit = "MB";
    r.detail = fmt::format("{} ({:.2f} MB, {} lines), cold word cache", text_file, r.items, lines.size());
    return r;
}

double memory_read_bandwidth(int reps) {
    const std::vector<float> big(size_t{128} << 20, 1.0f);
    float sink = 0;
    const double s = best_seconds(reps, [&] { sink += read_pass(big.data(), static_cast<int64_t>(big.size())); });
    return (sink == -1.0f ? 0.0 : 1.0) * static_cast<double>(big.size()) * 4.0 / s / 1e9;
}

Roofline roofline_measure() {
    Roofline r;
    const int64_t M = 2048, K = 768, N = 3072;
    std::vector<float> a(static_cast<size_t>(M * K), 0.01f), b(static_cast<size_t>(K * N), 0.02f),
        c(static_cast<size_t>(M * N));
    std::vector<uint16_t> ab(a.size()), bb(b.size());
    f32_to_bf16_convert(ab.data(), a.data(), static_cast<int64_t>(a.size()));
    f32_to_bf16_convert(bb.data(), b.data(), static_cast<int64_t>(b.size()));
    const double flops = 2.0 * M * K * N;
    const auto av = gemm_matrix(M, K, K), bv = gemm_matrix(K, N, N), cv = gemm_matrix(M, N, N);
    r.gemm_f32 = flops / best_seconds(10, [&] { gemm_f32(a.data(), av, b.data(), bv, c.data(), cv); }) / 1e9;
    r.gemm_bf16 = flops / best_seconds(10, [&] { gemm_bf16(ab.data(), av, bb.data(), bv, c.data(), cv); }) / 1e9;
    r.read_bandwidth = memory_read_bandwidth();
    return r;
}

}  // namespace dlm
