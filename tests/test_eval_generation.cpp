// `dlm eval generation`: prompts cut from held-out text, per-setting metrics and speed,
// the report end to end on tiny models (a trained diffusion model, a random GPT-2 as
// the causal model and as the scorer), and bad input.
#include <gtest/gtest.h>

#include <set>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "core/error.h"
#include "core/file.h"
#include "eval/generation_eval.h"
#include "tiny_models.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;

namespace {

const std::string kData = DLM_TEST_DATA;

std::string temp_path(const std::string& name) {
    return ::testing::TempDir() + "dlm_evalgen_" + std::to_string(::getpid()) + "_" + name;
}

std::string write_temp(const std::string& name, const std::string& text) {
    const std::string p = temp_path(name);
    dlm::file_write_atomic(p, text);
    return p;
}

const dlm::Tokenizer& roberta() {
    static const dlm::Tokenizer t = dlm::Tokenizer::from_folder(kData + "/tokenizers/roberta-base");
    return t;
}

// "w0 w1 w2 ..." : one token per word for the BPE (common short words).
std::string words(int first, int n) {
    static const char* vocab[] = {"the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "its", "home"};
    std::string s;
    for (int i = 0; i < n; ++i) s += (i ? " " : "") + std::string(vocab[(first + i) % 12]);
    return s;
}

nlohmann::json json_read(const std::string& path) { return nlohmann::json::parse(dlm::file_read(path)); }

}  // namespace

TEST(eval_generation, prompts_are_spread_and_references_follow_the_document) {
    dlm::Corpus c;
    // doc 0: a long unit, a short one, another long one; doc 1: one long unit.
    c.units = {words(0, 12) + "\n", words(1, 3) + "\n", words(2, 10) + "\n", words(3, 9) + "\n"};
    c.unit_doc = {0, 0, 0, 1};
    c.documents = 2;
    const auto& tok = roberta();
    auto p = dlm::eval_prompts_pick(c, tok, 10, 4, 6, "test");
    ASSERT_EQ(p.size(), 3u);  // units with at least 8 tokens: 0, 2, 3
    for (auto& x : p) EXPECT_EQ(x.ids.size(), 4u);
    auto ids0 = tok.encode(c.units[0], false);
    EXPECT_EQ(p[0].ids, std::vector<int32_t>(ids0.begin(), ids0.begin() + 4));
    // Reference of unit 0: its remaining tokens, cut at 6.
    EXPECT_EQ(p[0].reference_ids, std::vector<int32_t>(ids0.begin() + 4, ids0.begin() + 10));
    // Unit 2's reference runs out of its own tokens (10 - 4 = 6 is enough): exactly 6.
    EXPECT_EQ(p[1].reference_ids.size(), 6u);
    // With a longer continuation a reference crosses into the next unit of the same
    // document but never into the next document.
    auto q = dlm::eval_prompts_pick(c, tok, 10, 4, 100, "test");
    auto ids1 = tok.encode(c.units[1], false), ids2 = tok.encode(c.units[2], false), ids3 = tok.encode(c.units[3], false);
    EXPECT_EQ(q[0].reference_ids.size(), ids0.size() - 4 + ids1.size() + ids2.size());
    EXPECT_EQ(q[2].reference_ids.size(), ids3.size() - 4);
    EXPECT_EQ(q[0].text, tok.decode(q[0].ids));
    // Fewer prompts asked: evenly spaced (units 0 and 2 of the 3 that qualify... i*M/n).
    auto r = dlm::eval_prompts_pick(c, tok, 2, 4, 6, "test");
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[1].ids, std::vector<int32_t>(ids2.begin() + 0, ids2.begin() + 4));
    // Nothing long enough: a clear error naming the input.
    try {
        dlm::eval_prompts_pick(c, tok, 2, 40, 6, "held.txt");
        ADD_FAILURE() << "expected an error";
    } catch (const dlm::Error& e) {
        EXPECT_NE(std::string(e.what()).find("held.txt has no line or paragraph of at least 80 tokens"), std::string::npos)
            << e.what();
    }
}

