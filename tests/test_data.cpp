// Training data: corpus formats, the recipe's blocks on WikiText-2 test, truncation,
// document mode, GPT-2 end-of-text ids, the token cache, thread independence, the
// epoch shuffle, and bad input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "core/error.h"
#include "core/file.h"
#include "data/corpus.h"
#include "data/dataset.h"
#include "data/hash.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;

namespace {

const std::string data_dir = DLM_TEST_DATA;
const std::string corpus_dir = data_dir + "/corpus";
const std::string wiki_test_raw = data_dir + "/wikitext-2/wiki.test.raw";

const dlm::Tokenizer& roberta() {
    static const auto t = dlm::Tokenizer::from_folder(data_dir + "/tokenizers/roberta-base");
    return t;
}
const dlm::Tokenizer& gpt2() {
    static const auto t = dlm::Tokenizer::from_folder(data_dir + "/tokenizers/gpt2");
    return t;
}

// A fresh folder under the temp dir, removed when the test ends.
struct temp_folder {
    fs::path path;
    explicit temp_folder(const std::string& name)
        : path(fs::temp_directory_path() / ("dlm_test_data_" + name + "_" + std::to_string(::getpid()))) {
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~temp_folder() { fs::remove_all(path); }
    std::string file(const std::string& name, const std::string& content) const {
        fs::path p = path / name;
        fs::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary) << content;
        return p.string();
    }
};

// The message of the dlm::Error that fn throws ("" if it does not throw).
template <typename Fn>
std::string error_of(Fn&& fn) {
    try {
        fn();
    } catch (const dlm::Error& e) {
        return e.what();
    }
    return "";
}

dlm::Corpus parse_file(const std::string& path, dlm::CorpusOptions opt = {}) {
    return dlm::corpus_read({path}, opt);
}

// Options for tests: no cache unless a test asks, so nothing lands in ~/.cache.
dlm::DatasetOptions test_options() {
    dlm::DatasetOptions opt;
    opt.use_cache = false;
    opt.threads = 2;
    return opt;
}

// What HF's tokenizer(text, truncation=True, max_length=max) gives, from plain encode():
// the wrapping is kept and the text's ids are cut.
std::vector<int32_t> encode_truncated(const dlm::Tokenizer& tok, const std::string& text, size_t max) {
    auto ids = tok.encode(text, true);
    if (ids.size() <= max) return ids;
    auto body = tok.encode(text, false);
    size_t special = size_t(tok.num_special_to_add());
    std::vector<int32_t> out;
    if (special == 2) out.push_back(tok.bos_id());
    out.insert(out.end(), body.begin(), body.begin() + int64_t(max - special));
    if (special == 2) out.push_back(tok.eos_id());
    return out;
}

}  // namespace

// ---- corpus formats ----------------------------------------------------------------

TEST(data, wikitext_lines) {
    auto c = parse_file(corpus_dir + "/wiki.sample.raw");
    // The file's non-blank lines, each with its "\n" (HF datasets rows of WikiText).
    ASSERT_EQ(c.units.size(), 7u);
    EXPECT_EQ(c.units[0], " = Harrow Creek Viaduct = \n");
    EXPECT_EQ(c.units[2], " = = History = = \n");
    EXPECT_EQ(c.units.back().substr(0, 14), " Each arch has");
    EXPECT_EQ(c.units.back().back(), '\n');
    EXPECT_EQ(c.documents, 7);  // a WikiText document is one line
    for (size_t i = 0; i < c.units.size(); ++i) EXPECT_EQ(c.unit_doc[i], int64_t(i));
}

TEST(data, wikitext_test_raw_has_2891_units) {
    auto c = parse_file(wiki_test_raw);
    EXPECT_EQ(c.units.size(), 2891u);  // 4358 lines, 1467 of them " \n"
    EXPECT_EQ(c.units[0], " = Robert Boulter = \n");
}

TEST(data, text_lines) {
    auto c = parse_file(corpus_dir + "/plain.txt");
    std::vector<std::string> expected = {
        "Plain text: one unit per line, blank lines dropped.\n",
        "The second line follows an empty one.\n",
        "A line with Windows line ends.\n",  // CRLF read as LF
        "  Leading spaces are kept, and so is the newline.\n",
        "The last line has no newline.",
    };  // "   ", "\t" and a no-break space alone are blank, as for Python's strip()
    EXPECT_EQ(c.units, expected);
    EXPECT_EQ(c.documents, 5);
}

