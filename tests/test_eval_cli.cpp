// `dlm eval likelihood` end to end on tiny models with real tokenizers: a diffusion
// (masked) model and a causal one give the report in Markdown, JSON and a plot, and bad
// input gets one clear line.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "test_util.h"
#include "core/file.h"
#include "models/init.h"
#include "models/model.h"

namespace fs = std::filesystem;

namespace {

const std::string kData = DLM_TEST_DATA;

// One folder per test process: ctest runs the tests of this file in parallel processes.
std::string temp_path(const std::string& name) {
    return ::testing::TempDir() + "dlm_eval_" + std::to_string(::getpid()) + "_" + name;
}

// A RoBERTa masked LM with a 50k vocabulary, random weights (HF init) and the
// roberta-base tokenizer: near-uniform predictions, so every loss is about ln(50265).
// Made in-process: training one would cost most of the time budget of these tests.
const std::string& tiny_masked_model() {
    static const std::string dir = [] {
        std::string d = temp_path("model");
        fs::remove_all(d);
        auto m = dlm::model_create(dlm::config_load(kData + "/configs/roberta-tiny-50k.json"));
        dlm::model_init_random(*m, 7);
        m->save(d);
        for (const char* f : {"vocab.json", "merges.txt", "tokenizer.json"})
            fs::copy_file(kData + "/tokenizers/roberta-base/" + f, d + "/" + f);
        return d;
    }();
    return dir;
}

std::string held_out_file() { return ::held_out_file(temp_path("held_out.raw")); }

std::string write_temp(const std::string& name, const std::string& text) {
    const std::string p = temp_path(name);
    std::ofstream(p) << text;
    return p;
}

// One thread: tiny models gain nothing from two, and ctest runs tests side by side.
const std::string kCommon = " --block-size 64 --prefix 8 --max-blocks 4 --no-cache -q -t 1 ";

}  // namespace

