// `mpirun -np 2 dlm train` (train/distributed.h, train/gradient_sync.h): two ranks, one
// thread each, each on its share of every step's micro-batches, end with the weights
// one process reaches with the same micro-batches accumulated (to float rounding: MPI
// sums the ranks' gradients, the one process adds each micro-batch into the same
// buffer), with one log (rank 0's) and the same steps, losses, evaluations and FLOPs.
// Resume, a rank killed, a rank stopped by SIGTERM. Skipped when dlm was built without
// MPI or mpirun is missing.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli_run.h"
#include "core/file.h"
#include "io/safetensors.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace {

const std::string kData = DLM_TEST_DATA;

bool mpirun_available() { return std::system("command -v mpirun >/dev/null 2>&1") == 0; }

constexpr bool mpi_built() {
#if defined(DLM_MPI)
    return true;
#else
    return false;
#endif
}

const std::string kLauncher = "mpirun --allow-run-as-root --oversubscribe -np 2";

// 8 blocks per step as 2 micro-batches of 4: accumulated by one process (--grad-accum 2),
// one per rank on two (--grad-accum 1).
std::string train_args(const std::string& out, int grad_accum = 1) {
    return "train --config " + kData + "/configs/roberta-tiny-50k.json --tokenizer " + kData +
           "/tokenizers/roberta-base --train " + kData + "/corpus/wikiextractor --block-size 64 --prefix 8 --batch 8 "
           "--grad-accum " + std::to_string(grad_accum) + " --max-steps 6 --lr 2e-3 --logging-steps 1 --no-cache -q "
           "-t 1 -o " + out;
}

// Starts `mpirun -np 2 dlm args` in a process group of its own; returns mpirun's pid.
pid_t mpirun_spawn(const std::string& args, const std::string& log) {
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        const std::string cmd = "exec " + kLauncher + " " + DLM_BINARY + " " + args + " >" + log + " 2>&1";
        execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    return pid;
}

// The dlm ranks mpirun started (its children), by pid.
std::vector<pid_t> ranks_of(pid_t mpirun) {
    std::vector<pid_t> out;
    const std::string list = ::testing::TempDir() + "dlm_mpi_ranks_" + std::to_string(::getpid());
    if (std::system(("pgrep -P " + std::to_string(mpirun) + " >" + list).c_str()) != 0) return out;
    std::ifstream in(list);
    for (pid_t p; in >> p;) out.push_back(p);
    fs::remove(list);
    return out;
}

// Waits for pid; kills its process group if it has not ended within `seconds`.
// Returns the wait status, or -1 after a kill.
int wait_or_kill(pid_t pid, double seconds) {
    const auto t0 = std::chrono::steady_clock::now();
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > seconds) {
            kill(-pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return status;
}

std::vector<nlohmann::json> log_lines(const std::string& dir) {
    std::vector<nlohmann::json> out;
    std::ifstream in(dir + "/train_log.jsonl");
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back(nlohmann::json::parse(line));
    return out;
}

}  // namespace

#define SKIP_WITHOUT_MPI()                                                     \
    do {                                                                       \
        if (!mpi_built()) GTEST_SKIP() << "dlm built without MPI";             \
        if (!mpirun_available()) GTEST_SKIP() << "mpirun not found";           \
    } while (0)

