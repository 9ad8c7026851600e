// `dlm compare` and `dlm generate` on a causal model, end to end on tiny models: both
// texts side by side, a self-contained page that replays them (checked in headless
// Chromium when it is installed), and clear errors for swapped models or missing
// tokenizers.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "compare_page.h"
#include "core/file.h"
#include "tiny_models.h"

namespace fs = std::filesystem;

TEST(compare_cli, prints_both_texts_and_writes_a_page) {
    const std::string html = ::testing::TempDir() + "dlm_compare_" + std::to_string(::getpid()) + ".html";
    auto r = cli_run("compare -m " + tiny_diffusion_model() + " --ar " + tiny_ar_model() +
                     " -p \"Anarchism is\" -n 16 --steps 4 -s 2 --html " + html);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("diffusion: "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("autoregressive: "), std::string::npos) << r.out;
    const std::string page = dlm::file_read(html);
    EXPECT_EQ(page.find("https://"), std::string::npos);
    EXPECT_NE(page.find("dlm-compare-1"), std::string::npos);
    // Diffusion (remask): one forward pass per step. AR: one per token, 16 unless
    // sampling drew <|endoftext|> first (where it does depends on the CPU's rounding).
    const auto ar = compare_page_data(html)["sides"][1];
    expect_ar_side_one_pass_per_token(ar, 16);
    const auto [left, right] = compare_speed_row(r.out);
    EXPECT_NE(left.find(passes_shown(4)), std::string::npos) << r.out;
    EXPECT_NE(right.find(passes_shown(ar["stats"]["forward_passes"].get<int64_t>())), std::string::npos) << r.out;
    if (!fs::exists("/usr/bin/chromium")) GTEST_SKIP() << "chromium not installed: page not checked in a browser";
    const int code = std::system(("bash " + std::string(DLM_SOURCE_DIR) + "/scripts/check-html.sh " + html +
                                  " >/dev/null 2>&1").c_str());
    EXPECT_EQ(code, 0) << "scripts/check-html.sh " << html;
}

// The AR side takes its sampling from the AR model's generation_config.json, as
// `dlm generate` does: greedy there makes its text independent of the seed.
TEST(compare_cli, ar_side_reads_its_generation_config) {
    const std::string d = ::testing::TempDir() + "dlm_compare_ar_" + std::to_string(::getpid());
    fs::remove_all(d);
    fs::copy(tiny_ar_model(), d, fs::copy_options::recursive);
    dlm::file_write_atomic(d + "/generation_config.json", R"({"do_sample": false})");
    auto run = [&](const std::string& seed) {
        auto r = cli_run("compare -m " + tiny_diffusion_model() + " --ar " + d + " -p \"Anarchism is\" -n 12 --steps 4 -s " + seed);
        EXPECT_EQ(r.code, 0) << r.err;
        return r;
    };
    auto a = run("1"), b = run("2");
    EXPECT_NE(a.out.find("| KV cache, greedy\n"), std::string::npos) << a.out;
    const auto ar_text = [](const std::string& out) {  // the right-hand column below the rule
        std::string text;
        for (size_t at = out.find("\n", out.rfind("-----")); at != std::string::npos && at + 1 < out.size();) {
            const size_t end = out.find('\n', at + 1);
            const std::string line = out.substr(at + 1, end - at - 1);
            if (line.find(" | ") != std::string::npos) text += line.substr(line.find(" | ") + 3);
            at = end;
        }
        return text;
    };
    EXPECT_FALSE(ar_text(a.out).empty()) << a.out;
    EXPECT_EQ(ar_text(a.out), ar_text(b.out)) << a.out << "\n" << b.out;
    dlm::file_write_atomic(d + "/generation_config.json", R"({"top_p": 2})");
    auto bad = cli_run("compare -m " + tiny_diffusion_model() + " --ar " + d + " -p hi -n 4");
    EXPECT_EQ(bad.code, 1);
    EXPECT_NE(bad.err.find(d + "/generation_config.json"), std::string::npos) << bad.err;
    fs::remove_all(d);
}

TEST(compare_cli, errors_for_swapped_models_and_missing_tokenizers) {
    auto r = cli_run("compare -m " + tiny_ar_model() + " --ar " + tiny_diffusion_model() + " -p hi");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("swapped"), std::string::npos) << r.err;
    r = cli_run("compare -m " + tiny_diffusion_model() + " --ar " + std::string(DLM_TEST_DATA) +
                "/models/tiny-gpt2-random -p hi");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("tokenizer"), std::string::npos) << r.err;
    r = cli_run("compare -m " + tiny_diffusion_model() + " --ar " + tiny_ar_model() + " -p hi --steps -2");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("error: --steps must"), std::string::npos) << r.err;
}

TEST(compare_cli, generate_on_a_causal_model_decodes_left_to_right) {
    const std::string trace = ::testing::TempDir() + "dlm_ar_trace_" + std::to_string(::getpid()) + ".json";
    auto r = cli_run("generate -m " + tiny_ar_model() + " -p \"Hello world\" -n 12 -s 3 --batch 2 --trace " + trace);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("--- sample 1 ---"), std::string::npos);
    auto t = nlohmann::json::parse(dlm::file_read(trace));
    EXPECT_EQ(t["kind"], "autoregressive");
    auto& steps = t["samples"][0]["steps"];
    ASSERT_GE(steps.size(), 1u);
    EXPECT_LE(steps.size(), 12u);
    for (size_t i = 1; i < steps.size(); ++i) EXPECT_EQ(steps[i]["tokens"].size(), steps[i - 1]["tokens"].size() + 1);
    auto again = cli_run("generate -m " + tiny_ar_model() + " -p \"Hello world\" -n 12 -s 3 --batch 2");
    EXPECT_EQ(again.out, r.out) << "same seed, same text";
    auto bad = cli_run("generate -m " + tiny_ar_model() + " -p \"Hello\" --sampler lowconf");
    EXPECT_EQ(bad.code, 1);
    EXPECT_NE(bad.err.find("diffusion"), std::string::npos) << bad.err;
}
