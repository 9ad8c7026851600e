// --dtype auto, the default of generate, compare, eval and bench: bf16 where this CPU
// has native bf16 matrix products, f32 where they would be emulated (DLM_BF16_EMULATE=1
// makes any CPU answer no). The choice is said once on stderr, reports record the
// resolved dtype, and auto computes exactly what the resolved dtype given by name does.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "test_util.h"
#include "core/file.h"
#include "kernels/gemm.h"
#include "tiny_models.h"

namespace fs = std::filesystem;

namespace {

const std::string kData = DLM_TEST_DATA;
const std::string kEmulate = "DLM_BF16_EMULATE=1";

const std::string kAutoBf16 = "dlm: dtype bf16 (auto: this CPU has native bf16 matrix products)\n";
const std::string kAutoF32 =
    "dlm: dtype f32 (auto: no native bf16 matrix products on this CPU; --dtype bf16 emulates them, slower)\n";
const std::string kEmulatedBf16 =
    "dlm: dtype bf16 (emulated: no native bf16 matrix products on this CPU; --dtype f32 is faster here)\n";

// What auto means for the dlm children of this process (they inherit its environment).
std::string native_dtype() { return dlm::gemm_bf16_native() ? "bf16" : "f32"; }
std::string native_line() { return dlm::gemm_bf16_native() ? kAutoBf16 : kAutoF32; }

std::string temp_path(const std::string& name) {
    return ::testing::TempDir() + "dlm_dtype_" + std::to_string(::getpid()) + "_" + name;
}

int64_t count_of(const std::string& text, const std::string& part) {
    int64_t n = 0;
    for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
    return n;
}

// The only dtype line of a run's stderr, "" when there is none (and a failure when
// there are several).
std::string dtype_line(const cli_result& r) {
    EXPECT_LE(count_of(r.err, "dlm: dtype "), 1) << r.err;
    const size_t at = r.err.find("dlm: dtype ");
    return at == std::string::npos ? "" : r.err.substr(at, r.err.find('\n', at) + 1 - at);
}

std::string held_out_file() { return ::held_out_file(temp_path("held_out.raw")); }

std::string generate_args(const std::string& model) {
    return "generate -m " + model + " -p \"Anarchism is\" -n 12 -s 3 -t 1 ";
}

// The texts of `dlm compare` (below its rule): the rows above it hold the timings.
std::string compare_texts(const std::string& out) {
    const size_t rule = out.rfind("-----");
    return rule == std::string::npos ? "" : out.substr(out.find('\n', rule));
}

}  // namespace

TEST(dtype_cli, auto_is_bf16_where_native_and_said_once) {
    for (const std::string& model : {tiny_diffusion_model(), tiny_ar_model()}) {
        auto r = cli_run(generate_args(model) + "--dtype auto");
        ASSERT_EQ(r.code, 0) << r.err;
        EXPECT_EQ(dtype_line(r), native_line()) << model;
        EXPECT_EQ(count_of(r.err, "dlm: dtype "), 1) << r.err;
    }
    // compare runs two models in that dtype: still one line.
    auto c = cli_run("compare -m " + tiny_diffusion_model() + " --ar " + tiny_ar_model() +
                     " -p \"Anarchism is\" -n 8 --steps 2 -s 1 -t 1");
    ASSERT_EQ(c.code, 0) << c.err;
    EXPECT_EQ(dtype_line(c), native_line());
}

TEST(dtype_cli, auto_is_f32_under_emulation) {
    auto r = cli_run(generate_args(tiny_diffusion_model()) + "--dtype auto", kEmulate);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(dtype_line(r), kAutoF32);
    EXPECT_EQ(count_of(r.err, "dlm: dtype "), 1) << r.err;
}

TEST(dtype_cli, given_bf16_says_when_it_is_emulated) {
    auto r = cli_run(generate_args(tiny_diffusion_model()) + "--dtype bf16", kEmulate);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(dtype_line(r), kEmulatedBf16);
    // A dtype given and run as given has nothing to add.
    r = cli_run(generate_args(tiny_diffusion_model()) + "--dtype f32", kEmulate);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(dtype_line(r), "");
    r = cli_run(generate_args(tiny_diffusion_model()) + "--dtype f32");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(dtype_line(r), "");
    if (dlm::gemm_bf16_native()) {
        r = cli_run(generate_args(tiny_diffusion_model()) + "--dtype bf16");
        ASSERT_EQ(r.code, 0) << r.err;
        EXPECT_EQ(dtype_line(r), "");
    }
}

TEST(dtype_cli, bad_value_names_the_option) {
    const std::string m = tiny_diffusion_model();
    for (const std::string& args :
         {generate_args(m), "compare -m " + m + " --ar " + tiny_ar_model() + " -p hi -n 4 ",
          "eval likelihood -m " + m + " -f " + held_out_file() + " --block-size 64 --prefix 8 --no-cache -q ",
          "eval generation -m " + m + " -f " + kData + "/corpus/wikiextractor -n 2 --new-tokens 8 -q ",
          std::string("bench -w tokenizer -t 1 --reps 1 ")}) {
        auto r = cli_run(args + "--dtype fp8");
        EXPECT_NE(r.code, 0) << args;
        EXPECT_NE(r.code, -1) << args << ": crashed";
        EXPECT_NE(r.err.find("--dtype must be auto, bf16, f32 or q8, not 'fp8'"), std::string::npos) << args << "\n" << r.err;
        EXPECT_EQ(r.err.find("dlm: dtype "), std::string::npos) << r.err;
    }
}

