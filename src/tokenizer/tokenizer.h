// Byte-level BPE tokenizer, id-for-id compatible with HuggingFace `tokenizers` for
// roberta-base and gpt2 (and other GPT-2-style BPE folders).
//
//   auto tok = dlm::Tokenizer::from_folder("models/roberta-base");
//   std::vector<int32_t> ids = tok.encode("Hello world", /*add_special=*/true);
//   // ids == {0, 31414, 232, 2}
//   std::string text = tok.decode(ids, /*skip_special=*/true);   // "Hello world"
//
// Pipeline of encode (HF TokenizerImpl::encode_single_sequence):
//   1. invalid UTF-8 is replaced with U+FFFD (HF only ever sees valid Rust strings);
//   2. added tokens (<s>, <mask>, <|endoftext|>, ...) are cut out of the raw text,
//      with their lstrip/rstrip/single_word flags (HF AddedVocabulary);
//   3. each remaining piece is split by the GPT-2 regex (pretokenize.h);
//   4. each piece's bytes are BPE-merged (bpe.h), through a per-thread cache;
//   5. add_special wraps the ids as the post-processor says (<s> ... </s> for RoBERTa,
//      nothing for GPT-2).
// decode concatenates the tokens' bytes and replaces invalid UTF-8 with U+FFFD (HF
// ByteLevel decoder + from_utf8_lossy); it never applies transformers'
// clean_up_tokenization_spaces. decode(encode(s)) == s for every valid UTF-8 string s,
// except where an added token's lstrip/rstrip ate whitespace (" <mask>" -> "<mask>").
//
// A Tokenizer is immutable after loading; copies share the data (cheap), and any
// number of threads may encode and decode concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dlm {

namespace detail {
struct TokenizerData;
}

class Tokenizer {
public:
    // Loads from a model folder: tokenizer.json if present, else vocab.json +
    // merges.txt (+ optional special_tokens_map.json / tokenizer_config.json /
    // added_tokens.json). The family (RoBERTa <s>...</s> wrapping vs GPT-2, no
    // wrapping) comes from tokenizer.json's post_processor, else from
    // tokenizer_config.json's tokenizer_class, else from the vocab (<s> and </s>
    // present = RoBERTa). Throws dlm::Error naming the file on any problem.
    static Tokenizer from_folder(const std::string& dir);

    // Token ids of `text`; add_special adds the family's wrapping.
    std::vector<int32_t> encode(std::string_view text, bool add_special = false) const;
    // encode() of each text, spread over `threads` threads (0 = OpenMP's default).
    std::vector<std::vector<int32_t>> encode_batch(const std::vector<std::string>& texts,
                                                   bool add_special = false,
                                                   int threads = 0) const;
    // Text of `ids`; throws dlm::Error naming the first id outside the vocab.
    std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;
    // Raw bytes of one token; may be a partial UTF-8 sequence (for streaming output).
    std::string token_text(int32_t id) const;

    // Number of ids, max id + 1 (vocab plus added tokens).
    int32_t vocab_size() const;
    // Id of a raw vocab string ("Ġthe") or added token content ("<mask>").
    std::optional<int32_t> token_to_id(std::string_view token) const;
    // Raw vocab string of an id ("Ġthe"); throws for an unknown id.
    const std::string& id_to_token(int32_t id) const;
    bool is_special(int32_t id) const;

    // -1 where the tokenizer has none. GPT-2 follows transformers: bos = eos = unk =
    // <|endoftext|>, no pad, no mask.
    int32_t bos_id() const;
    int32_t eos_id() const;
    int32_t pad_id() const;
    int32_t mask_id() const;
    int32_t unk_id() const;

    // How many ids add_special adds to one sequence (2 for RoBERTa, 0 for GPT-2).
    int32_t num_special_to_add() const;

private:
    explicit Tokenizer(std::shared_ptr<const detail::TokenizerData> d) : d_(std::move(d)) {}
    void encode_into(std::string_view text, bool add_special, std::vector<int32_t>& out) const;
    std::shared_ptr<const detail::TokenizerData> d_;
};

// Copies the tokenizer files a HuggingFace folder may hold (vocab.json, merges.txt,
// tokenizer.json, tokenizer_config.json, special_tokens_map.json, added_tokens.json)
// from one folder to another, atomically per file; missing ones are skipped.
void tokenizer_files_copy(const std::string& from, const std::string& to);

}  // namespace dlm
