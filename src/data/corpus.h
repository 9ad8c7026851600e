// Training text read as "units": the pieces that are tokenized one by one, each
// tagged with the document it belongs to.
//
//   dlm::CorpusOptions opt;                       // format AUTO, JSONL field "text"
//   dlm::Corpus c = dlm::corpus_read({"data/enwiki-2015-sample"}, opt);
//   // c.units[0] == "Anarchism\n", c.unit_doc[0] == 0
//
// Formats (one unit per non-blank line unless said otherwise; lines keep their "\n",
// as the rows of HF `datasets`' WikiText do, e.g. " = Robert Boulter = \n"):
//   WIKITEXT       WikiText raw/tokens files; every unit is its own document.
//   TEXT           plain text; every unit is its own document.
//   WIKIEXTRACTOR  <doc id=".." url=".." title=".."> ... </doc> articles; the lines
//                  inside (the title line included) are units of one document.
//   JSONL          one JSON object per line; a unit (and document) is the string field
//                  `jsonl_field` of a record, newlines inside included.
//   AUTO           per file: *.jsonl -> JSONL; first non-blank line starts with
//                  "<doc " -> WIKIEXTRACTOR; name contains "wiki." and ends in .raw or
//                  .tokens -> WIKITEXT; else TEXT.
// "Blank" is Python's `len(s.strip()) == 0` (the recipe's filter), so whitespace-only
// lines and records are dropped. CRLF line ends are read as LF.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dlm {

enum class CorpusFormat { AUTO, WIKITEXT, TEXT, WIKIEXTRACTOR, JSONL };

// "auto", "wikitext", "text", "wikiextractor", "jsonl"; throws dlm::Error otherwise.
CorpusFormat corpus_format_parse(std::string_view name);
const char* corpus_format_name(CorpusFormat format);

struct CorpusOptions {
    CorpusFormat format = CorpusFormat::AUTO;
    std::string jsonl_field = "text";
};

struct Corpus {
    std::vector<std::string> units;  // in file order
    std::vector<int64_t> unit_doc;   // document of each unit: 0, 0, 1, 2, 2, ... (no gaps)
    int64_t documents = 0;
};

// Python's str.isspace() over the whole string (true for ""): the recipe's blank test.
bool text_is_blank(std::string_view s);

// Expands `paths` into the files to read: a file is taken as given, a directory
// contributes every regular file below it (recursively, sorted by path, names
// starting with '.' skipped). Throws dlm::Error naming a path that does not exist or
// a directory with no files.
std::vector<std::string> corpus_list_files(const std::vector<std::string>& paths);

// The format AUTO resolves to for this file (by its name and its content); any other
// `format` is returned as is.
CorpusFormat corpus_detect_format(CorpusFormat format, const std::string& path,
                                  std::string_view content);

// Units of one file's content; `path` names the file in messages and in AUTO
// detection. Throws dlm::Error "<path>: contains no text" when there are no units,
// and "<path>:<line>: ..." for malformed WikiExtractor or JSONL input.
Corpus corpus_parse(std::string_view content, const std::string& path, const CorpusOptions& opt);

// corpus_parse() of the files `paths` expands to, concatenated: documents are
// numbered across files, and no document spans two files.
Corpus corpus_read(const std::vector<std::string>& paths, const CorpusOptions& opt);

}  // namespace dlm
