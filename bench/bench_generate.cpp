// Benchmark (not a test): diffusion generation with the recipe's remask sampler,
// 10 steps, a 256-token canvas (16 prompt + 240 generated), on a roberta-base-shaped
// model with random weights (12 layers, 768 hidden, 12 heads, FFN 3072, vocab 50265).
//   build/bench_generate [--threads N] [--steps S] [--sampler remask|confidence|lowconf] [--reps R] [--dtype f32|bf16] [--profile]
#include <omp.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "workloads/workloads.h"
#include "core/profile.h"
#include "diffusion/generate.h"
#include "models/init.h"
#include "models/model.h"

int main(int argc, char** argv) {
    int threads = 2, steps = 10, reps = 3;
    std::string sampler = "remask", dtype = "f32";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--steps")) steps = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--sampler")) sampler = argv[i + 1];
        else if (!std::strcmp(argv[i], "--dtype")) dtype = argv[i + 1];
    }
    for (int i = 1; i < argc; ++i)
        if (!std::strcmp(argv[i], "--profile")) dlm::profile_enable(true);
    omp_set_num_threads(threads);
    auto model = dlm::model_create(dlm::bench_config_roberta_base());
    dlm::model_init_random(*model, 42);
    if (dtype == "bf16") model->compute_dtype_set(dlm::DType::BF16);
    std::vector<int32_t> start(256, 50264);
    start[0] = 0;
    for (int t = 1; t < 16; ++t) start[t] = 100 + t;
    dlm::DiffusionOptions o;
    o.sampler = dlm::sampler_parse(sampler);
    o.steps = steps;
    o.mask_id = 50264;
    o.window = 256;
    if (o.sampler != dlm::SamplerKind::remask) o.sampling = {0.8f, 0, 1.0f};
    dlm::ModelDenoiser den(*model);
    double best = 1e30;
    for (int r = 0; r <= reps; ++r) {
        o.seed = static_cast<uint64_t>(r);
        auto res = dlm::diffusion_generate(den, start, o);
        std::printf("%s run %d: %.3f s, %ld forward passes, %.1f tokens/s%s\n", sampler.c_str(), r, res.stats.seconds,
                    static_cast<long>(res.stats.forward_passes), res.stats.tokens_per_second(),
                    r == 0 ? " (warm-up: primitive creation)" : "");
        if (r > 0) best = std::min(best, res.stats.seconds);
        if (dlm::profile_enabled()) {
            dlm::profile_report(stdout);
            dlm::profile_reset();
        }
    }
    std::printf("\nroberta-base shape, %s, %s, %d steps, 256 tokens, %d threads: best %.3f s\n", dtype.c_str(),
                sampler.c_str(), steps, threads, best);
    return 0;
}
