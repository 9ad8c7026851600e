// What a loaded tokenizer is made of; shared by tokenizer.cpp (encode/decode) and
// tokenizer_load.cpp (reading the files). Internal to src/tokenizer/.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/bpe.h"
#include "tokenizer/normalize.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/wordpiece.h"

namespace dlm::detail {

// HF AddedToken: a string cut out of the raw text before pre-tokenization.
struct AddedToken {
    std::string content;
    int32_t id = -1;
    bool special = false;
    bool single_word = false;  // only match when not inside a word
    bool lstrip = false;       // also swallow the whitespace on its left
    bool rstrip = false;       // ... and on its right
    bool normalized = true;    // matched after normalization (a second pass, see HF)
};

// Added tokens matched in one pass, leftmost-longest (HF's Aho-Corasick MatchKind).
struct AddedSet {
    std::vector<AddedToken> tokens;  // specials first, then the others (HF order)
    std::array<bool, 256> first_byte{};  // some token starts with this byte

    void add(AddedToken t) {
        first_byte[static_cast<unsigned char>(t.content[0])] = true;
        tokens.push_back(std::move(t));
    }
    bool empty() const { return tokens.empty(); }
};

struct TokenizerData {
    uint64_t serial = 0;  // unique per load; keys the per-thread word caches

    // Indexed by id, size vocab_size. A hole (an id no token has) has present == 0.
    std::vector<std::string> tokens;  // raw vocab strings ("Ġthe", "<s>")
    std::vector<std::string> bytes;   // what decode emits for each id
    std::vector<uint8_t> present;
    std::vector<uint8_t> special;
    std::unordered_map<std::string, int32_t> token_ids;  // tokens + added tokens

    // Byte-level BPE (GPT-2, RoBERTa, ModernBERT) or WordPiece (BERT): the model, its
    // pre-tokenizer (GPT-2 regex vs BertPreTokenizer) and its decoder go together.
    enum class model_kind { bpe, wordpiece };
    model_kind model = model_kind::bpe;
    Normalizer normalizer;  // applied to the text between non-normalized added tokens
    WordPiece wordpiece;
    std::string wordpiece_decoder_prefix = "##";  // decoders::WordPiece(prefix, cleanup)
    bool wordpiece_cleanup = true;

    BpeMerges merges;
    Pretokenizer pretokenizer;
    bool use_regex = true;          // ByteLevel(use_regex): split with the GPT-2 regex
    bool add_prefix_space = false;  // ByteLevel(add_prefix_space)
    bool ignore_merges = false;     // BPE(ignore_merges): a word in the vocab is one token

    // Matched in two passes as in HF: first the non-normalized tokens on the raw text,
    // then the normalized ones on each stretch left, once normalized (their content in
    // added_normalized is normalized too; the id maps keep the original).
    AddedSet added_raw, added_normalized;

    std::vector<int32_t> prefix, suffix;  // add_special wrapping

    int32_t bos = -1, eos = -1, pad = -1, mask = -1, unk = -1;
};

}  // namespace dlm::detail
