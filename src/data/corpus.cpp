#include "data/corpus.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"

namespace fs = std::filesystem;

namespace dlm {

namespace {

// Python's str.isspace() for one code point: ASCII whitespace plus the separators
// \x1c..\x1f, and the Unicode code points of category Zs or bidi class WS/B/S.
bool codepoint_is_space(char32_t c) {
    if (c < 0x80) return (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x20);
    return c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
           c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

// Decodes one UTF-8 sequence at s[i]; returns 0xFFFFFFFF (not a space) if ill-formed.
char32_t utf8_next(std::string_view s, size_t& i) {
    auto b = static_cast<unsigned char>(s[i++]);
    if (b < 0x80) return b;
    int more = b >= 0xf0 ? 3 : b >= 0xe0 ? 2 : b >= 0xc0 ? 1 : -1;
    if (more < 0) return 0xffffffff;
    char32_t c = b & (0x3f >> more);
    for (int k = 0; k < more; ++k) {
        if (i >= s.size() || (static_cast<unsigned char>(s[i]) & 0xc0) != 0x80) return 0xffffffff;
        c = (c << 6) | (static_cast<unsigned char>(s[i++]) & 0x3f);
    }
    return c;
}

// Calls fn(line, line_number, has_newline) for each line of `content`; `line` has
// neither its "\n" nor a '\r' before it. A final line without "\n" is passed too.
template <typename Fn>
void lines_for_each(std::string_view content, Fn&& fn) {
    int64_t number = 0;
    size_t pos = 0;
    while (pos < content.size()) {
        size_t nl = content.find('\n', pos);
        bool has_newline = nl != std::string_view::npos;
        size_t end = has_newline ? nl : content.size();
        std::string_view line = content.substr(pos, end - pos);
        if (has_newline && !line.empty() && line.back() == '\r') line.remove_suffix(1);
        fn(line, ++number, has_newline);
        pos = has_newline ? nl + 1 : content.size();
    }
}

std::string_view trim_right(std::string_view s) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

std::string line_unit(std::string_view line, bool has_newline) {
    std::string u(line);
    if (has_newline) u += '\n';
    return u;
}

void parse_lines(std::string_view content, Corpus& c) {
    lines_for_each(content, [&](std::string_view line, int64_t, bool has_newline) {
        if (text_is_blank(line)) return;
        c.units.push_back(line_unit(line, has_newline));
        c.unit_doc.push_back(c.documents++);
    });
}

void parse_wikiextractor(std::string_view content, const std::string& path, Corpus& c) {
    int64_t open_line = 0;  // line of the current <doc>, 0 outside one
    bool doc_has_units = false;
    lines_for_each(content, [&](std::string_view line, int64_t number, bool has_newline) {
        if (line.starts_with("<doc ") || trim_right(line) == "<doc>") {
            if (open_line)
                fail("{}:{}: <doc> inside the document opened at line {} (missing </doc>)", path,
                     number, open_line);
            open_line = number;
            doc_has_units = false;
        } else if (trim_right(line) == "</doc>") {
            if (!open_line) fail("{}:{}: </doc> without a <doc> before it", path, number);
            open_line = 0;
            if (doc_has_units) ++c.documents;  // an empty article is no document
        } else if (text_is_blank(line)) {
            return;
        } else if (!open_line) {
            fail("{}:{}: text outside <doc> ... </doc>", path, number);
        } else {
            c.units.push_back(line_unit(line, has_newline));
            c.unit_doc.push_back(c.documents);
            doc_has_units = true;
        }
    });
    if (open_line) fail("{}:{}: <doc> is never closed by </doc>", path, open_line);
}

void parse_jsonl(std::string_view content, const std::string& path, const std::string& field,
                 Corpus& c) {
    lines_for_each(content, [&](std::string_view line, int64_t number, bool) {
        if (text_is_blank(line)) return;
        nlohmann::json record;
        try {
            record = nlohmann::json::parse(line);
        } catch (const nlohmann::json::parse_error& e) {
            // Drop nlohmann's "[json.exception.parse_error.101] " prefix.
            std::string_view what = e.what();
            if (auto p = what.find("] "); p != std::string_view::npos) what.remove_prefix(p + 2);
            fail("{}:{}: invalid JSON: {}", path, number, what);
        }
        if (!record.is_object()) fail("{}:{}: expected a JSON object", path, number);
        auto it = record.find(field);
        if (it == record.end()) fail("{}:{}: record has no field \"{}\"", path, number, field);
        if (!it->is_string()) fail("{}:{}: field \"{}\" is not a string", path, number, field);
        const auto& text = it->get_ref<const std::string&>();
        if (text_is_blank(text)) return;
        c.units.push_back(text);
        c.unit_doc.push_back(c.documents++);
    });
}

}  // namespace

CorpusFormat corpus_format_parse(std::string_view name) {
    for (auto f : {CorpusFormat::AUTO, CorpusFormat::WIKITEXT, CorpusFormat::TEXT,
                   CorpusFormat::WIKIEXTRACTOR, CorpusFormat::JSONL})
        if (name == corpus_format_name(f)) return f;
    fail("unknown corpus format '{}' (expected auto, wikitext, text, wikiextractor or jsonl)", name);
}

const char* corpus_format_name(CorpusFormat format) {
    switch (format) {
    case CorpusFormat::AUTO: return "auto";
    case CorpusFormat::WIKITEXT: return "wikitext";
    case CorpusFormat::TEXT: return "text";
    case CorpusFormat::WIKIEXTRACTOR: return "wikiextractor";
    case CorpusFormat::JSONL: return "jsonl";
    }
    return "?";
}

bool text_is_blank(std::string_view s) {
    for (size_t i = 0; i < s.size();)
        if (!codepoint_is_space(utf8_next(s, i))) return false;
    return true;
}

std::vector<std::string> corpus_list_files(const std::vector<std::string>& paths) {
    std::vector<std::string> files;
    for (const auto& path : paths) {
        std::error_code ec;
        auto st = fs::status(path, ec);
        if (ec || !fs::exists(st)) fail("{}: no such file or directory", path);
        if (fs::is_regular_file(st)) {
            files.push_back(path);
            continue;
        }
        if (!fs::is_directory(st)) fail("{}: not a regular file or directory", path);
        std::vector<std::string> found;
        fs::recursive_directory_iterator it(path, fs::directory_options::follow_directory_symlink, ec);
        for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            bool hidden = it->path().filename().string().starts_with(".");
            if (it->is_directory(ec)) {
                if (hidden) it.disable_recursion_pending();
            } else if (!hidden && it->is_regular_file(ec)) {
                found.push_back(it->path().string());
            }
        }
        if (ec) fail("{}: cannot list directory: {}", path, ec.message());
        if (found.empty()) fail("{}: directory contains no files", path);
        std::sort(found.begin(), found.end());
        files.insert(files.end(), found.begin(), found.end());
    }
    return files;
}

CorpusFormat corpus_detect_format(CorpusFormat format, const std::string& path,
                                  std::string_view content) {
    if (format != CorpusFormat::AUTO) return format;
    fs::path p(path);
    if (p.extension() == ".jsonl") return CorpusFormat::JSONL;
    bool doc = false, decided = false;
    lines_for_each(content, [&](std::string_view line, int64_t, bool) {
        if (decided || text_is_blank(line)) return;
        decided = true;
        doc = line.starts_with("<doc ");
    });
    if (doc) return CorpusFormat::WIKIEXTRACTOR;
    std::string name = p.filename().string();
    if (name.find("wiki.") != std::string::npos &&
        (name.ends_with(".raw") || name.ends_with(".tokens")))
        return CorpusFormat::WIKITEXT;
    return CorpusFormat::TEXT;
}

Corpus corpus_parse(std::string_view content, const std::string& path, const CorpusOptions& opt) {
    Corpus c;
    switch (corpus_detect_format(opt.format, path, content)) {
    case CorpusFormat::WIKIEXTRACTOR: parse_wikiextractor(content, path, c); break;
    case CorpusFormat::JSONL: parse_jsonl(content, path, opt.jsonl_field, c); break;
    default: parse_lines(content, c); break;
    }
    if (c.units.empty()) fail("{}: contains no text", path);
    return c;
}

Corpus corpus_read(const std::vector<std::string>& paths, const CorpusOptions& opt) {
    Corpus all;
    for (const auto& path : corpus_list_files(paths)) {
        MappedFile file(path);
        std::string_view content(reinterpret_cast<const char*>(file.data()), file.size());
        Corpus c = corpus_parse(content, path, opt);
        for (size_t i = 0; i < c.units.size(); ++i) {
            all.units.push_back(std::move(c.units[i]));
            all.unit_doc.push_back(all.documents + c.unit_doc[i]);
        }
        all.documents += c.documents;
    }
    return all;
}

}  // namespace dlm
