// WordPiece (bert-base-uncased) and ModernBERT's byte-level BPE: the vectors written by
// tests/ref/tokenizer_reference.py (an independent re-implementation of HF), both BERT
// file formats, the normalizer and pre-tokenizer pieces, decode, special tokens and the
// load errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "tokenizer/bert_pretokenize.h"
#include "tokenizer/normalize.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::string_view_literals;

namespace {

const std::string data_dir = DLM_TEST_DATA;
const std::string bert_dir = data_dir + "/tokenizers/bert-base-uncased";
const std::string modernbert_dir = data_dir + "/tokenizers/modernbert-base";
const std::string vectors_dir = data_dir + "/tokenizers/test-vectors";

// A fresh folder under the temp dir, removed when the test ends.
struct temp_folder {
    fs::path path;
    explicit temp_folder(const std::string& name)
        : path(fs::temp_directory_path() /
               ("dlm_test_wordpiece_" + name + "_" + std::to_string(::getpid()))) {
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~temp_folder() { fs::remove_all(path); }
    std::string str() const { return path.string(); }
    void write(const std::string& file, const std::string& text) const {
        dlm::file_write_atomic((path / file).string(), text);
    }
};

const dlm::Tokenizer& bert() {  // tokenizer.json (its model has no "type")
    static const auto t = dlm::Tokenizer::from_folder(bert_dir);
    return t;
}

const dlm::Tokenizer& bert_vocab_txt() {  // vocab.txt + tokenizer_config.json only
    static const auto t = [] {
        temp_folder dir("bert_txt");
        fs::copy_file(bert_dir + "/vocab.txt", dir.path / "vocab.txt");
        fs::copy_file(bert_dir + "/tokenizer_config.json", dir.path / "tokenizer_config.json");
        return dlm::Tokenizer::from_folder(dir.str());
    }();
    return t;
}

const dlm::Tokenizer& modernbert() {
    static const auto t = dlm::Tokenizer::from_folder(modernbert_dir);
    return t;
}

std::string ids_str(const std::vector<int32_t>& ids) {
    std::string s;
    for (int32_t id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
    return s;
}

// Every case of test-vectors/<name>.json: ids with and without the special tokens,
// and both decodes of the ids with them.
void vectors_check(const dlm::Tokenizer& tok, const std::string& name) {
    json doc = json::parse(dlm::file_read(vectors_dir + "/" + name + ".json"));
    const json& cases = doc.at("cases");
    ASSERT_GE(cases.size(), 300u);
    size_t failures = 0;
    for (const json& c : cases) {
        const auto text = c.at("text").get<std::string>();
        const auto ids = c.at("ids").get<std::vector<int32_t>>();
        const auto ids_special = c.at("ids_special").get<std::vector<int32_t>>();
        bool ok = tok.encode(text) == ids && tok.encode(text, true) == ids_special &&
                  tok.decode(ids_special) == c.at("decoded").get<std::string>() &&
                  tok.decode(ids_special, true) == c.at("decoded_skip_special").get<std::string>();
        if (ok || ++failures > 10) continue;  // the first ten failures, in full
        EXPECT_EQ(ids_str(tok.encode(text)), ids_str(ids)) << "text: " << json(text).dump();
        EXPECT_EQ(ids_str(tok.encode(text, true)), ids_str(ids_special));
        EXPECT_EQ(tok.decode(ids_special), c.at("decoded").get<std::string>());
        EXPECT_EQ(tok.decode(ids_special, true), c.at("decoded_skip_special").get<std::string>());
    }
    EXPECT_EQ(failures, 0u) << "of " << cases.size() << " cases";
}

// Expects loading `dir` to throw a one-line dlm::Error containing every needle.
void expect_load_error(const std::string& dir, const std::vector<std::string>& needles) {
    try {
        dlm::Tokenizer::from_folder(dir);
        ADD_FAILURE() << "expected an error loading " << dir;
    } catch (const dlm::Error& e) {
        std::string msg = e.what();
        for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << msg;
        EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
}

// A small WordPiece tokenizer.json: `vocab` in id order, BERT's pipeline otherwise.
json tiny_wordpiece_json(const std::vector<std::string>& vocab, const json& normalizer,
                         const json& model_extra = json::object(), bool cleanup = true) {
    json v = json::object();
    for (size_t i = 0; i < vocab.size(); ++i) v[vocab[i]] = i;
    json model = {{"unk_token", "[UNK]"}, {"continuing_subword_prefix", "##"},
                  {"max_input_chars_per_word", 100}, {"vocab", v}};
    model.update(model_extra);
    return {{"version", "1.0"},
            {"added_tokens", json::array()},
            {"normalizer", normalizer},
            {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
            {"post_processor", nullptr},
            {"decoder", {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", cleanup}}},
            {"model", model}};
}

json bert_normalizer(bool lowercase, json strip_accents = nullptr) {
    return {{"type", "BertNormalizer"}, {"clean_text", true}, {"handle_chinese_chars", true},
            {"strip_accents", strip_accents}, {"lowercase", lowercase}};
}

const std::vector<std::string> tiny_vocab = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "héllo", "Héllo", "##s", "un",
    "##aff", "##able", "!", ",", "'", "t", "don", "中", "a", "##b", "ab", "abc"};

dlm::Tokenizer tiny(const temp_folder& dir, const json& j) {
    dir.write("tokenizer.json", j.dump());
    return dlm::Tokenizer::from_folder(dir.str());
}

}  // namespace

TEST(tokenizer_wordpiece, vectors_bert_tokenizer_json) {
    vectors_check(bert(), "bert-base-uncased");
}

TEST(tokenizer_wordpiece, vectors_bert_vocab_txt) {
    vectors_check(bert_vocab_txt(), "bert-base-uncased");
}

TEST(tokenizer_wordpiece, vectors_modernbert) { vectors_check(modernbert(), "modernbert-base"); }

TEST(tokenizer_wordpiece, bert_formats_agree_on_wikitext) {
    std::string text = dlm::file_read(data_dir + "/wikitext-2/wiki.test.raw");
    std::vector<std::string> lines;
    for (size_t pos = 0; pos < text.size() && lines.size() < 1500;) {
        size_t nl = std::min(text.find('\n', pos), text.size());
        lines.push_back(text.substr(pos, nl - pos));
        pos = nl + 1;
    }
    auto a = bert().encode_batch(lines, true, 2), b = bert_vocab_txt().encode_batch(lines, true, 1);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << "line " << i + 1;
    EXPECT_EQ(bert().vocab_size(), bert_vocab_txt().vocab_size());
    for (int32_t id : {0, 100, 101, 102, 103, 999, 2088, 30521}) {
        EXPECT_EQ(bert().id_to_token(id), bert_vocab_txt().id_to_token(id));
        EXPECT_EQ(bert().is_special(id), bert_vocab_txt().is_special(id));
    }
}

TEST(tokenizer_wordpiece, special_tokens) {
    for (const dlm::Tokenizer* t : {&bert(), &bert_vocab_txt()}) {
        EXPECT_EQ(t->vocab_size(), 30522);
        EXPECT_EQ(t->pad_id(), 0);
        EXPECT_EQ(t->unk_id(), 100);
        EXPECT_EQ(t->bos_id(), 101);  // [CLS]: BERT names no bos; see tokenizer.h
        EXPECT_EQ(t->eos_id(), 102);  // [SEP]
        EXPECT_EQ(t->mask_id(), 103);
        EXPECT_EQ(t->num_special_to_add(), 2);
        for (int32_t id : {0, 100, 101, 102, 103}) EXPECT_TRUE(t->is_special(id)) << id;
        EXPECT_FALSE(t->is_special(1));  // [unused0]
        EXPECT_EQ(t->token_to_id("[MASK]"), 103);
        EXPECT_EQ(t->token_to_id("##ing"), 2075);
        EXPECT_EQ(t->id_to_token(2075), "##ing");
        EXPECT_EQ(t->token_text(2075), "ing");       // glued to the previous token
        EXPECT_EQ(t->token_text(2088), " world");    // after a space
        EXPECT_EQ(t->encode("Hello world", true), (std::vector<int32_t>{101, 7592, 2088, 102}));
        // Written in the text, special tokens are never split; lower case is just text.
        EXPECT_EQ(t->encode("a [MASK] b[SEP]"), (std::vector<int32_t>{1037, 103, 1038, 102}));
        EXPECT_EQ(t->encode("[mask]"), (std::vector<int32_t>{1031, 7308, 1033}));
    }
    const dlm::Tokenizer& m = modernbert();
    EXPECT_EQ(m.vocab_size(), 50368);
    EXPECT_EQ(m.unk_id(), 50280);
    EXPECT_EQ(m.bos_id(), 50281);  // config.json: bos_token_id = cls_token_id
    EXPECT_EQ(m.eos_id(), 50282);
    EXPECT_EQ(m.pad_id(), 50283);
    EXPECT_EQ(m.mask_id(), 50284);
    EXPECT_EQ(m.num_special_to_add(), 2);
    EXPECT_EQ(m.encode("Hello world", true), (std::vector<int32_t>{50281, 12092, 1533, 50282}));
    EXPECT_EQ(m.encode("Hello [MASK]"), (std::vector<int32_t>{12092, 50284}));  // lstrip
    EXPECT_TRUE(m.is_special(50284));
    EXPECT_FALSE(m.is_special(50276));  // "  ", a normalized added token
    EXPECT_EQ(m.encode("a  b"), (std::vector<int32_t>{66, 50276, 67}));
    EXPECT_EQ(m.decode(m.encode("a  b\u00e9", true), true), "a  b\u00e9");
    // NFC: a decomposed é encodes as the composed one.
    EXPECT_EQ(m.encode("caf\u00e9"), m.encode("cafe\u0301"));
}

TEST(tokenizer_wordpiece, decode_follows_the_wordpiece_decoder) {
    const dlm::Tokenizer& t = bert();
    auto ids = [&](const char* text) { return t.encode(text, true); };
    EXPECT_EQ(t.decode(ids("Hello, world!")), "[CLS] hello, world! [SEP]");
    EXPECT_EQ(t.decode(ids("Hello, world!"), true), "hello, world!");
    EXPECT_EQ(t.decode(ids("don't stop")), "[CLS] don ' t stop [SEP]");  // per-token cleanup
    EXPECT_EQ(t.decode(ids("Is it?")), "[CLS] is it? [SEP]");
    EXPECT_EQ(t.decode(std::vector<int32_t>{2075, 2088}), "##ing world");  // first keeps ##
    EXPECT_EQ(t.decode(std::vector<int32_t>{2088, 2075}), "worlding");
    EXPECT_EQ(t.decode(std::vector<int32_t>{}), "");
    EXPECT_EQ(t.decode(std::vector<int32_t>{101, 102}, true), "");
    EXPECT_THROW(t.decode(std::vector<int32_t>{30522}), dlm::Error);

    temp_folder dir("decode");
    auto raw = tiny(dir, tiny_wordpiece_json(tiny_vocab, bert_normalizer(true), json::object(),
                                             /*cleanup=*/false));
    EXPECT_EQ(raw.decode(raw.encode("hello, hellos!")), "hello , hellos !");
}

TEST(tokenizer_wordpiece, wordpiece_is_greedy_longest_match) {
    temp_folder dir("greedy");
    auto t = tiny(dir, tiny_wordpiece_json(tiny_vocab, bert_normalizer(true)));
    EXPECT_EQ(t.encode("unaffable"), (std::vector<int32_t>{9, 10, 11}));
    EXPECT_EQ(t.encode("abc ab abb abcb"), (std::vector<int32_t>{21, 20, 20, 19, 21, 19}));
    EXPECT_EQ(t.encode("abx"), (std::vector<int32_t>{1}));  // "ab" matched, "##x" not: [UNK]
    EXPECT_EQ(t.encode("hellox hello"), (std::vector<int32_t>{1, 5}));  // a miss = [UNK]
    // max_input_chars_per_word counts characters, not bytes.
    auto t3 = tiny(dir, tiny_wordpiece_json(tiny_vocab, bert_normalizer(false),
                                            {{"max_input_chars_per_word", 5}}));
    EXPECT_EQ(t3.encode("Héllo"), (std::vector<int32_t>{7}));
    EXPECT_EQ(t3.encode("Héllos"), (std::vector<int32_t>{1}));
}

TEST(tokenizer_wordpiece, normalizer_options) {
    temp_folder dir("norm");
    auto t = tiny(dir, tiny_wordpiece_json(tiny_vocab, bert_normalizer(true)));
    EXPECT_EQ(t.encode("HÉLLO Héllo"), (std::vector<int32_t>{5, 5}));  // strip follows lowercase
    auto keep = tiny(dir, tiny_wordpiece_json(tiny_vocab, bert_normalizer(true, false)));
    EXPECT_EQ(keep.encode("HÉLLO"), (std::vector<int32_t>{6}));
    auto cased = tiny(dir, tiny_wordpiece_json(tiny_vocab, bert_normalizer(false)));
    EXPECT_EQ(cased.encode("Héllo hello"), (std::vector<int32_t>{7, 5}));

    // The same options from tokenizer_config.json when there is only a vocab.txt.
    temp_folder txt("norm_txt");
    std::string vocab;
    for (const auto& v : tiny_vocab) vocab += v + "\n";
    txt.write("vocab.txt", vocab);
    EXPECT_EQ(dlm::Tokenizer::from_folder(txt.str()).encode("HÉLLO"), (std::vector<int32_t>{5}));
    txt.write("tokenizer_config.json", R"({"do_lower_case": true, "strip_accents": false})");
    EXPECT_EQ(dlm::Tokenizer::from_folder(txt.str()).encode("HÉLLO"), (std::vector<int32_t>{6}));
    txt.write("tokenizer_config.json", R"({"do_lower_case": false})");
    EXPECT_EQ(dlm::Tokenizer::from_folder(txt.str()).encode("Héllo"), (std::vector<int32_t>{7}));
    txt.write("tokenizer_config.json", R"({"tokenize_chinese_chars": false})");
    EXPECT_EQ(dlm::Tokenizer::from_folder(txt.str()).encode("a中"), (std::vector<int32_t>{1}));
    txt.write("tokenizer_config.json", R"({})");
    EXPECT_EQ(dlm::Tokenizer::from_folder(txt.str()).encode("a中"),
              (std::vector<int32_t>{18, 17}));
}

TEST(tokenizer_wordpiece, bert_normalizer_characters) {
    dlm::Normalizer n;
    n.type = dlm::Normalizer::kind::bert;
    EXPECT_EQ(n.apply("Ångström Übermäßig"), "angstrom ubermaßig");
    EXPECT_EQ(n.apply("a\x00" "b\u200b\ufeffc\ufffd\x07" "d\te\nf\u3000g\u2028h"sv),
              "abcd e f g h");
    EXPECT_EQ(n.apply("a\ue000b\u0378c"), "ab\u0378c");  // Co dropped, unassigned kept
    EXPECT_EQ(n.apply("a中b\U0002B820c\U0002B920"), "a 中 b\U0002B820c \U0002B920 ");
    n.strip_accents = false;
    EXPECT_EQ(n.apply("\u0130stanbul"), "i\u0307stanbul");  // the two-char SpecialCasing
    EXPECT_EQ(n.apply("ΟΔΟΣ"), "οδοσ");  // Rust to_lowercase: no final sigma
    EXPECT_EQ(n.apply("cafe\u0301"), "cafe\u0301");
    n.lowercase = false;
    n.strip_accents = true;
    EXPECT_EQ(n.apply("Ça"), "Ca");
    dlm::Normalizer nfc;
    nfc.type = dlm::Normalizer::kind::nfc;
    EXPECT_EQ(nfc.apply("cafe\u0301 \u212b"), "caf\u00e9 \u00c5");
    EXPECT_EQ(nfc.apply(""), "");
}

TEST(tokenizer_wordpiece, bert_pretokenizer_splits) {
    std::vector<std::string_view> w;
    dlm::bert_words_split("  don't,stop\u00a0¿qué?  a_b $5 «x»", w);
    std::vector<std::string> got(w.begin(), w.end());
    EXPECT_EQ(got, (std::vector<std::string>{"don", "'", "t", ",", "stop", "¿", "qué", "?", "a",
                                             "_", "b", "$", "5", "«", "x", "»"}));
    w.clear();
    dlm::bert_words_split(" \t\n", w);
    EXPECT_TRUE(w.empty());
}

TEST(tokenizer_wordpiece, model_type_is_inferred) {
    temp_folder dir("infer");
    json j = tiny_wordpiece_json(tiny_vocab, nullptr);
    EXPECT_EQ(tiny(dir, j).encode("hello"), (std::vector<int32_t>{5}));  // prefix key
    j["model"].erase("continuing_subword_prefix");
    j["model"].erase("max_input_chars_per_word");
    j["normalizer"] = bert_normalizer(true);
    EXPECT_EQ(tiny(dir, j).encode("Hellos"), (std::vector<int32_t>{5, 8}));  // BertNormalizer
    j["normalizer"] = nullptr;
    dir.write("tokenizer.json", j.dump());
    expect_load_error(dir.str(), {"tokenizer.json", "no \"type\""});
}

TEST(tokenizer_wordpiece, bad_files_name_the_file) {
    temp_folder dir("bad");
    const std::string vocab = (dir.path / "vocab.txt").string();
    dir.write("vocab.txt", "");
    expect_load_error(dir.str(), {vocab, "empty"});
    dir.write("vocab.txt", "[UNK]\nhello\n\nworld\n");
    expect_load_error(dir.str(), {vocab, "line 3", "empty"});
    dir.write("vocab.txt", "[UNK]\nhello\nworld\nhello\n");
    expect_load_error(dir.str(), {vocab, "line 4", "'hello'", "line 2"});
    dir.write("vocab.txt", "[UNK]\nhel\xfflo\n");
    expect_load_error(dir.str(), {vocab, "line 2", "UTF-8"});
    dir.write("vocab.txt", "hello\nworld\n");
    expect_load_error(dir.str(), {vocab, "[UNK]"});

    const std::string tj = (dir.path / "tokenizer.json").string();
    json j = tiny_wordpiece_json(tiny_vocab, bert_normalizer(true));
    j["model"]["unk_token"] = "<unk>";
    dir.write("tokenizer.json", j.dump());
    expect_load_error(dir.str(), {tj, "<unk>"});
    j = tiny_wordpiece_json(tiny_vocab, {{"type", "Lowercase"}});
    dir.write("tokenizer.json", j.dump());
    expect_load_error(dir.str(), {tj, "Lowercase"});
    j = tiny_wordpiece_json(tiny_vocab, nullptr);
    j["pre_tokenizer"] = {{"type", "ByteLevel"}};
    dir.write("tokenizer.json", j.dump());
    expect_load_error(dir.str(), {tj, "ByteLevel", "WordPiece"});
    j = tiny_wordpiece_json(tiny_vocab, nullptr);
    j["decoder"] = nullptr;
    dir.write("tokenizer.json", j.dump());
    expect_load_error(dir.str(), {tj, "decoder"});
    j = tiny_wordpiece_json(tiny_vocab, nullptr);
    j["model"]["max_input_chars_per_word"] = "many";
    dir.write("tokenizer.json", j.dump());
    expect_load_error(dir.str(), {tj, "max_input_chars_per_word"});
    j["model"].erase("vocab");
    dir.write("tokenizer.json", j.dump());
    expect_load_error(dir.str(), {tj, "vocab"});
}

TEST(tokenizer_wordpiece, files_copy_includes_vocab_txt) {
    temp_folder dir("copy");
    dlm::tokenizer_files_copy(bert_dir, dir.str());
    EXPECT_TRUE(fs::exists(dir.path / "vocab.txt"));
    EXPECT_TRUE(fs::exists(dir.path / "tokenizer.json"));
    fs::remove(dir.path / "tokenizer.json");
    auto t = dlm::Tokenizer::from_folder(dir.str());  // the vocab.txt path
    EXPECT_EQ(t.encode("Hello world", true), (std::vector<int32_t>{101, 7592, 2088, 102}));
}
