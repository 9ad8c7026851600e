// Benchmark (not a test): autoregressive generation with a gpt2-small-shaped random
// model (12 layers, hidden 768, 12 heads, vocab 50257, 1024 positions): 240 new
// tokens after a 16-token prompt, fp32, and where the time goes.
//
// Decoding reads every weight once per step (GEMV-like, M = batch), so memory
// bandwidth is the roofline: the report divides the bytes read per token by the
// read bandwidth measured here with a plain streaming loop.
//   build/bench_ar [--threads N] [--tokens N] [--prompt N] [--batch B] [--reps R]
//   build/bench_ar --matrices q8     (only the per-matrix q8 against bf16 kernels)
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ar/generate_ar.h"
#include "workloads/workloads.h"
#include "kernels/gemv.h"
#include "kernels/gemm.h"
#include "kernels/quant.h"
#include "models/init.h"
#include "models/model.h"

namespace {

double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Best of a few passes over 512 MB (far beyond the caches).
struct Bandwidth {
    double read, copy;  // GB/s; copy counts the bytes read plus written
};
Bandwidth bandwidth_measure() {
    const int64_t n = int64_t{128} << 20;  // floats
    std::vector<float> a(n, 1.0f), b(n, 0.0f);
    Bandwidth bw{0, 0};
    bw.read = dlm::memory_read_bandwidth(4);
    for (int rep = 0; rep < 4; ++rep) {
        const double t0 = now();
#pragma omp parallel for simd schedule(static)
        for (int64_t i = 0; i < n; ++i) b[i] = a[i];
        bw.copy = std::max(bw.copy, n * 8.0 / (now() - t0) / 1e9);
    }
    return bw;
}

// Milliseconds of the fastest of `reps` calls of f.
template <typename F>
double best_ms(int reps, F&& f) {
    double best = 1e30;
    for (int i = 0; i < reps; ++i) {
        double t0 = now();
        f();
        best = std::min(best, now() - t0);
    }
    return best * 1e3;
}

struct bench_args {
    int threads = 2, tokens = 240, prompt_len = 16, batch = 1, reps = 2;
    bool bf16 = false, q8_matrices = false;
};

bench_args args_parse(int argc, char** argv) {
    bench_args a;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--threads")) a.threads = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--tokens")) a.tokens = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--prompt")) a.prompt_len = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--batch")) a.batch = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--reps")) a.reps = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--dtype")) a.bf16 = !std::strcmp(argv[i + 1], "bf16");
        else if (!std::strcmp(argv[i], "--matrices")) a.q8_matrices = !std::strcmp(argv[i + 1], "q8");
    }
    return a;
}

// The weight matrices one decoding step reads, GEMV kernel vs oneDNN matmul, at M = 1
// (one sample) to 8 rows (which one the model uses: kGemvMaxRows).
void matrices_time(const dlm::ModelConfig& c, std::mt19937& g) {
    const int64_t C = c.hidden_size, F = c.intermediate_size, V = c.vocab_size;
    std::printf("per-matrix time of the fp32 kernels (GB/s = weight bytes / time; best of 20, weights not in cache)\n");
    std::printf("%-24s %7s %4s %9s %7s %9s %7s\n", "matrix [K, N]", "MB", "M", "gemv ms", "GB/s", "oneDNN ms", "GB/s");
    struct Shape {
        const char* name;
        int64_t k, n;
        bool linear;
    };
    const Shape shapes[] = {{"attn.c_attn [768, 2304]", C, 3 * C, false},
                            {"attn.c_proj [768, 768]", C, C, false},
                            {"mlp.c_fc [768, 3072]", C, F, false},
                            {"mlp.c_proj [3072, 768]", F, C, false},
                            {"lm_head [50257, 768]^T", C, V, true}};
    std::uniform_real_distribution<float> u(-1, 1);
    for (const Shape& s : shapes) {
        // Enough copies of the matrix that a pass cannot be served from the caches.
        const int64_t copies = std::max<int64_t>(1, (int64_t{256} << 20) / (s.k * s.n * 4));
        std::vector<float> w(s.k * s.n * copies), x(16 * s.k), y(16 * s.n), scratch(dlm::kGemvChunks * s.n);
        for (auto& v : w) v = u(g);
        for (auto& v : x) v = u(g);
        int64_t i = 0;
        auto next = [&] { return w.data() + (i++ % copies) * s.k * s.n; };
        const double mb = s.k * s.n * 4.0 / 1e6;
        for (int64_t m : {1, 2, 4, 8}) {
            double t_gemv = best_ms(20, [&] {
                if (s.linear) dlm::linear_forward_gemv(y.data(), x.data(), next(), nullptr, m, s.k, s.n);
                else dlm::conv1d_forward_gemv(y.data(), scratch.data(), x.data(), next(), nullptr, m, s.k, s.n);
            });
            auto dnnl = [&] {
                if (s.linear) dlm::linear_forward(y.data(), x.data(), next(), nullptr, m, s.k, s.n);
                else dlm::conv1d_forward(y.data(), x.data(), next(), nullptr, m, s.k, s.n);
            };
            dnnl();  // creates the primitive
            double t_dnnl = best_ms(20, dnnl);
            std::printf("%-24s %7.1f %4ld %9.3f %7.1f %9.3f %7.1f\n", m == 1 ? s.name : "", mb, m, t_gemv,
                        mb / t_gemv, t_dnnl, mb / t_dnnl);
        }
    }
}

