// Small real models for end-to-end CLI tests, made once per test process (ctest runs
// the tests of one binary as parallel processes, hence the pid in the folder names).
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include "cli_run.h"

// A tiny RoBERTa diffusion model trained for 15 steps on the WikiExtractor sample,
// with the roberta-base tokenizer and the recipe's fixed prompt (8 tokens here).
inline const std::string& tiny_diffusion_model() {
    static const std::string dir = [] {
        const std::string data = DLM_TEST_DATA;
        std::string d = ::testing::TempDir() + "dlm_tiny_diffusion_" + std::to_string(::getpid());
        std::filesystem::remove_all(d);
        remove_at_exit(d);
        auto r = cli_run("train --config " + data + "/configs/roberta-tiny-50k.json --tokenizer " + data +
                         "/tokenizers/roberta-base --train " + data +
                         "/corpus/wikiextractor --block-size 64 --prefix 8 --batch 8 --max-steps 15 --lr 2e-3 --no-cache -q -o " + d);
        EXPECT_EQ(r.code, 0) << r.err;
        return d;
    }();
    return dir;
}

// The transformers-saved tiny GPT-2 (vocab 50257) with the gpt2 tokenizer files.
inline const std::string& tiny_ar_model() {
    static const std::string dir = [] {
        namespace fs = std::filesystem;
        const std::string data = DLM_TEST_DATA;
        std::string d = ::testing::TempDir() + "dlm_tiny_ar_" + std::to_string(::getpid());
        fs::remove_all(d);
        remove_at_exit(d);
        fs::create_directories(d);
        for (auto& src : {data + "/models/tiny-gpt2-random", data + "/tokenizers/gpt2"})
            for (auto& e : fs::directory_iterator(src))
                fs::copy_file(e.path(), d + "/" + e.path().filename().string(), fs::copy_options::overwrite_existing);
        return d;
    }();
    return dir;
}