TEST(eval_generation, setting_counts_passes_tokens_and_metrics) {
    const auto& tok = roberta();
    std::vector<dlm::EvalPrompt> prompts(5);
    for (int i = 0; i < 5; ++i) {
        prompts[i].ids = tok.encode(words(i, 4), false);
        prompts[i].text = tok.decode(prompts[i].ids);
        prompts[i].reference_ids = tok.encode(" " + words(i + 4, 6), false);
    }
    const std::vector<int32_t> cont = tok.encode(" the cat sat on the mat", false);
    int calls = 0;
    std::vector<int64_t> batch_sizes;
    dlm::gen_batch_fn gen = [&](std::span<const dlm::EvalPrompt> b) {
        ++calls;
        batch_sizes.push_back(static_cast<int64_t>(b.size()));
        dlm::GenBatchOutput o;
        for (size_t i = 0; i < b.size(); ++i) {
            o.continuations.push_back(cont);
            o.forward_passes.push_back(3 + static_cast<int64_t>(i));
        }
        return o;
    };
    auto r = dlm::generation_setting_evaluate({"remask", 3, 0}, prompts, 2, gen, tok, std::nullopt);
    EXPECT_EQ(calls, 3);
    EXPECT_EQ(batch_sizes, (std::vector<int64_t>{2, 2, 1}));
    EXPECT_EQ(r.samples, 5);
    EXPECT_DOUBLE_EQ(r.forward_passes_per_sample, (3 + 4 + 3 + 4 + 3) / 5.0);
    EXPECT_DOUBLE_EQ(r.new_tokens_per_sample, static_cast<double>(cont.size()));
    EXPECT_FALSE(r.perplexity.has_value());
    ASSERT_EQ(r.texts.size(), 5u);
    EXPECT_EQ(r.texts[0], " the cat sat on the mat");
    // Five copies of one 6-token text: 5 distinct unigrams over 30, "the" repeated.
    EXPECT_EQ(r.metrics.units, 30);
    EXPECT_NEAR(r.metrics.distinct[0], 5.0 / 30.0, 1e-12);
    EXPECT_EQ(r.setting.label(), "remask, 3 steps");
    // The reference setting scores the held-out continuations and generates nothing.
    auto ref = dlm::generation_setting_evaluate({"reference", 0, 0}, prompts, 2, {}, tok, std::nullopt);
    EXPECT_EQ(ref.metrics.units, 30);
    EXPECT_EQ(ref.forward_passes_per_sample, 0.0);
    EXPECT_EQ(ref.texts[1], tok.decode(prompts[1].reference_ids));
}