// The same matrices as decoding reads them in bf16 (column tiles) and in q8 (int8 rows
// with one scale each, activations quantized per block of 256 on the way in), at M = 1
// to 8: time, and GB/s of each kernel's own bytes; the q8 bytes count the scales.
void q8_matrices_time(const dlm::ModelConfig& c, std::mt19937& g) {
    const int64_t C = c.hidden_size, F = c.intermediate_size, V = c.vocab_size;
    std::printf("per-matrix time, bf16 tiles against q8 rows (best of 20, weights not in cache)\n");
    std::printf("%-24s %4s %9s %7s %9s %7s %7s\n", "matrix [K, N]", "M", "bf16 ms", "GB/s", "q8 ms", "GB/s", "speedup");
    const std::pair<const char*, std::pair<int64_t, int64_t>> shapes[] = {{"attn.c_attn [768, 2304]", {C, 3 * C}},
                                                                          {"attn.c_proj [768, 768]", {C, C}},
                                                                          {"mlp.c_fc [768, 3072]", {C, F}},
                                                                          {"mlp.c_proj [3072, 768]", {F, C}},
                                                                          {"lm_head [50257, 768]^T", {C, V}}};
    std::uniform_real_distribution<float> u(-1, 1);
    for (const auto& [name, kn] : shapes) {
        const auto [k, n] = kn;
        const int64_t copies = std::max<int64_t>(1, (int64_t{256} << 20) / (k * n * 2));
        std::vector<float> w(k * n), x(8 * k), y(8 * n);
        for (auto& v : w) v = u(g);
        for (auto& v : x) v = u(g);
        std::vector<uint16_t> w16(k * n * copies), scratch16(k * n);
        dlm::f32_to_bf16_convert(w16.data(), w.data(), k * n);
        dlm::tiled_pack_bf16(w16.data(), scratch16.data(), k, n, false);
        for (int64_t i = 1; i < copies; ++i) std::copy(w16.begin(), w16.begin() + k * n, w16.begin() + i * k * n);
        std::vector<int8_t> q(k * n * copies);
        std::vector<float> scale(n * copies);
        dlm::q8_weights_quantize(q.data(), scale.data(), w.data(), n, k, true);
        for (int64_t i = 1; i < copies; ++i) {
            std::copy(q.begin(), q.begin() + k * n, q.begin() + i * k * n);
            std::copy(scale.begin(), scale.begin() + n, scale.begin() + i * n);
        }
        std::vector<float> qscratch(dlm::q8_gemv_scratch(8, k) / 4 + 1);
        int64_t i16 = 0, i8 = 0;
        const double mb16 = k * n * 2.0 / 1e6, mb8 = (k * n + n * 4.0) / 1e6;
        for (int64_t m : {1, 2, 4, 8}) {
            const double t16 = best_ms(20, [&] {
                dlm::tiled_gemv_bf16(y.data(), x.data(), w16.data() + (i16++ % copies) * k * n, nullptr, m, k, n);
            });
            const double t8 = best_ms(20, [&] {
                const int64_t at = i8++ % copies;
                dlm::q8_gemv(y.data(), qscratch.data(), x.data(), q.data() + at * k * n, scale.data() + at * n, nullptr,
                             m, k, n);
            });
            std::printf("%-24s %4ld %9.3f %7.1f %9.3f %7.1f %6.2fx\n", m == 1 ? name : "", m, t16, mb16 / t16, t8,
                        mb8 / t8, t16 / t8);
        }
    }
}

