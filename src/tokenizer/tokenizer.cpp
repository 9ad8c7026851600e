// Encoding and decoding; loading is in tokenizer_load.cpp.
#include "tokenizer/tokenizer.h"

#include <omp.h>
#include <utf8proc.h>

#include <algorithm>
#include <exception>

#include "core/error.h"
#include "tokenizer/bert_pretokenize.h"
#include "tokenizer/byte_unicode.h"
#include "tokenizer/tokenizer_data.h"
#include "tokenizer/utf8.h"
#include "tokenizer/word_cache.h"

namespace dlm {

namespace {

using detail::AddedSet;
using detail::AddedToken;
using detail::TokenizerData;

// Words longer than this are BPE-merged every time instead of cached: they are rare
// (long digit or symbol runs) and would crowd the cache arena.
constexpr size_t max_cached_word = 256;

// A stretch of the text: an added token (id >= 0) or plain text to pre-tokenize.
struct piece {
    size_t begin, end;
    int32_t id;
};

// Decodes the character at text[i] (valid UTF-8); sets *len to its byte length.
char32_t char_at(std::string_view text, size_t i, size_t* len) {
    utf8proc_int32_t cp = 0;
    auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + i),
                              utf8proc_ssize_t(text.size() - i), &cp);
    *len = n > 0 ? size_t(n) : 1;
    return n > 0 ? char32_t(cp) : 0xFFFD;
}

// Start of the character that ends just before text[i] (i > 0).
size_t char_start_before(std::string_view text, size_t i) {
    do --i;
    while (i > 0 && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80);
    return i;
}

