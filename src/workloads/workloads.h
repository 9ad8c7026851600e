// The standard benchmark workloads of `dlm bench`, on models of the published shapes
// with random weights (speed does not depend on the values):
//
//   diffusion  roberta-base shape, remask sampler, 10 steps, a 256-token canvas
//              (16 prompt tokens + 240 generated)
//   ar         gpt2-small shape, 16 prompt tokens + 240 generated, KV cache
//   train      6-layer hidden-384 RoBERTa, one diffusion training step on 8 x 256
//              (forward, backward, clipping, AdamW)
//   tokenizer  roberta-base BPE over WikiText-2 test (1.3 MB), MB/s
//
// Each result carries the work it did (matrix-product FLOPs from models/flops.h, bytes
// of weights read for decoding) so the caller can put it next to the roofline: the
// GEMM throughput and memory bandwidth this machine reaches (roofline_measure).
#pragma once

#include <cstdint>
#include <string>

#include "io/config.h"

namespace dlm {

struct BenchWorkloadResult {
    double seconds = 0;       // best of the timed repetitions
    double flops = 0;         // matrix-product FLOPs of one repetition
    double weight_bytes = 0;  // bytes of weights one repetition reads from memory (decoding)
    double items = 0;         // tokens (or MB for the tokenizer) per repetition
    std::string unit;         // what items counts: "tokens", "MB"
    double model_bytes = 0;   // the model's weights as stored for compute (0: no model)
    double read_bandwidth = 0;  // GB/s of streaming reads measured between the repetitions (ar: the best pair)
    double read_bound_fraction = 0;  // ar: the median over repetitions of (weight bytes / time) / that rate
    double probe_bytes = 0;     // resident bytes of that measurement's buffer (not the workload's)
    std::string detail;       // one line about the workload
};

// dtype: "f32" or "bf16" (training: bf16 = mixed precision, fp32 master weights). reps: timed
// repetitions after one warm-up. Throws dlm::Error for an unknown dtype.
// Writes random fp32 checkpoints of the diffusion and AR shapes to $TMPDIR/dlm-bench
// (once; about 1 GB) for bench_diffusion / bench_ar to load.
void bench_models_prepare();
// prepack: bf16 weights prepacked (the default; false for comparison): oneDNN's blocked
// layout for the encoder (diffusion), column tiles for decoding (ar).
// block, cache: semi-autoregressive blocks (0: the whole canvas) and the key/value cache
// (none, prefix, dual), as `dlm generate --block --cache`.
BenchWorkloadResult bench_diffusion(const std::string& dtype, int reps, bool prepack = true, int64_t block = 0,
                                    const std::string& cache = "none");
BenchWorkloadResult bench_ar(const std::string& dtype, int reps, bool prepack = true);
BenchWorkloadResult bench_train(const std::string& dtype, int reps);
BenchWorkloadResult bench_tokenizer(const std::string& tokenizer_dir, const std::string& text_file, int reps);

struct Roofline {
    double gemm_f32 = 0, gemm_bf16 = 0;  // GFLOP/s of oneDNN matmul at 2048 x 768 x 3072
    double read_bandwidth = 0;           // GB/s, streaming reads of 512 MB
};
Roofline roofline_measure();

// GB/s of streaming reads over 512 MB (best of `reps`): many partial sums per thread,
// so memory, not the latency of one add chain, is the limit.
double memory_read_bandwidth(int reps = 3);

ModelConfig bench_config_roberta_base();
ModelConfig bench_config_gpt2_small();
ModelConfig bench_config_train();

}  // namespace dlm
