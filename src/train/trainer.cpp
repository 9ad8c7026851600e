#include "train/trainer.h"

#include "train/distributed.h"
#include "train/gradient_sync.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/setting_name.h"
#include "data/dataset.h"
#include "io/safetensors.h"
#include "models/flops.h"
#include "tokenizer/tokenizer.h"
#include "train/loss.h"

namespace fs = std::filesystem;

namespace dlm {

namespace {

std::atomic<bool> g_stop{false};


uint64_t blocks_fingerprint(const TrainBlocks& b) {
    uint64_t h = 1469598103934665603ull;
    for (int64_t i = 0; i < b.count * b.block_size; ++i) h = (h ^ static_cast<uint32_t>(b.tokens[i])) * 1099511628211ull;
    return h ^ static_cast<uint64_t>(b.block_size);
}

// One micro-batch turned into model input by the objective.
struct micro_batch {
    std::vector<int32_t> ids, targets;
    std::vector<float> weights;
    int64_t rows = 0, seq = 0, n_targets = 0;
};

void micro_batch_make(micro_batch& mb, const TrainerOptions& o, const int32_t* blocks, int64_t rows, int64_t seq,
                      Rng& rng, double scale) {
    mb.rows = rows;
    mb.seq = seq;
    if (o.objective == Objective::diffusion) {
        CollatedBatch c = collate_diffusion(blocks, rows, seq, o.vocab, o.collator, rng);
        mb.ids = std::move(c.ids);
        mb.targets = std::move(c.targets);
        mb.n_targets = c.masked;
        mb.weights = std::move(c.weights);
        if (mb.weights.empty()) {  // the recipe: mean over masked tokens
            mb.weights.assign(mb.targets.size(), 0.0f);
            for (size_t r = 0; r < mb.targets.size(); ++r)
                if (mb.targets[r] != kIgnoreTarget) mb.weights[r] = static_cast<float>(1.0 / c.masked);
        }
    } else {
        mb.ids.assign(blocks, blocks + rows * seq);
        mb.targets.assign(static_cast<size_t>(rows * seq), kIgnoreTarget);
        for (int64_t b = 0; b < rows; ++b)
            for (int64_t t = 0; t + 1 < seq; ++t) mb.targets[b * seq + t] = blocks[b * seq + t + 1];
        mb.n_targets = rows * (seq - 1);
        mb.weights.assign(mb.targets.size(), 0.0f);
        for (size_t r = 0; r < mb.targets.size(); ++r)
            if (mb.targets[r] != kIgnoreTarget) mb.weights[r] = static_cast<float>(1.0 / mb.n_targets);
    }
    for (auto& w : mb.weights) w = static_cast<float>(w * scale);
}

void options_check(const Model& m, const TrainerOptions& o, const TrainBlocks& train) {
    const ModelConfig& c = m.config();
    if (o.batch <= 0) fail("{} must be positive, got {}", SettingName{"batch"}, o.batch);
    if (o.grad_accum <= 0) fail("{} must be positive, got {}", SettingName{"grad_accum"}, o.grad_accum);
    const int64_t split = o.grad_accum * distributed_size();
    if (o.batch % split != 0)
        fail("{} {} (blocks per optimizer step) does not split into {} {} x {} rank{} = {} equal micro-batches: give a "
             "multiple of {}", SettingName{"batch"}, o.batch, SettingName{"grad_accum"}, o.grad_accum,
             distributed_size(), distributed_size() > 1 ? "s" : "", split, split);
    if (o.max_flops < 0) fail("{} must be positive, got {:g}", SettingName{"max_flops"}, o.max_flops);
    if (o.epochs <= 0 && o.max_steps <= 0 && o.max_flops <= 0) fail("nothing to do: {} and {} are both 0", SettingName{"epochs"}, SettingName{"max_steps"});
    if (!(o.adamw.lr > 0)) fail("{} must be positive, got {}", SettingName{"lr"}, o.adamw.lr);
    const int64_t max_len = c.max_sequence();
    if (train.block_size > max_len)
        fail("block size {} is longer than the model's {} positions (at most {} tokens)", train.block_size,
             c.max_positions, max_len);
    if (train.count <= 0) fail("the training set has no complete block of {} tokens", train.block_size);
    if (o.objective == Objective::diffusion) {
        if (c.is_causal())
            fail("{} is a causal LM: the diffusion objective needs a masked LM (use {} causal)", c.architecture,
                 SettingName{"objective"});
        if (o.vocab.mask_id < 0 || o.vocab.mask_id >= c.vocab_size)
            fail("the tokenizer has no <mask> token inside the model's vocabulary: cannot train a diffusion model");
        if (o.collator.prefix >= train.block_size && !o.collator.random_prefix)
            fail("the prompt prefix ({}) leaves nothing to mask in blocks of {}", o.collator.prefix, train.block_size);
    } else if (!c.is_causal()) {
        fail("{} is a masked LM: the causal objective needs a causal LM such as GPT2LMHeadModel", c.architecture);
    }
}

void output_dir_prepare(const std::string& dir) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) fail("{}: cannot create the output folder: {}", dir, ec.message());
    // Probe that the folder is writable now rather than after an hour of training.
    const std::string probe = dir + "/.dlm_write_probe";
    file_write_atomic(probe, "ok");
    fs::remove(probe, ec);
}

