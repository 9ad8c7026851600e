// Benchmark (not a test): training tokens/s of a 6-layer, hidden-384, 6-head RoBERTa
// with the roberta-base vocabulary, batch 8 x 256, diffusion objective (recipe
// collator), dropout on, AdamW step included.
//   build/bench_train [--threads N] [--steps S] [--batch B] [--seq T]
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include "core/rng.h"
#include "diffusion/collator.h"
#include "workloads/workloads.h"
#include "models/init.h"
#include "models/model.h"
#include "train/adamw.h"

int main(int argc, char** argv) {
    int threads = 2, steps = 5, B = 8, T = 256;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--steps")) steps = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--batch")) B = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--seq")) T = std::atoi(argv[i + 1]);
    }
    omp_set_num_threads(threads);
    auto model = dlm::model_create(dlm::bench_config_train());
    dlm::model_init_random(*model, 1);
    dlm::AdamW opt(model->params(), {});
    dlm::CollatorVocab vocab;
    vocab.mask_id = 50264;
    vocab.pad_id = 1;
    vocab.special.assign(50265, false);
    for (int id : {0, 1, 2, 3, 50264}) vocab.special[id] = true;
    dlm::Rng rng(7);
    std::vector<int32_t> blocks(static_cast<size_t>(B) * T);
    for (auto& x : blocks) x = 4 + static_cast<int32_t>(rng.below(50000));
    double total = 0;
    int64_t masked = 0;
    for (int s = 0; s <= steps; ++s) {
        auto t0 = std::chrono::steady_clock::now();
        dlm::CollatedBatch c = dlm::collate_diffusion(blocks.data(), B, T, vocab, {}, rng);
        model->params().grads_zero();
        dlm::TrainInput t{{c.ids.data(), nullptr, nullptr, B, T}, c.targets.data(), nullptr, true, rng.next(), {}};
        double loss = model->forward_backward(t);
        dlm::grad_clip(model->params(), 1.0);
        opt.step(model->params(), 5e-5f);
        double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("step %d: %.3f s, loss %.4f, %ld masked, %.0f tokens/s\n", s, dt, loss, static_cast<long>(c.masked),
                    B * T / dt);
        if (s > 0) {  // step 0 warms up (primitive creation, first-touch allocation)
            total += dt;
            masked += c.masked;
        }
    }
    std::printf("\n6L-384H RoBERTa, batch %dx%d, %d threads: %.0f tokens/s (%.3f s/step, mean %ld masked rows/step)\n", B, T,
                threads, steps * B * T / total, total / steps, static_cast<long>(masked / steps));
    return 0;
}
