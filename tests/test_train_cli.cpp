// `dlm train` as a user runs it: a run killed with SIGKILL or stopped with SIGINT and
// resumed ends with the same weights as an uninterrupted run; bad input gets a clear
// one-line error and a non-zero exit; nothing already saved is lost.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

#include "cli_run.h"
#include <nlohmann/json.hpp>

#include "core/file.h"

namespace fs = std::filesystem;

namespace {

const std::string kData = DLM_TEST_DATA;

std::string out_dir(const std::string& name) {
    std::string d = ::testing::TempDir() + "dlm_train_cli_" + name;
    fs::remove_all(d);
    return d;
}

// A small but real run: 12 steps on the WikiExtractor sample, checkpoints every 2.
std::string train_args(const std::string& out, int batch = 4) {
    return "train --config " + kData + "/configs/roberta-tiny-50k.json --tokenizer " + kData +
           "/tokenizers/roberta-base --train " + kData + "/corpus/wikiextractor --block-size 64 --batch " +
           std::to_string(batch) + " " +
           "--max-steps 12 --save-steps 2 --save-total-limit 2 --lr 1e-3 --seed 3 -t 2 --no-cache -q -o " + out;
}

// Starts dlm in the background; returns its pid.
pid_t spawn(const std::string& args, const std::string& log) {
    pid_t pid = fork();
    if (pid == 0) {
        std::string cmd = std::string(DLM_BINARY) + " " + args + " >" + log + " 2>&1";
        execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    return pid;
}

}  // namespace

TEST(train_cli, killed_and_resumed_run_matches_uninterrupted_run) {
    const std::string a = out_dir("full"), b = out_dir("killed");
    auto r = cli_run(train_args(a));
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string want = dlm::file_read(a + "/model.safetensors");

    pid_t pid = spawn(train_args(b), b + ".log");
    ASSERT_TRUE(wait_for(b + "/checkpoint-4/trainer_state.json", 120));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status));
    ASSERT_FALSE(fs::exists(b + "/model.safetensors")) << "the run finished before it was killed";
    r = cli_run(train_args(b) + " --resume");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(dlm::file_read(b + "/model.safetensors"), want);

    // A new run from a checkpoint's weights says that AdamW restarts.
    std::string fresh = train_args(out_dir("from_checkpoint"));
    fresh.replace(fresh.find("--config"), fresh.find(" --tokenizer") - fresh.find("--config"), "--model " + b + "/checkpoint-12");
    fresh.replace(fresh.find("--max-steps 12"), 14, "--max-steps 1");
    r = cli_run(fresh);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("its optimizer state is not used"), std::string::npos) << r.err;
}

TEST(train_cli, sigint_saves_a_checkpoint_and_resume_finishes_identically) {
    const std::string a = out_dir("full2"), b = out_dir("sigint");
    ASSERT_EQ(cli_run(train_args(a)).code, 0);
    pid_t pid = spawn(train_args(b), b + ".log");
    ASSERT_TRUE(wait_for(b + "/checkpoint-2/trainer_state.json", 120));
    kill(pid, SIGINT);
    int status = 0;
    waitpid(pid, &status, 0);
    const std::string log = dlm::file_read(b + ".log");
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) GTEST_SKIP() << "the run finished before SIGINT arrived";
    EXPECT_TRUE(WIFEXITED(status)) << "dlm should exit cleanly on SIGINT";
    EXPECT_EQ(WEXITSTATUS(status), 1);
    EXPECT_NE(log.find("--resume"), std::string::npos) << log;
    auto r = cli_run(train_args(b) + " --resume");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(dlm::file_read(b + "/model.safetensors"), dlm::file_read(a + "/model.safetensors"));
}

