// Byte-level BPE tokenizer: golden ids from HuggingFace (via llama.cpp's test vectors),
// special tokens, both file formats, round trips, bad input, and the CLI.
#include <gtest/gtest.h>
#include <unistd.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <random>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "tokenizer/byte_unicode.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace fs = std::filesystem;

namespace {

const std::string data_dir = DLM_TEST_DATA;
const std::string roberta_dir = data_dir + "/tokenizers/roberta-base";
const std::string gpt2_dir = data_dir + "/tokenizers/gpt2";
const std::string vectors_dir = data_dir + "/tokenizers/test-vectors";

// Loaded once per test binary: loading parses ~2 MB of JSON.
const dlm::Tokenizer& roberta() {
    static const auto t = dlm::Tokenizer::from_folder(roberta_dir);  // tokenizer.json
    return t;
}
const dlm::Tokenizer& gpt2() {
    static const auto t = dlm::Tokenizer::from_folder(gpt2_dir);  // vocab.json + merges.txt
    return t;
}

// A fresh folder under the temp dir, removed when the test ends.
struct temp_folder {
    fs::path path;
    explicit temp_folder(const std::string& name)
        // The pid keeps parallel test processes (ctest -j) out of each other's folders.
        : path(fs::temp_directory_path() / ("dlm_test_tokenizer_" + name + "_" + std::to_string(::getpid()))) {
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~temp_folder() { fs::remove_all(path); }
    std::string str() const { return path.string(); }
};

// roberta-base with only vocab.json + merges.txt, to test that loading path.
const dlm::Tokenizer& roberta_slow() {
    static const auto t = [] {
        temp_folder dir("roberta_slow");
        fs::copy_file(roberta_dir + "/vocab.json", dir.path / "vocab.json");
        fs::copy_file(roberta_dir + "/merges.txt", dir.path / "merges.txt");
        return dlm::Tokenizer::from_folder(dir.str());
    }();
    return t;
}

// A tiny byte-level tokenizer.json: ids 0..255 are the bytes (in byte order), then
// `extra` tokens from 256 on, then `added` (objects with content and flags).
using json = nlohmann::json;
json tiny_tokenizer_json(const std::vector<std::string>& extra,
                         const std::vector<std::string>& merges, const json& added,
                         const json& post_processor = nullptr) {
    json vocab = json::object();
    for (int b = 0; b < 256; ++b) vocab[dlm::bytes_to_vocab_string(std::string(1, char(b)))] = b;
    int id = 256;
    for (const auto& t : extra) vocab[dlm::bytes_to_vocab_string(t)] = id++;
    json m = json::array();
    for (const auto& line : merges) {
        auto sp = line.find(' ');
        m.push_back(json::array({dlm::bytes_to_vocab_string(line.substr(0, sp)),
                                 dlm::bytes_to_vocab_string(line.substr(sp + 1))}));
    }
    json added_tokens = json::array();
    for (const auto& a : added) {
        json t = a;
        t["id"] = id++;
        added_tokens.push_back(t);
    }
    return {{"version", "1.0"},
            {"added_tokens", added_tokens},
            {"normalizer", nullptr},
            {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
            {"post_processor", post_processor},
            {"decoder", {{"type", "ByteLevel"}}},
            {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", m}}}};
}

dlm::Tokenizer tiny_tokenizer(const std::string& name, const json& j) {
    temp_folder dir(name);
    dlm::file_write_atomic((dir.path / "tokenizer.json").string(), j.dump());
    return dlm::Tokenizer::from_folder(dir.str());
}

struct golden_case {
    std::string text;
    std::vector<int32_t> ids;
};

// llama.cpp's format: each case is written as text + "\n__ggml_vocab_test__\n"; the
// .out file has one line of ids per case (no special tokens).
std::vector<golden_case> golden_read(const std::string& name) {
    std::string inp = dlm::file_read(vectors_dir + "/" + name + ".inp");
    std::string out = dlm::file_read(vectors_dir + "/" + name + ".out");
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<golden_case> cases;
    for (size_t pos = 0, hit; (hit = inp.find(sep, pos)) != std::string::npos; pos = hit + sep.size())
        cases.push_back({inp.substr(pos, hit - pos), {}});
    std::istringstream lines(out);
    std::string line;
    for (auto& c : cases) {
        EXPECT_TRUE(std::getline(lines, line));
        std::istringstream ids(line);
        for (int32_t id; ids >> id;) c.ids.push_back(id);
    }
    return cases;
}

std::vector<std::string> wiki_lines() {
    std::string text = dlm::file_read(data_dir + "/wikitext-2/wiki.test.raw");
    std::vector<std::string> lines;
    for (size_t pos = 0; pos < text.size();) {
        size_t nl = text.find('\n', pos);
        size_t end = nl == std::string::npos ? text.size() : nl + 1;
        lines.push_back(text.substr(pos, end - pos));  // keeps its '\n'
        pos = end;
    }
    return lines;
}

std::string ids_str(const std::vector<int32_t>& ids) {
    std::string s;
    for (int32_t id : ids) {
        if (!s.empty()) s.push_back(' ');
        s += std::to_string(id);
    }
    return s;
}

void golden_check(const dlm::Tokenizer& tok, const std::string& name) {
    auto cases = golden_read(name);
    ASSERT_EQ(cases.size(), 46u);
    for (const auto& c : cases) {
        EXPECT_EQ(ids_str(tok.encode(c.text)), ids_str(c.ids)) << "text: '" << c.text << "'";
        EXPECT_EQ(tok.decode(tok.encode(c.text)), c.text);
    }
}

struct run_result {
    int status;
    std::string out;
};

// Runs a shell command and returns its exit status and stdout.
run_result command_run(const std::string& cmd) {
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return {-1, ""};
    std::string out;
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    int st = pclose(p);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

}  // namespace

TEST(tokenizer, pretokenizer_follows_the_gpt2_regex) {
    dlm::Pretokenizer pre;
    auto split = [&](std::string_view text) {
        std::vector<std::string> pieces;
        for (size_t pos = 0, end; pos < text.size(); pos = end) {
            end = pre.piece_end(text, pos);
            pieces.emplace_back(text.substr(pos, end - pos));
        }
        return pieces;
    };
    using v = std::vector<std::string>;
    EXPECT_EQ(split("Hello world"), (v{"Hello", " world"}));
    EXPECT_EQ(split("a   b"), (v{"a", "  ", " b"}));         // \s+(?!\S) leaves one space
    EXPECT_EQ(split("a \t b"), (v{"a", " \t", " b"}));
    EXPECT_EQ(split("x\n\ny"), (v{"x", "\n", "\n", "y"}));   // only ' ' joins a word
    EXPECT_EQ(split("a  "), (v{"a", "  "}));                  // at the end: the whole run
    EXPECT_EQ(split("don't we'll've"), (v{"don", "'t", " we", "'ll", "'ve"}));
    EXPECT_EQ(split("DON'T"), (v{"DON", "'", "T"}));          // contractions are lower case
    EXPECT_EQ(split("3.14 abc123"), (v{"3", ".", "14", " abc", "123"}));
    EXPECT_EQ(split("  !!?"), (v{" ", " !!?"}));
    EXPECT_EQ(split("\u0663\u0664x\u00BD"), (v{"\u0663\u0664", "x", "\u00BD"}));  // Nd, No
    // Unicode whitespace as Oniguruma's \s (HF): NBSP and U+3000 yes, U+180E no.
    EXPECT_EQ(split("a\u00A0\u00A0b"), (v{"a", "\u00A0", "\u00A0", "b"}));
    EXPECT_EQ(split("\u3000x"), (v{"\u3000", "x"}));
    EXPECT_EQ(split("a\u180E\u180Eb"), (v{"a", "\u180E\u180E", "b"}));
    EXPECT_EQ(split("e\u0301t\u00E9"), (v{"e", "\u0301", "t\u00E9"}));  // a combining mark is not \p{L}
}

TEST(tokenizer, golden_gpt2) { golden_check(gpt2(), "gpt-2"); }

TEST(tokenizer, golden_roberta_tokenizer_json) { golden_check(roberta(), "roberta-bpe"); }

TEST(tokenizer, golden_roberta_vocab_merges) { golden_check(roberta_slow(), "roberta-bpe"); }

TEST(tokenizer, hello_world_with_special_tokens) {
    EXPECT_EQ(roberta().encode("Hello world", true), (std::vector<int32_t>{0, 31414, 232, 2}));
    EXPECT_EQ(roberta().encode(" Hello world", true), (std::vector<int32_t>{0, 20920, 232, 2}));
    EXPECT_EQ(roberta_slow().encode("Hello world", true), (std::vector<int32_t>{0, 31414, 232, 2}));
    EXPECT_EQ(roberta_slow().encode(" Hello world", true),
              (std::vector<int32_t>{0, 20920, 232, 2}));
    // GPT-2's HF tokenizer adds nothing.
    EXPECT_EQ(gpt2().encode("Hello world", true), (std::vector<int32_t>{15496, 995}));
    EXPECT_EQ(roberta().num_special_to_add(), 2);
    EXPECT_EQ(gpt2().num_special_to_add(), 0);
}

TEST(tokenizer, special_ids_and_vocab) {
    for (const auto* t : {&roberta(), &roberta_slow()}) {
        EXPECT_EQ(t->vocab_size(), 50265);
        EXPECT_EQ(t->bos_id(), 0);
        EXPECT_EQ(t->pad_id(), 1);
        EXPECT_EQ(t->eos_id(), 2);
        EXPECT_EQ(t->unk_id(), 3);
        EXPECT_EQ(t->mask_id(), 50264);
        EXPECT_EQ(t->token_to_id("Ġthe"), 5);
        EXPECT_EQ(t->token_to_id("<mask>"), 50264);
        EXPECT_EQ(t->token_to_id("no such token"), std::nullopt);
        EXPECT_TRUE(t->is_special(0) && t->is_special(1) && t->is_special(2) && t->is_special(3));
        EXPECT_TRUE(t->is_special(50264));
        EXPECT_FALSE(t->is_special(5));
        EXPECT_FALSE(t->is_special(50260));  // <|endoftext|> is a plain token in roberta-base
        EXPECT_EQ(t->id_to_token(5), "Ġthe");
        EXPECT_EQ(t->token_text(5), " the");
    }
    // A tokenizer.json path works as well as its folder.
    EXPECT_EQ(dlm::Tokenizer::from_folder(roberta_dir + "/tokenizer.json").encode("Hello world", true),
              (std::vector<int32_t>{0, 31414, 232, 2}));
    EXPECT_EQ(gpt2().vocab_size(), 50257);
    EXPECT_EQ(gpt2().bos_id(), 50256);
    EXPECT_EQ(gpt2().eos_id(), 50256);
    EXPECT_EQ(gpt2().unk_id(), 50256);
    EXPECT_EQ(gpt2().pad_id(), -1);
    EXPECT_EQ(gpt2().mask_id(), -1);
    EXPECT_TRUE(gpt2().is_special(50256));
    EXPECT_FALSE(gpt2().is_special(0));
    EXPECT_FALSE(gpt2().is_special(-1));
    EXPECT_FALSE(gpt2().is_special(1 << 20));
}

TEST(tokenizer, mask_absorbs_the_space_on_its_left) {
    // HF: [0, 32826, 16, 5, 50264, 9, 1470, 4, 2] = <s> Paris Ġis Ġthe <mask> Ġof ĠFrance . </s>
    auto want = std::vector<int32_t>{0, 32826, 16, 5, 50264, 9, 1470, 4, 2};
    EXPECT_EQ(roberta().encode("Paris is the <mask> of France.", true), want);
    EXPECT_EQ(roberta_slow().encode("Paris is the <mask> of France.", true), want);
    EXPECT_EQ(want[3], *roberta().token_to_id("Ġthe"));
    EXPECT_EQ(want[5], *roberta().token_to_id("Ġof"));
    // All the whitespace to the left goes, none to the right.
    EXPECT_EQ(roberta().encode("a \t <mask>b"),
              (std::vector<int32_t>{*roberta().token_to_id("a"), 50264,
                                    *roberta().token_to_id("b")}));
    EXPECT_EQ(roberta().encode("<mask> x"), (std::vector<int32_t>{50264, *roberta().token_to_id("Ġx")}));
    EXPECT_EQ(roberta().encode("<mask><mask>"), (std::vector<int32_t>{50264, 50264}));
    EXPECT_EQ(roberta().decode(roberta().encode("The <mask> sat.", true)), "<s>The<mask> sat.</s>");
}

TEST(tokenizer, special_tokens_written_in_text) {
    EXPECT_EQ(roberta().encode("<s>hi</s>"),
              (std::vector<int32_t>{0, *roberta().token_to_id("hi"), 2}));
    EXPECT_EQ(roberta().encode("a <pad>"),
              (std::vector<int32_t>{*roberta().token_to_id("a"), *roberta().token_to_id("Ġ"), 1}));
    // Not a special token in roberta-base: BPE-encoded like any text.
    EXPECT_GT(roberta().encode("<|endoftext|>").size(), 1u);
    EXPECT_EQ(gpt2().encode("Hi<|endoftext|> there"), (std::vector<int32_t>{17250, 50256, 612}));
    EXPECT_EQ(gpt2().encode("<|endoftext|><|endoftext|>"), (std::vector<int32_t>{50256, 50256}));
    // Almost special: plain text.
    EXPECT_EQ(gpt2().decode(gpt2().encode("<|endoftext|")), "<|endoftext|");
    EXPECT_EQ(gpt2().decode(gpt2().encode("a<|endoftext|>b"), true), "ab");
    EXPECT_EQ(roberta().decode(roberta().encode("Hello world", true), true), "Hello world");
}

TEST(tokenizer, both_formats_agree_on_wikitext) {
    auto lines = wiki_lines();
    ASSERT_EQ(lines.size(), 4358u);
    auto a = roberta().encode_batch(lines, true);
    auto b = roberta_slow().encode_batch(lines, true);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << "line " << i + 1;
}

TEST(tokenizer, round_trip_wikitext_lines) {
    auto lines = wiki_lines();
    auto ids = gpt2().encode_batch(lines, false, 2);
    size_t tokens = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
        ASSERT_EQ(gpt2().decode(ids[i]), lines[i]) << "line " << i + 1;
        ASSERT_EQ(ids[i], gpt2().encode(lines[i])) << "line " << i + 1;  // batch == single
        tokens += ids[i].size();
    }
    EXPECT_GT(tokens, 250000u);  // ~1.29 MB of English is ~300k GPT-2 tokens
    // The whole file as one text also round-trips.
    std::string all;
    for (auto& l : lines) all += l;
    EXPECT_EQ(roberta().decode(roberta().encode(all)), all);
}

TEST(tokenizer, round_trip_random_unicode) {
    // Pools of code points that stress the pre-tokenizer: ASCII letters, digits and
    // punctuation, contractions, every kind of whitespace (incl. U+0085, U+00A0,
    // U+180E, U+2028, U+3000), Latin-1, combining marks, CJK, other-script digits,
    // emoji with ZWJ and variation selectors, and the edges of the code space.
    const std::vector<std::pair<char32_t, char32_t>> ranges = {
        {'a', 'z'},       {'A', 'Z'},       {'0', '9'},       {'!', '/'},
        {0x09, 0x0D},     {' ', ' '},       {0x85, 0x85},     {0xA0, 0xFF},
        {0x1680, 0x1680}, {0x180E, 0x180E}, {0x2000, 0x200D}, {0x2028, 0x202F},
        {0x3000, 0x3000}, {0x0300, 0x036F}, {0x0400, 0x04FF}, {0x0660, 0x0669},
        {0x4E00, 0x4FFF}, {0xAC00, 0xAC40}, {0x1F300, 0x1F64F}, {0xFE0F, 0xFE0F},
        {0x10000, 0x10010}, {0x10FFF0, 0x10FFFF}, {0xE000, 0xE010}, {0xFFF0, 0xFFFF},
        {0x00, 0x08}};
    const std::vector<std::string> snippets = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d",
                                               "'S", "  ", "\n\n", " \t ", "1234567"};
    std::mt19937 rng(12345);
    for (int iter = 0; iter < 3000; ++iter) {
        std::string s;
        int len = int(rng() % 40);
        for (int i = 0; i < len; ++i) {
            if (rng() % 8 == 0) {
                s += snippets[rng() % snippets.size()];
                continue;
            }
            auto [lo, hi] = ranges[rng() % ranges.size()];
            dlm::utf8_append(s, lo + char32_t(rng() % (hi - lo + 1)));
        }
        ASSERT_TRUE(dlm::utf8_is_valid(s));
        const auto& tok = iter % 2 ? gpt2() : roberta();
        auto ids = tok.encode(s);
        ASSERT_EQ(tok.decode(ids), s) << "iteration " << iter;
        for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok.vocab_size());
    }
}

TEST(tokenizer, long_words) {
    // Long runs go through the heap-based merge (and bypass the cache); they must be
    // fast and exact.
    for (const std::string& s : {std::string(100000, 'a'), std::string(50000, ' ') + "x",
                                 std::string(30000, '7'), std::string(20000, '!')}) {
        auto ids = gpt2().encode(s);
        EXPECT_LT(ids.size(), s.size());
        EXPECT_EQ(gpt2().decode(ids), s);
    }
}

TEST(tokenizer, merge_order_follows_rank_then_position) {
    // ids: bytes 0..255, then aa=256 ab=257 bc=258.
    auto t = tiny_tokenizer("tiny_merges", tiny_tokenizer_json({"aa", "ab", "bc"}, {"a a", "b c", "a b"}, json::array()));
    EXPECT_EQ(t.encode("aaa"), (std::vector<int32_t>{256, 'a'}));    // leftmost pair first
    EXPECT_EQ(t.encode("aaaa"), (std::vector<int32_t>{256, 256}));
    EXPECT_EQ(t.encode("abc"), (std::vector<int32_t>{'a', 258}));    // "b c" ranks before "a b"
    EXPECT_EQ(t.encode("abd"), (std::vector<int32_t>{257, 'd'}));
    EXPECT_EQ(t.encode("ab ab"), (std::vector<int32_t>{257, ' ', 257}));  // " ab" is its own word
    auto u = tiny_tokenizer("tiny_merges2", tiny_tokenizer_json({"aa", "ab", "bc"}, {"a a", "a b", "b c"}, json::array()));
    EXPECT_EQ(u.encode("abc"), (std::vector<int32_t>{257, 'c'}));
}

TEST(tokenizer, added_token_flags) {
    // ids 256.. in order: [L] lstrip, [R] rstrip, [W] single_word, plain (not special).
    json added = json::array({
        {{"content", "[L]"}, {"lstrip", true}, {"special", true}, {"normalized", false}},
        {{"content", "[R]"}, {"rstrip", true}, {"special", true}, {"normalized", false}},
        {{"content", "[W]"}, {"single_word", true}, {"special", true}, {"normalized", false}},
        {{"content", "plain"}, {"special", false}, {"normalized", true}},
        {{"content", "[CLS]"}, {"special", true}, {"normalized", false}},
        {{"content", "[SEP]"}, {"special", true}, {"normalized", false}}});
    json template_pp = {
        {"type", "TemplateProcessing"},
        {"single", json::array({{{"SpecialToken", {{"id", "[CLS]"}, {"type_id", 0}}}},
                                {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                {{"SpecialToken", {{"id", "[SEP]"}, {"type_id", 0}}}}})},
        {"special_tokens", {{"[CLS]", {{"id", "[CLS]"}, {"ids", {260}}, {"tokens", {"[CLS]"}}}},
                            {"[SEP]", {{"id", "[SEP]"}, {"ids", {261}}, {"tokens", {"[SEP]"}}}}}}};
    auto t = tiny_tokenizer("tiny_added", tiny_tokenizer_json({}, {}, added, template_pp));
    using v = std::vector<int32_t>;
    EXPECT_EQ(t.encode("x \t[L] y"), (v{'x', 256, ' ', 'y'}));
    EXPECT_EQ(t.encode("x [R] \n y"), (v{'x', ' ', 257, 'y'}));
    EXPECT_EQ(t.encode("x[W]y"), (v{'x', '[', 'W', ']', 'y'}));  // inside a word: not matched
    EXPECT_EQ(t.encode("x [W] y"), (v{'x', ' ', 258, ' ', 'y'}));
    EXPECT_EQ(t.encode("[W]"), (v{258}));
    EXPECT_EQ(t.encode("[R] [L]"), (v{257, 256}));  // the space goes to the first
    EXPECT_EQ(t.encode("aplainb"), (v{'a', 259, 'b'}));
    EXPECT_EQ(t.encode("q", true), (v{260, 'q', 261}));
    EXPECT_EQ(t.num_special_to_add(), 2);
    EXPECT_FALSE(t.is_special(259));
    EXPECT_TRUE(t.is_special(256));
    EXPECT_EQ(t.decode(t.encode("a[L]plain", true), true), "aplain");
    EXPECT_EQ(t.vocab_size(), 262);
    EXPECT_EQ(t.bos_id(), -1);  // no recognisable roles in this vocab
    EXPECT_EQ(t.mask_id(), -1);
}

TEST(tokenizer, invalid_utf8_is_replaced_never_crashes) {
    // Each ill-formed subsequence becomes one U+FFFD (from_utf8_lossy's rule).
    EXPECT_EQ(dlm::utf8_repair("a\xFF" "b"), "a\xEF\xBF\xBD" "b");
    EXPECT_EQ(dlm::utf8_repair("\xE2\x82"), "\xEF\xBF\xBD");          // truncated: one
    EXPECT_EQ(dlm::utf8_repair("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong: two
    EXPECT_EQ(dlm::utf8_repair("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
    EXPECT_EQ(dlm::utf8_repair("\xF4\x90\x80\x80x"),
              "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDx");  // > U+10FFFF
    EXPECT_EQ(gpt2().encode("caf\xE9"), gpt2().encode("caf\xEF\xBF\xBD"));

    std::mt19937 rng(777);
    for (int iter = 0; iter < 2000; ++iter) {
        std::string s;
        int len = int(rng() % 24);
        for (int i = 0; i < len; ++i) {
            uint32_t r = rng();
            // Mostly bytes that make or break multi-byte sequences.
            s.push_back(char(r % 3 == 0 ? 0x80 + (r >> 8) % 0x80 : r % 3 == 1 ? 0xC0 + (r >> 8) % 0x40 : (r >> 8) % 0x80));
        }
        const auto& tok = iter % 2 ? gpt2() : roberta();
        auto ids = tok.encode(s, true);
        std::string back = tok.decode(ids, true);
        ASSERT_TRUE(dlm::utf8_is_valid(back));
        ASSERT_EQ(back, dlm::utf8_repair(s)) << "iteration " << iter;
    }
}

TEST(tokenizer, decode_partial_bytes_and_bad_ids) {
    // "é" is C3 A9; its first byte alone is the token 'Ã' (byte 0xC3).
    int32_t c3 = *gpt2().token_to_id("Ã");
    EXPECT_EQ(gpt2().token_text(c3), "\xC3");
    EXPECT_EQ(gpt2().decode(std::vector<int32_t>{c3}), "\xEF\xBF\xBD");
    int32_t x = *gpt2().token_to_id("x");
    EXPECT_EQ(gpt2().decode(std::vector<int32_t>{x, c3, x}), "x\xEF\xBF\xBDx");
    // Streaming: the pieces of an emoji joined are the emoji.
    auto ids = gpt2().encode("😁");
    ASSERT_GT(ids.size(), 1u);
    std::string joined;
    for (int32_t id : ids) joined += gpt2().token_text(id);
    EXPECT_EQ(joined, "😁");

    for (int32_t bad : {-1, 50257, 1 << 30}) {
        try {
            gpt2().decode(std::vector<int32_t>{x, bad});
            FAIL() << "expected an error for id " << bad;
        } catch (const dlm::Error& e) {
            EXPECT_NE(std::string(e.what()).find(std::to_string(bad)), std::string::npos)
                << e.what();
        }
        EXPECT_THROW(gpt2().token_text(bad), dlm::Error);
    }
}

TEST(tokenizer, concurrent_encode_matches_serial) {
    auto cases = golden_read("roberta-bpe");
    auto lines = wiki_lines();
    lines.resize(600);
    for (auto& c : cases) lines.push_back(c.text);
    std::vector<std::vector<int32_t>> want;
    for (auto& l : lines) want.push_back(roberta().encode(l, true));
    auto copy = roberta();  // copies share the tables
    std::vector<std::thread> threads;
    std::vector<int> bad(4, 0);
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            const auto& tok = t % 2 ? copy : roberta();
            for (int rep = 0; rep < 2; ++rep)
                for (size_t i = 0; i < lines.size(); ++i) bad[t] += tok.encode(lines[i], true) != want[i];
        });
    for (auto& th : threads) th.join();
    EXPECT_EQ(bad, std::vector<int>(4, 0));
    EXPECT_EQ(roberta().encode_batch(lines, true, 2), want);
    EXPECT_EQ(roberta().encode_batch({}, true, 2).size(), 0u);
    EXPECT_EQ(roberta().encode("", true), (std::vector<int32_t>{0, 2}));
    EXPECT_TRUE(roberta().encode("").empty());
}

TEST(tokenizer, config_files_set_roles_and_added_tokens) {
    temp_folder dir("config");
    fs::copy_file(gpt2_dir + "/vocab.json", dir.path / "vocab.json");
    fs::copy_file(gpt2_dir + "/merges.txt", dir.path / "merges.txt");
    // A pad token the vocab lacks gets the next id, as HF adds it; an added token too.
    dlm::file_write_atomic((dir.path / "special_tokens_map.json").string(),
                           R"({"pad_token": "<pad>", "bos_token": "<|endoftext|>",
                               "mask_token": {"content": "[M]", "lstrip": true}})");
    dlm::file_write_atomic((dir.path / "added_tokens.json").string(), R"({"<sep>": 50260})");
    auto t = dlm::Tokenizer::from_folder(dir.str());
    EXPECT_EQ(t.vocab_size(), 50263);
    EXPECT_EQ(t.token_to_id("<sep>"), 50260);
    EXPECT_FALSE(t.is_special(50260));
    int32_t pad = t.pad_id(), mask = t.mask_id();
    EXPECT_GE(pad, 50261);
    EXPECT_GE(mask, 50261);
    EXPECT_NE(pad, mask);
    EXPECT_TRUE(t.is_special(pad) && t.is_special(mask));
    EXPECT_EQ(t.encode("x <sep>y"), (std::vector<int32_t>{87, 220, 50260, 88}));
    EXPECT_EQ(t.encode("x [M]"), (std::vector<int32_t>{87, mask}));
    EXPECT_EQ(t.decode(t.encode("x <pad>")), "x <pad>");
    EXPECT_EQ(t.decode(std::vector<int32_t>{50260, pad}, true), "<sep>");
}

TEST(tokenizer, bad_folders_name_the_file) {
    auto expect_error_naming = [](const std::string& dir, const std::string& needle) {
        try {
            dlm::Tokenizer::from_folder(dir);
            ADD_FAILURE() << "expected an error loading " << dir;
        } catch (const dlm::Error& e) {
            std::string msg = e.what();
            EXPECT_NE(msg.find(needle), std::string::npos) << msg;
            EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
        }
    };
    expect_error_naming("/nonexistent/model", "/nonexistent/model");
    temp_folder dir("bad");
    expect_error_naming(dir.str(), dir.str());  // empty folder
    fs::copy_file(gpt2_dir + "/vocab.json", dir.path / "vocab.json");
    expect_error_naming(dir.str(), "merges.txt");  // merges missing
    dlm::file_write_atomic((dir.path / "merges.txt").string(), "#version: 0.2\nĠ t\nnotatoken x\n");
    expect_error_naming(dir.str(), "merges.txt: merge 3");
    dlm::file_write_atomic((dir.path / "merges.txt").string(), "#version: 0.2\nĠ t\n");
    dlm::file_write_atomic((dir.path / "vocab.json").string(), "{\"a\": 0, \"b\": ");
    expect_error_naming(dir.str(), "vocab.json");  // corrupt JSON
    dlm::file_write_atomic((dir.path / "vocab.json").string(), R"({"a": 0, "b": "one"})");
    expect_error_naming(dir.str(), "vocab.json");  // wrong type
    dlm::file_write_atomic((dir.path / "vocab.json").string(), R"({"a": 0, "b": 1})");
    expect_error_naming(dir.str(), "vocab.json");  // not byte-level: no byte tokens
    dlm::file_write_atomic((dir.path / "tokenizer.json").string(), R"({"model": {"type": "WordPiece"}})");
    expect_error_naming(dir.str(), "tokenizer.json");
    dlm::file_write_atomic((dir.path / "tokenizer.json").string(), "[1, 2");
    expect_error_naming(dir.str(), "tokenizer.json");
}

TEST(tokenizer, cli_tokenize_and_detokenize) {
    std::string bin = DLM_BINARY;
    auto r = command_run(bin + " tokenize -m " + shell_quote(roberta_dir) + " --special \"Hello world\"");
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out, "0 31414 232 2\n");
    r = command_run(bin + " tokenize -m " + shell_quote(gpt2_dir) + " \"Hello world\"");
    EXPECT_EQ(r.out, "15496 995\n");
    temp_folder dir("cli");
    std::string file = (dir.path / "in.txt").string();
    dlm::file_write_atomic(file, " Hello world");
    r = command_run(bin + " tokenize -m " + shell_quote(roberta_dir) + " --special --file " + shell_quote(file));
    EXPECT_EQ(r.out, "0 20920 232 2\n");
    r = command_run(bin + " detokenize -m " + shell_quote(roberta_dir) + " \"0 31414 232 2\"");
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out, "<s>Hello world</s>\n");
    r = command_run(bin + " detokenize -m " + shell_quote(roberta_dir) + " --skip-special 0 31414 232 2");
    EXPECT_EQ(r.out, "Hello world\n");
}

TEST(tokenizer, cli_errors_are_one_line) {
    std::string bin = DLM_BINARY;
    // stderr to the pipe, stdout dropped.
    auto r = command_run(bin + " tokenize -m /nonexistent/model \"Hello\" 2>&1 >/dev/null");
    EXPECT_NE(r.status, 0);
    ASSERT_FALSE(r.out.empty());
    EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << r.out;
    EXPECT_NE(r.out.find("/nonexistent/model"), std::string::npos) << r.out;
    r = command_run(bin + " detokenize -m " + shell_quote(roberta_dir) + " \"0 99999999\" 2>&1 >/dev/null");
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.out.find("99999999"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << r.out;
}