// Prompts and denoising: the many-row products, bf16 on packed weights against the
// int8 ones on the plain codes (oneDNN s8 x s8 with VNNI, else fp32 on the widened
// codes), at 32 and 256 rows (a denoising block, a whole canvas).
void q8_products_time(const dlm::ModelConfig& c, std::mt19937& g) {
    const int64_t C = c.hidden_size, F = c.intermediate_size;
    std::printf("\nmany-row products, bf16 packed against q8 (%s; best of 20)\n",
                dlm::gemm_q8_native() ? "int8 oneDNN" : "no VNNI: fp32 on the widened codes");
    std::printf("%-24s %4s %9s %9s %7s\n", "matrix [K, N]", "M", "bf16 ms", "q8 ms", "speedup");
    const std::pair<const char*, std::pair<int64_t, int64_t>> shapes[] = {{"attn.c_attn [768, 2304]", {C, 3 * C}},
                                                                          {"mlp.c_fc [768, 3072]", {C, F}},
                                                                          {"mlp.c_proj [3072, 768]", {F, C}}};
    std::uniform_real_distribution<float> u(-1, 1);
    for (const auto& [name, kn] : shapes) {
        const auto [k, n] = kn;
        std::vector<float> w(n * k), x(256 * k), y(256 * n), scale(n), rows(256);
        for (auto& v : w) v = u(g);
        for (auto& v : x) v = u(g);
        std::vector<uint16_t> w16(n * k), x16(256 * k);
        dlm::f32_to_bf16_convert(w16.data(), w.data(), n * k);
        const int64_t p16 = dlm::linear_weight_packed_size_bf16(k, n);
        std::vector<uint16_t> packed16(std::max<int64_t>(p16, 1));
        if (p16 > 0) dlm::linear_weight_pack_bf16_copy(packed16.data(), w16.data(), k, n);
        std::vector<int8_t> q(n * k), xq(256 * k);
        dlm::q8_weights_quantize(q.data(), scale.data(), w.data(), n, k, false);
        for (int64_t m : {32, 256}) {
            auto bf16 = [&] {
                if (p16 > 0)
                    dlm::linear_forward_bf16_packed(y.data(), x16.data(), x.data(), packed16.data(), nullptr, m, k, n);
                else dlm::linear_forward_bf16(y.data(), x16.data(), x.data(), w16.data(), nullptr, m, k, n);
            };
            auto q8 = [&] {
                dlm::linear_forward_q8(y.data(), xq.data(), rows.data(), x.data(), q.data(), scale.data(), nullptr, m, k,
                                       n);
            };
            bf16();
            q8();
            const double t16 = best_ms(20, bf16), t8 = best_ms(20, q8);
            std::printf("%-24s %4ld %9.3f %9.3f %6.2fx\n", m == 32 ? name : "", m, t16, t8, t16 / t8);
        }
    }
}

// End to end through ar_generate (sampling T 0.8, top-k 50, top-p 0.95): the best of
// the runs, in seconds.
double generate_time(dlm::Model& model, const bench_args& a, const std::vector<int32_t>& prompt,
                     const dlm::ArOptions& opt) {
    dlm::ar_generate(model, {prompt}, [&] { auto o = opt; o.max_new_tokens = 2; return o; }());  // primitives
    const int64_t prims = dlm::gemm_cache_size();
    std::printf("\nar_generate: %d-token prompt, %d new tokens, batch %d\n", a.prompt_len, a.tokens, a.batch);
    double best = 1e30;
    for (int r = 0; r < a.reps; ++r) {
        auto res = dlm::ar_generate(model, {prompt}, opt);
        std::printf("  run %d: %.3f s, %.2f ms/token, %.1f tokens/s (all samples)\n", r, res.stats.seconds,
                    res.stats.seconds / a.tokens * 1e3, res.stats.tokens_per_second());
        best = std::min(best, res.stats.seconds);
    }
    std::printf("  oneDNN primitives created during generation: %ld\n", dlm::gemm_cache_size() - prims);
    return best;
}

// Where a step's time goes: the decoding loop by hand, timed per part.
void breakdown_print(dlm::Model& model, const bench_args& a, const std::vector<int32_t>& prompt,
                     const dlm::ArOptions& opt, double trunk_bytes, double head_bytes) {
    const int batch = a.batch, prompt_len = a.prompt_len, tokens = a.tokens;
    const int64_t V = model.config().vocab_size;
    dlm::KvCache cache;
    model.kv_cache_init(cache, batch, prompt_len + tokens);
    std::vector<int32_t> ids(batch * prompt_len);
    for (int b = 0; b < batch; ++b) std::copy(prompt.begin(), prompt.end(), ids.begin() + b * prompt_len);
    double t0 = now();
    model.forward_cached(cache, ids.data(), nullptr, prompt_len);
    const double t_prefill = now() - t0;
    std::vector<int64_t> rows(batch);
    std::vector<float> logits(batch * V);
    dlm::SamplingScratch scratch;
    std::vector<dlm::Rng> rngs;
    for (int b = 0; b < batch; ++b) rngs.push_back(dlm::Rng::derive(1, b));
    double t_head = 0, t_sample = 0, t_trunk = 0;
    int64_t T = prompt_len;
    for (int s = 0; s < tokens; ++s) {
        for (int b = 0; b < batch; ++b) rows[b] = b * T + T - 1;
        t0 = now();
        model.logits(rows, logits.data());
        double t1 = now();
        for (int b = 0; b < batch; ++b)
            ids[b] = dlm::token_sample(logits.data() + b * V, V, opt.sampling, rngs[b], scratch).id;
        double t2 = now();
        t_head += t1 - t0;
        t_sample += t2 - t1;
        if (s + 1 == tokens) break;
        model.forward_cached(cache, ids.data(), nullptr, 1);
        t_trunk += now() - t2;
        T = 1;
    }
    const double total = t_prefill + t_head + t_sample + t_trunk;
    std::printf("\nbreakdown (one run by hand): total %.3f s\n", total);
    std::printf("  prompt (%d tokens):      %8.1f ms\n", prompt_len, t_prefill * 1e3);
    std::printf("  trunk  per token:        %8.3f ms  (%5.1f MB of weights -> %.1f GB/s)\n",
                t_trunk / (tokens - 1) * 1e3, trunk_bytes / 1e6, trunk_bytes / (t_trunk / (tokens - 1)) / 1e9);
    std::printf("  LM head per token:       %8.3f ms  (%5.1f MB -> %.1f GB/s)\n", t_head / tokens * 1e3,
                head_bytes / 1e6, head_bytes / (t_head / tokens) / 1e9);
    std::printf("  sampling per token:      %8.3f ms\n", t_sample / tokens * 1e3);
}