TEST(train_mpi, two_ranks_match_one_process) {
    SKIP_WITHOUT_MPI();
    const std::string base = ::testing::TempDir() + "dlm_mpi_" + std::to_string(::getpid());
    const std::string one = base + "_one", two = base + "_two";
    remove_at_exit(one);
    remove_at_exit(two);
    fs::remove_all(one);
    fs::remove_all(two);
    const std::string valid = " --valid " + kData + "/corpus/wikiextractor --eval-steps 3";
    auto r1 = cli_run(train_args(one, 2) + valid);
    ASSERT_EQ(r1.code, 0) << r1.err;
    auto r2 = cli_run(train_args(two, 1) + valid, kLauncher);
    ASSERT_EQ(r2.code, 0) << r2.err;
    EXPECT_NE(r2.err.find("2 ranks"), std::string::npos) << r2.err;

    // Weights: max |difference| over the model <= 1e-5 of its largest weight (measured
    // 3e-7: Adam turns gradients that differ in the last bits into updates that differ
    // by ~1e-7, whatever the tensor's own scale).
    dlm::SafetensorsReader a(one + "/model.safetensors"), b(two + "/model.safetensors");
    ASSERT_EQ(a.tensors().size(), b.tensors().size());
    double md = 0, mr = 0;
    for (const auto& t : a.tensors()) {
        const dlm::TensorInfo* u = b.find(t.name);
        ASSERT_NE(u, nullptr) << t.name;
        std::vector<float> x(static_cast<size_t>(t.numel())), y(x.size());
        a.read_f32(t, x.data());
        b.read_f32(*u, y.data());
        for (size_t i = 0; i < x.size(); ++i) {
            md = std::max(md, std::fabs(double(x[i]) - y[i]));
            mr = std::max(mr, std::fabs(double(x[i])));
        }
    }
    EXPECT_LE(md, 1e-5 * mr);
    // One log, rank 0's: the same steps, losses, evaluations (each rank evaluates its
    // share of the batches) and FLOPs; the two-rank log adds compute and exchange times.
    const auto la = log_lines(one), lb = log_lines(two);
    ASSERT_EQ(la.size(), lb.size());
    ASSERT_EQ(la.size(), 8u);  // 6 steps, 2 evaluations
    int evals = 0;
    for (size_t i = 0; i < la.size(); ++i) {
        EXPECT_EQ(la[i]["step"], lb[i]["step"]);
        if (la[i].contains("eval_loss")) {
            ++evals;
            EXPECT_NEAR(la[i]["eval_loss"].get<double>(), lb[i]["eval_loss"].get<double>(),
                        1e-5 * la[i]["eval_loss"].get<double>());
            continue;
        }
        EXPECT_NEAR(la[i]["loss"].get<double>(), lb[i]["loss"].get<double>(), 1e-5 * la[i]["loss"].get<double>());
        EXPECT_DOUBLE_EQ(la[i]["total_flos"].get<double>(), lb[i]["total_flos"].get<double>());
        EXPECT_FALSE(la[i].contains("comm_seconds"));
        EXPECT_EQ(lb[i].value("ranks", 0), 2);
        EXPECT_GE(lb[i].value("comm_seconds", -1.0), 0.0);
        EXPECT_GT(lb[i].value("compute_seconds", -1.0), 0.0);
    }
    EXPECT_EQ(evals, 2);
}

TEST(train_mpi, batch_must_split_over_ranks_and_micro_batches) {
    SKIP_WITHOUT_MPI();
    const std::string out = ::testing::TempDir() + "dlm_mpi_odd_" + std::to_string(::getpid());
    remove_at_exit(out);
    remove_at_exit(out + ".log");
    fs::remove_all(out);
    std::string args = train_args(out, 2);  // 2 ranks x 2 micro-batches: 8 blocks split, 6 do not
    args.replace(args.find("--batch 8"), 9, "--batch 6");
    auto r = cli_run(args, kLauncher);
    EXPECT_NE(r.code, 0);
    EXPECT_NE(r.err.find("--batch 6 (blocks per optimizer step) does not split into --grad-accum 2 x 2 ranks"),
              std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out + "/model.safetensors"));
}

// Two ranks resumed from a checkpoint (each rank loads it; rank 0 rewrites the log) end
// with the uninterrupted two-rank run's weights, bit for bit. The checkpoint's AdamW
// moments were gathered from the ranks that own them. One process may not resume it.
TEST(train_mpi, resume_continues_exactly) {
    SKIP_WITHOUT_MPI();
    const std::string out = ::testing::TempDir() + "dlm_mpi_resume_" + std::to_string(::getpid());
    remove_at_exit(out);
    remove_at_exit(out + ".log");
    fs::remove_all(out);
    const std::string args = train_args(out) + " --save-steps 3 --save-total-limit 0";
    auto full = cli_run(args, kLauncher);
    ASSERT_EQ(full.code, 0) << full.err;
    const std::string want = dlm::file_read(out + "/model.safetensors");
    // Back to the state after step 3: the later checkpoint and the final model gone.
    fs::remove_all(out + "/checkpoint-6");
    fs::remove(out + "/model.safetensors");
    auto alone = cli_run(args + " --resume");
    EXPECT_NE(alone.code, 0);
    EXPECT_NE(alone.err.find("written by a run of 2 ranks, this one has 1"), std::string::npos) << alone.err;
    auto resumed = cli_run(args + " --resume", kLauncher);
    ASSERT_EQ(resumed.code, 0) << resumed.err;
    EXPECT_NE(resumed.err.find("resuming from"), std::string::npos) << resumed.err;
    EXPECT_TRUE(dlm::file_read(out + "/model.safetensors") == want) << "resumed weights differ";
    EXPECT_EQ(log_lines(out).size(), 6u);
}

