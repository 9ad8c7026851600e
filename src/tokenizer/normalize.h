// Text normalizers of HF tokenizers.json ("normalizer"): NFC, NFD and BertNormalizer.
//
// BertNormalizer (tokenizers/src/normalizers/bert.rs), in this order:
//   1. clean_text: drops U+0000, U+FFFD and "control" characters (categories Cc, Cf,
//      Co except \t \n \r: the unicode_categories crate's is_other, which has no Cn
//      and no Cs), then maps \t \n \r and every Unicode White_Space character to ' ';
//   2. handle_chinese_chars: puts a space on each side of a CJK ideograph (the ranges
//      of bert.rs, which skip U+2B820..U+2B91F where python BertTokenizer has them);
//   3. strip_accents: NFD, then drops the nonspacing marks (Mn);
//   4. lowercase: Rust char::to_lowercase per character: the simple Unicode mapping
//      (utf8proc_tolower) plus the one unconditional SpecialCasing entry, U+0130 'İ'
//      -> "i̇" (i + U+0307). Python's str.lower() agrees per character but also maps
//      a word-final 'Σ' to 'ς'; tokenizers (and so we) always give 'σ'.
// strip_accents defaults to lowercase (tokenizer.json "strip_accents": null).
// Character properties come from utf8proc, so code points assigned after its Unicode
// version (or after the crate's) may be classified differently from HF.
#pragma once

#include <string>
#include <string_view>

namespace dlm {

struct Normalizer {
    enum class kind { none, nfc, nfd, bert };
    kind type = kind::none;
    // BertNormalizer options (type == bert).
    bool clean_text = true;
    bool handle_chinese_chars = true;
    bool strip_accents = true;
    bool lowercase = true;

    bool active() const { return type != kind::none; }
    // `text` (valid UTF-8) normalized.
    std::string apply(std::string_view text) const;
};

// The BertNormalizer / BertPreTokenizer character classes, shared with the
// pre-tokenizer and the tests.
bool bert_is_whitespace(char32_t cp);   // \t \n \r or Unicode White_Space
bool bert_is_control(char32_t cp);      // Cc, Cf, Co except \t \n \r
bool bert_is_chinese(char32_t cp);      // CJK ideograph ranges of bert.rs
bool bert_is_punctuation(char32_t cp);  // ASCII punctuation or category P*

}  // namespace dlm