// Rust's char::is_whitespace / regex \s (Unicode White_Space), used by HF to strip
// around added tokens.
bool is_white_space(char32_t cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    if (cp == 0x85) return true;
    auto c = utf8proc_category(utf8proc_int32_t(cp));
    return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

// Rust regex \w (letters, marks, decimal and letter numbers, connector punctuation,
// joiners), used by HF for single_word added tokens.
bool is_word_char(char32_t cp) {
    if (cp == 0x200C || cp == 0x200D) return true;
    switch (utf8proc_category(utf8proc_int32_t(cp))) {
        case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
        case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
        case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
        case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
            return true;
        default:
            return false;
    }
}

// Leftmost-longest match of `set` in text[pos, end): the token's index, or -1.
int added_match(std::string_view text, size_t& pos, size_t end, const AddedSet& set) {
    for (; pos < end; ++pos) {
        if (!set.first_byte[static_cast<unsigned char>(text[pos])]) continue;
        int best = -1;
        size_t best_len = 0;
        for (size_t k = 0; k < set.tokens.size(); ++k) {
            const std::string& c = set.tokens[k].content;
            if (c.size() > best_len && c.size() <= end - pos &&
                text.compare(pos, c.size(), c) == 0) {
                best = int(k);
                best_len = c.size();
            }
        }
        if (best >= 0) return best;
    }
    return -1;
}

// HF AddedVocabulary::find_matches on text[begin, end): appends pieces that tile it.
void added_split(std::string_view text, size_t begin, size_t end, const AddedSet& set,
                 std::vector<piece>& out) {
    size_t start_offset = begin;  // end of the last emitted piece
    size_t pos = begin;           // where the next search starts
    for (int k; (k = added_match(text, pos, end, set)) >= 0;) {
        const AddedToken& tok = set.tokens[k];
        size_t start = pos, stop = pos + tok.content.size(), len;
        pos = stop;  // the search resumes after the match even if it is discarded
        if (tok.single_word) {
            bool alone_left = start == begin ||
                              !is_word_char(char_at(text, char_start_before(text, start), &len));
            bool alone_right = stop == end || !is_word_char(char_at(text, stop, &len));
            if (!alone_left || !alone_right) continue;
        }
        if (tok.lstrip) {
            while (start > begin) {
                size_t prev = char_start_before(text, start);
                if (!is_white_space(char_at(text, prev, &len))) break;
                start = prev;
            }
        }
        start = std::max(start, start_offset);  // never take back what a match took
        if (tok.rstrip)
            while (stop < end && is_white_space(char_at(text, stop, &len))) stop += len;
        if (start_offset < start) out.push_back({start_offset, start, -1});
        out.push_back({start, stop, tok.id});
        start_offset = stop;
        pos = std::max(pos, stop);
    }
    if (start_offset < end) out.push_back({start_offset, end, -1});
}

// BPE ids of one pre-tokenized word (raw bytes), through the thread's cache.
void word_encode(const TokenizerData& d, WordCache& cache, std::string_view word,
                 std::vector<int32_t>& out) {
    if (word.size() == 1) {
        out.push_back(d.merges.byte_id(uint8_t(word[0])));
        return;
    }
    if (d.ignore_merges) {
        auto it = d.token_ids.find(bytes_to_vocab_string(word));
        if (it != d.token_ids.end()) {
            out.push_back(it->second);
            return;
        }
    }
    if (word.size() > max_cached_word) {
        d.merges.encode_word(word, out);
        return;
    }
    uint64_t h = WordCache::hash(word);
    auto hit = cache.find(word, h);
    if (!hit.empty()) {
        out.insert(out.end(), hit.begin(), hit.end());
        return;
    }
    size_t first = out.size();
    d.merges.encode_word(word, out);
    cache.insert(word, h, std::span<const int32_t>(out.data() + first, out.size() - first));
}

// Pre-tokenizes and encodes (BPE or WordPiece) a stretch of normalized text that
// holds no added token.
void text_encode(const TokenizerData& d, WordCache& cache, std::string_view text,
                 std::vector<int32_t>& out) {
    if (d.model == TokenizerData::model_kind::wordpiece) {
        std::vector<std::string_view> words;
        bert_words_split(text, words);
        for (std::string_view w : words) d.wordpiece.encode_word(w, out);
        return;
    }
    std::string spaced;
    if (d.add_prefix_space && !text.empty() && text[0] != ' ') {
        spaced.reserve(text.size() + 1);
        spaced.push_back(' ');
        spaced.append(text);
        text = spaced;
    }
    if (!d.use_regex) {
        if (!text.empty()) word_encode(d, cache, text, out);
        return;
    }
    for (size_t pos = 0; pos < text.size();) {
        size_t end = d.pretokenizer.piece_end(text, pos);
        word_encode(d, cache, text.substr(pos, end - pos), out);
        pos = end;
    }
}

// A stretch of raw text between non-normalized added tokens: normalized, then cut at
// the normalized added tokens, then pre-tokenized and encoded (HF
// AddedVocabulary::extract_and_normalize).
void stretch_encode(const TokenizerData& d, WordCache& cache, std::string_view raw,
                    std::vector<int32_t>& out) {
    std::string normalized;
    std::string_view text = raw;
    if (d.normalizer.active()) {
        normalized = d.normalizer.apply(raw);
        text = normalized;
    }
    if (d.added_normalized.empty()) {
        text_encode(d, cache, text, out);
        return;
    }
    std::vector<piece> pieces;
    added_split(text, 0, text.size(), d.added_normalized, pieces);
    for (const piece& p : pieces) {
        if (p.id >= 0)
            out.push_back(p.id);
        else
            text_encode(d, cache, text.substr(p.begin, p.end - p.begin), out);
    }
}

}  // namespace

