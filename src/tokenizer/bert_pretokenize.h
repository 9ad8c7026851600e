// HF BertPreTokenizer: the "words" WordPiece encodes separately.
//
// Splits on whitespace (dropped; \t \n \r and Unicode White_Space, as Rust's
// char::is_whitespace), then makes every punctuation character (ASCII 33-47, 58-64,
// 91-96, 123-126 or Unicode category P*) a word of its own: "don't!" -> don ' t !.
// Runs after the normalizer, on text that holds no added token.
#pragma once

#include <string_view>
#include <vector>

namespace dlm {

// Appends the words of `text` (valid UTF-8) to `out`, as views into `text`.
void bert_words_split(std::string_view text, std::vector<std::string_view>& out);

}  // namespace dlm