// Folders checkpoint-<step> inside dir, by step.
std::vector<std::pair<int64_t, std::string>> checkpoints_list(const std::string& dir) {
    std::vector<std::pair<int64_t, std::string>> out;
    std::error_code ec;
    for (auto& e : fs::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        if (!e.is_directory() || name.rfind("checkpoint-", 0) != 0) continue;
        const std::string num = name.substr(11);
        if (num.empty() || num.find_first_not_of("0123456789") != std::string::npos) continue;
        if (!file_exists(e.path().string() + "/trainer_state.json")) continue;
        out.emplace_back(std::stoll(num), e.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

struct run_state {
    int64_t step = 0;
    double total_flos = 0;
    nlohmann::json log_history = nlohmann::json::array();
};

void checkpoint_save(const Model& m, const AdamW& opt, const TrainerOptions& o, const run_state& st,
                     double epoch, uint64_t data_hash, const TrainBlocks& train) {
    const std::string final_dir = fmt::format("{}/checkpoint-{}", o.output_dir, st.step);
    const std::string tmp = fmt::format("{}.tmp{}", final_dir, ::getpid());
    std::error_code ec;
    fs::remove_all(tmp, ec);
    fs::create_directories(tmp, ec);
    if (ec) fail("{}: cannot create checkpoint folder: {}", tmp, ec.message());
    m.save(tmp, DType::F32);
    tokenizer_files_copy(o.tokenizer_dir, tmp);
    AdamW& mo = const_cast<AdamW&>(opt);
    const int64_t P = static_cast<int64_t>(mo.m().size());
    safetensors_write(tmp + "/optimizer.safetensors",
                      {{"exp_avg", {P}, mo.m().data()}, {"exp_avg_sq", {P}, mo.v().data()}}, DType::F32,
                      {{"format", "dlm-adamw"}, {"step", std::to_string(opt.steps())}});
    nlohmann::json state = {
        {"global_step", st.step},
        {"epoch", epoch},
        {"total_flos", st.total_flos},
        {"log_history", st.log_history},
        {"dlm",
         {{"seed", o.seed},
          {"batch", o.batch},
          {"grad_accum", o.grad_accum},
          {"world_size", distributed_size()},
          {"objective", o.objective == Objective::diffusion ? "diffusion" : "causal"},
          {"blocks", train.count},
          {"block_size", train.block_size},
          {"data_hash", data_hash},
          {"adam_steps", opt.steps()}}}};
    file_write_atomic(tmp + "/trainer_state.json", state.dump(1) + "\n");
    // Swap into place: a crash before the rename leaves only a .tmp folder, never a
    // half-written checkpoint under its real name.
    fs::remove_all(final_dir, ec);
    fs::rename(tmp, final_dir, ec);
    if (ec) fail("{}: cannot move checkpoint into place: {}", final_dir, ec.message());
    if (o.save_total_limit > 0) {
        auto all = checkpoints_list(o.output_dir);
        for (size_t i = 0; i + o.save_total_limit < all.size(); ++i) fs::remove_all(all[i].second, ec);
    }
}

void checkpoint_load(Model& m, AdamW& opt, const TrainerOptions& o, run_state& st, const std::string& dir,
                     uint64_t data_hash, const TrainBlocks& train) {
    auto state = nlohmann::json::parse(file_read(dir + "/trainer_state.json"), nullptr, false);
    if (state.is_discarded() || !state.contains("dlm")) fail("{}/trainer_state.json: unreadable trainer state", dir);
    auto& d = state["dlm"];
    auto must_match = [&](const char* key, auto now) {
        if (d.value(key, decltype(now){}) != now)
            fail("cannot resume from {}: it was trained with {} = {}, this run has {}", dir, key, d[key].dump(),
                 nlohmann::json(now).dump());
    };
    if (const int ranks = d.value("world_size", 1); ranks != distributed_size())
        fail("cannot resume from {}: it was written by a run of {} rank{}, this one has {}: resume with the same rank "
             "count, or start a new run from its weights (--model {} without {}: AdamW's moments restart)",
             dir, ranks, ranks > 1 ? "s" : "", distributed_size(), dir, SettingName{"resume"});
    must_match("seed", o.seed);
    must_match("batch", o.batch);
    must_match("grad_accum", o.grad_accum);
    must_match("blocks", train.count);
    must_match("block_size", train.block_size);
    must_match("data_hash", data_hash);
    SafetensorsReader weights(dir + "/model.safetensors");
    m.load_weights(weights);
    SafetensorsReader os(dir + "/optimizer.safetensors");
    const TensorInfo* em = os.find("exp_avg");
    const TensorInfo* ev = os.find("exp_avg_sq");
    if (!em || !ev || em->numel() != static_cast<int64_t>(opt.m().size()) || ev->numel() != em->numel())
        fail("{}/optimizer.safetensors: optimizer state does not match the model", dir);
    os.read_f32(*em, opt.m().data());
    os.read_f32(*ev, opt.v().data());
    opt.steps_set(d.value("adam_steps", int64_t{0}));
    st.step = state.value("global_step", int64_t{0});
    st.total_flos = state.value("total_flos", 0.0);
    st.log_history = state.value("log_history", nlohmann::json::array());
}

// Every rank: the optimizer state gathered whole on rank 0, which writes the checkpoint.
void checkpoint_save_gathered(const Model& m, AdamW& opt, GradientSync& sync, const TrainerOptions& o,
                              const run_state& st, double epoch, uint64_t data_hash, const TrainBlocks& train) {
    sync.owned_gather_root(opt.m().data());
    sync.owned_gather_root(opt.v().data());
    if (distributed_rank() == 0) checkpoint_save(m, opt, o, st, epoch, data_hash, train);
    sync.comm_seconds_take();  // not a step's exchange
}

// Optimizer steps of the run: max_steps, else the epochs, else (max_flops) what the
// budget buys.
int64_t steps_total(const Model& m, const TrainerOptions& o, const TrainBlocks& train, int64_t steps_per_epoch) {
    const int64_t T = train.block_size;
    int64_t total = o.max_steps > 0 ? o.max_steps : steps_per_epoch * o.epochs;
    if (o.max_flops > 0) {
        const double targets = o.objective == Objective::diffusion ? o.batch * collator_expected_targets(o.collator, T)
                                                                   : static_cast<double>(o.batch * (T - 1));
        const double per_step = train_step_flops(m.config(), o.batch, T, targets);
        total = std::max<int64_t>(1, static_cast<int64_t>(std::llround(o.max_flops / per_step)));
    }
    return total;
}

// Where the run starts: the newest checkpoint with resume (the log rewritten from its
// history: lines written after it by the interrupted run would otherwise appear
// twice), else step 0 with an empty log.
void run_start(Model& m, AdamW& opt, const TrainerOptions& o, run_state& st, uint64_t data_hash,
               const TrainBlocks& train, int64_t total, const std::string& log_path) {
    const bool writer = distributed_rank() == 0;
    if (!o.resume) {
        if (writer) file_write_atomic(log_path, "");
        return;
    }
    auto cps = checkpoints_list(o.output_dir);
    if (cps.empty())
        fail("{}: {} given but there is no checkpoint-* folder to resume from", o.output_dir, SettingName{"resume"});
    checkpoint_load(m, opt, o, st, cps.back().second, data_hash, train);
    if (!writer) return;  // every rank loads the checkpoint; rank 0 rewrites the log
    std::string lines;
    for (auto& e : st.log_history) lines += e.dump() + "\n";
    file_write_atomic(log_path, lines);
    std::fprintf(stderr, "dlm: resuming from %s (step %ld of %ld)\n", cps.back().second.c_str(),
                 static_cast<long>(st.step), static_cast<long>(total));
}

// train_log.jsonl, appended as the run goes; each entry also joins the checkpoints' history.
struct train_log {
    std::ofstream out;
    void write(run_state& st, const nlohmann::json& e) {
        st.log_history.push_back(e);
        out << e.dump() << "\n";
        out.flush();
    }
};

// What the training log averages over between two of its lines.
struct log_window {
    double loss = 0.0, step_seconds = 0.0, comm_seconds = 0.0;  // step: gradients and update
    int64_t steps = 0, tokens = 0;
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
};

// Rows of a micro-batch: the step's `batch` blocks split over grad_accum micro-batches
// on each rank.
int64_t micro_rows(const TrainerOptions& o) { return o.batch / (o.grad_accum * distributed_size()); }

// The micro-batches of one optimizer step: (first row in the epoch's order, rows); the
// epoch's last step may have fewer. Micro-batch k (0 .. grad_accum x ranks) holds the
// same samples whatever the rank count: the step's rows [k x micro, (k + 1) x micro).
std::vector<std::pair<int64_t, int64_t>> step_micro_batches(const TrainerOptions& o, int64_t step_in_epoch,
                                                            int64_t micro_per_epoch, int64_t blocks) {
    const int64_t micro = micro_rows(o), per_step = o.grad_accum * distributed_size();
    std::vector<std::pair<int64_t, int64_t>> micros;
    for (int64_t k = 0; k < per_step; ++k) {
        const int64_t mi = step_in_epoch * per_step + k;
        if (mi >= micro_per_epoch) break;
        micros.emplace_back(mi * micro, std::min(micro, blocks - mi * micro));
    }
    return micros;
}

// A step's buffers, kept over the run so that they are sized once.
struct step_buffers {
    std::vector<int32_t> gathered;
    micro_batch mb;
};

// Forward and backward over this rank's micro-batches of the step (k = rank, rank + N,
// ...), the gradients accumulated and then summed over the ranks into each rank's owned
// chunks (the last backward pass overlapping the exchange); the step's loss. tokens:
// the tokens the step trained on (all ranks).
double step_gradients(Model& m, const TrainerOptions& o, const TrainBlocks& train, const std::vector<int64_t>& order,
                      int64_t step_in_epoch, int64_t micro_per_epoch, run_state& st, step_buffers& b,
                      GradientSync& sync, int64_t& tokens) {
    const int64_t T = train.block_size;
    const auto micros = step_micro_batches(o, step_in_epoch, micro_per_epoch, train.count);
    std::vector<int32_t>& gathered = b.gathered;
    micro_batch& mb = b.mb;
    float* grads = m.params().grads().data();
    m.params().grads_zero();
    double sums[3] = {0.0, 0.0, 0.0};  // loss, FLOPs, tokens of this rank's micro-batches
    const size_t ranks = static_cast<size_t>(distributed_size()), rank = static_cast<size_t>(distributed_rank());
    for (size_t k = rank; k < micros.size(); k += ranks) {
        auto [first, rows] = micros[k];
        gathered.resize(static_cast<size_t>(rows * T));
        for (int64_t r = 0; r < rows; ++r)
            std::copy(train.tokens + order[first + r] * T, train.tokens + (order[first + r] + 1) * T,
                      gathered.begin() + r * T);
        Rng rng = Rng::derive(o.seed, static_cast<uint64_t>(st.step), k);
        micro_batch_make(mb, o, gathered.data(), rows, T, rng, 1.0 / static_cast<double>(micros.size()));
        if (mb.n_targets == 0) continue;
        TrainInput t{{mb.ids.data(), nullptr, nullptr, rows, T}, mb.targets.data(), mb.weights.data(), o.dropout,
                     Rng::derive(o.seed, static_cast<uint64_t>(st.step), 1000 + k).next(), {}};
        if (k + ranks >= micros.size())  // this rank's last backward: exchange layers as they finish
            t.grads_final = [&](int64_t offset) { sync.grads_final(grads, offset); };
        sums[0] += m.forward_backward(t);
        sums[1] += train_step_flops(m.config(), rows, T, static_cast<double>(mb.n_targets));
        sums[2] += static_cast<double>(rows * T);
    }
    sync.grads_reduce(grads);
    distributed_sum_ordered(sums, 3);
    st.total_flos += sums[1];
    tokens = static_cast<int64_t>(sums[2]);
    return sums[0];
}

// Clips (by the norm over all ranks) and applies AdamW to this rank's chunks, then
// gathers every rank's updated chunks; the gradient norm before clipping.
double step_apply(Model& m, AdamW& opt, const TrainerOptions& o, GradientSync& sync, double lr) {
    ParamTable& params = m.params();
    double square = grads_square_sum(params, sync.owned());
    distributed_sum_ordered(&square, 1);
    const double norm = std::sqrt(square);
    grads_scale(params, sync.owned(), clip_coefficient(norm, o.max_grad_norm));
    opt.step(params, static_cast<float>(lr), sync.owned());
    sync.owned_allgather(params.data().data());
    return norm;
}

// The log's line for the steps since the last one.
void log_window_write(train_log& log, log_window& w, run_state& st, double epoch_f, double lr, double norm) {
    const auto now = std::chrono::steady_clock::now();
    const double dt = std::chrono::duration<double>(now - w.t0).count();
    nlohmann::json e = {{"step", st.step},
                        {"epoch", std::round(epoch_f * 1e4) / 1e4},
                        {"loss", w.loss / w.steps},
                        {"learning_rate", lr},
                        {"grad_norm", norm},
                        {"tokens_per_second", dt > 0 ? w.tokens / dt : 0.0},
                        {"total_flos", st.total_flos}};
    if (distributed_size() > 1) {  // rank 0's time per step: computing, and waiting on the exchange
        e["ranks"] = distributed_size();
        e["compute_seconds"] = (w.step_seconds - w.comm_seconds) / w.steps;
        e["comm_seconds"] = w.comm_seconds / w.steps;
    }
    log.write(st, e);
    w = log_window{};
    w.t0 = now;
}

// An evaluation during the run, written to the log (and the bar, if any).
double evaluate_logged(Model& m, const TrainerOptions& o, const TrainBlocks& eval, train_log& log, run_state& st,
                       double epoch_f, Progress* bar) {
    const double loss = evaluate_loss(m, o, eval, o.eval_batches);
    log.write(st, {{"step", st.step}, {"epoch", std::round(epoch_f * 1e4) / 1e4}, {"eval_loss", loss}});
    if (bar) bar->message(fmt::format("step {}: eval_loss {:.4f}", st.step, loss));
    return loss;
}

// A finished run saves the model (an interrupted one has its checkpoint) and reports.
void run_finish(Model& m, const TrainerOptions& o, const run_state& st, TrainerResult& res,
                std::chrono::steady_clock::time_point t_start, int64_t tokens_total) {
    if (!res.interrupted && distributed_rank() == 0) {
        m.save(o.output_dir, DType::F32);
        tokenizer_files_copy(o.tokenizer_dir, o.output_dir);
    }
    res.steps = st.step;
    res.total_flos = st.total_flos;
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    res.tokens_per_second = res.seconds > 0 ? tokens_total / res.seconds : 0;
}

}  // namespace

void train_request_stop() { g_stop = true; }

double evaluate_loss(Model& model, const TrainerOptions& o, TrainBlocks blocks, int64_t batches) {
    const int64_t total = (blocks.count + o.batch - 1) / o.batch;
    const int64_t n = batches > 0 ? std::min(batches, total) : total;
    const int64_t T = blocks.block_size, chunk = std::max<int64_t>(1, micro_rows(o));
    double sums[2] = {0.0, 0.0};  // sum over batches of loss x rows, rows
    micro_batch mb;
    // Batch i is rank i % N's; each runs in chunks of a training micro-batch's rows (the
    // loss weights are the whole batch's, so the chunks add up to the batch's loss).
    for (int64_t i = distributed_rank(); i < n; i += distributed_size()) {
        const int64_t r0 = i * o.batch, rows = std::min(o.batch, blocks.count - r0);
        Rng rng = Rng::derive(o.seed ^ 0xe7a1e7a1ull, static_cast<uint64_t>(i));  // same masks at every evaluation
        micro_batch_make(mb, o, blocks.tokens + r0 * T, rows, T, rng, 1.0);
        if (mb.n_targets == 0) continue;
        double loss = 0.0;
        for (int64_t c0 = 0; c0 < rows; c0 += chunk) {
            const int64_t c = std::min(chunk, rows - c0);
            TrainInput t{{mb.ids.data() + c0 * T, nullptr, nullptr, c, T}, mb.targets.data() + c0 * T,
                         mb.weights.data() + c0 * T, false, 0, {}};
            loss += model_loss(model, t);
        }
        sums[0] += loss * rows;  // HF: the mean over samples of the batch losses
        sums[1] += static_cast<double>(rows);
    }
    distributed_sum_ordered(sums, 2);
    return sums[1] > 0 ? sums[0] / sums[1] : 0.0;
}

TrainerResult train_run(Model& m, const TrainerOptions& o, TrainBlocks train, std::optional<TrainBlocks> eval) {
    options_check(m, o, train);
    if (eval && eval->block_size != train.block_size) fail("validation blocks differ in size from training blocks");
    const bool writer = distributed_rank() == 0;  // rank 0 alone writes the output folder
    if (writer) output_dir_prepare(o.output_dir);
    distributed_barrier();
    g_stop = false;

    const int64_t micro_per_epoch = (train.count + micro_rows(o) - 1) / micro_rows(o);
    const int64_t per_step = o.grad_accum * distributed_size();
    const int64_t steps_per_epoch = (micro_per_epoch + per_step - 1) / per_step;
    const int64_t total = steps_total(m, o, train, steps_per_epoch);
    const int64_t warmup = o.warmup_ratio > 0 ? static_cast<int64_t>(std::ceil(o.warmup_ratio * total)) : o.warmup_steps;
    const uint64_t data_hash = blocks_fingerprint(train);

    AdamW opt(m.params(), o.adamw);
    GradientSync sync(m.params().size());
    run_state st;
    const std::string log_path = o.output_dir + "/train_log.jsonl";
    run_start(m, opt, o, st, data_hash, train, total, log_path);
    train_log log{writer ? std::ofstream(log_path, std::ios::app) : std::ofstream()};

    TrainerResult res;
    const bool show = !o.quiet && writer;
    Progress bar(o.objective == Objective::diffusion ? "train (diffusion)" : "train (causal)", total, st.step);
    std::vector<int64_t> order;
    int64_t order_epoch = -1;
    step_buffers buffers;
    log_window window;
    const auto t_start = window.t0;
    int64_t tokens_total = 0;

    while (st.step < total) {
        const int64_t epoch = st.step / steps_per_epoch, step_in_epoch = st.step % steps_per_epoch;
        if (epoch != order_epoch) order = epoch_order(train.count, o.seed, order_epoch = epoch);
        int64_t tokens = 0;
        const auto t_step = std::chrono::steady_clock::now();
        const double step_loss =
            step_gradients(m, o, train, order, step_in_epoch, micro_per_epoch, st, buffers, sync, tokens);
        window.tokens += tokens;
        tokens_total += tokens;
        const double lr = o.adamw.lr * lr_linear_factor(st.step, warmup, total);
        const double norm = step_apply(m, opt, o, sync, lr);
        window.step_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t_step).count();
        window.comm_seconds += sync.comm_seconds_take();
        ++st.step;
        if (!std::isfinite(step_loss)) fail("training diverged at step {}: loss is {}", st.step, step_loss);
        window.loss += step_loss;
        ++window.steps;
        res.last_loss = step_loss;
        const double epoch_f = static_cast<double>(st.step) / steps_per_epoch;
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
        if (show)
            bar.update(st.step, fmt::format("loss {:.4f} lr {:.2e} {:.0f} tok/s", step_loss, lr,
                                            elapsed > 0 ? tokens_total / elapsed : 0.0));
        if (st.step % std::max<int64_t>(1, o.logging_steps) == 0 || st.step == total)
            log_window_write(log, window, st, epoch_f, lr, norm);

        const bool epoch_end = st.step % steps_per_epoch == 0 || st.step == total;
        const bool eval_now = eval && ((o.eval_steps > 0 && st.step % o.eval_steps == 0) ||
                                       (o.eval_steps <= 0 && epoch_end) || st.step == total);
        if (eval_now) res.last_eval_loss = evaluate_logged(m, o, *eval, log, st, epoch_f, show ? &bar : nullptr);
        g_stop = distributed_any(g_stop);  // a stop on any rank stops them all at the same step
        const bool save_now = (o.save_steps > 0 && st.step % o.save_steps == 0) || (o.save_steps <= 0 && epoch_end) ||
                              st.step == total || g_stop;
        if (save_now) checkpoint_save_gathered(m, opt, sync, o, st, epoch_f, data_hash, train);
        if (g_stop) {
            res.interrupted = true;
            if (show)
                bar.message(fmt::format("interrupted at step {}: checkpoint saved; continue with {}", st.step,
                                        SettingName{"resume"}));
            break;
        }
    }
    if (show) bar.finish();
    run_finish(m, o, st, res, t_start, tokens_total);
    return res;
}

}  // namespace dlm