TEST(data, blank_is_python_strip) {
    for (std::string s : {"", " \n", "\t\r\n\v\f", "\xc2\xa0", "\xe3\x80\x80\n", "\xe2\x80\xa8", "\x1c"})
        EXPECT_TRUE(dlm::text_is_blank(s)) << s;
    // U+200B ZERO WIDTH SPACE is not whitespace for Python; invalid UTF-8 is text.
    for (std::string s : {"a", " x \n", "\xe2\x80\x8b", "\xff", "\xc2"})
        EXPECT_FALSE(dlm::text_is_blank(s)) << s;
}

TEST(data, wikiextractor_documents) {
    auto c = parse_file(corpus_dir + "/wikiextractor/wiki_00");
    ASSERT_EQ(c.documents, 2);
    EXPECT_EQ(c.units[0], "Anarchism\n");  // the title line is a unit
    EXPECT_EQ(c.units[1].substr(0, 36), "Anarchism is a political philosophy ");
    auto second = std::find(c.unit_doc.begin(), c.unit_doc.end(), 1) - c.unit_doc.begin();
    EXPECT_EQ(c.units[size_t(second)], "A\n");
    EXPECT_TRUE(std::is_sorted(c.unit_doc.begin(), c.unit_doc.end()));
    // 39 non-blank lines of Anarchism after its <doc> line, 6 of "A".
    EXPECT_EQ(second, 38);
    EXPECT_EQ(c.units.size(), 38u + 5u);
    for (const auto& u : c.units) {
        EXPECT_FALSE(u.starts_with("<doc") || u.starts_with("</doc")) << u;
        EXPECT_FALSE(dlm::text_is_blank(u));
    }
}

TEST(data, wikiextractor_directory_numbers_documents_across_files) {
    auto c = dlm::corpus_read({corpus_dir + "/wikiextractor"}, {});
    EXPECT_EQ(c.documents, 3);
    auto third = std::find(c.unit_doc.begin(), c.unit_doc.end(), 2) - c.unit_doc.begin();
    EXPECT_EQ(c.units[size_t(third)], "Albedo\n");
    auto first_file = parse_file(corpus_dir + "/wikiextractor/wiki_00");
    EXPECT_EQ(third, int64_t(first_file.units.size()));
}

TEST(data, jsonl_records) {
    auto c = parse_file(corpus_dir + "/records.jsonl");
    std::vector<std::string> expected = {
        "A record with a single line of text.",
        "Two paragraphs.\n\nThe second one follows a blank line.\n",
        "Unicode survives: café, naïve, Zürich, 東京, and an emoji 🙂.",
        "Quotes \"inside\", a tab\there, and a backslash \\ too.",
    };  // the blank record is dropped, as by the recipe's filter
    EXPECT_EQ(c.units, expected);
    EXPECT_EQ(c.documents, 4);

    dlm::CorpusOptions opt;
    opt.jsonl_field = "title";
    auto titles = parse_file(corpus_dir + "/records.jsonl", opt);
    ASSERT_EQ(titles.units.size(), 5u);
    EXPECT_EQ(titles.units[3], "Blank");
}

TEST(data, format_detection) {
    using F = dlm::CorpusFormat;
    auto detect = [](const std::string& path, std::string_view content) {
        return dlm::corpus_detect_format(F::AUTO, path, content);
    };
    EXPECT_EQ(detect("a/b/train.jsonl", "<doc id=\"1\">\n"), F::JSONL);
    EXPECT_EQ(detect("wiki_00", "\n\n<doc id=\"12\" title=\"x\">\nx\n</doc>\n"), F::WIKIEXTRACTOR);
    EXPECT_EQ(detect("wiki.train.raw", " \n = Title = \n"), F::WIKITEXT);
    EXPECT_EQ(detect("data/wiki.valid.tokens", " = Title = \n"), F::WIKITEXT);
    EXPECT_EQ(detect("wiki.raw.txt", "hello\n"), F::TEXT);
    EXPECT_EQ(detect("notes.txt", "hello <doc \n"), F::TEXT);
    EXPECT_EQ(dlm::corpus_detect_format(F::TEXT, "x.jsonl", "{}"), F::TEXT);  // explicit wins
    EXPECT_EQ(dlm::corpus_format_parse("wikiextractor"), F::WIKIEXTRACTOR);
    EXPECT_NE(error_of([] { dlm::corpus_format_parse("csv"); }).find("csv"), std::string::npos);
    EXPECT_EQ(dlm::block_mode_parse("document"), dlm::BlockMode::DOCUMENT);
    EXPECT_THROW(dlm::block_mode_parse("lines"), dlm::Error);
}