void Tokenizer::encode_into(std::string_view text, bool add_special,
                            std::vector<int32_t>& out) const {
    const TokenizerData& d = *d_;
    // HF sees only valid strings; we replace what is invalid with U+FFFD (utf8.h).
    std::string repaired;
    if (!utf8_is_valid(text)) {
        repaired = utf8_repair(text);
        text = repaired;
    }
    WordCache& cache = thread_word_cache(d.serial);
    if (add_special) out.insert(out.end(), d.prefix.begin(), d.prefix.end());
    if (d.added_raw.empty()) {
        stretch_encode(d, cache, text, out);
    } else {
        std::vector<piece> pieces;
        added_split(text, 0, text.size(), d.added_raw, pieces);
        for (const piece& p : pieces) {
            if (p.id >= 0)
                out.push_back(p.id);
            else
                stretch_encode(d, cache, text.substr(p.begin, p.end - p.begin), out);
        }
    }
    if (add_special) out.insert(out.end(), d.suffix.begin(), d.suffix.end());
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special) const {
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 4);
    encode_into(text, add_special, out);
    return out;
}

std::vector<std::vector<int32_t>> Tokenizer::encode_batch(const std::vector<std::string>& texts,
                                                          bool add_special, int threads) const {
    std::vector<std::vector<int32_t>> out(texts.size());
    int n = threads > 0 ? threads : omp_get_max_threads();
    auto count = int64_t(texts.size());
    std::exception_ptr error;
    // Dynamic chunks: documents differ wildly in length. Each thread encodes through
    // its own word cache, so threads share nothing but the read-only tables.
#pragma omp parallel for schedule(dynamic, 16) num_threads(n)
    for (int64_t i = 0; i < count; ++i) {
        try {
            out[i].reserve(texts[i].size() / 3 + 4);
            encode_into(texts[i], add_special, out[i]);
        } catch (...) {
#pragma omp critical(dlm_tokenizer_error)
            if (!error) error = std::current_exception();
        }
    }
    if (error) std::rethrow_exception(error);
    return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
    const TokenizerData& d = *d_;
    std::string out;
    std::vector<std::string_view> pieces;  // WordPiece: the tokens, joined at the end
    for (int32_t id : ids) {
        if (id < 0 || id >= vocab_size() || !d.present[id])
            fail("tokenizer: cannot decode id {}: no token has this id (vocab size {})", id,
                 vocab_size());
        if (skip_special && d.special[id]) continue;
        if (d.model == TokenizerData::model_kind::wordpiece)
            pieces.push_back(d.tokens[id]);
        else
            out += d.bytes[id];
    }
    if (d.model == TokenizerData::model_kind::wordpiece)
        return wordpiece_decode(pieces, d.wordpiece_decoder_prefix, d.wordpiece_cleanup);
    // Byte tokens can split a character; HF decodes with from_utf8_lossy.
    return utf8_is_valid(out) ? out : utf8_repair(out);
}

std::string Tokenizer::token_text(int32_t id) const {
    if (id < 0 || id >= vocab_size() || !d_->present[id])
        fail("tokenizer: no token has id {} (vocab size {})", id, vocab_size());
    return d_->bytes[id];
}

const std::string& Tokenizer::id_to_token(int32_t id) const {
    if (id < 0 || id >= vocab_size() || !d_->present[id])
        fail("tokenizer: no token has id {} (vocab size {})", id, vocab_size());
    return d_->tokens[id];
}

int32_t Tokenizer::vocab_size() const { return int32_t(d_->tokens.size()); }

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
    auto it = d_->token_ids.find(std::string(token));
    if (it == d_->token_ids.end()) return std::nullopt;
    return it->second;
}

bool Tokenizer::is_special(int32_t id) const {
    return id >= 0 && id < vocab_size() && d_->special[id];
}

int32_t Tokenizer::bos_id() const { return d_->bos; }
int32_t Tokenizer::eos_id() const { return d_->eos; }
int32_t Tokenizer::pad_id() const { return d_->pad; }
int32_t Tokenizer::mask_id() const { return d_->mask; }
int32_t Tokenizer::unk_id() const { return d_->unk; }

int32_t Tokenizer::num_special_to_add() const {
    return int32_t(d_->prefix.size() + d_->suffix.size());
}

}  // namespace dlm
