#include "tokenizer/wordpiece.h"

#include <algorithm>

namespace dlm {

namespace {

bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

size_t chars_count(std::string_view s) {
    return size_t(std::count_if(s.begin(), s.end(), [](char c) { return !is_continuation(c); }));
}

// Every `from` in `s` replaced by `to`, left to right without rescanning (Rust's
// str::replace).
void replace_all(std::string& s, std::string_view from, std::string_view to) {
    std::string out;
    size_t pos = 0;
    for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
        out.append(s, pos, hit - pos);
        out.append(to);
    }
    if (pos == 0) return;
    out.append(s, pos, std::string::npos);
    s = std::move(out);
}

// HF decoders::wordpiece::cleanup, in its order.
void token_cleanup(std::string& s) {
    static const std::pair<std::string_view, std::string_view> rules[] = {
        {" .", "."},       {" ?", "?"},     {" !", "!"},     {" ,", ","},
        {" ' ", "'"},      {" n't", "n't"}, {" 'm", "'m"},   {" do not", " don't"},
        {" 's", "'s"},     {" 've", "'ve"}, {" 're", "'re"},
    };
    for (auto [from, to] : rules) replace_all(s, from, to);
}

}  // namespace

void WordPiece::index() {
    max_token_bytes = 0;
    for (const auto& [tok, id] : vocab) max_token_bytes = std::max(max_token_bytes, tok.size());
}

void WordPiece::encode_word(std::string_view word, std::vector<int32_t>& out) const {
    if (chars_count(word) > max_input_chars_per_word) {
        out.push_back(unk_id);
        return;
    }
    size_t first = out.size();
    std::string key;
    for (size_t start = 0; start < word.size();) {
        const size_t head = start > 0 ? prefix.size() : 0;
        // No vocab entry is longer than max_token_bytes: start the search there.
        size_t end = std::min(word.size(),
                              start + (max_token_bytes > head ? max_token_bytes - head : 0));
        int32_t found = -1;
        for (; end > start; --end) {
            if (end < word.size() && is_continuation(word[end])) continue;  // mid-character
            key.assign(start > 0 ? prefix : std::string_view());
            key.append(word.substr(start, end - start));
            auto it = vocab.find(key);
            if (it != vocab.end()) {
                found = it->second;
                break;
            }
        }
        if (found < 0) {  // some rest has no match: the whole word is unknown
            out.resize(first);
            out.push_back(unk_id);
            return;
        }
        out.push_back(found);
        start = end;
    }
}

std::string wordpiece_decode(const std::vector<std::string_view>& tokens,
                             std::string_view prefix, bool cleanup) {
    std::string out, piece;
    for (size_t i = 0; i < tokens.size(); ++i) {
        std::string_view t = tokens[i];
        piece.clear();
        if (i > 0 && t.starts_with(prefix))  // an empty prefix glues every token
            piece.assign(t.substr(prefix.size()));
        else if (i > 0)
            (piece = " ").append(t);
        else
            piece.assign(t);
        if (cleanup) token_cleanup(piece);
        out += piece;
    }
    return out;
}

}  // namespace dlm