TEST(data, directory_listing_sorted_recursive_without_hidden) {
    temp_folder dir("listing");
    dir.file("b.txt", "bee\n");
    dir.file("a/c.txt", "sea\n");
    dir.file("a/.hidden.txt", "hidden\n");
    dir.file(".git/objects", "git\n");
    auto files = dlm::corpus_list_files({dir.path.string()});
    std::vector<std::string> expected = {(dir.path / "a/c.txt").string(), (dir.path / "b.txt").string()};
    EXPECT_EQ(files, expected);
    auto c = dlm::corpus_read({dir.path.string()}, {});
    EXPECT_EQ(c.units, (std::vector<std::string>{"sea\n", "bee\n"}));
}

// ---- errors ------------------------------------------------------------------------

TEST(data, error_missing_file_and_empty_directory) {
    auto msg = error_of([] { dlm::corpus_read({"/nonexistent/dlm/train.txt"}, {}); });
    EXPECT_NE(msg.find("/nonexistent/dlm/train.txt"), std::string::npos) << msg;

    temp_folder dir("empty_dir");
    dir.file(".hidden", "text\n");  // hidden files do not count
    msg = error_of([&] { dlm::corpus_read({dir.path.string()}, {}); });
    EXPECT_NE(msg.find(dir.path.string() + ": directory contains no files"), std::string::npos) << msg;

    msg = error_of([&] { dlm::dataset_build({dir.path.string() + "/nope"}, roberta(), test_options()); });
    EXPECT_NE(msg.find("/nope"), std::string::npos) << msg;
}

TEST(data, error_empty_file) {
    temp_folder dir("empty_file");
    for (std::string content : {"", " \n\n \t\n"}) {
        auto path = dir.file("empty.txt", content);
        auto msg = error_of([&] { dlm::corpus_read({path}, {}); });
        EXPECT_EQ(msg, path + ": contains no text");
    }
    auto path = dir.file("empty.jsonl", "{\"text\": \" \"}\n");
    EXPECT_EQ(error_of([&] { dlm::corpus_read({path}, {}); }), path + ": contains no text");
    path = dir.file("empty_docs", "<doc id=\"1\">\n\n</doc>\n");
    EXPECT_EQ(error_of([&] { dlm::corpus_read({path}, {}); }), path + ": contains no text");
}

TEST(data, error_unreadable_file) {
    auto msg = error_of([] { dlm::corpus_read({"/dev/null"}, {}); });
    EXPECT_EQ(msg, "/dev/null: not a regular file or directory");
    if (::geteuid() == 0) GTEST_SKIP() << "root can read any file";
    temp_folder dir("unreadable");
    auto path = dir.file("secret.txt", "text\n");
    fs::permissions(path, fs::perms::none);
    msg = error_of([&] { dlm::corpus_read({path}, {}); });
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
}

TEST(data, error_invalid_jsonl_names_line) {
    temp_folder dir("jsonl");
    auto path = dir.file("bad.jsonl", "{\"text\": \"ok\"}\n\n{\"text\": \"unterminated}\n");
    auto msg = error_of([&] { dlm::corpus_read({path}, {}); });
    EXPECT_TRUE(msg.starts_with(path + ":3: invalid JSON")) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;

    path = dir.file("nofield.jsonl", "{\"text\": \"ok\"}\n{\"body\": \"no text field\"}\n");
    msg = error_of([&] { dlm::corpus_read({path}, {}); });
    EXPECT_EQ(msg, path + ":2: record has no field \"text\"");

    path = dir.file("array.jsonl", "[\"text\"]\n");
    EXPECT_EQ(error_of([&] { dlm::corpus_read({path}, {}); }), path + ":1: expected a JSON object");

    path = dir.file("number.jsonl", "{\"text\": 12}\n");
    EXPECT_EQ(error_of([&] { dlm::corpus_read({path}, {}); }), path + ":1: field \"text\" is not a string");
}

