// Benchmark (not a test): GEMM GFLOP/s through the oneDNN seam, and one forward pass
// of a roberta-base-shaped model (12 layers, hidden 768, 12 heads, FFN 3072, random
// weights) on 256 tokens.
//   build/bench_forward [--threads N] [--tokens T] [--reps R]
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/gemm.h"
#include "models/init.h"
#include "models/model.h"

namespace {

double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

dlm::ModelConfig roberta_base_config() {
    nlohmann::ordered_json j = {
        {"architectures", {"RobertaForMaskedLM"}}, {"model_type", "roberta"}, {"vocab_size", 50265},
        {"hidden_size", 768}, {"num_hidden_layers", 12}, {"num_attention_heads", 12},
        {"intermediate_size", 3072}, {"max_position_embeddings", 514}, {"type_vocab_size", 1},
        {"layer_norm_eps", 1e-5}, {"hidden_act", "gelu"}, {"pad_token_id", 1}};
    return dlm::config_parse(j, "roberta-base config");
}

}  // namespace

int main(int argc, char** argv) {
    int threads = 2, tokens = 256, reps = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--tokens")) tokens = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
    }
    omp_set_num_threads(threads);
    std::printf("threads %d\n\nGEMM (fp32, oneDNN matmul, C = A x B^T as in nn.Linear)\n", threads);
    std::printf("%6s %6s %6s %10s %10s\n", "M", "N", "K", "ms", "GFLOP/s");
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(-1, 1);
    const int shapes[][3] = {{256, 768, 768}, {256, 2304, 768}, {256, 3072, 768}, {256, 768, 3072},
                             {2048, 768, 768}, {2048, 3072, 768}, {256, 50265, 768}};
    for (auto& s : shapes) {
        int64_t M = s[0], N = s[1], K = s[2];
        std::vector<float> a(M * K), b(N * K), c(M * N);
        for (auto& x : a) x = u(rng);
        for (auto& x : b) x = u(rng);
        dlm::linear_forward(c.data(), a.data(), b.data(), nullptr, M, K, N);  // warm-up, creates the primitive
        int r = std::max(3, static_cast<int>(2e10 / (2.0 * M * N * K)));
        double t0 = now();
        for (int i = 0; i < r; ++i) dlm::linear_forward(c.data(), a.data(), b.data(), nullptr, M, K, N);
        double dt = (now() - t0) / r;
        std::printf("%6ld %6ld %6ld %10.3f %10.1f\n", M, N, K, dt * 1e3, 2.0 * M * N * K / dt / 1e9);
    }

    auto model = dlm::model_create(roberta_base_config());
    dlm::model_init_random(*model, 42);
    std::vector<int32_t> ids(tokens);
    for (int t = 0; t < tokens; ++t) ids[t] = 3 + static_cast<int32_t>(rng() % 50000);
    ids[0] = 0;
    ids[tokens - 1] = 2;
    model->forward({ids.data(), nullptr, nullptr, 1, tokens});  // warm-up
    double best = 1e30, total = 0;
    for (int i = 0; i < reps; ++i) {
        double t0 = now();
        model->forward({ids.data(), nullptr, nullptr, 1, tokens});
        double dt = now() - t0;
        best = std::min(best, dt);
        total += dt;
    }
    // Trunk FLOPs: per layer 4 C^2 (qkv+out) + 2 C F (FFN) multiply-adds per token, plus attention 2 T C.
    const double C = 768, F = 3072, L = 12, T = tokens;
    double flops = 2.0 * L * T * (4 * C * C + 2 * C * F + 2 * T * C);
    std::printf("\nroberta-base-shaped forward (trunk, %d tokens, batch 1): best %.1f ms, mean %.1f ms, %.1f GFLOP/s\n",
                tokens, best * 1e3, total / reps * 1e3, flops / best / 1e9);
    std::vector<int64_t> rows(tokens);
    std::iota(rows.begin(), rows.end(), 0);
    std::vector<float> logits(static_cast<size_t>(tokens) * 50265);
    double t0 = now();
    model->logits(rows, logits.data());
    std::printf("LM head on all %d positions: %.1f ms\n", tokens, (now() - t0) * 1e3);
    return 0;
}