TEST(eval_generation, report_end_to_end_on_tiny_models) {
    const std::string json = temp_path("gen.json"), md = temp_path("gen.md"), plot = temp_path("gen.png");
    const std::string held = kData + "/corpus/wikiextractor";
    auto r = cli_run("eval generation -m " + tiny_diffusion_model() + " -f " + held + " -n 5 -b 2 --new-tokens 24" +
                     " --sampler remask,confidence,lowconf --steps 1,4 --threshold 0.5,0.9 --scorer " + tiny_ar_model() +
                     " --json " + json + " --markdown " + md + " --plot " + plot + " -q -t 1");
    ASSERT_EQ(r.code, 0) << r.err;
    auto j = json_read(json);
    EXPECT_EQ(j["format"], "dlm-eval-generation-1");
    EXPECT_EQ(j["prompts"], 5);
    EXPECT_EQ(j["prompt_tokens"], 7);  // the model's fixed prefix of 8 minus <s>
    EXPECT_EQ(j["new_tokens"], 24);
    // reference + remask x 2 + confidence x (2 budgets + 2 thresholds) + lowconf x 2
    ASSERT_EQ(j["settings"].size(), 9u);
    EXPECT_EQ(j["settings"][0]["method"], "reference");
    for (auto& s : j["settings"]) {
        EXPECT_EQ(s["texts"].size(), 5u) << s["label"];
        EXPECT_EQ(s["samples"], 5);
        ASSERT_FALSE(s["gen_perplexity"].is_null()) << s["label"];
        EXPECT_TRUE(std::isfinite(s["gen_perplexity"].get<double>()));
        EXPECT_GT(s["gen_perplexity"].get<double>(), 1.0);
        if (s["method"] == "reference") continue;
        EXPECT_EQ(s["new_tokens_per_sample"].get<double>(), 24.0) << s["label"];
        EXPECT_GT(s["seconds_per_sample"].get<double>(), 0.0);
        EXPECT_EQ(s["share_with_mask"].get<double>(), 0.0) << "a finished sample has no <mask>: " << s["label"];
        const int64_t steps = s["steps"];
        if (s["method"] == "remask" || s["method"] == "lowconf") {
            EXPECT_EQ(s["forward_passes_per_sample"].get<double>(), static_cast<double>(steps)) << s["label"];
        } else if (steps > 0) {
            EXPECT_LE(s["forward_passes_per_sample"].get<double>(), static_cast<double>(steps)) << s["label"];
        }
    }
    // The table (printed and written) has a row per setting.
    const std::string table = dlm::file_read(md);
    EXPECT_NE(r.out.find(table), std::string::npos);
    EXPECT_NE(table.find("| remask, 4 steps |"), std::string::npos) << table;
    EXPECT_NE(table.find("| confidence, threshold 0.5 |"), std::string::npos) << table;
    EXPECT_NE(table.find("| reference (held-out text) |"), std::string::npos) << table;
    if (std::system("command -v gnuplot >/dev/null 2>&1") == 0) {
        ASSERT_TRUE(fs::exists(plot)) << r.err;
        EXPECT_GT(fs::file_size(plot), 5000u);
    }
}

// The block decoding sweep: block x cache x commit rule, each a row with its tokens per
// pass; the AR twin (--ar) as one more row on the same prompts, its continuations
// re-encoded with the diffusion model's tokenizer.
TEST(eval_generation, block_cache_and_commit_sweep_with_the_ar_twin) {
    const std::string json = temp_path("sweep.json");
    auto r = cli_run("eval generation -m " + tiny_diffusion_model() + " -f " + kData +
                     "/corpus/wikiextractor -n 3 -b 2 --new-tokens 16 --sampler confidence --block 8"
                     " --cache none,dual --commit threshold,factor,entropy --factor 1,4 --entropy-bound 1"
                     " --ar " + tiny_ar_model() + " -q -t 1 --json " + json);
    ASSERT_EQ(r.code, 0) << r.err;
    auto j = json_read(json);
    // reference + twin + 2 caches x (threshold 0.9 + 2 factors + 1 entropy bound)
    ASSERT_EQ(j["settings"].size(), 10u);
    EXPECT_EQ(j["settings"][1]["method"], "autoregressive");
    EXPECT_EQ(j["settings"][1]["model"], tiny_ar_model());
    EXPECT_GT(j["settings"][1]["new_tokens_per_sample"].get<double>(), 0.0);
    std::set<std::string> labels;
    for (size_t i = 2; i < j["settings"].size(); ++i) {
        auto& s = j["settings"][i];
        labels.insert(s["label"].get<std::string>());
        EXPECT_EQ(s["block"], 8);
        EXPECT_EQ(s["new_tokens_per_sample"].get<double>(), 16.0) << s["label"];
        EXPECT_EQ(s["share_with_mask"].get<double>(), 0.0) << s["label"];
        EXPECT_NEAR(s["tokens_per_pass"].get<double>(), 16.0 / s["forward_passes_per_sample"].get<double>(), 1e-9);
        EXPECT_GE(s["tokens_per_pass"].get<double>(), 1.0) << s["label"];
    }
    EXPECT_EQ(labels.size(), 8u) << "every row its own label";
    EXPECT_TRUE(labels.count("confidence, factor 4, block 8, dual cache"));
    EXPECT_TRUE(labels.count("confidence, entropy <= 1, block 8"));
    EXPECT_NE(cli_run("eval generation -m " + tiny_ar_model() + " -f " + kData + "/corpus/wikiextractor --ar " +
                      tiny_ar_model() + " -q").code, 0);
}