TEST(data, error_wikiextractor_structure) {
    temp_folder dir("wikiextractor");
    auto path = dir.file("outside", "<doc id=\"1\">\nTitle\n</doc>\nstray text\n");
    EXPECT_EQ(error_of([&] { dlm::corpus_read({path}, {}); }), path + ":4: text outside <doc> ... </doc>");

    // Unterminated: the error names the line of the <doc> that is never closed.
    path = dir.file("open", "<doc id=\"1\">\nTitle\n</doc>\n<doc id=\"2\">\nSecond\nmore\n");
    EXPECT_EQ(error_of([&] { dlm::corpus_read({path}, {}); }), path + ":4: <doc> is never closed by </doc>");

    path = dir.file("nested", "<doc id=\"1\">\nTitle\n<doc id=\"2\">\n</doc>\n");
    auto msg = error_of([&] { dlm::corpus_read({path}, {}); });
    EXPECT_TRUE(msg.starts_with(path + ":3: <doc> inside the document opened at line 1")) << msg;

    dlm::CorpusOptions opt;
    opt.format = dlm::CorpusFormat::WIKIEXTRACTOR;
    path = dir.file("close", "</doc>\n");
    EXPECT_EQ(error_of([&] { dlm::corpus_read({path}, opt); }), path + ":1: </doc> without a <doc> before it");
}

TEST(data, error_bad_options) {
    dlm::Corpus c;
    c.units = {"text\n"};
    c.unit_doc = {0};
    c.documents = 1;
    auto opt = test_options();
    opt.block_size = 0;
    EXPECT_NE(error_of([&] { dlm::dataset_from_corpus(c, roberta(), opt); }).find("block_size"), std::string::npos);
    opt = test_options();
    opt.unit_max_tokens = 2;  // <s> and </s> leave no room
    EXPECT_NE(error_of([&] { dlm::dataset_from_corpus(c, roberta(), opt); }).find("unit_max_tokens"),
              std::string::npos);
}

// ---- blocks ------------------------------------------------------------------------

// The recipe on WikiText-2 test: each non-blank line tokenized with <s> ... </s>,
// truncated to 256, everything concatenated and cut into blocks of 256.
TEST(data, wikitext_test_raw_recipe_blocks) {
    const auto& tok = roberta();
    std::string text = dlm::file_read(wiki_test_raw);
    std::vector<std::string> lines;
    for (size_t pos = 0; pos < text.size();) {
        size_t end = std::min(text.find('\n', pos), text.size() - 1) + 1;
        std::string line = text.substr(pos, end - pos);
        if (line.find_first_not_of(" \n") != std::string::npos) lines.push_back(line);
        pos = end;
    }
    ASSERT_EQ(lines.size(), 2891u);
    std::vector<int32_t> stream;
    int64_t truncated = 0;
    for (const auto& line : lines) {
        auto ids = encode_truncated(tok, line, 256);
        truncated += int64_t(tok.encode(line, true).size() - ids.size());
        stream.insert(stream.end(), ids.begin(), ids.end());
    }

    auto ds = dlm::dataset_build({wiki_test_raw}, tok, test_options());
    EXPECT_EQ(ds.stats.units, 2891);
    EXPECT_EQ(ds.stats.documents, 2891);
    EXPECT_EQ(ds.stats.tokens, int64_t(stream.size()));
    EXPECT_EQ(ds.stats.tokens_truncated, truncated);
    EXPECT_GT(truncated, 0);  // some paragraphs are longer than 256 tokens
    ASSERT_EQ(ds.block_size, 256);
    ASSERT_EQ(ds.blocks, int64_t(stream.size()) / 256);
    EXPECT_EQ(ds.stats.tokens_dropped, int64_t(stream.size()) % 256);
    ASSERT_EQ(ds.ids.size(), size_t(ds.blocks * 256));
    EXPECT_TRUE(std::equal(ds.ids.begin(), ds.ids.end(), stream.begin()));
    EXPECT_EQ(ds.real, std::vector<int32_t>(size_t(ds.blocks), 256));

    auto first = tok.encode(" = Robert Boulter = \n", true);
    auto b0 = ds.block(0);
    EXPECT_EQ(b0[0], 0);  // <s>
    EXPECT_TRUE(std::equal(first.begin(), first.end(), b0.begin()));
    EXPECT_EQ(ds.block(ds.blocks - 1).back(), stream[size_t(ds.blocks * 256 - 1)]);
}