TEST(dtype_cli, default_is_auto) {
    for (const std::string& model : {tiny_diffusion_model(), tiny_ar_model()}) {
        auto given = cli_run(generate_args(model) + "--dtype auto");
        auto dflt = cli_run(generate_args(model));
        ASSERT_EQ(dflt.code, 0) << dflt.err;
        EXPECT_EQ(dtype_line(dflt), dtype_line(given)) << dflt.err;
        EXPECT_EQ(dflt.out, given.out);
    }
    auto emulated = cli_run(generate_args(tiny_diffusion_model()), kEmulate);
    ASSERT_EQ(emulated.code, 0) << emulated.err;
    EXPECT_EQ(dtype_line(emulated), kAutoF32);
}

// Same seed, same machine: auto gives the text of the dtype it resolves to.
TEST(dtype_cli, auto_generates_as_the_resolved_dtype) {
    for (const std::string& model : {tiny_diffusion_model(), tiny_ar_model()}) {
        auto a = cli_run(generate_args(model) + "--dtype auto");
        auto b = cli_run(generate_args(model) + "--dtype " + native_dtype());
        ASSERT_EQ(a.code, 0) << a.err;
        ASSERT_EQ(b.code, 0) << b.err;
        EXPECT_FALSE(a.out.empty());
        EXPECT_EQ(a.out, b.out) << model;
        a = cli_run(generate_args(model) + "--dtype auto", kEmulate);
        b = cli_run(generate_args(model) + "--dtype f32", kEmulate);
        ASSERT_EQ(a.code, 0) << a.err;
        EXPECT_EQ(a.out, b.out) << model;
    }
    const std::string compare = "compare -m " + tiny_diffusion_model() + " --ar " + tiny_ar_model() +
                                " -p \"Anarchism is\" -n 8 --steps 2 -s 1 -t 1 --dtype ";
    auto a = cli_run(compare + "auto"), b = cli_run(compare + native_dtype());
    ASSERT_EQ(a.code, 0) << a.err;
    EXPECT_FALSE(compare_texts(a.out).empty()) << a.out;
    EXPECT_EQ(compare_texts(a.out), compare_texts(b.out));
}

TEST(dtype_cli, reports_record_the_resolved_dtype) {
    const std::string lik = "eval likelihood -m " + kData + "/models/tiny-gpt2-random --tokenizer " + kData +
                            "/tokenizers/gpt2 -f " + held_out_file() +
                            " --block-size 64 --prefix 8 --max-blocks 2 --no-cache -q -t 1 --json ";
    const std::string gen = "eval generation -m " + tiny_ar_model() + " -f " + kData +
                            "/corpus/wikiextractor -n 2 --new-tokens 8 -q -t 1 --json ";
    for (const std::string& env : {std::string(), kEmulate}) {
        const std::string want = env.empty() ? native_dtype() : "f32";
        const std::string json = temp_path("lik.json");
        auto r = cli_run(lik + json, env);  // no --dtype: auto
        ASSERT_EQ(r.code, 0) << r.err;
        EXPECT_EQ(nlohmann::json::parse(dlm::file_read(json))["dtype"], want) << env;
        EXPECT_NE(r.out.find("seed 0, " + want + "\n"), std::string::npos) << r.out;
        EXPECT_EQ(dtype_line(r), env.empty() ? native_line() : kAutoF32);

        const std::string gjson = temp_path("gen.json");
        r = cli_run(gen + gjson, env);
        ASSERT_EQ(r.code, 0) << r.err;
        EXPECT_EQ(nlohmann::json::parse(dlm::file_read(gjson))["dtype"], want) << env;
        EXPECT_NE(r.out.find(", " + want + ", seed 0"), std::string::npos) << r.out;
        EXPECT_EQ(dtype_line(r), env.empty() ? native_line() : kAutoF32);
    }
}

// bench resolves auto with the answer of a child process: the parent must not start
// OpenMP before its forks (two thread counts would hang then), and reports the dtypes it ran.
TEST(dtype_cli, bench_resolves_auto_in_a_child) {
    const std::string json = temp_path("bench.json");
    auto r = cli_run("bench -w tokenizer -t 1,2 --reps 1 --json " + json);
    ASSERT_EQ(r.code, 0) << r.err;
    auto j = nlohmann::json::parse(dlm::file_read(json));
    EXPECT_EQ(j["dtypes"], nlohmann::json::array({native_dtype()}));
    EXPECT_EQ(j["bf16_native"].get<bool>(), dlm::gemm_bf16_native());
    EXPECT_EQ(dtype_line(r), native_line());

    r = cli_run("bench -w tokenizer -t 1 --reps 1 --dtype bf16,f32,auto --json " + json);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(dlm::file_read(json))["dtypes"], nlohmann::json::array({"bf16", "f32"}));

    r = cli_run("bench -w tokenizer -t 1 --reps 1 --json " + json, kEmulate);
    ASSERT_EQ(r.code, 0) << r.err;
    j = nlohmann::json::parse(dlm::file_read(json));
    EXPECT_EQ(j["dtypes"], nlohmann::json::array({"f32"}));
    EXPECT_FALSE(j["bf16_native"].get<bool>());
    EXPECT_TRUE(j["bf16_emulated"].get<bool>());
    EXPECT_EQ(dtype_line(r), kAutoF32);
}
