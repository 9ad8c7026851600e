// The Trainer: HuggingFace Trainer semantics in C++ for the two objectives.
//
//   diffusion: masked-LM on blocks masked by the diffusion collator (diffusion/collator.h)
//   causal:    next-token prediction (GPT-2), targets[t] = block[t + 1]
//
// Defaults follow the HF Trainer / the recipe: AdamW lr 5e-5 (betas 0.9/0.999, eps
// 1e-8, no weight decay), linear decay to zero after `warmup` steps, clipping at 1.0,
// batch 16, 3 epochs, dropout as model.train(), a checkpoint per epoch keeping the
// newest one (save_total_limit 1).
//
// Every random choice (epoch order, masks, dropout) is a pure function of (seed, step,
// micro-batch), and checkpoints hold the exact fp32 weights and AdamW moments, so a run
// resumed from a checkpoint ends with the same weights as an uninterrupted one (bit for
// bit with the same thread count).
//
// Output folder:
//   train_log.jsonl                  one JSON object per logged step and evaluation
//                                    (total_flos: the run's training FLOPs so far)
//   checkpoint-<step>/               config.json, model.safetensors, tokenizer files,
//                                    optimizer.safetensors, trainer_state.json
//   config.json, model.safetensors   the final model (+ tokenizer files)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "diffusion/collator.h"
#include "models/model.h"
#include "train/adamw.h"

namespace dlm {

enum class Objective { diffusion, causal };

// Training blocks: count rows of block_size token ids.
struct TrainBlocks {
    const int32_t* tokens = nullptr;
    int64_t count = 0, block_size = 0;
};

struct TrainerOptions {
    std::string output_dir;
    Objective objective = Objective::diffusion;
    int64_t epochs = 3;
    int64_t max_steps = -1;  // > 0 overrides epochs
    double max_flops = 0;    // > 0: as many steps as this training compute buys (see
                             // models/flops.h; expected targets per step for diffusion)
    int64_t batch = 16;      // blocks per optimizer step (all ranks together)
    int64_t grad_accum = 1;  // micro-batches per rank per step: batch / (grad_accum x ranks) rows each
    AdamWConfig adamw;  // lr 5e-5, no weight decay
    int64_t warmup_steps = 0;
    double warmup_ratio = 0;  // > 0: warmup = ceil(ratio x total steps) (HF warmup_ratio)
    double max_grad_norm = 1.0;
    uint64_t seed = 42;
    bool dropout = true;
    int64_t logging_steps = 50;
    int64_t eval_steps = 0;          // 0: evaluate at each epoch end only
    int64_t eval_batches = 0;        // 0: the whole validation set
    int64_t save_steps = 0;          // 0: save at each epoch end
    int64_t save_total_limit = 1;    // newest checkpoints kept (0: keep all)
    bool resume = false;
    std::string tokenizer_dir;       // tokenizer files copied into every saved folder
    CollatorOptions collator;
    CollatorVocab vocab;             // diffusion: mask/pad/special ids
    bool quiet = false;              // no progress bar
};

struct TrainerResult {
    int64_t steps = 0;
    double last_loss = 0, last_eval_loss = -1;
    double seconds = 0, tokens_per_second = 0;
    double total_flos = 0;  // training FLOPs of all steps so far (models/flops.h)
    bool interrupted = false;
};

// Trains `model` in place and writes the output folder. Throws dlm::Error for bad
// options or an unusable output folder (before anything is overwritten).
TrainerResult train_run(Model& model, const TrainerOptions& opt, TrainBlocks train,
                        std::optional<TrainBlocks> eval);

// Mean loss over blocks (diffusion: the collator with a fixed seed, so evaluations are
// comparable; causal: next-token loss). batches <= 0 means all.
double evaluate_loss(Model& model, const TrainerOptions& opt, TrainBlocks blocks, int64_t batches);

// Asks a running train_run to stop after the current step and save a checkpoint
// (what the SIGINT handler calls).
void train_request_stop();

}  // namespace dlm