TEST(data, truncation_keeps_end_token) {
    std::string long_text;
    for (int i = 0; i < 200; ++i) long_text += " word" + std::to_string(i);
    dlm::Corpus c;
    c.units = {long_text, "short\n"};
    c.unit_doc = {0, 1};
    c.documents = 2;
    auto opt = test_options();
    opt.mode = dlm::BlockMode::DOCUMENT;
    opt.block_size = 1024;

    const auto& tok = roberta();
    auto body = tok.encode(long_text, false);
    ASSERT_GT(body.size(), 300u);
    auto ds = dlm::dataset_from_corpus(c, tok, opt);
    ASSERT_EQ(ds.blocks, 2);
    ASSERT_EQ(ds.real[0], 256);  // exactly unit_max_tokens, specials included
    auto b = ds.block(0);
    EXPECT_EQ(b[0], tok.bos_id());
    EXPECT_TRUE(std::equal(body.begin(), body.begin() + 254, b.begin() + 1));
    EXPECT_EQ(b[255], tok.eos_id());  // </s> survives truncation
    EXPECT_EQ(b[256], tok.pad_id());
    EXPECT_EQ(ds.stats.tokens_truncated, int64_t(body.size()) + 2 - 256);

    // GPT-2: the first 256 ids, then <|endoftext|> after the document.
    auto gbody = gpt2().encode(long_text, false);
    auto g = dlm::dataset_from_corpus(c, gpt2(), opt);
    ASSERT_EQ(g.real[0], 257);
    EXPECT_TRUE(std::equal(gbody.begin(), gbody.begin() + 256, g.block(0).begin()));
    EXPECT_EQ(g.block(0)[256], gpt2().eos_id());

    opt.unit_max_tokens = 0;  // no limit
    auto full = dlm::dataset_from_corpus(c, tok, opt);
    EXPECT_EQ(full.real[0], int32_t(body.size()) + 2);
    EXPECT_EQ(full.stats.tokens_truncated, 0);
}

TEST(data, document_mode_pads_last_block) {
    const auto& tok = roberta();
    auto c = dlm::corpus_read({corpus_dir + "/wikiextractor"}, {});
    auto opt = test_options();
    opt.mode = dlm::BlockMode::DOCUMENT;
    opt.block_size = 64;
    auto ds = dlm::dataset_build({corpus_dir + "/wikiextractor"}, tok, opt);

    // Expected: each document's units (wrapped, truncated) concatenated, cut into
    // blocks of 64, the last one padded with <pad>.
    std::vector<std::vector<int32_t>> docs(size_t(c.documents));
    for (size_t i = 0; i < c.units.size(); ++i) {
        auto ids = encode_truncated(tok, c.units[i], 256);
        auto& d = docs[size_t(c.unit_doc[i])];
        d.insert(d.end(), ids.begin(), ids.end());
    }
    std::vector<int32_t> ids, real;
    int64_t padded = 0;
    for (const auto& d : docs) {
        for (size_t b = 0; b < d.size(); b += 64) {
            size_t n = std::min<size_t>(64, d.size() - b);
            ids.insert(ids.end(), d.begin() + int64_t(b), d.begin() + int64_t(b + n));
            ids.insert(ids.end(), 64 - n, tok.pad_id());
            real.push_back(int32_t(n));
            padded += int64_t(64 - n);
        }
    }
    EXPECT_EQ(ds.stats.documents, 3);
    EXPECT_EQ(ds.blocks, int64_t(real.size()));
    EXPECT_EQ(ds.real, real);
    EXPECT_EQ(ds.ids, ids);
    EXPECT_EQ(ds.stats.tokens_padded, padded);
    EXPECT_EQ(ds.stats.tokens_dropped, 0);
    // Every document ends in a padded block here, and padding starts at `real`.
    for (int64_t b = 0; b < ds.blocks; ++b) {
        auto blk = ds.block(b);
        for (int32_t i = ds.real[size_t(b)]; i < 64; ++i) EXPECT_EQ(blk[size_t(i)], tok.pad_id());
    }
}