TEST(train_cli, bad_input_is_reported_clearly) {
    const std::string o = out_dir("bad");
    auto expect_err = [](const std::string& args, const std::string& part) {
        auto r = cli_run(args);
        EXPECT_EQ(r.code, 1) << args << "\n" << r.err;
        EXPECT_NE(r.err.find(part), std::string::npos) << args << "\n" << r.err;
        EXPECT_EQ(r.err.find("terminate"), std::string::npos) << r.err;
    };
    const std::string base = "train --config " + kData + "/configs/roberta-tiny-50k.json --tokenizer " + kData +
                             "/tokenizers/roberta-base --no-cache -q --max-steps 2";
    const std::string out = " -o " + o;
    expect_err(base + out + " --train /nonexistent/corpus.txt", "/nonexistent/corpus.txt");
    const std::string empty = ::testing::TempDir() + "dlm_empty.txt";
    dlm::file_write_atomic(empty, "\n  \n");
    expect_err(base + out + " --train " + empty, "no text");
    expect_err(base + out + " --train " + kData + "/corpus/plain.txt --block-size 256", "longer than the model's 66 positions");
    expect_err("train -m " + kData + "/models/tiny-gpt2 --tokenizer " + kData +
                   "/tokenizers/gpt2 --objective diffusion --no-cache -q -o " + o + " --train " + kData + "/corpus/plain.txt",
               "causal LM");
    expect_err(base + " --train " + kData + "/corpus/plain.txt --block-size 32 -o /proc/dlm_no_write", "/proc/dlm_no_write");
    expect_err(base + out + " --train " + kData + "/corpus/plain.txt --format xml", "xml");
    expect_err(base + out + " --train " + kData + "/corpus/plain.txt --random-prefix 9", "MIN:MAX");
    expect_err("train --tokenizer x --train y -o " + o, "exactly one of");
    const std::string plain = " --train " + kData + "/corpus/plain.txt --block-size 32";
    expect_err(base + out + plain + " --mask-rates 0.5,1.5", "--mask-rates: 1.5");
    expect_err(base + out + plain + " --mask-rates 0.5 --mask-mode continuous", "continuous");
    expect_err(base + out + plain + " --init xavier", "--init must be");
    expect_err(base + out + plain + " --init shift:0.1:0", "--init must be");
    expect_err(base + out + plain + " --adam-beta2 1", "--adam-beta1 and --adam-beta2");
    expect_err("train -m " + kData + "/models/tiny-roberta --no-cache -q -o " + o + plain + " --unigram-bias",
               "--unigram-bias applies to a model trained from --config");
    expect_err("train --config " + kData + "/models/tiny-gpt2/config.json --tokenizer " + kData +
                   "/tokenizers/gpt2 --no-cache -q -o " + o + plain + " --unigram-bias",
               "--unigram-bias is for masked LMs; GPT2LMHeadModel has no output bias");
    expect_err(base + out + plain + " --adam-epsilon 0", "--adam-epsilon");
}

// The training switches a user reaches for: mixed precision (--bf16), RoBERTa's Adam
// settings, fixed mask rates, the local-attention init with the unigram bias. The run
// records them in the config's "dlm" key, and the --bf16 run's losses follow the fp32
// run's within 2%.
TEST(train_cli, bf16_mask_rates_adam_and_init_options_run_and_are_recorded) {
    const std::string a = out_dir("opt_f32"), b = out_dir("opt_bf16");
    const std::string extra = " --mask-rates 0.15,0.5 --mask-mode per_sequence --adam-beta2 0.98 --adam-epsilon 1e-6 --init local --unigram-bias --logging-steps 2";
    ASSERT_EQ(cli_run(train_args(a) + extra).code, 0);
    auto r = cli_run(train_args(b) + extra + " --bf16");
    ASSERT_EQ(r.code, 0) << r.err;
    auto cfg = nlohmann::json::parse(dlm::file_read(b + "/config.json"));
    EXPECT_EQ(cfg["dlm"]["train_dtype"], "bf16");
    EXPECT_EQ(cfg["dlm"]["init"], "local+unigram_bias");
    EXPECT_EQ(cfg["dlm"]["mask_rates"].size(), 2u);
    EXPECT_NEAR(cfg["dlm"]["mask_rates"][0].get<double>(), 0.15, 1e-6);
    auto losses = [](const std::string& dir) {
        std::vector<double> out;
        std::istringstream in(dlm::file_read(dir + "/train_log.jsonl"));
        for (std::string line; std::getline(in, line);) {
            auto j = nlohmann::json::parse(line);
            if (j.contains("loss")) out.push_back(j["loss"].get<double>());
        }
        return out;
    };
    const auto la = losses(a), lb = losses(b);
    ASSERT_EQ(la.size(), lb.size());
    ASSERT_FALSE(la.empty());
    for (size_t i = 0; i < la.size(); ++i) EXPECT_NEAR(lb[i], la[i], 0.02 * la[i]) << "logged loss " << i;
}

TEST(train_cli, refused_resume_keeps_the_checkpoint) {
    const std::string o = out_dir("keep");
    ASSERT_EQ(cli_run(train_args(o)).code, 0);
    const std::string before = dlm::file_read(o + "/checkpoint-12/model.safetensors");
    auto r = cli_run(train_args(o, 2) + " --resume");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("cannot resume"), std::string::npos) << r.err;
    EXPECT_EQ(dlm::file_read(o + "/checkpoint-12/model.safetensors"), before);
}
