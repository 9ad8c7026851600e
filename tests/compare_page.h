// What `dlm compare --html` embeds in its page (view/compare_html.h, "dlm-data"): the
// CLI tests read the stats and tokens of both sides there, so that they check counts
// that hold on any CPU instead of the text a given CPU's rounding happens to produce.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "core/file.h"

// GPT-2's <|endoftext|>: the id that ends an autoregressive side early.
constexpr int32_t kGpt2Eos = 50256;

// The embedded JSON of the page at `path` (null when there is none: a failure).
inline nlohmann::json compare_page_data(const std::string& path) {
    const std::string page = dlm::file_read(path);
    const std::string open = "<script type=\"application/json\" id=\"dlm-data\">";
    const size_t begin = page.find(open);
    const size_t end = begin == std::string::npos ? begin : page.find("</script>", begin);
    EXPECT_NE(end, std::string::npos) << path << " embeds no dlm-data";
    if (end == std::string::npos) return {};
    return nlohmann::json::parse(page.substr(begin + open.size(), end - begin - open.size()));
}

// An autoregressive side asked for `length` tokens: one forward pass per new token, and
// all `length` of them unless sampling drew <|endoftext|> first (which token comes out
// depends on the CPU's rounding; the count rule does not).
inline void expect_ar_side_one_pass_per_token(const nlohmann::json& side, int64_t length) {
    ASSERT_EQ(side["kind"], "autoregressive");
    const auto& stats = side["stats"];
    const int64_t tokens = stats["new_tokens"];
    EXPECT_EQ(stats["forward_passes"].get<int64_t>(), tokens);
    EXPECT_EQ(stats["steps"].get<int64_t>(), tokens);
    EXPECT_GE(tokens, 1);
    EXPECT_LE(tokens, length);
    ASSERT_EQ(static_cast<int64_t>(side["steps"].size()), tokens);
    const auto& last = side["steps"].back()["a"];
    ASSERT_EQ(last.size(), 1u) << "an autoregressive step appends one token";
    if (tokens < length) {
        EXPECT_EQ(last[0].get<int32_t>(), kGpt2Eos) << "stopped early without <|endoftext|>";
    }
}

// The two columns of the speed row that `dlm compare` prints ("1.07 s, 64 forward
// passes, 59.8 tokens/s | ..."), or two empty strings when there is no such row.
inline std::pair<std::string, std::string> compare_speed_row(const std::string& out) {
    const size_t at = out.find(" forward passes, ");
    if (at == std::string::npos) return {};
    const size_t begin = out.rfind('\n', at) + 1, end = out.find('\n', at);
    const std::string row = out.substr(begin, end - begin), bar = " | ";
    const size_t mid = row.find(bar);
    if (mid == std::string::npos) return {};
    return {row.substr(0, mid), row.substr(mid + bar.size())};
}

// "<seconds> s, <n> forward passes, ": what a column of the speed row says for n passes.
inline std::string passes_shown(int64_t n) { return " s, " + std::to_string(n) + " forward passes, "; }
