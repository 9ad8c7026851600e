// The models the repository ships (models/dlm-diffusion, models/dlm-ar): they load,
// they are stored in bf16 with their tokenizer, and a fixed seed gives text with no
// <mask> or special token left, from the default model when -m is not given.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <string>

#include "cli_run.h"

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
    // No -m: the default model (models/dlm-diffusion).
    expect_text(cli_run("generate -p \"" + prompt + "\" -s 1 -t 2"), prompt);
    // Its generation_config.json makes the confidence sampler the default; semi-AR blocks too.
    auto r = cli_run("generate -m " + kModels + "/dlm-diffusion -p \"" + prompt + "\" -n 192 --block 64 -s 2 -t 2");
    expect_text(r, prompt);
    EXPECT_NE(r.err.find("confidence sampler"), std::string::npos) << r.err;
}

TEST(shipped_models, ar_model_writes_text) {
    const std::string prompt = "The history of the city";
    expect_text(cli_run("generate -m " + kModels + "/dlm-ar -p \"" + prompt + "\" -n 120 -s 1 -t 2"), prompt);
}

TEST(shipped_models, compare_defaults_to_both) {
    auto r = cli_run("compare -p \"The history of the city\" -n 64 -s 1 -t 2");
    ASSERT_EQ(r.code, 0) << r.err;
    // The folders, then the settings on a row of their own (whatever the path's length).
    EXPECT_NE(r.out.find("diffusion: " + kModels + "/dlm-diffusion"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("autoregressive: " + kModels + "/dlm-ar"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\nconfidence sampler, 64 steps"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("| KV cache, T 0.8, top-k 50, top-p 0.95\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("64 forward passes"), std::string::npos) << r.out;  // AR: one per token
}
