// `dlm export` (a model folder rewritten in bf16 for shipping) and `dlm bench` (a
// smoke run of its lightest workload: the figures and the JSON are there).
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "core/file.h"
#include "io/safetensors.h"
#include "kernels/gemm.h"
#include "tiny_models.h"

namespace fs = std::filesystem;

namespace {

const std::string kData = DLM_TEST_DATA;

std::string temp_path(const std::string& name) {
    return ::testing::TempDir() + "dlm_export_" + std::to_string(::getpid()) + "_" + name;
}

}  // namespace

TEST(export_cli, bf16_folder_keeps_config_and_tokenizer_and_generates) {
    const std::string out = temp_path("bf16");
    fs::remove_all(out);
    auto r = cli_run("export -m " + tiny_diffusion_model() + " -o " + out);
    ASSERT_EQ(r.code, 0) << r.err;
    for (const char* f : {"config.json", "model.safetensors", "vocab.json", "merges.txt"})
        EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
    EXPECT_FALSE(fs::exists(out + "/optimizer.safetensors"));
    dlm::SafetensorsReader st(out + "/model.safetensors");
    for (auto& t : st.tensors()) EXPECT_EQ(t.dtype, dlm::DType::BF16) << t.name;
    // The same "dlm" training record, so prompts are placed the same way.
    auto a = nlohmann::json::parse(dlm::file_read(tiny_diffusion_model() + "/config.json"));
    auto b = nlohmann::json::parse(dlm::file_read(out + "/config.json"));
    EXPECT_EQ(a["dlm"], b["dlm"]);
    // Both folders generate (the exported one from bf16 weights).
    const std::string p = " -p \"The city <mask:4> the river.\" --temp 0 --dtype f32 -t 1";
    auto ga = cli_run("generate -m " + tiny_diffusion_model() + p);
    auto gb = cli_run("generate -m " + out + p);
    ASSERT_EQ(ga.code, 0) << ga.err;
    ASSERT_EQ(gb.code, 0) << gb.err;
    EXPECT_FALSE(gb.out.empty());
}

TEST(export_cli, generation_config_travels_with_the_model) {
    const std::string src = temp_path("gen_src"), out = temp_path("gen_out");
    fs::remove_all(src);
    fs::remove_all(out);
    fs::copy(tiny_diffusion_model(), src, fs::copy_options::recursive);
    const std::string gen = R"({"diffusion_sampler": "confidence", "diffusion_threshold": 0.9})";
    dlm::file_write_atomic(src + "/generation_config.json", gen);
    auto r = cli_run("export -m " + src + " -o " + out);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(dlm::file_read(out + "/generation_config.json"), gen);
    // A bad one is refused before anything is written.
    dlm::file_write_atomic(src + "/generation_config.json", R"({"diffusion_sampler": "greedy"})");
    r = cli_run("export -m " + src + " -o " + out + "2");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("generation_config.json: key 'diffusion_sampler'"), std::string::npos) << r.err;
    fs::remove_all(src);
    fs::remove_all(out);
    fs::remove_all(out + "2");
}

TEST(export_cli, bad_input_is_reported_clearly) {
    auto r = cli_run("export -m " + tiny_diffusion_model() + " -o " + temp_path("x") + " --dtype int8");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("--dtype must be bf16, f16 or f32"), std::string::npos) << r.err;
    r = cli_run("export -m " + tiny_diffusion_model() + " -o " + tiny_diffusion_model());
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("must differ from the model folder"), std::string::npos) << r.err;
    r = cli_run("export -m /nonexistent/model -o " + temp_path("y"));
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("/nonexistent/model"), std::string::npos) << r.err;
}

TEST(bench_cli, tokenizer_workload_reports_figures_and_json) {
    const std::string json = temp_path("bench.json");
    // Two thread counts: each workload runs in a forked child, which hangs in its first
    // parallel region if the parent started OpenMP's threads (the roofline GEMMs at 2
    // threads would never return).
    auto r = cli_run("bench -w tokenizer -t 1,2 --reps 1 --json " + json);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("roofline GEMM f32"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("MB/s"), std::string::npos) << r.out;
    auto j = nlohmann::json::parse(dlm::file_read(json));
    EXPECT_EQ(j["format"], "dlm-bench-1");
    EXPECT_GT(j["roofline"]["1"]["gemm_f32"].get<double>(), 1.0);
    EXPECT_GT(j["roofline"]["1"]["read_bandwidth"].get<double>(), 0.1);
    EXPECT_GT(j["roofline"]["2"]["gemm_bf16"].get<double>(), 1.0);
    EXPECT_EQ(j["bf16_emulated"].get<bool>(), !dlm::gemm_bf16_native());
    ASSERT_EQ(j["results"].size(), 2u);
    auto& e = j["results"][0];
    EXPECT_EQ(e["workload"], "tokenizer");
    EXPECT_EQ(e["threads"], 1);
    EXPECT_GT(e["seconds"].get<double>(), 0.0);
    EXPECT_GT(e["peak_rss_bytes"].get<double>(), 1e6);
    auto bad = cli_run("bench -w everything");
    EXPECT_EQ(bad.code, 1);
    EXPECT_NE(bad.err.find("unknown 'everything'"), std::string::npos) << bad.err;
}
