// GPT-2 pre-tokenization: splits text into the "words" that BPE encodes separately.
//
// The rule is HF tokenizers' ByteLevel regex (openai encoder.py):
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// matched with PCRE2 (UTF + UCP, JIT). HF runs it with Oniguruma, whose Unicode \s is
// U+0009..U+000D, U+0085 and the Z categories; PCRE2's \s also takes U+180E, so we
// spell the class out instead of writing \s. \p{L} and \p{N} come from PCRE2's
// tables (Unicode 14 in PCRE2 10.42), so only code points assigned after that could
// split differently from HF.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

namespace dlm {

class Pretokenizer {
public:
    Pretokenizer();  // compiles the pattern once; copies share it

    // End of the piece that starts at `pos` in `text` (pos < text.size()); the pieces
    // tile the text. `text` must be valid UTF-8 (callers repair it first) and `pos` a
    // character boundary. Thread-safe.
    size_t piece_end(std::string_view text, size_t pos) const;

private:
    struct compiled;
    std::shared_ptr<const compiled> re_;
};

}  // namespace dlm