TEST(data, gpt2_eos_between_documents) {
    const auto& tok = gpt2();
    ASSERT_EQ(tok.pad_id(), -1);
    auto c = dlm::corpus_read({corpus_dir + "/wikiextractor"}, {});
    std::vector<int32_t> stream;
    for (size_t i = 0; i < c.units.size(); ++i) {
        auto ids = encode_truncated(tok, c.units[i], 256);
        stream.insert(stream.end(), ids.begin(), ids.end());
        if (i + 1 == c.units.size() || c.unit_doc[i + 1] != c.unit_doc[i]) stream.push_back(tok.eos_id());
    }
    auto opt = test_options();
    opt.block_size = 128;
    auto ds = dlm::dataset_build({corpus_dir + "/wikiextractor"}, tok, opt);
    EXPECT_EQ(ds.stats.tokens, int64_t(stream.size()));
    ASSERT_EQ(ds.blocks, int64_t(stream.size()) / 128);
    EXPECT_TRUE(std::equal(ds.ids.begin(), ds.ids.end(), stream.begin()));
    EXPECT_EQ(std::count(ds.ids.begin(), ds.ids.end(), tok.eos_id()),
              std::count(stream.begin(), stream.begin() + ds.blocks * 128, tok.eos_id()));

    opt.eos_between_documents = false;
    auto no_eos = dlm::dataset_build({corpus_dir + "/wikiextractor"}, tok, opt);
    EXPECT_EQ(no_eos.stats.tokens, int64_t(stream.size()) - 3);

    // Document mode pads with <|endoftext|>: GPT-2 has no pad token.
    opt.eos_between_documents.reset();
    opt.mode = dlm::BlockMode::DOCUMENT;
    auto doc = dlm::dataset_build({corpus_dir + "/wikiextractor"}, tok, opt);
    auto last = doc.block(doc.blocks - 1);
    EXPECT_EQ(last[size_t(doc.real.back()) - 1], tok.eos_id());
    EXPECT_TRUE(std::all_of(last.begin() + doc.real.back(), last.end(), [&](int32_t id) { return id == tok.eos_id(); }));
}

TEST(data, wrap_documents_puts_specials_around_documents) {
    // RoBERTa: <s> unit unit ... </s> per document instead of <s> unit </s> per unit.
    const auto& tok = roberta();
    auto c = dlm::corpus_read({corpus_dir + "/wikiextractor"}, {});
    std::vector<int32_t> stream;
    for (size_t i = 0; i < c.units.size(); ++i) {
        if (i == 0 || c.unit_doc[i - 1] != c.unit_doc[i]) stream.push_back(tok.bos_id());
        auto ids = tok.encode(c.units[i], false);
        stream.insert(stream.end(), ids.begin(), ids.end());
        if (i + 1 == c.units.size() || c.unit_doc[i + 1] != c.unit_doc[i]) stream.push_back(tok.eos_id());
    }
    auto opt = test_options();
    opt.block_size = 64;
    opt.unit_max_tokens = 0;
    opt.wrap_documents = true;
    auto ds = dlm::dataset_build({corpus_dir + "/wikiextractor"}, tok, opt);
    EXPECT_EQ(ds.stats.tokens, int64_t(stream.size()));
    ASSERT_EQ(ds.blocks, int64_t(stream.size()) / 64);
    EXPECT_TRUE(std::equal(ds.ids.begin(), ds.ids.end(), stream.begin()));
    EXPECT_EQ(std::count(stream.begin(), stream.end(), tok.bos_id()), c.documents);
    // GPT-2 has no wrapping: documents end with <|endoftext|>, the same as unit mode.
    auto unit_mode = test_options();
    unit_mode.unit_max_tokens = 0;
    auto doc_mode = unit_mode;
    doc_mode.wrap_documents = true;
    EXPECT_EQ(dlm::dataset_build({corpus_dir + "/wikiextractor"}, gpt2(), unit_mode).ids,
              dlm::dataset_build({corpus_dir + "/wikiextractor"}, gpt2(), doc_mode).ids);
}

TEST(data, thread_count_does_not_change_blocks) {
    auto opt = test_options();
    opt.threads = 1;
    auto one = dlm::dataset_build({wiki_test_raw}, roberta(), opt);
    opt.threads = 2;
    auto two = dlm::dataset_build({wiki_test_raw}, roberta(), opt);
    EXPECT_EQ(one.ids, two.ids);
    EXPECT_EQ(one.real, two.real);
    EXPECT_EQ(one.stats.tokens_truncated, two.stats.tokens_truncated);
}

// ---- the cache ---------------------------------------------------------------------

