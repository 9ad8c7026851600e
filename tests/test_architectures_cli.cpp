// The BERT family end to end through the CLI: a tiny BertForMaskedLM (WordPiece
// tokenizer of bert-base-uncased) and a tiny ModernBertForMaskedLM (its byte-level BPE
// tokenizer) are trained with the diffusion objective for a few steps from a config,
// then inspected, and generate with every sampler, with and without block decoding's
// dual cache, leaving no mask.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "core/file.h"

namespace fs = std::filesystem;

namespace {

const std::string kData = DLM_TEST_DATA;

struct family {
    const char* config;     // tests/data/configs/<config>.json
    const char* tokenizer;  // tests/data/tokenizers/<tokenizer>
    const char* architecture;
};

const family kFamilies[] = {
    {"bert-tiny", "bert-base-uncased", "BertForMaskedLM"},
    {"modernbert-tiny", "modernbert-base", "ModernBertForMaskedLM"},
};

std::string trained(const family& f) {
    const std::string d = ::testing::TempDir() + "dlm_arch_" + f.config + "_" + std::to_string(::getpid());
    remove_at_exit(d);
    fs::remove_all(d);
    auto r = cli_run(std::string("train --config ") + kData + "/configs/" + f.config + ".json --tokenizer " + kData +
                     "/tokenizers/" + f.tokenizer + " --train " + kData +
                     "/corpus/wikiextractor --block-size 64 --prefix 8 --batch 4 --max-steps 4 --lr 2e-3 --no-cache -q -o " +
                     d);
    EXPECT_EQ(r.code, 0) << f.config << "\n" << r.err;
    return d;
}

}  // namespace

TEST(architectures_cli, bert_family_trains_inspects_and_generates) {
    for (const family& f : kFamilies) {
        SCOPED_TRACE(f.architecture);
        const std::string d = trained(f);
        ASSERT_TRUE(fs::exists(d + "/model.safetensors"));
        auto info = cli_run("inspect -m " + d);
        EXPECT_EQ(info.code, 0) << info.err;
        EXPECT_NE(info.out.find(f.architecture), std::string::npos) << info.out;
        const std::string trace = d + "/trace.json";
        for (std::string opts : {"--sampler remask --steps 6", "--sampler confidence", "--sampler lowconf --steps 6",
                                 "--sampler confidence --block 8 --cache dual"}) {
            SCOPED_TRACE(opts);
            fs::remove(trace);
            auto r = cli_run("generate -m " + d + " -p \"The history of\" -n 16 -s 1 " + opts + " --trace " + trace);
            ASSERT_EQ(r.code, 0) << r.err;
            auto t = nlohmann::json::parse(dlm::file_read(trace));
            const int mask = t["mask_id"];
            const auto& last = t["samples"][0]["steps"].back()["tokens"];
            for (auto& tok : last) EXPECT_NE(tok.get<int>(), mask);
        }
    }
}
