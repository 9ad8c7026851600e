// WordPiece model and decoder (HF tokenizers models::wordpiece, decoders::wordpiece;
// python transformers' WordpieceTokenizer).
//
// A word is cut greedily, longest match first: the longest prefix of the word that is
// in the vocab, then the longest prefix of the rest that is in the vocab once
// continuing_subword_prefix ("##") is put before it, and so on. A word of more than
// max_input_chars_per_word characters (code points), or one where some rest has no
// match at all, becomes the single unk token.
//
// Decoding (decoders::wordpiece with HF's join of the pieces): the first token is kept
// as it is; each later token loses a leading "##" or else gets a space before it; with
// cleanup, each token *separately* then has " ." " ?" " !" " ," " ' " " n't" " 'm"
// " 's" " 've" " 're" replaced by the same without the space (and " do not" by
// " don't"). Because it works per token, " ' " never matches a BERT token, so
// "don't" decodes to "don ' t" exactly as HF does.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dlm {

class WordPiece {
public:
    std::unordered_map<std::string, int32_t> vocab;  // the model's vocab only
    std::string prefix = "##";
    size_t max_input_chars_per_word = 100;
    int32_t unk_id = -1;
    size_t max_token_bytes = 0;  // longest vocab entry: bounds the search

    // Sets max_token_bytes from the vocab; call once after filling it.
    void index();
    // Appends the ids of `word` (valid UTF-8, non-empty) to `out`.
    void encode_word(std::string_view word, std::vector<int32_t>& out) const;
};

// The text of `tokens` (vocab strings) as HF's WordPiece decoder gives it.
std::string wordpiece_decode(const std::vector<std::string_view>& tokens,
                             std::string_view prefix, bool cleanup);

}  // namespace dlm