namespace {

void expect_same_blocks(const dlm::Dataset& a, const dlm::Dataset& b) {
    EXPECT_EQ(a.blocks, b.blocks);
    EXPECT_EQ(a.ids, b.ids);
    EXPECT_EQ(a.real, b.real);
    EXPECT_EQ(a.stats.units, b.stats.units);
    EXPECT_EQ(a.stats.documents, b.stats.documents);
    EXPECT_EQ(a.stats.tokens, b.stats.tokens);
    EXPECT_EQ(a.stats.tokens_truncated, b.stats.tokens_truncated);
    EXPECT_EQ(a.stats.tokens_dropped, b.stats.tokens_dropped);
}

std::vector<fs::path> cache_files(const fs::path& cache) {
    std::vector<fs::path> out;
    for (auto& e : fs::directory_iterator(cache / "datasets"))
        if (e.path().extension() == ".tokens") out.push_back(e.path());
    return out;
}

}  // namespace

TEST(data, cache_second_build_reads_cache) {
    temp_folder dir("cache");
    fs::copy(corpus_dir + "/wikiextractor", dir.path / "corpus");
    auto opt = test_options();
    opt.use_cache = true;
    opt.cache_dir = (dir.path / "cache").string();
    opt.block_size = 64;
    const std::vector<std::string> paths = {(dir.path / "corpus").string()};

    auto first = dlm::dataset_build(paths, roberta(), opt);
    EXPECT_FALSE(first.stats.from_cache);
    EXPECT_EQ(first.stats.files_from_cache, 0);
    EXPECT_EQ(cache_files(dir.path / "cache").size(), 2u);  // one per input file

    auto second = dlm::dataset_build(paths, roberta(), opt);
    EXPECT_TRUE(second.stats.from_cache);
    EXPECT_EQ(second.stats.files_from_cache, 2);
    expect_same_blocks(first, second);

    // Blocking is not part of the key: other block sizes and modes still hit.
    opt.mode = dlm::BlockMode::DOCUMENT;
    EXPECT_TRUE(dlm::dataset_build(paths, roberta(), opt).stats.from_cache);
    opt.mode = dlm::BlockMode::CONCAT;

    // Options that change tokens miss.
    opt.unit_max_tokens = 128;
    auto shorter = dlm::dataset_build(paths, roberta(), opt);
    EXPECT_FALSE(shorter.stats.from_cache);
    EXPECT_GT(shorter.stats.tokens_truncated, first.stats.tokens_truncated);
    opt.unit_max_tokens = 256;
    EXPECT_FALSE(dlm::dataset_build(paths, gpt2(), opt).stats.from_cache);

    // Changing a file invalidates its entry only.
    std::ofstream(dir.path / "corpus" / "wiki_01", std::ios::app) << "<doc id=\"9\">\nAdded\n</doc>\n";
    auto changed = dlm::dataset_build(paths, roberta(), opt);
    EXPECT_FALSE(changed.stats.from_cache);
    EXPECT_EQ(changed.stats.files_from_cache, 1);
    EXPECT_EQ(changed.stats.documents, first.stats.documents + 1);
    EXPECT_TRUE(dlm::dataset_build(paths, roberta(), opt).stats.from_cache);
}

TEST(data, cache_damaged_file_is_rebuilt) {
    temp_folder dir("cache_damaged");
    auto path = dir.file("wiki.sample.raw", dlm::file_read(corpus_dir + "/wiki.sample.raw"));
    auto opt = test_options();
    opt.use_cache = true;
    opt.cache_dir = (dir.path / "cache").string();
    opt.block_size = 16;
    auto fresh = dlm::dataset_build({path}, roberta(), opt);
    auto files = cache_files(dir.path / "cache");
    ASSERT_EQ(files.size(), 1u);
    const std::string good = dlm::file_read(files[0].string());

    std::string flipped = good;
    flipped[good.size() - 3] ^= 0x40;  // a token id
    std::string bad_magic = good;
    bad_magic[0] = 'X';
    for (const auto& damaged : {flipped, good.substr(0, good.size() - 4), good.substr(0, 10), bad_magic,
                                std::string()}) {
        dlm::file_write_atomic(files[0].string(), damaged);
        testing::internal::CaptureStderr();
        auto rebuilt = dlm::dataset_build({path}, roberta(), opt);
        std::string err = testing::internal::GetCapturedStderr();
        EXPECT_FALSE(rebuilt.stats.from_cache);
        EXPECT_NE(err.find(files[0].string()), std::string::npos) << err;
        EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
        expect_same_blocks(fresh, rebuilt);
        EXPECT_EQ(dlm::file_read(files[0].string()), good);  // rewritten
        EXPECT_TRUE(dlm::dataset_build({path}, roberta(), opt).stats.from_cache);
    }
}

