// The replay page of `dlm compare`: self-contained, escaped, and its embedded steps
// rebuild both traces exactly (read back here by our own reading of the format in
// view/compare_html.h); in headless Chromium when it is installed.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "view/compare_html.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kTraces = std::string(DLM_TEST_DATA) + "/traces/";

json fixture(const std::string& name) { return json::parse(dlm::file_read(kTraces + name)); }
json diffusion_trace() { return fixture("diffusion_remask.json"); }
json ar_trace() { return fixture("gpt2_autoregressive.json"); }

dlm::CompareHtmlOptions options() {
    dlm::CompareHtmlOptions o;
    o.title = "Diffusion vs autoregressive";
    o.left_label = "RoBERTa diffusion (remask, 3 steps)";
    o.right_label = "GPT-2 (KV cache)";
    o.prompt = "The cat";
    return o;
}

size_t count_of(const std::string& hay, const std::string& needle) {
    size_t n = 0;
    for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
    return n;
}

// The JSON of <script type="application/json" id="dlm-data">, parsed.
json embedded_data(const std::string& page) {
    const std::string open = "<script type=\"application/json\" id=\"dlm-data\">";
    const size_t begin = page.find(open);
    EXPECT_NE(begin, std::string::npos);
    if (begin == std::string::npos) return {};
    const size_t end = page.find("</script>", begin);
    EXPECT_NE(end, std::string::npos);
    return json::parse(page.substr(begin + open.size(), end - begin - open.size()));
}

struct rebuilt_step {
    double t;
    std::vector<int32_t> tokens;
    std::vector<int64_t> committed;
};

// Every step of one embedded side: start, then n, s, a applied in that order.
std::vector<rebuilt_step> side_rebuild(const json& side) {
    std::vector<int32_t> seq = side["start"].get<std::vector<int32_t>>();
    const int32_t mask = side["mask_id"];
    std::vector<rebuilt_step> out;
    for (auto& st : side["steps"]) {
        if (st.contains("n")) seq.resize(st["n"].get<size_t>(), mask);
        if (st.contains("s")) {
            auto s = st["s"].get<std::vector<int64_t>>();
            EXPECT_EQ(s.size() % 2, 0u);
            for (size_t j = 0; j + 1 < s.size(); j += 2) seq.at(static_cast<size_t>(s[j])) = static_cast<int32_t>(s[j + 1]);
        }
        std::vector<int64_t> appended;
        if (st.contains("a"))
            for (auto& id : st["a"]) {
                appended.push_back(static_cast<int64_t>(seq.size()));
                seq.push_back(id.get<int32_t>());
            }
        out.push_back({st["t"].get<double>(), seq,
                       st.contains("c") ? st["c"].get<std::vector<int64_t>>() : appended});
    }
    return out;
}

void expect_rebuilds(const json& side, const json& trace, const std::string& name) {
    const auto steps = side_rebuild(side);
    const auto& want = trace["samples"][0]["steps"];
    ASSERT_EQ(steps.size(), want.size()) << name;
    for (size_t k = 0; k < steps.size(); ++k) {
        EXPECT_EQ(steps[k].tokens, want[k]["tokens"].get<std::vector<int32_t>>()) << name << " step " << k;
        EXPECT_EQ(steps[k].committed, want[k]["committed"].get<std::vector<int64_t>>()) << name << " step " << k;
        EXPECT_DOUBLE_EQ(steps[k].t, want[k]["t"].get<double>()) << name << " step " << k;
        for (int32_t id : steps[k].tokens) {
            if (id == side["mask_id"].get<int32_t>()) continue;
            EXPECT_TRUE(side["pieces"].contains(std::to_string(id))) << name << ": no piece for " << id;
        }
    }
}

std::string message_of(const json& left, const json& right) {
    try {
        dlm::compare_html_render(left, right, options());
    } catch (const dlm::Error& e) {
        return e.what();
    }
    return "(no error)";
}

std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