TEST(eval_cli, masked_model_report) {
    const std::string json = temp_path("masked.json"), md = temp_path("masked.md"), png = temp_path("masked.png");
    auto r = cli_run("eval likelihood -m " + tiny_masked_model() + " -f " + held_out_file() + kCommon +
                     "--samples 2 --estimator count --json " + json + " --markdown " + md + " --plot " + png);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("| mask rate | masked tokens | cross-entropy (nats) | accuracy |"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("| 1.00 |"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("NELBO bound"), std::string::npos) << r.out;
    EXPECT_EQ(dlm::file_read(md), r.out);

    auto j = nlohmann::json::parse(dlm::file_read(json));
    EXPECT_EQ(j["kind"], "masked");
    EXPECT_EQ(j["blocks"], 4);
    EXPECT_GT(j["blocks_in_files"].get<int>(), 4);
    ASSERT_EQ(j["mask_rates"].size(), 10u);
    const double ln_v = std::log(50265.0);
    for (auto& x : j["mask_rates"]) {
        EXPECT_NEAR(x["ce"].get<double>(), ln_v, 0.3) << x;
        EXPECT_LE(x["masked"].get<int>(), x["eligible"].get<int>());
    }
    auto& full = j["mask_rates"][9];
    EXPECT_EQ(full["rate"], 1.0);
    EXPECT_EQ(full["masked"], full["eligible"]);  // rate 1 masks every eligible token
    auto& b = j["bound"];
    EXPECT_EQ(b["estimator"], "count");
    EXPECT_EQ(b["samples"], 8);  // 4 blocks x 2
    EXPECT_EQ(b["tokens"], full["eligible"]);
    EXPECT_GT(b["bytes"].get<int>(), 3 * b["tokens"].get<int>());  // English: ~4 bytes per token
    EXPECT_NEAR(b["nats_per_token"].get<double>(), ln_v, 0.3);
    EXPECT_NEAR(b["perplexity"].get<double>(), std::exp(b["nats_per_token"].get<double>()), 1e-6 * 5e4);
    EXPECT_GT(b["se_nats_per_token"].get<double>(), 0);
    EXPECT_GT(b["bits_per_byte"].get<double>(), 2);

    if (fs::exists("/usr/bin/gnuplot")) {
        ASSERT_TRUE(fs::exists(png)) << r.err;
        EXPECT_EQ(dlm::file_read(png).substr(1, 3), "PNG");
        EXPECT_NE(dlm::file_read(temp_path("masked.dat")).find("1.0000 "), std::string::npos);
    } else {
        EXPECT_NE(r.err.find("warning: no plot"), std::string::npos) << r.err;
    }
}

TEST(eval_cli, causal_model_report) {
    const std::string json = temp_path("causal.json"), svg = temp_path("causal.svg");
    auto r = cli_run("eval likelihood -m " + kData + "/models/tiny-gpt2-random --tokenizer " + kData +
                     "/tokenizers/gpt2 -f " + held_out_file() + kCommon + "--json " + json + " --plot " + svg);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("| NLL (nats/token) |"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("4 blocks (exact)"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("mask rate"), std::string::npos) << r.out;
    // A causal model has no mask-rate curve: a warning, not a failure.
    EXPECT_NE(r.err.find("warning: no plot: the mask-rate figure needs a masked LM"), std::string::npos) << r.err;
    auto j = nlohmann::json::parse(dlm::file_read(json));
    EXPECT_EQ(j["kind"], "causal");
    EXPECT_FALSE(j.contains("mask_rates"));
    auto& e = j["exact"];
    EXPECT_EQ(e["tokens"], 4 * (64 - 8));
    EXPECT_EQ(e["samples"], 4);
    EXPECT_NEAR(e["nats_per_token"].get<double>(), std::log(50257.0), 0.05);  // untrained: near uniform
    EXPECT_GT(e["bits_per_byte"].get<double>(), 2);
}

TEST(eval_cli, missing_gnuplot_is_a_warning) {
    const std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
    ::setenv("PATH", "/nonexistent", 1);
    auto r = cli_run("eval likelihood -m " + tiny_masked_model() + " -f " + held_out_file() +
                     " --block-size 64 --prefix 8 --no-cache -q --max-blocks 1 --rates 0.5 --samples 1 --plot " +
                     temp_path("none.png"));
    ::setenv("PATH", path.c_str(), 1);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("warning: no plot: gnuplot is not installed"), std::string::npos) << r.err;
    EXPECT_NE(r.out.find("| 0.50 |"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("(± n/a: one block)"), std::string::npos) << r.out;
}

TEST(eval_cli, bad_input_is_reported_clearly) {
    auto expect_err = [](const std::string& args, const std::string& part) {
        auto r = cli_run("eval likelihood " + args);
        EXPECT_EQ(r.code, 1) << args << "\n" << r.err;
        EXPECT_NE(r.err.find(part), std::string::npos) << args << "\n" << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
    };
    const std::string m = "-m " + tiny_masked_model() + " --no-cache -q ";
    expect_err(m + "-f " + write_temp("empty.txt", "") + " --block-size 64", "contains no text");
    expect_err(m + "-f " + write_temp("blank.txt", "  \n\n \t\n") + " --block-size 64", "contains no text");
    expect_err(m + "-f " + write_temp("short.txt", "A short held-out file.\nTwo lines.\n") + " --block-size 64",
               "holds no complete block of 64 tokens");
    expect_err(m + "-f /nonexistent/held.txt --block-size 64", "/nonexistent/held.txt");
    expect_err(m + "-f " + held_out_file() + " --block-size 128", "window");
    expect_err(m + "-f " + held_out_file() + " --block-size 64 --prefix 64", "--prefix");
    expect_err(m + "-f " + held_out_file() + " --block-size 64 --plot out.pdf", ".png or .svg");
    expect_err(m + "-f " + held_out_file() + " --block-size 64 --estimator exact", "estimator 'exact'");
    // A model folder without tokenizer files, and a tokenizer of another vocabulary.
    expect_err("-m " + kData + "/models/tiny-roberta -f " + held_out_file() + " --block-size 32", "--tokenizer");
    expect_err("-m " + kData + "/models/tiny-roberta --tokenizer " + kData + "/tokenizers/roberta-base -f " +
                   held_out_file() + " --block-size 32",
               "do not belong together");
    expect_err("-m " + kData + "/models/tiny-gpt2-random --tokenizer " + kData + "/tokenizers/gpt2 -f " +
                   held_out_file() + " --block-size 64 --prefix 0",
               "--prefix must be at least 1 for a causal LM");
}