TEST(eval_generation, samples_do_not_depend_on_the_batch) {
    const std::string a = temp_path("b1.json"), b = temp_path("b3.json");
    const std::string base = "eval generation -m " + tiny_diffusion_model() + " -f " + kData +
                             "/corpus/wikiextractor -n 4 --new-tokens 16 --sampler lowconf --steps 4 -q -t 1 --json ";
    ASSERT_EQ(cli_run(base + a + " -b 1").code, 0);
    ASSERT_EQ(cli_run(base + b + " -b 3").code, 0);
    EXPECT_EQ(json_read(a)["settings"][1]["texts"], json_read(b)["settings"][1]["texts"]);
}

TEST(eval_generation, causal_model_decodes_left_to_right) {
    const std::string json = temp_path("ar.json");
    auto r = cli_run("eval generation -m " + tiny_ar_model() + " -f " + kData +
                     "/corpus/wikiextractor -n 3 --new-tokens 12 -q -t 1 --json " + json);
    ASSERT_EQ(r.code, 0) << r.err;
    auto j = json_read(json);
    ASSERT_EQ(j["settings"].size(), 2u);
    auto& s = j["settings"][1];
    EXPECT_EQ(s["method"], "autoregressive");
    EXPECT_TRUE(s["gen_perplexity"].is_null());  // no scorer
    // One forward pass per new token (fewer only when a sample ends with <|endoftext|>).
    EXPECT_EQ(s["forward_passes_per_sample"].get<double>(), s["new_tokens_per_sample"].get<double>());
    EXPECT_LE(s["new_tokens_per_sample"].get<double>(), 12.0);
}

TEST(eval_generation, bad_input_is_reported_clearly) {
    auto expect_err = [](const std::string& args, const std::string& part) {
        auto r = cli_run("eval generation " + args);
        EXPECT_EQ(r.code, 1) << args << "\n" << r.err;
        EXPECT_NE(r.err.find(part), std::string::npos) << args << "\n" << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
    };
    const std::string m = "-m " + tiny_diffusion_model() + " -q -n 2 --new-tokens 8 ";
    const std::string held = " -f " + kData + "/corpus/wikiextractor";
    expect_err(m + "-f " + write_temp("empty.txt", ""), "contains no text");
    expect_err(m + "-f " + write_temp("short.txt", "A short line.\nAnother one.\n"),
               "has no line or paragraph of at least 14 tokens");
    expect_err(m + "-f /nonexistent/held.txt", "/nonexistent/held.txt");
    // A scorer whose tokenizer is another model's (RoBERTa ids in a GPT-2 scorer), and a
    // scorer that is not a causal LM: rejected before anything is generated.
    expect_err(m + held + " --scorer " + tiny_ar_model() + " --scorer-tokenizer " + kData + "/tokenizers/roberta-base",
               "--scorer");
    expect_err(m + held + " --scorer " + tiny_diffusion_model(), "not a causal LM");
    expect_err(m + held + " --scorer /nonexistent/scorer", "/nonexistent/scorer");
    expect_err(m + held + " --sampler fastest", "unknown sampler 'fastest'");
    expect_err(m + held + " --threshold 1.5", "--threshold");
    expect_err("-m " + tiny_diffusion_model() + " -q -n 2" + held + " --new-tokens 500", "does not fit the model's window");
    expect_err(m + held + " --plot out.pdf", ".png or .svg");
    expect_err("-m " + tiny_ar_model() + held + " -q --steps 4", "--steps applies to diffusion");
}