// Exit code of a shell command (-1 if it did not exit normally).
int shell_run(const std::string& cmd) {
    const int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST(compare_html, page_is_one_self_contained_file) {
    const std::string page = dlm::compare_html_render(diffusion_trace(), ar_trace(), options());
    EXPECT_EQ(page.rfind("<!doctype html>", 0), 0u);
    EXPECT_EQ(count_of(page, "<html"), 1u);
    EXPECT_EQ(count_of(page, "</html>"), 1u);
    for (const char* ref : {"http://", "https://", "src=", "href=", "@import", "url("})
        EXPECT_EQ(page.find(ref), std::string::npos) << ref;
    EXPECT_NE(page.find("<style>"), std::string::npos);
    EXPECT_NE(page.find("id=\"summary\""), std::string::npos);
    EXPECT_NE(page.find("data-done=\"0\""), std::string::npos);
}

TEST(compare_html, page_shows_both_labels_and_the_prompt) {
    const std::string page = dlm::compare_html_render(diffusion_trace(), ar_trace(), options());
    EXPECT_NE(page.find("<h2>RoBERTa diffusion (remask, 3 steps)</h2>"), std::string::npos);
    EXPECT_NE(page.find("<h2>GPT-2 (KV cache)</h2>"), std::string::npos);
    EXPECT_NE(page.find("<title>Diffusion vs autoregressive</title>"), std::string::npos);
    EXPECT_NE(page.find("Prompt: <b>The cat</b>"), std::string::npos);
    // Without labels: the model folder's name, the kind and the sampler.
    const std::string plain = dlm::compare_html_render(diffusion_trace(), ar_trace(), {});
    EXPECT_NE(plain.find("<h2>dlm-diffusion (diffusion, remask)</h2>"), std::string::npos);
    EXPECT_NE(plain.find("<h2>gpt2 (autoregressive, top-k)</h2>"), std::string::npos);
}

TEST(compare_html, script_end_in_trace_text_is_escaped) {
    json left = diffusion_trace(), right = ar_trace();
    const std::string evil = "</script><!--<script>alert(1)</SCRIPT>";
    left["pieces"]["4758"] = evil;
    right["pieces"]["3797"] = evil;
    dlm::CompareHtmlOptions o = options();
    o.prompt = "The </script> cat";
    o.left_label = "<b>left</b> & co";
    const std::string page = dlm::compare_html_render(left, right, o);
    // Only the page's own two script elements end: the data and the code.
    EXPECT_EQ(count_of(page, "</script>"), 2u);
    EXPECT_EQ(count_of(page, "<!--"), 0u);
    EXPECT_NE(page.find("Prompt: <b>The &lt;/script&gt; cat</b>"), std::string::npos);
    EXPECT_NE(page.find("<h2>&lt;b&gt;left&lt;/b&gt; &amp; co</h2>"), std::string::npos);
    const json data = embedded_data(page);
    EXPECT_EQ(data["sides"][0]["pieces"]["4758"], evil);
    EXPECT_EQ(data["sides"][1]["pieces"]["3797"], evil);
    EXPECT_EQ(data["prompt"], "The </script> cat");
    EXPECT_EQ(data["sides"][0]["label"], "<b>left</b> & co");
}

TEST(compare_html, embedded_steps_rebuild_both_traces) {
    const json left = diffusion_trace(), right = ar_trace();
    const json data = embedded_data(dlm::compare_html_render(left, right, options()));
    EXPECT_EQ(data["format"], "dlm-compare-1");
    ASSERT_EQ(data["sides"].size(), 2u);
    expect_rebuilds(data["sides"][0], left, "diffusion");
    expect_rebuilds(data["sides"][1], right, "autoregressive");
    // No step is stored whole: an AR step is its one new id, a diffusion step its changes.
    for (auto& side : data["sides"])
        for (auto& st : side["steps"]) EXPECT_FALSE(st.contains("tokens"));
    for (auto& st : data["sides"][1]["steps"]) {
        EXPECT_EQ(st["a"].size(), 1u);
        EXPECT_FALSE(st.contains("s"));
        EXPECT_FALSE(st.contains("c"));  // implied: the appended position
    }
    EXPECT_EQ(data["sides"][0]["steps"][1]["s"], json({5, 15, 7, 7821, 10, 50264}));
}

TEST(compare_html, start_is_the_prompt_and_the_masks) {
    const json data = embedded_data(dlm::compare_html_render(diffusion_trace(), ar_trace(), options()));
    const int m = 50264;
    EXPECT_EQ(data["sides"][0]["start"], json({1, 0, 133, 4758, m, m, m, m, m, m, m}));
    EXPECT_EQ(data["sides"][1]["start"], json({464, 3797}));
    // Special tokens show as nothing; the stats are the trace's.
    EXPECT_EQ(data["sides"][0]["pieces"]["0"], "");
    EXPECT_EQ(data["sides"][0]["pieces"]["1"], "");
    EXPECT_EQ(data["sides"][0]["pieces"]["2164"], " sat");
    EXPECT_FALSE(data["sides"][0]["pieces"].contains(std::to_string(m)));
    EXPECT_EQ(data["sides"][1]["stats"]["forward_passes"], 5);
    EXPECT_EQ(data["sides"][0]["stats"]["seconds"], 1.03);
}

TEST(compare_html, batch_shows_sample_0) {
    json left = diffusion_trace();
    json other = left["samples"][0];
    for (auto& st : other["steps"]) st["tokens"][4] = 22802;  // " slept" where sample 0 has " sat"
    other["steps"].erase(2);
    left["samples"].push_back(other);
    const std::string page = dlm::compare_html_render(left, ar_trace(), options());
    const json data = embedded_data(page);
    EXPECT_EQ(data["sides"][0]["samples"], 2);
    expect_rebuilds(data["sides"][0], left, "sample 0 of 2");
    EXPECT_NE(page.find("sample 0 of 2"), std::string::npos);
}

TEST(compare_html, long_autoregressive_trace_stays_small) {
    // 240 steps after a 16-token prompt: the trace repeats the sequence at every step.
    json ar = ar_trace();
    std::vector<int32_t> seq(16, 464);
    json steps = json::array();
    for (int k = 0; k < 240; ++k) {
        seq.push_back(k % 2 ? 257 : 3332);
        steps.push_back({{"step", k}, {"t", 0.02 * (k + 1)}, {"tokens", seq},
                         {"committed", {seq.size() - 1}}, {"changed", {seq.size() - 1}}});
    }
    ar["samples"][0]["steps"] = steps;
    const std::string page = dlm::compare_html_render(diffusion_trace(), ar, options());
    EXPECT_GT(ar.dump().size(), 150000u);
    EXPECT_LT(page.size(), 40000u);
    expect_rebuilds(embedded_data(page)["sides"][1], ar, "240 steps");
}

TEST(compare_html, bad_traces_get_clear_errors) {
    const json good = diffusion_trace();
    json no_samples = good;
    no_samples.erase("samples");
    EXPECT_NE(message_of(no_samples, ar_trace()).find("left trace: no \"samples\" array"), std::string::npos);
    json wrong_format = ar_trace();
    wrong_format["format"] = "dlm-trace-9";
    EXPECT_NE(message_of(good, wrong_format).find("right trace: format is \"dlm-trace-9\", expected \"dlm-trace-1\""),
              std::string::npos);
    json no_format = good;
    no_format.erase("format");
    EXPECT_NE(message_of(no_format, good).find("left trace: not a dlm trace"), std::string::npos);
    EXPECT_NE(message_of(json::array(), good).find("left trace: expected a JSON object, got array"), std::string::npos);
    json bad_kind = good;
    bad_kind["kind"] = "beam";
    EXPECT_NE(message_of(good, bad_kind).find("right trace: kind is \"beam\""), std::string::npos);
    json no_steps = good;
    no_steps["samples"][0]["steps"] = json::array();
    EXPECT_NE(message_of(no_steps, good).find("left trace: sample 0 has no steps"), std::string::npos);
    json no_tokens = good;
    no_tokens["samples"][0]["steps"][1].erase("tokens");
    EXPECT_NE(message_of(no_tokens, good).find("left trace: sample 0 step 1: no \"tokens\""), std::string::npos);
    json bad_position = good;
    bad_position["samples"][0]["steps"][2]["committed"].push_back(99);
    EXPECT_NE(message_of(bad_position, good).find("left trace: sample 0 step 2: \"committed\" holds 99, outside [0, 11)"),
              std::string::npos);
    json no_piece = ar_trace();
    no_piece["pieces"].erase("2603");
    EXPECT_NE(message_of(good, no_piece).find("right trace: sample 0 step 3: token id 2603 has no text in \"pieces\""),
              std::string::npos);
}

TEST(compare_html, write_puts_the_page_in_a_file) {
    const std::string path = ::testing::TempDir() + "dlm_compare_" + std::to_string(::getpid()) + ".html";
    dlm::compare_html_write(path, diffusion_trace(), ar_trace(), options());
    EXPECT_EQ(dlm::file_read(path), dlm::compare_html_render(diffusion_trace(), ar_trace(), options()));
    fs::remove(path);
    EXPECT_THROW(dlm::compare_html_write(path + ".missing/page.html", diffusion_trace(), ar_trace(), options()),
                 dlm::Error);
}

TEST(compare_html, replays_in_headless_chromium) {
    if (!fs::exists("/usr/bin/chromium"))
        GTEST_SKIP() << "no /usr/bin/chromium (sudo apt-get install chromium) for scripts/check-html.sh";
    const std::string path = ::testing::TempDir() + "dlm_compare_chromium_" + std::to_string(::getpid()) + ".html";
    const json left = diffusion_trace(), right = ar_trace();
    dlm::compare_html_write(path, left, right, options());
    const std::string script = std::string(DLM_SOURCE_DIR) + "/scripts/check-html.sh";
    const std::string base = "bash " + shell_quote(script) + " " + shell_quote(path);
    const std::string expect = " --expect " + shell_quote(left["samples"][0]["text"]) + " --expect " +
                               shell_quote(right["samples"][0]["text"]);
    EXPECT_EQ(shell_run(base + expect), 0);
    // The check can fail: a text no side shows.
    EXPECT_EQ(shell_run(base + " --expect 'The dog sat' 2>/dev/null"), 1);
    fs::remove(path);
}