// A rank killed (SIGKILL: no handler runs) ends the job with mpirun's message naming the
// rank; the checkpoints written before stay whole and the run resumes from the newest.
TEST(train_mpi, killed_rank_stops_the_job_and_keeps_checkpoints) {
    SKIP_WITHOUT_MPI();
    const std::string out = ::testing::TempDir() + "dlm_mpi_kill_" + std::to_string(::getpid());
    remove_at_exit(out);
    remove_at_exit(out + ".log");
    fs::remove_all(out);
    std::string args = train_args(out) + " --save-steps 2";
    args.replace(args.find("--max-steps 6"), 13, "--max-steps 100000");
    const pid_t mpirun = mpirun_spawn(args, out + ".log");
    ASSERT_TRUE(wait_for(out + "/checkpoint-4/trainer_state.json", 120)) << dlm::file_read(out + ".log");
    const auto ranks = ranks_of(mpirun);
    ASSERT_EQ(ranks.size(), 2u);
    kill(ranks[1], SIGKILL);
    const int status = wait_or_kill(mpirun, 60);
    ASSERT_NE(status, -1) << "the job went on after a rank died";
    EXPECT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    const std::string log = dlm::file_read(out + ".log");
    EXPECT_NE(log.find("exited on signal 9"), std::string::npos) << log;
    std::vector<std::string> kept;
    for (auto& e : fs::directory_iterator(out))
        if (e.path().filename().string().rfind("checkpoint-", 0) == 0 &&
            e.path().filename().string().find(".tmp") == std::string::npos)
            kept.push_back(e.path().string());
    ASSERT_FALSE(kept.empty());
    std::sort(kept.begin(), kept.end());
    for (const auto& k : kept) {
        EXPECT_NO_THROW(dlm::SafetensorsReader(k + "/model.safetensors")) << k;
        EXPECT_NO_THROW(dlm::SafetensorsReader(k + "/optimizer.safetensors")) << k;
    }
    // The newest checkpoint continues (two more steps).
    int64_t newest = 0;
    for (const auto& k : kept) newest = std::max<int64_t>(newest, std::stoll(k.substr(k.rfind('-') + 1)));
    args.replace(args.find("--max-steps 100000"), 18, "--max-steps " + std::to_string(newest + 2));
    auto resumed = cli_run(args + " --resume", kLauncher);
    ASSERT_EQ(resumed.code, 0) << resumed.err;
    EXPECT_TRUE(fs::exists(out + "/model.safetensors"));
}

// SIGTERM to one rank (what Slurm sends at the time limit, or kill) stops every rank
// after the same step, with a checkpoint, and no abort.
TEST(train_mpi, sigterm_on_one_rank_stops_all_with_a_checkpoint) {
    SKIP_WITHOUT_MPI();
    const std::string out = ::testing::TempDir() + "dlm_mpi_term_" + std::to_string(::getpid());
    remove_at_exit(out);
    remove_at_exit(out + ".log");
    fs::remove_all(out);
    std::string args = train_args(out) + " --save-steps 2 --save-total-limit 0";
    args.replace(args.find("--max-steps 6"), 13, "--max-steps 100000");
    const pid_t mpirun = mpirun_spawn(args, out + ".log");
    ASSERT_TRUE(wait_for(out + "/checkpoint-2/trainer_state.json", 120)) << dlm::file_read(out + ".log");
    const auto ranks = ranks_of(mpirun);
    ASSERT_EQ(ranks.size(), 2u);
    kill(ranks[1], SIGTERM);
    const int status = wait_or_kill(mpirun, 60);
    ASSERT_NE(status, -1) << "the job did not stop after SIGTERM";
    const std::string log = dlm::file_read(out + ".log");
    EXPECT_TRUE(WIFEXITED(status)) << log;
    EXPECT_NE(log.find("stopped at step"), std::string::npos) << log;
    EXPECT_EQ(log.find("stopping every rank"), std::string::npos) << log;  // no abort
    const auto lines = log_lines(out);
    ASSERT_FALSE(lines.empty());
    const int64_t last = lines.back()["step"].get<int64_t>();
    EXPECT_TRUE(fs::exists(out + "/checkpoint-" + std::to_string(last) + "/optimizer.safetensors")) << last;
}
