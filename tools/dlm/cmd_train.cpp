// dlm train: fine-tune a HuggingFace checkpoint (or train from a config.json) with the
// diffusion objective (masked LMs) or the causal objective (GPT-2).
#include <fmt/format.h>

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <thread>

#include "command.h"
#include "core/error.h"
#include "core/file.h"
#include "core/progress.h"
#include "data/dataset.h"
#include "diffusion/collator.h"
#include "io/training_metadata.h"
#include "models/init.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"
#include "train/distributed.h"
#include "train/trainer.h"

namespace dlm::cli {
namespace {

struct train_options {
    std::string model, config, tokenizer, output, format = "auto", jsonl_field = "text", objective, blocks = "concat", wrap = "lines";
    std::vector<std::string> train, valid;
    std::vector<double> mask_rates;
    std::string init = "hf";
    std::string mask_mode = "per_batch", random_prefix, cache_dir;
    int64_t block_size = 256, unit_max_tokens = 256, epochs = 3, max_steps = -1, batch = 16, grad_accum = 1;
    int64_t warmup = 0, logging_steps = 50, eval_steps = 0, eval_batches = 0, save_steps = 0, save_total_limit = 1;
    int64_t prefix = 16;
    double max_flops = 0, warmup_ratio = 0, lr = 5e-5, weight_decay = 0.0, max_grad_norm = 1.0;
    double adam_beta1 = 0.9, adam_beta2 = 0.999, adam_epsilon = 1e-8;
    uint64_t seed = 42;
    int threads = 0;
    bool resume = false, no_dropout = false, unigram_bias = false, no_cache = false, quiet = false, bf16 = false;
};

// Ctrl-C, or SIGTERM (kill, Slurm at the time limit, mpirun passing a signal on):
// stop after the step with a checkpoint; a second one stops at once. The signals are
// blocked in every thread of the command (created after this, they inherit the mask)
// and taken by one watcher thread with sigwait, so that they never interrupt the
// training's threads (MPI's, OpenMP's) in the middle of their work.
class stop_signals {
public:
    stop_signals() {
        sigemptyset(&set_);
        sigaddset(&set_, SIGINT);
        sigaddset(&set_, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &set_, &saved_);
        watcher_ = std::thread([this] {
            for (int count = 0;;) {
                int sig = 0;
                if (sigwait(&set_, &sig) != 0) continue;
                if (closing_) return;
                if (++count == 1) {
                    train_request_stop();
                } else {
                    std::signal(sig, SIG_DFL);  // a second one: as if nothing caught it
                    pthread_sigmask(SIG_UNBLOCK, &set_, nullptr);
                    std::raise(sig);
                }
            }
        });
    }
    ~stop_signals() {
        closing_ = true;
        pthread_kill(watcher_.native_handle(), SIGTERM);
        watcher_.join();
        pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
    }
    stop_signals(const stop_signals&) = delete;
    stop_signals& operator=(const stop_signals&) = delete;

private:
    sigset_t set_, saved_;
    std::atomic<bool> closing_{false};
    std::thread watcher_;
};

// --init of a model from --config: hf (the random init as it is), local or shift with
// their optional parameters (models/init.h).
void init_apply(const train_options& o, Model& model) {
    float scale = 0.03f, qk_std = 0.0625f;
    if (o.init.rfind("local", 0) == 0 &&
        (o.init == "local" || std::sscanf(o.init.c_str(), "local:%f:%f", &scale, &qk_std) >= 1) && scale > 0 &&
        qk_std > 0)
        model_init_local_attention(model, o.seed, scale, qk_std);
    else if (float pos = 0.1f, g = 1.5f, vo = 0.0f;
             o.init.rfind("shift", 0) == 0 &&
             (o.init == "shift" || std::sscanf(o.init.c_str(), "shift:%f:%f:%f", &pos, &g, &vo) >= 1) && pos > 0 &&
             g > 0 && vo >= 0)
        model_init_shift_attention(model, o.seed, pos, g, vo);
    else if (o.init != "hf")
        fail("--init must be hf, local[:POSITION_SCALE[:QK_STD]] or shift[:POSITION_SCALE[:GAIN[:VO_STD]]] "
             "(see src/models/init.h), not '{}'", o.init);
}

// The model: a checkpoint to fine-tune, or a fresh one from a config. tok_dir: the
// tokenizer folder, the checkpoint's unless given.
std::unique_ptr<Model> model_build(const train_options& o, std::string& tok_dir) {
    if (o.model.empty() == o.config.empty()) fail("give exactly one of -m/--model (a checkpoint folder) or --config (a config.json to train from scratch)");
    if (o.unigram_bias && o.config.empty()) fail("--unigram-bias applies to a model trained from --config, not to a checkpoint");
    tok_dir = o.tokenizer;
    if (!o.model.empty()) {
        if (tok_dir.empty()) tok_dir = o.model;
        // A checkpoint folder holds AdamW's moments too; only --resume in its run's
        // output folder continues them (the way to change the rank count, say).
        if (file_exists(o.model + "/optimizer.safetensors") && distributed_rank() == 0)
            fmt::print(stderr, "dlm: warning: starting from the weights in {}; its optimizer state is not used (AdamW "
                               "restarts; --resume in its output folder continues it exactly)\n", o.model);
        return model_load(o.model);
    }
    auto model = model_create(config_load(o.config));
    model_init_random(*model, o.seed);
    init_apply(o, *model);
    if (tok_dir.empty()) fail("--config needs --tokenizer DIR (a folder with vocab.json + merges.txt or tokenizer.json)");
    return model;
}

// Refused before the corpus is tokenized (model_init_unigram_bias and the trainer would
// refuse them after).
void model_objective_check(const train_options& o, const ModelConfig& c) {
    if (o.unigram_bias && c.is_causal()) fail("--unigram-bias is for masked LMs; {} has no output bias", c.architecture);
    if (o.objective == "diffusion" && c.is_causal())
        fail("{} is a causal LM: the diffusion objective needs a masked LM such as RobertaForMaskedLM", c.architecture);
    if (o.objective == "causal" && !c.is_causal())
        fail("{} is a masked LM: the causal objective needs a causal LM such as GPT2LMHeadModel", c.architecture);
}

Objective objective_of(const train_options& o, const ModelConfig& c) {
    if (o.objective.empty()) return c.is_causal() ? Objective::causal : Objective::diffusion;
    if (o.objective == "diffusion") return Objective::diffusion;
    if (o.objective == "causal") return Objective::causal;
    fail("--objective must be diffusion or causal, not '{}'", o.objective);
}

// How long to train, and the optimizer with its schedule.
void schedule_options_apply(const train_options& o, TrainerOptions& t) {
    t.epochs = o.epochs;
    t.max_steps = o.max_steps;
    if (o.max_flops > 0 && o.max_steps > 0) fail("give --max-steps or --max-flops, not both");
    if (o.max_flops < 0) fail("--max-flops must be positive, got {:g}", o.max_flops);
    t.max_flops = o.max_flops;
    t.batch = o.batch;
    t.grad_accum = o.grad_accum;
    t.adamw.lr = static_cast<float>(o.lr);
    t.adamw.weight_decay = static_cast<float>(o.weight_decay);
    if (!(o.adam_beta1 >= 0 && o.adam_beta1 < 1) || !(o.adam_beta2 >= 0 && o.adam_beta2 < 1))
        fail("--adam-beta1 and --adam-beta2 must be in [0, 1), got {:g} and {:g}", o.adam_beta1, o.adam_beta2);
    if (!(o.adam_epsilon > 0)) fail("--adam-epsilon must be positive, got {:g}", o.adam_epsilon);
    t.adamw.beta1 = static_cast<float>(o.adam_beta1);
    t.adamw.beta2 = static_cast<float>(o.adam_beta2);
    t.adamw.eps = static_cast<float>(o.adam_epsilon);
    t.warmup_steps = o.warmup;
    if (o.warmup_ratio < 0 || o.warmup_ratio >= 1) fail("--warmup-ratio must be in [0, 1), got {:g}", o.warmup_ratio);
    if (o.warmup_ratio > 0 && o.warmup > 0) fail("give --warmup or --warmup-ratio, not both");
    t.warmup_ratio = o.warmup_ratio;
    t.max_grad_norm = o.max_grad_norm;
}

// The diffusion objective's masks: rates, mode and the prompt never masked.
void collator_options_apply(const train_options& o, CollatorOptions& c) {
    c.mode = mask_rate_mode_parse(o.mask_mode);
    if (!o.mask_rates.empty()) {
        if (c.mode == MaskRateMode::continuous) fail("--mask-rates applies to per_batch and per_sequence, not continuous");
        c.rates.clear();
        for (double r : o.mask_rates) {
            if (!(r > 0 && r <= 1)) fail("--mask-rates: {} is not in (0, 1]", r);
            c.rates.push_back(static_cast<float>(r));
        }
    }
    c.prefix = o.prefix;
    if (!o.random_prefix.empty()) {
        int64_t lo = 0, hi = 0;
        if (std::sscanf(o.random_prefix.c_str(), "%ld:%ld", &lo, &hi) != 2 || lo < 0 || hi < lo)
            fail("--random-prefix takes MIN:MAX with 0 <= MIN <= MAX, not '{}'", o.random_prefix);
        c.random_prefix = true;
        c.prefix_min = lo;
        c.prefix_max = hi;
    }
}

TrainerOptions trainer_options_build(const train_options& o, const ModelConfig& c, const Tokenizer& tok,
                                     const std::string& tok_dir) {
    TrainerOptions t;
    t.output_dir = o.output;
    t.objective = objective_of(o, c);
    schedule_options_apply(o, t);
    t.seed = o.seed;
    t.dropout = !o.no_dropout;
    t.logging_steps = o.logging_steps;
    t.eval_steps = o.eval_steps;
    t.eval_batches = o.eval_batches;
    t.save_steps = o.save_steps;
    t.save_total_limit = o.save_total_limit;
    t.resume = o.resume;
    t.tokenizer_dir = tok_dir;
    t.quiet = o.quiet;
    collator_options_apply(o, t.collator);
    t.vocab.mask_id = tok.mask_id();
    t.vocab.pad_id = tok.pad_id();
    t.vocab.special.assign(static_cast<size_t>(c.vocab_size), false);
    for (int32_t id = 0; id < tok.vocab_size(); ++id) t.vocab.special[id] = tok.is_special(id);
    return t;
}

DatasetOptions dataset_options_build(const train_options& o) {
    DatasetOptions d;
    d.corpus.format = corpus_format_parse(o.format);
    d.corpus.jsonl_field = o.jsonl_field;
    d.mode = block_mode_parse(o.blocks);
    d.block_size = o.block_size;
    d.unit_max_tokens = o.unit_max_tokens;
    if (o.wrap != "lines" && o.wrap != "documents") fail("--wrap must be lines or documents, not '{}'", o.wrap);
    d.wrap_documents = o.wrap == "documents";
    d.threads = o.threads;
    d.use_cache = !o.no_cache;
    d.cache_dir = o.cache_dir;
    return d;
}

// --unigram-bias: the targets' frequencies (tokens the collator never masks stay at zero).
void unigram_bias_apply(Model& model, const TrainerOptions& t, const Dataset& train) {
    const int64_t V = model.config().vocab_size;
    std::vector<int64_t> counts(static_cast<size_t>(V), 0);
    for (int64_t i = 0; i < train.blocks * train.block_size; ++i) {
        const int32_t id = train.ids[static_cast<size_t>(i)];
        if (id >= 0 && id < V && collator_maskable(t.vocab, t.collator, id)) ++counts[static_cast<size_t>(id)];
    }
    model_init_unigram_bias(model, counts);
}

// How the model was trained, for config.json: generation places prompts the same way.
TrainingMetadata training_metadata_of(const train_options& o, const TrainerOptions& t, const DatasetOptions& d) {
    TrainingMetadata m;
    m.objective = t.objective == Objective::diffusion ? "diffusion" : "causal";
    m.block_size = d.block_size;
    m.random_prefix = t.collator.random_prefix;
    m.prefix = t.collator.prefix;
    m.prefix_min = t.collator.prefix_min;
    m.prefix_max = t.collator.prefix_max;
    m.mask_mode = mask_rate_mode_name(t.collator.mode);
    m.mask_rates = t.collator.rates;
    m.blocks = block_mode_name(d.mode);
    m.wrap = o.wrap;
    m.unit_max_tokens = d.unit_max_tokens;
    m.init = o.model.empty() ? o.init + (o.unigram_bias ? "+unigram_bias" : "") : "checkpoint";
    m.train_dtype = o.bf16 ? "bf16" : "f32";
    return m;
}

// The training loop (Ctrl-C / SIGTERM stop it with a checkpoint: stop_signals).
TrainerResult train_interruptible(Model& model, const TrainerOptions& t, const Dataset& train,
                                  const std::optional<Dataset>& valid) {
    TrainBlocks tb{train.ids.data(), train.blocks, train.block_size};
    std::optional<TrainBlocks> vb;
    if (valid) vb = TrainBlocks{valid->ids.data(), valid->blocks, valid->block_size};
    return train_run(model, t, tb, vb);
}

void train_cmd(const train_options& o) {
    stop_signals signals;  // first: every thread started from here on inherits the mask
    distributed_init();  // under mpirun / srun: one rank of a data-parallel job
    // MPI ends with the command; not on an error, where main's error_exit stops every
    // rank instead (the others may be waiting in a collective for this one).
    struct finalize {
        ~finalize() {
            if (std::uncaught_exceptions() == 0) distributed_finalize();
        }
    } at_exit;
    const bool writer = distributed_rank() == 0;  // rank 0 speaks and writes
    threads_apply(o.threads);
    std::string tok_dir;
    std::unique_ptr<Model> model = model_build(o, tok_dir);
    const ModelConfig& c = model->config();
    model_objective_check(o, c);
    Tokenizer tok = Tokenizer::from_folder(tok_dir);
    if (tok.vocab_size() > c.vocab_size)
        fail("the tokenizer in {} has {} tokens but the model's vocabulary has {}", tok_dir, tok.vocab_size(), c.vocab_size);
    TrainerOptions t = trainer_options_build(o, c, tok, tok_dir);
    const DatasetOptions d = dataset_options_build(o);
    // Document-mode data ends texts with padding: make it a target so the model learns to stop.
    t.collator.mask_padding = d.mode == BlockMode::DOCUMENT;

    if (!writer) distributed_barrier();  // rank 0 tokenizes (and fills the cache) first
    Dataset train = dataset_build(o.train, tok, d);
    if (writer) distributed_barrier();
    if (writer) fmt::print(stderr, "dlm: train: {}\n", dataset_summary(train));
    if (o.unigram_bias) unigram_bias_apply(*model, t, train);
    std::optional<Dataset> valid;
    if (!o.valid.empty()) {
        valid = dataset_build(o.valid, tok, d);
        if (writer) fmt::print(stderr, "dlm: valid: {}\n", dataset_summary(*valid));
        if (valid->blocks == 0) fail("the validation files hold no complete block of {} tokens", d.block_size);
    }
    model->config_json()["dlm"] = training_metadata_json(training_metadata_of(o, t, d));
    if (o.bf16) model->train_dtype_set(DType::BF16);
    const int64_t ranks = distributed_size(), micro = t.grad_accum * ranks > 0 ? t.batch / (t.grad_accum * ranks) : 0;
    if (writer && ranks > 1)
        fmt::print(stderr, "dlm: {} ranks; each step's {} blocks are {} micro-batch{} of {} blocks per rank\n", ranks,
                   t.batch, t.grad_accum, t.grad_accum > 1 ? "es" : "", micro);
    if (writer)
        fmt::print(stderr, "dlm: {} ({:.2f} M parameters), objective {}, batch {} x {}{}, output {}\n", c.architecture,
               model->parameter_count() / 1e6, t.objective == Objective::diffusion ? "diffusion" : "causal",
               t.batch, d.block_size, t.grad_accum > 1 ? fmt::format(" ({} micro-batches of {})", t.grad_accum * ranks, micro) : "",
               t.output_dir);

    const TrainerResult r = train_interruptible(*model, t, train, valid);
    if (r.interrupted) {
        if (writer) fmt::print(stderr, "dlm: stopped at step {}; run the same command with --resume to continue\n", r.steps);
        distributed_finalize();  // every rank stopped after the same step: a clean end, not an abort
        if (!writer) std::exit(1);
        throw Error("interrupted");
    }
    if (writer)
        fmt::print(stderr, "dlm: trained {} steps ({:.3g} FLOPs) in {}: {:.0f} tokens/s, last loss {:.4f}{}; model saved to {}\n",
               r.steps, r.total_flos, duration_format(r.seconds), r.tokens_per_second, r.last_loss,
               r.last_eval_loss >= 0 ? fmt::format(", eval loss {:.4f}", r.last_eval_loss) : "", t.output_dir);
}

command_registration reg(30, "train", "Fine-tune or train a model (diffusion objective for masked LMs, causal for GPT-2)",
                         [](CLI::App& sub) {
    auto o = std::make_shared<train_options>();
    auto* src = sub.add_option_group("model", "What to train (one of)");
    src->add_option("-m,--model", o->model, "HuggingFace checkpoint folder to fine-tune");
    src->add_option("--config", o->config, "config.json of a model to train from scratch (random init)");
    sub.add_option("--tokenizer", o->tokenizer, "Tokenizer folder (default: the model folder)");
    sub.add_option("--train", o->train, "Training files or folders")->required();
    sub.add_option("--valid", o->valid, "Validation files or folders (evaluated each epoch and every --eval-steps)");
    sub.add_option("-o,--output", o->output, "Output folder (checkpoints, log, final model)")->required();
    sub.add_option("--format", o->format, "Input format: auto, wikitext, text, wikiextractor, jsonl")->capture_default_str();
    sub.add_option("--jsonl-field", o->jsonl_field, "JSONL field holding the text")->capture_default_str();
    sub.add_option("--objective", o->objective, "diffusion or causal (default: by architecture)");
    sub.add_option("--block-size", o->block_size, "Tokens per training block")->capture_default_str();
    sub.add_option("--unit-max-tokens", o->unit_max_tokens, "Truncate each line/record to this many tokens (0: no limit)")->capture_default_str();
    sub.add_option("--wrap", o->wrap, "lines (the recipe: <s> line </s> for every line) or documents (<s> document </s>; GPT-2: <|endoftext|> after each document either way)")->capture_default_str();
    sub.add_option("--blocks", o->blocks, "concat (the recipe) or document (pad each document: the model learns to end)")->capture_default_str();
    sub.add_option("--epochs", o->epochs, "Epochs")->capture_default_str();
    sub.add_option("--max-steps", o->max_steps, "Optimizer steps (overrides --epochs when > 0)")->capture_default_str();
    sub.add_option("--max-flops", o->max_flops, "Training compute budget: the steps it buys (instead of --epochs; equal-compute runs)");
    sub.add_option("-b,--batch", o->batch, "Blocks per optimizer step (global: all ranks together)")->capture_default_str();
    sub.add_option("--grad-accum", o->grad_accum, "Micro-batches per rank per step (each of --batch / (grad-accum x ranks) blocks)")->capture_default_str();
    sub.add_option("--lr", o->lr, "Peak learning rate (AdamW)")->capture_default_str();
    sub.add_option("--warmup", o->warmup, "Linear warmup steps, then linear decay to 0")->capture_default_str();
    sub.add_flag("--bf16", o->bf16, "Mixed precision: bf16 matrix products (fp32 accumulation, master weights, optimizer)");
    sub.add_option("--warmup-ratio", o->warmup_ratio, "Warmup as a fraction of the total steps (instead of --warmup)");
    sub.add_option("--adam-beta1", o->adam_beta1, "AdamW beta1 (HF adam_beta1)")->capture_default_str();
    sub.add_option("--adam-beta2", o->adam_beta2, "AdamW beta2 (HF adam_beta2; RoBERTa pretraining used 0.98)")->capture_default_str();
    sub.add_option("--adam-epsilon", o->adam_epsilon, "AdamW epsilon (HF adam_epsilon; RoBERTa pretraining used 1e-6)")->capture_default_str();
    sub.add_option("--weight-decay", o->weight_decay, "AdamW weight decay (not on biases and LayerNorm)")->capture_default_str();
    sub.add_option("--max-grad-norm", o->max_grad_norm, "Gradient clipping norm")->capture_default_str();
    sub.add_option("-s,--seed", o->seed, "Seed of data order, masks, dropout and random init")->capture_default_str();
    add_threads_option(sub, o->threads);
    sub.add_option("--logging-steps", o->logging_steps, "Log every N steps (train_log.jsonl)")->capture_default_str();
    sub.add_option("--eval-steps", o->eval_steps, "Evaluate every N steps (0: at each epoch end)")->capture_default_str();
    sub.add_option("--eval-batches", o->eval_batches, "Validation batches per evaluation (0: all)")->capture_default_str();
    sub.add_option("--save-steps", o->save_steps, "Checkpoint every N steps (0: at each epoch end)")->capture_default_str();
    sub.add_option("--save-total-limit", o->save_total_limit, "Checkpoints kept (0: all)")->capture_default_str();
    sub.add_flag("--resume", o->resume, "Continue from the newest checkpoint in the output folder");
    sub.add_option("--prefix", o->prefix, "Diffusion: prompt tokens never masked")->capture_default_str();
    sub.add_option("--random-prefix", o->random_prefix, "Diffusion: prompt length drawn per sequence from MIN:MAX");
    sub.add_option("--init", o->init, "From --config: hf (HuggingFace's init), local (masked LMs: attention starts local) or shift (each head starts on one neighbour); see src/models/init.h")
        ->capture_default_str();
    sub.add_option("--mask-rates", o->mask_rates, "Diffusion: the mask rates drawn from (comma list; default 1.0,0.9,...,0.1)")
        ->delimiter(',');
    sub.add_option("--mask-mode", o->mask_mode, "Diffusion: per_batch (recipe), per_sequence, continuous (MDLM, 1/t weight)")->capture_default_str();
    sub.add_flag("--no-dropout", o->no_dropout, "Train without dropout");
    sub.add_flag("--unigram-bias", o->unigram_bias, "From --config (masked LMs): start the output bias at the log unigram frequencies of the training tokens; see src/models/init.h");
    sub.add_option("--cache-dir", o->cache_dir, "Token cache folder (default ~/.cache/dlm)");
    sub.add_flag("--no-cache", o->no_cache, "Do not read or write the token cache");
    sub.add_flag("-q,--quiet", o->quiet, "No progress bar");
    sub.callback([o] { train_cmd(*o); });
});

}  // namespace
}  // namespace dlm::cli
