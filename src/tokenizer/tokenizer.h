// HuggingFace tokenizers, id-for-id with the `tokenizers` library, in two families:
//   - byte-level BPE: roberta-base, gpt2, ModernBERT-base (GPT-NeoX vocab, NFC
//     normalizer, [CLS] ... [SEP] template) and other GPT-2-style folders;
//   - WordPiece: BERT (bert-base-uncased and friends), from tokenizer.json or from
//     vocab.txt + tokenizer_config.json (do_lower_case, strip_accents,
//     tokenize_chinese_chars), both giving the same ids.
//
//   auto tok = dlm::Tokenizer::from_folder("models/roberta-base");
//   std::vector<int32_t> ids = tok.encode("Hello world", /*add_special=*/true);
//   // ids == {0, 31414, 232, 2}
//   std::string text = tok.decode(ids, /*skip_special=*/true);   // "Hello world"
//
// Pipeline of encode (HF TokenizerImpl::encode_single_sequence):
//   1. invalid UTF-8 is replaced with U+FFFD (HF only ever sees valid Rust strings);
//   2. added tokens that match unnormalized (<s>, <mask>, [CLS], [MASK], ...) are cut
//      out of the raw text, with their lstrip/rstrip/single_word flags (HF
//      AddedVocabulary);
//   3. each remaining stretch is normalized (normalize.h: none for GPT-2/RoBERTa, NFC
//      for ModernBERT, BertNormalizer for BERT), and the normalized added tokens
//      (ModernBERT's runs of spaces) are cut out of it;
//   4. each remaining piece is pre-tokenized: the GPT-2 regex (pretokenize.h) for BPE,
//      BertPreTokenizer (bert_pretokenize.h) for WordPiece;
//   5. each word becomes ids: BPE merges of its bytes (bpe.h, through a per-thread
//      cache), or greedy longest-match WordPiece (wordpiece.h);
//   6. add_special wraps the ids as the post-processor says (<s> ... </s> for RoBERTa,
//      [CLS] ... [SEP] for BERT and ModernBERT, nothing for GPT-2).
// decode, byte-level: concatenates the tokens' bytes and replaces invalid UTF-8 with
// U+FFFD (HF ByteLevel decoder + from_utf8_lossy). decode(encode(s)) == s for every
// valid UTF-8 string s without normalization, except where an added token's
// lstrip/rstrip ate whitespace (" <mask>" -> "<mask>").
// decode, WordPiece: HF's WordPiece decoder (wordpiece.h): tokens joined by spaces,
// "##" pieces glued to the previous one, then its per-token cleanup (" ." -> ".", ...)
// when tokenizer.json says cleanup (the default). So "Hello, world!" encodes and
// decodes to "hello, world!", and "don't" to "don ' t".
// Neither ever applies transformers' extra clean_up_tokenization_spaces pass.
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
    // merges.txt, else vocab.txt (WordPiece) (+ optional special_tokens_map.json /
    // tokenizer_config.json / added_tokens.json). The model comes from tokenizer.json's
    // "model" (a model without "type" is WordPiece when it has WordPiece keys or a
    // BertNormalizer, as bert-base-uncased's). The wrapping (RoBERTa <s>...</s>, BERT
    // [CLS]...[SEP], GPT-2 none) comes from tokenizer.json's post_processor, else from
    // tokenizer_config.json's tokenizer_class, else from the vocab (<s> and </s>
    // present = RoBERTa; vocab.txt = BERT). Throws dlm::Error naming the file on any
    // problem.
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
    // WordPiece: what the token adds after another one, without cleanup ("##ing" ->
    // "ing", "the" -> " the").
    std::string token_text(int32_t id) const;

    // Number of ids, max id + 1 (vocab plus added tokens).
    int32_t vocab_size() const;
    // Id of a raw vocab string ("Ġthe") or added token content ("<mask>").
    std::optional<int32_t> token_to_id(std::string_view token) const;
    // Raw vocab string of an id ("Ġthe"); throws for an unknown id.
    const std::string& id_to_token(int32_t id) const;
    bool is_special(int32_t id) const;

    // -1 where the tokenizer has none. GPT-2 follows transformers: bos = eos = unk =
    // <|endoftext|>, no pad, no mask. Without a bos (eos) token, bos (eos) is the cls
    // (sep) token: BERT and ModernBERT give [CLS] and [SEP] (transformers has none
    // there, but the models' config.json say bos_token_id = cls, eos = sep).
    int32_t bos_id() const;
    int32_t eos_id() const;
    int32_t pad_id() const;
    int32_t mask_id() const;
    int32_t unk_id() const;

    // How many ids add_special adds to one sequence (2 for RoBERTa and BERT, 0 for GPT-2).
    int32_t num_special_to_add() const;

private:
    explicit Tokenizer(std::shared_ptr<const detail::TokenizerData> d) : d_(std::move(d)) {}
    void encode_into(std::string_view text, bool add_special, std::vector<int32_t>& out) const;
    std::shared_ptr<const detail::TokenizerData> d_;
};

// Copies the tokenizer files a HuggingFace folder may hold (vocab.json, merges.txt,
// vocab.txt, tokenizer.json, tokenizer_config.json, special_tokens_map.json, added_tokens.json)
// from one folder to another, atomically per file; missing ones are skipped.
void tokenizer_files_copy(const std::string& from, const std::string& to);

}  // namespace dlm
