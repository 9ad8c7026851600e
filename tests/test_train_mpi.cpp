// `mpirun -np 2 dlm train` (train/distributed.h): two ranks, one thread each, each on
// its share of every step's micro-batches, end with the weights one process reaches
// with the same micro-batches accumulated (to float rounding: the ranks' gradients are
// summed in rank order, the one process adds each micro-batch into the same buffer),
// with one log (rank 0's) and the same steps, losses and FLOPs. Skipped when dlm was
// built without MPI or mpirun is missing.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "core/file.h"
#include "io/safetensors.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace {

const std::string kData = DLM_TEST_DATA;

bool mpirun_available() { return std::system("command -v mpirun >/dev/null 2>&1") == 0; }

std::string train_args(const std::string& out) {
    return "train --config " + kData + "/configs/roberta-tiny-50k.json --tokenizer " + kData +
           "/tokenizers/roberta-base --train " + kData +
           "/corpus/wikiextractor --block-size 64 --prefix 8 --batch 4 --grad-accum 2 --max-steps 6 --lr 2e-3 "
           "--logging-steps 1 --no-cache -q -t 1 -o " + out;
}

std::vector<nlohmann::json> log_lines(const std::string& dir) {
    std::vector<nlohmann::json> out;
    std::ifstream in(dir + "/train_log.jsonl");
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back(nlohmann::json::parse(line));
    return out;
}

}  // namespace

TEST(train_mpi, two_ranks_match_one_process) {
#if !defined(DLM_MPI)
    GTEST_SKIP() << "dlm built without MPI";
#endif
    if (!mpirun_available()) GTEST_SKIP() << "mpirun not found";
    const std::string base = ::testing::TempDir() + "dlm_mpi_" + std::to_string(::getpid());
    const std::string one = base + "_one", two = base + "_two";
    fs::remove_all(one);
    fs::remove_all(two);
    auto r1 = cli_run(train_args(one));
    ASSERT_EQ(r1.code, 0) << r1.err;
    auto r2 = cli_run(train_args(two), "mpirun --allow-run-as-root --oversubscribe -np 2");
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
    // One log, rank 0's: the same steps, losses and FLOPs.
    const auto la = log_lines(one), lb = log_lines(two);
    ASSERT_EQ(la.size(), lb.size());
    ASSERT_EQ(la.size(), 6u);
    for (size_t i = 0; i < la.size(); ++i) {
        EXPECT_EQ(la[i]["step"], lb[i]["step"]);
        EXPECT_NEAR(la[i]["loss"].get<double>(), lb[i]["loss"].get<double>(), 1e-5 * la[i]["loss"].get<double>());
        EXPECT_DOUBLE_EQ(la[i]["total_flos"].get<double>(), lb[i]["total_flos"].get<double>());
    }
}

TEST(train_mpi, ranks_must_divide_the_micro_batches) {
#if !defined(DLM_MPI)
    GTEST_SKIP() << "dlm built without MPI";
#endif
    if (!mpirun_available()) GTEST_SKIP() << "mpirun not found";
    const std::string out = ::testing::TempDir() + "dlm_mpi_odd_" + std::to_string(::getpid());
    fs::remove_all(out);
    std::string args = train_args(out);
    args.replace(args.find("--grad-accum 2"), 14, "--grad-accum 3");
    auto r = cli_run(args, "mpirun --allow-run-as-root --oversubscribe -np 2");
    EXPECT_NE(r.code, 0);
    EXPECT_NE(r.err.find("does not divide over 2 ranks"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out + "/model.safetensors"));
}

// Two ranks resumed from a checkpoint (each rank loads it; rank 0 rewrites the log) end
// with the uninterrupted two-rank run's weights, bit for bit.
TEST(train_mpi, resume_continues_exactly) {
#if !defined(DLM_MPI)
    GTEST_SKIP() << "dlm built without MPI";
#endif
    if (!mpirun_available()) GTEST_SKIP() << "mpirun not found";
    const std::string out = ::testing::TempDir() + "dlm_mpi_resume_" + std::to_string(::getpid());
    fs::remove_all(out);
    const std::string launcher = "mpirun --allow-run-as-root --oversubscribe -np 2";
    const std::string args = train_args(out) + " --save-steps 3 --save-total-limit 0";
    auto full = cli_run(args, launcher);
    ASSERT_EQ(full.code, 0) << full.err;
    const std::string want = dlm::file_read(out + "/model.safetensors");
    // Back to the state after step 3: the later checkpoint and the final model gone.
    fs::remove_all(out + "/checkpoint-6");
    fs::remove(out + "/model.safetensors");
    auto resumed = cli_run(args + " --resume", launcher);
    ASSERT_EQ(resumed.code, 0) << resumed.err;
    EXPECT_NE(resumed.err.find("resuming from"), std::string::npos) << resumed.err;
    EXPECT_TRUE(dlm::file_read(out + "/model.safetensors") == want) << "resumed weights differ";
    EXPECT_EQ(log_lines(out).size(), 6u);
}
