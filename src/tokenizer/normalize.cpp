#include "tokenizer/normalize.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <new>

#include "tokenizer/utf8.h"

namespace dlm {

namespace {

utf8proc_category_t category_of(char32_t cp) {
    return utf8proc_category(utf8proc_int32_t(cp));
}

// Calls fn(cp) for each character of `text` (valid UTF-8).
template <typename F>
void chars_each(std::string_view text, F&& fn) {
    auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
    for (size_t i = 0; i < text.size();) {
        utf8proc_int32_t cp = 0;
        auto n = utf8proc_iterate(p + i, utf8proc_ssize_t(text.size() - i), &cp);
        if (n <= 0) {  // cannot happen on repaired input; skip a byte rather than loop
            ++i;
            continue;
        }
        fn(char32_t(cp));
        i += size_t(n);
    }
}

// utf8proc_map with `options` (NFC or NFD); the text has no NUL once cleaned, and
// utf8proc_map takes an explicit length anyway.
std::string unicode_map(std::string_view text, int options) {
    // ASCII is its own NFC and NFD: the common case, without utf8proc's allocation.
    if (std::all_of(text.begin(), text.end(), [](char c) { return (c & 0x80) == 0; }))
        return std::string(text);
    utf8proc_uint8_t* out = nullptr;
    auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                          utf8proc_ssize_t(text.size()), &out, utf8proc_option_t(options));
    if (n < 0) {
        if (n == UTF8PROC_ERROR_NOMEM) throw std::bad_alloc();
        return std::string(text);  // invalid input: callers repair it first
    }
    std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> hold(out, &std::free);
    return std::string(reinterpret_cast<const char*>(out), size_t(n));
}

std::string nfd(std::string_view text) {
    return unicode_map(text, UTF8PROC_STABLE | UTF8PROC_DECOMPOSE);
}

std::string nfc(std::string_view text) {
    return unicode_map(text, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
}

// Steps 1 and 2 of BertNormalizer: both work character by character.
std::string bert_clean(std::string_view text, const Normalizer& n) {
    std::string out;
    out.reserve(text.size() + 8);
    chars_each(text, [&](char32_t cp) {
        if (n.clean_text) {
            if (cp == 0 || cp == 0xFFFD || bert_is_control(cp)) return;
            if (bert_is_whitespace(cp)) cp = ' ';
        }
        if (n.handle_chinese_chars && bert_is_chinese(cp)) {
            out.push_back(' ');
            utf8_append(out, cp);
            out.push_back(' ');
        } else {
            utf8_append(out, cp);
        }
    });
    return out;
}

std::string marks_drop(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    chars_each(text, [&](char32_t cp) {
        if (category_of(cp) != UTF8PROC_CATEGORY_MN) utf8_append(out, cp);
    });
    return out;
}

std::string text_lowercase(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    chars_each(text, [&](char32_t cp) {
        if (cp == 0x130) {  // SpecialCasing: the only lowercase mapping to two chars
            out.push_back('i');
            utf8_append(out, 0x307);
        } else {
            utf8_append(out, char32_t(utf8proc_tolower(utf8proc_int32_t(cp))));
        }
    });
    return out;
}

}  // namespace

bool bert_is_whitespace(char32_t cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    if (cp == 0x85) return true;
    auto c = category_of(cp);
    return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

bool bert_is_control(char32_t cp) {
    if (cp == '\t' || cp == '\n' || cp == '\r') return false;
    auto c = category_of(cp);
    return c == UTF8PROC_CATEGORY_CC || c == UTF8PROC_CATEGORY_CF || c == UTF8PROC_CATEGORY_CO;
}

bool bert_is_chinese(char32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

bool bert_is_punctuation(char32_t cp) {
    if (cp < 0x80)
        return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
               (cp >= 123 && cp <= 126);
    switch (category_of(cp)) {
        case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
        case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
        case UTF8PROC_CATEGORY_PO:
            return true;
        default:
            return false;
    }
}

std::string Normalizer::apply(std::string_view text) const {
    switch (type) {
        case kind::none: return std::string(text);
        case kind::nfc: return nfc(text);
        case kind::nfd: return nfd(text);
        case kind::bert: break;
    }
    std::string out = bert_clean(text, *this);
    if (strip_accents) out = marks_drop(nfd(out));
    if (lowercase) out = text_lowercase(out);
    return out;
}

}  // namespace dlm
