// Byte-level BPE merges (HF tokenizers models::bpe::Word::merge_all).
//
// A word starts as one symbol per byte (the vocab id of that byte's character); the
// pair with the lowest merge rank is merged first, ties going to the leftmost pair,
// until no adjacent pair has a merge. Symbols live in a linked list over an array and
// candidate pairs in a min-heap ordered by (rank, position); entries made stale by an
// earlier merge are skipped when popped. O(n log n) per word, so long runs of one
// character are no problem.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

namespace dlm {

class BpeMerges {
public:
    BpeMerges() = default;

    // byte_ids[b]: vocab id of the one-byte token for byte b.
    void set_byte_ids(const std::array<int32_t, 256>& byte_ids) { byte_ids_ = byte_ids; }
    // Merge (left, right) -> merged with priority `rank` (smaller first). A later call
    // for the same pair replaces the earlier one, as in HF's HashMap collect.
    void add(int32_t left, int32_t right, int32_t merged, int32_t rank);

    int32_t byte_id(uint8_t b) const { return byte_ids_[b]; }

    // Appends the ids of `word` (raw bytes, non-empty) to `out`.
    void encode_word(std::string_view word, std::vector<int32_t>& out) const;

private:
    struct slot {
        uint64_t key;    // (left << 32) | right; empty_key marks a free slot
        int32_t rank;
        int32_t merged;
    };
    static constexpr uint64_t empty_key = ~uint64_t(0);
    const slot* find(int32_t left, int32_t right) const;
    void grow();

    std::array<int32_t, 256> byte_ids_{};
    std::vector<slot> slots_;  // open addressing, size a power of two, load <= 1/2
    size_t count_ = 0;
};

}  // namespace dlm
