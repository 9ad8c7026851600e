// `dlm generate` end to end on a tiny diffusion model trained in the test: every
// sampler leaves no mask, traces are complete, same seed gives the same text, and
// bad input gets a clear error.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "tiny_models.h"
#include "core/file.h"

namespace fs = std::filesystem;

namespace {

const std::string kData = DLM_TEST_DATA;

const std::string& tiny_model() { return tiny_diffusion_model(); }

nlohmann::json trace_of(const std::string& args) {
    const std::string path = ::testing::TempDir() + "dlm_trace_" + std::to_string(::getpid()) + ".json";
    fs::remove(path);
    auto r = cli_run("generate -m " + tiny_model() + " " + args + " --trace " + path);
    EXPECT_EQ(r.code, 0) << args << "\n" << r.err;
    return nlohmann::json::parse(dlm::file_read(path));
}

}  // namespace

TEST(generate_cli, every_sampler_leaves_no_mask) {
    for (std::string sampler : {"remask", "confidence", "lowconf"}) {
        auto t = trace_of("-p \"Anarchism is\" --sampler " + sampler + " -n 24 --steps 6 -s 1");
        const int mask = t["mask_id"];
        ASSERT_EQ(t["samples"].size(), 1u);
        auto& steps = t["samples"][0]["steps"];
        ASSERT_FALSE(steps.empty()) << sampler;
        const auto& last = steps.back()["tokens"];
        EXPECT_EQ(last.size(), 8u + 24u) << sampler;  // the fixed 8-token prompt slot + 24 generated
        for (auto& id : last) EXPECT_NE(id.get<int>(), mask) << sampler;
        // The prompt slot never changes.
        for (auto& st : steps)
            for (int p = 0; p < 8; ++p) EXPECT_EQ(st["tokens"][p], last[p]) << sampler;
        EXPECT_EQ(t["stats"]["new_tokens"], 24);
        EXPECT_EQ(t["sampler"], sampler);
    }
}

TEST(generate_cli, same_seed_same_text_and_batches) {
    const std::string args = "-p \"The album\" -n 20 --sampler lowconf --steps 5 --temp 1.0 ";
    auto a = cli_run("generate -m " + tiny_model() + " " + args + "-s 4");
    auto b = cli_run("generate -m " + tiny_model() + " " + args + "-s 4");
    auto c = cli_run("generate -m " + tiny_model() + " " + args + "-s 5");
    ASSERT_EQ(a.code, 0) << a.err;
    EXPECT_EQ(a.out, b.out);
    EXPECT_NE(a.out, c.out);
    auto d = cli_run("generate -m " + tiny_model() + " " + args + "-s 4 --batch 3");
    ASSERT_EQ(d.code, 0) << d.err;
    EXPECT_NE(d.out.find("--- sample 2 ---"), std::string::npos);
    EXPECT_NE(d.out.find(a.out), std::string::npos) << "sample 0 of a batch equals the single sample";
    EXPECT_NE(a.err.find("forward passes"), std::string::npos) << a.err;  // the report
}

TEST(generate_cli, infilling_keeps_the_text_around_the_span) {
    auto t = trace_of("-p \"Anarchism is a <mask:3> philosophy.\" --sampler confidence");
    const std::string text = t["samples"][0]["text"];
    EXPECT_EQ(text.rfind("Anarchism is a", 0), 0u) << text;
    EXPECT_NE(text.find(" philosophy."), std::string::npos) << text;
    EXPECT_EQ(t["stats"]["new_tokens"], 3);
}

TEST(generate_cli, semi_autoregressive_blocks_go_beyond_the_window) {
    auto t = trace_of("-p \"Anarchism is\" -n 100 --block 16 --sampler confidence --steps 4");
    const auto& last = t["samples"][0]["steps"].back()["tokens"];
    EXPECT_EQ(last.size(), 108u);  // longer than the 64-token window
    for (auto& id : last) EXPECT_NE(id.get<int>(), t["mask_id"].get<int>());
}

