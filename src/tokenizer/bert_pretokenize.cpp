#include "tokenizer/bert_pretokenize.h"

#include <utf8proc.h>

#include "tokenizer/normalize.h"

namespace dlm {

void bert_words_split(std::string_view text, std::vector<std::string_view>& out) {
    auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
    size_t word = 0;  // start of the word being scanned
    for (size_t i = 0; i < text.size();) {
        utf8proc_int32_t cp = 0;
        auto n = utf8proc_iterate(p + i, utf8proc_ssize_t(text.size() - i), &cp);
        size_t len = n > 0 ? size_t(n) : 1;
        bool space = n > 0 && bert_is_whitespace(char32_t(cp));
        bool punct = n > 0 && !space && bert_is_punctuation(char32_t(cp));
        if (space || punct) {
            if (word < i) out.push_back(text.substr(word, i - word));
            if (punct) out.push_back(text.substr(i, len));
            word = i + len;
        }
        i += len;
    }
    if (word < text.size()) out.push_back(text.substr(word));
}

}  // namespace dlm
