// Cache of word (raw bytes) -> BPE ids. Most words of a corpus repeat, so after a
// warm-up almost every word is one hash lookup instead of a BPE run.
//
// Not thread-safe: each thread owns its caches (see thread_word_cache). Keys and ids
// live in two flat arenas; slots index into them, so a lookup allocates nothing. When
// the cache reaches `max_entries` it is simply cleared: cheap, and a corpus' frequent
// words come back within a few lines.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dlm {

class WordCache {
public:
    explicit WordCache(size_t max_entries = size_t(1) << 18) : max_entries_(max_entries) {}

    static uint64_t hash(std::string_view word);

    // Ids cached for `word` (with hash `h`), or an empty span if absent (a cached
    // word always has at least one id).
    std::span<const int32_t> find(std::string_view word, uint64_t h) const;
    void insert(std::string_view word, uint64_t h, std::span<const int32_t> ids);
    void clear();
    size_t size() const { return count_; }

private:
    struct slot {
        uint64_t hash = 0;  // 0 = free (hash() never returns 0)
        uint32_t key_begin = 0, key_len = 0;
        uint32_t ids_begin = 0, ids_len = 0;
    };
    void rehash(size_t capacity);

    size_t max_entries_;
    size_t count_ = 0;
    std::vector<slot> slots_;  // size a power of two, load <= 1/2
    std::string keys_;
    std::vector<int32_t> ids_;
};

// The calling thread's cache for the tokenizer with serial number `owner`. A thread
// keeps caches for a few tokenizers at once and recycles the least recently used.
WordCache& thread_word_cache(uint64_t owner);

}  // namespace dlm