TEST(data, cache_dir_from_environment) {
    auto saved = [](const char* name) -> std::optional<std::string> {
        const char* v = std::getenv(name);
        return v ? std::optional<std::string>(v) : std::nullopt;
    };
    auto restore = [](const char* name, const std::optional<std::string>& v) {
        if (v) ::setenv(name, v->c_str(), 1);
        else ::unsetenv(name);
    };
    auto dlm_dir = saved("DLM_CACHE_DIR"), xdg = saved("XDG_CACHE_HOME"), home = saved("HOME");
    ::setenv("DLM_CACHE_DIR", "/tmp/dlm-a", 1);
    ::setenv("XDG_CACHE_HOME", "/tmp/xdg", 1);
    ::setenv("HOME", "/tmp/home", 1);
    EXPECT_EQ(dlm::dataset_cache_dir_default(), "/tmp/dlm-a");
    ::unsetenv("DLM_CACHE_DIR");
    EXPECT_EQ(dlm::dataset_cache_dir_default(), "/tmp/xdg/dlm");
    ::unsetenv("XDG_CACHE_HOME");
    EXPECT_EQ(dlm::dataset_cache_dir_default(), "/tmp/home/.cache/dlm");
    restore("DLM_CACHE_DIR", dlm_dir);
    restore("XDG_CACHE_HOME", xdg);
    restore("HOME", home);
}

TEST(data, tokenizer_fingerprint_tells_tokenizers_apart) {
    auto r = dlm::tokenizer_fingerprint(roberta());
    EXPECT_EQ(r, dlm::tokenizer_fingerprint(roberta()));
    EXPECT_EQ(r, dlm::tokenizer_fingerprint(dlm::Tokenizer(roberta())));  // a copy
    EXPECT_NE(r, dlm::tokenizer_fingerprint(gpt2()));
}

// ---- shuffling and hashing ---------------------------------------------------------

TEST(data, epoch_order_is_deterministic_permutation) {
    auto a = dlm::epoch_order(1000, 42, 3);
    auto sorted = a;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[size_t(i)], i);
    EXPECT_EQ(a, dlm::epoch_order(1000, 42, 3));
    EXPECT_NE(a, dlm::epoch_order(1000, 42, 4));
    EXPECT_NE(a, dlm::epoch_order(1000, 43, 3));
    EXPECT_TRUE(dlm::epoch_order(0, 1, 0).empty());
    EXPECT_EQ(dlm::epoch_order(1, 1, 0), std::vector<int64_t>{0});
    EXPECT_THROW(dlm::epoch_order(-1, 1, 0), dlm::Error);

    // Pinned: the order must not change with the compiler or standard library,
    // or resumed runs would see other batches.
    EXPECT_EQ(dlm::epoch_order(8, 1234, 0), (std::vector<int64_t>{4, 5, 3, 0, 7, 6, 1, 2}));

    // Fisher-Yates is uniform: over 2400 epochs every order of 4 shows up ~100 times.
    std::map<std::vector<int64_t>, int> seen;
    for (int64_t e = 0; e < 2400; ++e) ++seen[dlm::epoch_order(4, 7, e)];
    EXPECT_EQ(seen.size(), 24u);
    for (const auto& [order, n] : seen) {
        EXPECT_GT(n, 50);
        EXPECT_LT(n, 150);
    }
}

TEST(data, hash_bytes_is_stable_and_sensitive) {
    std::string s(1000, '\0');
    for (size_t i = 0; i < s.size(); ++i) s[i] = char(i * 7 + 3);
    const uint64_t h = dlm::hash_bytes(s);
    EXPECT_EQ(h, dlm::hash_bytes(s.data(), s.size()));
    EXPECT_NE(h, dlm::hash_bytes(s, 1));
    std::set<uint64_t> prefixes;
    for (size_t n = 0; n <= 100; ++n) prefixes.insert(dlm::hash_bytes(s.data(), n));
    EXPECT_EQ(prefixes.size(), 101u);
    for (size_t bit = 0; bit < s.size() * 8; bit += 37) {
        std::string t = s;
        t[bit / 8] ^= char(1 << (bit % 8));
        EXPECT_NE(dlm::hash_bytes(t), h) << bit;
    }
    std::string shifted = "x" + s;  // unaligned start
    EXPECT_EQ(dlm::hash_bytes(shifted.data() + 1, s.size()), h);
    EXPECT_NE(dlm::HashKey().add("ab").add("c").value(), dlm::HashKey().add("a").add("bc").value());
}
