// Training blocks: a corpus (corpus.h) tokenized unit by unit and cut into blocks of
// block_size ids, with an on-disk cache of each file's tokens.
//
//   auto tok = dlm::Tokenizer::from_folder("models/roberta-base");
//   dlm::DatasetOptions opt;                      // the recipe: concat, 256, <s>...</s>
//   dlm::Dataset ds = dlm::dataset_build({"data/wikitext-2/wiki.train.raw"}, tok, opt);
//   for (int64_t b : dlm::epoch_order(ds.blocks, seed, epoch)) use(ds.block(b));
//
// The recipe (HF run_mlm.py style, group_texts):
//   ids of a unit = tokenizer(text, truncation=True, max_length=unit_max_tokens)
//                   i.e. <s> + first tokens + </s> for RoBERTa (the wrapping survives
//                   truncation), the first tokens for GPT-2;
//   CONCAT:   all units' ids in order, cut into non-overlapping blocks, the remainder
//             after the last full block dropped;
//   DOCUMENT: each document's ids cut into blocks on its own, its last partial block
//             padded (pad_id, else eos_id); Dataset::real says where padding starts,
//             so a model can learn to stop.
// Tokenizers that add no wrapping (GPT-2) get eos_id (<|endoftext|>) after every
// document instead, unless eos_between_documents says otherwise.
//
// Cache: the token stream of each file (before blocking) is stored under
// <cache_dir>/datasets/<key>.tokens, keyed by a hash of the file's content, its
// resolved format, the tokenizer's fingerprint and every option that changes tokens
// (not block_size or mode: blocking is cheap). Files are written atomically, carry
// a header and a checksum, and a damaged one is rebuilt with a warning on stderr.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "data/corpus.h"
#include "tokenizer/tokenizer.h"

namespace dlm {

enum class BlockMode { CONCAT, DOCUMENT };

// "concat" or "document"; throws dlm::Error otherwise.
BlockMode block_mode_parse(std::string_view name);
const char* block_mode_name(BlockMode mode);

struct DatasetOptions {
    CorpusOptions corpus;                         // format, JSONL field
    BlockMode mode = BlockMode::CONCAT;
    int64_t block_size = 256;
    int64_t unit_max_tokens = 256;                // per unit, specials included; 0 = no limit
    bool add_special = true;                      // the tokenizer's wrapping (<s> ... </s>)
    bool wrap_documents = false;                  // wrap each document instead of each unit:
                                                  // <s> unit unit ... </s> (RoBERTa); a
                                                  // tokenizer without wrapping gets eos after
                                                  // each document, as in unit mode
    std::optional<bool> eos_between_documents;    // unset: on iff the tokenizer adds no wrapping
    int threads = 0;                              // tokenizer threads; 0 = OpenMP's default
    bool use_cache = true;
    std::string cache_dir;                        // "" = dataset_cache_dir_default()
};

struct DatasetStats {
    int64_t files = 0;
    int64_t files_from_cache = 0;
    int64_t units = 0;
    int64_t documents = 0;
    int64_t tokens = 0;            // the token stream: units' ids after truncation, plus eos ids
    int64_t tokens_truncated = 0;  // cut from units by unit_max_tokens
    int64_t tokens_dropped = 0;    // CONCAT: the remainder after the last full block
    int64_t tokens_padded = 0;     // DOCUMENT: pad ids added
    bool from_cache = false;       // every file's tokens came from the cache
    double seconds = 0;            // wall time of dataset_build
};

struct Dataset {
    int64_t block_size = 0;
    int64_t blocks = 0;
    std::vector<int32_t> ids;   // (blocks, block_size), row-major
    std::vector<int32_t> real;  // (blocks): ids [real, block_size) of a block are padding
    DatasetStats stats;

    std::span<const int32_t> block(int64_t i) const {
        return {ids.data() + i * block_size, size_t(block_size)};
    }
};

// Reads, tokenizes (or loads from the cache) and blocks the files `paths` expands to
// (corpus_list_files). Throws dlm::Error naming the file or option at fault; a cache
// that cannot be written only costs a warning.
Dataset dataset_build(const std::vector<std::string>& paths, const Tokenizer& tok,
                      const DatasetOptions& opt);

// The same from units already in memory (no cache); documents as in corpus.unit_doc.
Dataset dataset_from_corpus(const Corpus& corpus, const Tokenizer& tok, const DatasetOptions& opt);

// $DLM_CACHE_DIR, else $XDG_CACHE_HOME/dlm, else $HOME/.cache/dlm.
std::string dataset_cache_dir_default();

// One line for logs: "1132 blocks of 256 from 2891 units (2891 documents), ...".
std::string dataset_summary(const Dataset& ds);

// A hash of what decides the tokenizer's output: every token's string, the special
// flags and ids, the wrapping, and the encoding of a probe made of every 4th vocab
// token (Tokenizer does not expose its merges; the probe exercises them). ~12 ms the
// first time, ~1 ms after: the result is remembered per loaded tokenizer.
uint64_t tokenizer_fingerprint(const Tokenizer& tok);

// A permutation of 0..n_blocks-1 that depends only on (seed, epoch): Fisher-Yates
// driven by a counter-based generator of our own, so it is the same on every
// platform and standard library (std::shuffle is not).
std::vector<int64_t> epoch_order(int64_t n_blocks, uint64_t seed, int64_t epoch);

}  // namespace dlm