TEST(generate_cli, animate_shows_every_step) {
    auto r = cli_run("generate -m " + tiny_model() + " -p \"Anarchism is\" -n 12 --steps 4 --animate");
    ASSERT_EQ(r.code, 0) << r.err;
    for (int s = 1; s <= 4; ++s) EXPECT_NE(r.out.find("step " + std::to_string(s) + " "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("____"), std::string::npos) << "masked positions are drawn";
}

TEST(generate_cli, bad_input_is_reported_clearly) {
    auto expect_err = [](const std::string& args, const std::string& part) {
        auto r = cli_run("generate " + args);
        EXPECT_NE(r.code, 0) << args;
        EXPECT_NE(r.code, -1) << args << ": crashed";
        EXPECT_NE(r.err.find(part), std::string::npos) << args << "\n" << r.err;
    };
    const std::string m = "-m " + tiny_model() + " ";
    expect_err(m + "-p \"\"", "empty prompt");
    expect_err(m + "-p \"   \"", "empty prompt");
    std::string long_prompt;
    for (int i = 0; i < 80; ++i) long_prompt += "word ";
    expect_err(m + "-p \"" + long_prompt + "<mask:2>\"", "window");
    expect_err(m + "-p \"hello\" --sampler beam", "unknown sampler 'beam'");
    expect_err(m + "-p \"hello\" --steps 0", "--steps");
    expect_err(m + "-p \"hello\" -n 0", "--length");
    expect_err(m + "-p \"hello <mask:2>\" -n 5", "infilling");
    expect_err(m + "-p \"hello\" -n 200", "--block");
    expect_err("-m " + kData + "/models/tiny-gpt2-random -p \"hello\" --sampler confidence", "diffusion");
    expect_err("-m /nonexistent -p hello", "/nonexistent");
}

// A model folder's generation_config.json sets the defaults (HF's keys and dlm's
// diffusion_* keys); the command line wins; a bad file is named with its key.
TEST(generate_cli, generation_config_sets_the_defaults) {
    const std::string d = ::testing::TempDir() + "dlm_genconfig_" + std::to_string(::getpid());
    fs::remove_all(d);
    fs::copy(tiny_model(), d, fs::copy_options::recursive);
    const std::string trace = d + "/trace.json";
    auto run = [&](const std::string& config, const std::string& args) {
        dlm::file_write_atomic(d + "/generation_config.json", config);
        fs::remove(trace);
        auto r = cli_run("generate -m " + d + " -p \"Anarchism is\" --trace " + trace + " " + args);
        EXPECT_EQ(r.code, 0) << config << "\n" << r.err;
        return nlohmann::json::parse(dlm::file_read(trace));
    };
    auto t = run(R"({"bos_token_id": 0, "diffusion_sampler": "lowconf", "diffusion_steps": 4, "max_new_tokens": 12})", "-s 3");
    EXPECT_EQ(t["sampler"], "lowconf");
    EXPECT_EQ(t["stats"]["new_tokens"], 12);
    EXPECT_EQ(t["samples"][0]["steps"].size(), 4u);
    t = run(R"({"diffusion_sampler": "lowconf", "diffusion_steps": 4, "max_new_tokens": 12})", "--sampler remask --steps 3 -n 9");
    EXPECT_EQ(t["sampler"], "remask");
    EXPECT_EQ(t["stats"]["new_tokens"], 9);
    EXPECT_EQ(t["samples"][0]["steps"].size(), 3u);
    // do_sample false is greedy: the seed no longer matters.
    auto a = run(R"({"do_sample": false, "diffusion_sampler": "confidence", "max_new_tokens": 10})", "-s 3");
    auto b = run(R"({"do_sample": false, "diffusion_sampler": "confidence", "max_new_tokens": 10})", "-s 99");
    EXPECT_EQ(a["samples"][0]["text"], b["samples"][0]["text"]);
    EXPECT_EQ(a["sampler"], "confidence");
    // The block-decoding keys: blocks of 4 with the dual cache, a factor rule too strict
    // for this small model's confidences (it would need one above 0.9995), and a step cap
    // of 2 per block: 12 tokens take 6 passes of 2 commits each (the trace counts them).
    t = run(R"({"diffusion_sampler": "confidence", "diffusion_block": 4, "diffusion_cache": "dual",
                "diffusion_commit": "factor", "diffusion_factor": 0.001, "diffusion_steps": 2, "max_new_tokens": 12})", "-s 3");
    ASSERT_EQ(t["samples"][0]["steps"].size(), 6u);
    for (auto& st : t["samples"][0]["steps"]) EXPECT_EQ(st["commits"], 2);

    auto expect_err = [&](const std::string& config, const std::string& part) {
        dlm::file_write_atomic(d + "/generation_config.json", config);
        auto r = cli_run("generate -m " + d + " -p hello");
        EXPECT_EQ(r.code, 1) << config;
        EXPECT_NE(r.err.find("generation_config.json"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find(part), std::string::npos) << config << "\n" << r.err;
    };
    expect_err(R"({"diffusion_sampler": "beam"})", "'diffusion_sampler'");
    expect_err(R"({"diffusion_steps": "ten"})", "'diffusion_steps' has the wrong type");
    expect_err(R"({"top_p": 1.5})", "'top_p' must be in (0, 1]");
    expect_err(R"({"max_new_tokens": 0})", "'max_new_tokens'");
    expect_err(R"({"temperature": )", "invalid JSON");
    expect_err(R"({"diffusion_cache": "full"})", "'diffusion_cache' must be none, prefix or dual");
    expect_err(R"({"diffusion_commit": "greedy"})", "'diffusion_commit' must be threshold, factor or entropy");
    expect_err(R"({"diffusion_factor": 0})", "'diffusion_factor'");
    expect_err(R"({"diffusion_entropy_bound": -1})", "'diffusion_entropy_bound'");
    fs::remove_all(d);

    // A causal LM reads HF's keys the same way.
    const std::string ar = d + "_ar";
    fs::remove_all(ar);
    fs::copy(tiny_ar_model(), ar, fs::copy_options::recursive);
    dlm::file_write_atomic(ar + "/generation_config.json", R"({"eos_token_id": 50256, "max_new_tokens": 7})");
    auto r = cli_run("generate -m " + ar + " -p hello --trace " + ar + "/trace.json");
    ASSERT_EQ(r.code, 0) << r.err;
    // 7 tokens, fewer only if sampling drew <|endoftext|> (which this CPU's rounding decides).
    const auto ar_trace = nlohmann::json::parse(dlm::file_read(ar + "/trace.json"));
    const int64_t made = ar_trace["stats"]["new_tokens"];
    EXPECT_GE(made, 1);
    EXPECT_LE(made, 7);  // the default would be 240
    if (made < 7) {
        EXPECT_EQ(ar_trace["samples"][0]["steps"].back()["tokens"].back(), 50256) << "stopped early";
    }
    fs::remove_all(ar);
}
