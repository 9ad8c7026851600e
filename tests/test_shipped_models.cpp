// The models the repository ships (models/dlm-diffusion, models/dlm-ar): they load,
// they are stored in bf16 with their tokenizer, and a fixed seed gives text with no
// <mask> or special token left, from the default model when -m is not given.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>

#include "cli_run.h"
#include "compare_page.h"

namespace {

const std::string kModels = std::string(DLM_SOURCE_DIR) + "/models";

// Share of bytes that are letters or spaces: real text is mostly words.
double letter_share(const std::string& s) {
    int64_t n = 0;
    for (unsigned char c : s) n += std::isalpha(c) || c == ' ';
    return s.empty() ? 0.0 : static_cast<double>(n) / static_cast<double>(s.size());
}

void expect_text(const cli_result& r, const std::string& prompt) {
    ASSERT_EQ(r.code, 0) << r.err;
    ASSERT_EQ(r.out.rfind(prompt, 0), 0u) << "the sample starts with its prompt: " << r.out;
    const std::string text = r.out.substr(prompt.size());
    EXPECT_GT(text.size(), 200u) << r.out;
    for (const char* bad : {"<mask>", "<s>", "</s>", "<pad>", "<unk>", "<|endoftext|>"})
        EXPECT_EQ(text.find(bad), std::string::npos) << bad << " in: " << r.out;
    EXPECT_GT(letter_share(text), 0.8) << r.out;
    EXPECT_GT(std::count(text.begin(), text.end(), ' '), 30) << r.out;
}

}  // namespace

TEST(shipped_models, stored_in_bf16_with_their_tokenizers) {
    for (const char* name : {"dlm-diffusion", "dlm-ar"}) {
        auto r = cli_run("inspect -m " + kModels + "/" + name);
        ASSERT_EQ(r.code, 0) << name << ": " << r.err;
        EXPECT_NE(r.out.find("stored dtype:      BF16"), std::string::npos) << r.out;
        auto t = cli_run("tokenize -m " + kModels + "/" + name + " \"The city\"");
        EXPECT_EQ(t.code, 0) << name << ": " << t.err;
    }
}

TEST(shipped_models, default_diffusion_model_writes_text) {
    const std::string prompt = "The history of the city";
    // No -m: the default model (models/dlm-diffusion). 96 tokens, not the whole window:
    // 250 cost 4x the time (12 s in f32 on AVX2) and check nothing more.
    expect_text(cli_run("generate -p \"" + prompt + "\" -n 96 -s 1 -t 2"), prompt);
    // Its generation_config.json makes the confidence sampler the default; semi-AR blocks too.
    auto r = cli_run("generate -m " + kModels + "/dlm-diffusion -p \"" + prompt + "\" -n 192 --block 64 -s 2 -t 2");
    expect_text(r, prompt);
    EXPECT_NE(r.err.find("confidence sampler"), std::string::npos) << r.err;
}

TEST(shipped_models, ar_model_writes_text) {
    const std::string prompt = "The history of the city";
    expect_text(cli_run("generate -m " + kModels + "/dlm-ar -p \"" + prompt + "\" -n 120 -s 1 -t 2"), prompt);
}

// Which steps a threshold sampler takes and where sampling meets <|endoftext|> follow
// the CPU's rounding (AVX2 and AVX-512 sum in other orders), so the counts are checked
// by their rules, read from the page's stats, and the rows must print those counts.
TEST(shipped_models, compare_defaults_to_both) {
    const std::string html = ::testing::TempDir() + "dlm_shipped_compare_" + std::to_string(::getpid()) + ".html";
    auto r = cli_run("compare -p \"The history of the city\" -n 64 -s 1 -t 2 --html " + html);
    ASSERT_EQ(r.code, 0) << r.err;
    // The folders, then the settings on a row of their own (whatever the path's length).
    EXPECT_NE(r.out.find("diffusion: " + kModels + "/dlm-diffusion"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("autoregressive: " + kModels + "/dlm-ar"), std::string::npos) << r.out;
    const auto data = compare_page_data(html);
    std::filesystem::remove(html);
    ASSERT_EQ(data["sides"].size(), 2u);
    // Diffusion: the confidence sampler commits at least one token per step, one
    // forward pass each, and fills all 64.
    const auto& d = data["sides"][0]["stats"];
    const int64_t steps = d["steps"];
    EXPECT_GE(steps, 1);
    EXPECT_LE(steps, 64);
    EXPECT_EQ(d["forward_passes"].get<int64_t>(), steps);
    EXPECT_EQ(d["new_tokens"].get<int64_t>(), 64);
    // The settings row: the step count, then the column's padding or the block settings.
    const std::string row = "\nconfidence sampler, " + std::to_string(steps) + " steps";
    const size_t at = r.out.find(row);
    ASSERT_NE(at, std::string::npos) << r.out;
    EXPECT_TRUE(r.out[at + row.size()] == ' ' || r.out[at + row.size()] == ',') << r.out;
    EXPECT_NE(r.out.find("| KV cache, T 0.8, top-k 50, top-p 0.95\n"), std::string::npos) << r.out;
    // AR: one forward pass per token, 64 unless it wrote <|endoftext|> first.
    expect_ar_side_one_pass_per_token(data["sides"][1], 64);
    // The speed row prints both counts, each in its column.
    const auto [left, right] = compare_speed_row(r.out);
    EXPECT_NE(left.find(passes_shown(steps)), std::string::npos) << r.out;
    EXPECT_NE(right.find(passes_shown(data["sides"][1]["stats"]["forward_passes"].get<int64_t>())), std::string::npos) << r.out;
}