// The bytes a token reads against the read bandwidth, and the result line.
void roofline_print(const dlm::ModelConfig& c, const bench_args& a, Bandwidth bw, double best, double trunk_bytes,
                    double head_bytes) {
    const int tokens = a.tokens;
    // Plus the KV cache read by attention: on average (prompt + tokens / 2) slots.
    const double kv_bytes = 2.0 * 4 * c.num_layers * c.hidden_size * a.batch * (a.prompt_len + tokens / 2.0);
    const double bytes = trunk_bytes + head_bytes + kv_bytes;
    // Measured again: the better of the two is the machine's (another process may
    // have been running at either time).
    const Bandwidth bw2 = bandwidth_measure();
    bw.read = std::max(bw.read, bw2.read);
    bw.copy = std::max(bw.copy, bw2.copy);
    const double roofline = bytes / (bw.read * 1e9);
    const double per_token = best / tokens;
    std::printf("\nroofline: %.1f MB per token (weights %.1f + KV cache %.1f on average) / %.1f GB/s read\n"
                "          = %.2f ms/token = %.2f s for %d tokens\n",
                bytes / 1e6, (trunk_bytes + head_bytes) / 1e6, kv_bytes / 1e6, bw.read, roofline * 1e3,
                roofline * tokens, tokens);
    std::printf("achieved: %.2f ms/token = %.1f GB/s, %.0f%% of the measured read bandwidth\n",
                per_token * 1e3, bytes / per_token / 1e9, 100.0 * roofline / per_token);
    std::printf("RESULT seconds=%.3f ms_per_token=%.3f tokens_per_s=%.1f (batch %d: %.1f tokens/s in all)\n", best,
                per_token * 1e3, tokens / best, a.batch, a.batch * tokens / best);
}

}  // namespace

int main(int argc, char** argv) {
    const bench_args a = args_parse(argc, argv);
    omp_set_num_threads(a.threads);
    const Bandwidth bw = bandwidth_measure();
    std::printf("threads %d; memory bandwidth (streaming loop, 512 MB): read %.1f GB/s, copy %.1f GB/s\n\n", a.threads,
                bw.read, bw.copy);

    auto model = dlm::model_create(dlm::bench_config_gpt2_small());
    dlm::model_init_random(*model, 42);
    if (a.bf16) model->compute_dtype_set(dlm::DType::BF16);
    const auto& c = model->config();
    const int64_t C = c.hidden_size, F = c.intermediate_size, L = c.num_layers, V = c.vocab_size;
    const double weight_bytes = a.bf16 ? 2.0 : 4.0;  // per weight read by a decoding step
    const double trunk_bytes = weight_bytes * L * (C * 3 * C + C * C + 2 * C * F);
    const double head_bytes = weight_bytes * V * C;

    std::mt19937 g(1);
    if (a.q8_matrices) {  // only the q8 kernels against the bf16 ones
        q8_matrices_time(c, g);
        q8_products_time(c, g);
        return 0;
    }
    matrices_time(c, g);
    std::vector<int32_t> prompt(a.prompt_len);
    for (auto& t : prompt) t = static_cast<int32_t>(g() % 50000);
    dlm::ArOptions opt;
    opt.max_new_tokens = a.tokens;
    opt.batch = a.batch;
    opt.seed = 1;
    const double best = generate_time(*model, a, prompt, opt);
    breakdown_print(*model, a, prompt, opt, trunk_bytes, head_bytes);
    roofline_print(c, a, bw, best, trunk_bytes, head_bytes);
    return 0;
}
