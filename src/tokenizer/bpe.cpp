#include "tokenizer/bpe.h"

#include <algorithm>

namespace dlm {

namespace {

uint64_t pair_key(int32_t left, int32_t right) {
    return (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
}

uint64_t pair_hash(uint64_t key) {
    key ^= key >> 31;
    key *= 0x9E3779B97F4A7C15ull;
    key ^= key >> 29;
    return key;
}

struct symbol {
    int32_t id;
    int32_t prev, next;  // neighbours in the list; -1 at the ends
    bool alive;
};

struct candidate {
    int32_t rank, pos, merged;
    // std heap functions build a max-heap: "less" means lower priority.
    bool operator<(const candidate& o) const {
        return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
};

// Scratch buffers reused across calls on one thread (BPE runs only on cache misses,
// but a cold cache on a large corpus still calls it for every distinct word).
struct scratch {
    std::vector<symbol> symbols;
    std::vector<candidate> heap;
};

}  // namespace

void BpeMerges::add(int32_t left, int32_t right, int32_t merged, int32_t rank) {
    if ((count_ + 1) * 2 > slots_.size()) grow();
    uint64_t key = pair_key(left, right);
    size_t mask = slots_.size() - 1;
    for (size_t i = pair_hash(key) & mask;; i = (i + 1) & mask) {
        if (slots_[i].key == empty_key) {
            slots_[i] = {key, rank, merged};
            ++count_;
            return;
        }
        if (slots_[i].key == key) {
            slots_[i].rank = rank;
            slots_[i].merged = merged;
            return;
        }
    }
}

void BpeMerges::grow() {
    std::vector<slot> old = std::move(slots_);
    slots_.assign(std::max<size_t>(64, old.size() * 2), slot{empty_key, 0, 0});
    count_ = 0;
    for (const slot& s : old)
        if (s.key != empty_key) add(int32_t(s.key >> 32), int32_t(uint32_t(s.key)), s.merged, s.rank);
}

const BpeMerges::slot* BpeMerges::find(int32_t left, int32_t right) const {
    if (slots_.empty()) return nullptr;
    uint64_t key = pair_key(left, right);
    size_t mask = slots_.size() - 1;
    for (size_t i = pair_hash(key) & mask;; i = (i + 1) & mask) {
        if (slots_[i].key == key) return &slots_[i];
        if (slots_[i].key == empty_key) return nullptr;
    }
}

void BpeMerges::encode_word(std::string_view word, std::vector<int32_t>& out) const {
    size_t n = word.size();
    if (n == 1) {
        out.push_back(byte_ids_[uint8_t(word[0])]);
        return;
    }
    thread_local scratch s;
    auto& sym = s.symbols;
    auto& heap = s.heap;
    sym.resize(n);
    heap.clear();
    for (size_t i = 0; i < n; ++i)
        sym[i] = {byte_ids_[uint8_t(word[i])], int32_t(i) - 1, i + 1 < n ? int32_t(i + 1) : -1, true};
    for (size_t i = 0; i + 1 < n; ++i)
        if (const slot* m = find(sym[i].id, sym[i + 1].id))
            heap.push_back({m->rank, int32_t(i), m->merged});
    std::make_heap(heap.begin(), heap.end());

    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end());
        candidate top = heap.back();
        heap.pop_back();
        symbol& left = sym[top.pos];
        if (!left.alive || left.next < 0) continue;
        symbol& right = sym[left.next];
        // Stale if the pair at `pos` changed since this entry was pushed.
        const slot* m = find(left.id, right.id);
        if (!m || m->merged != top.merged) continue;

        left.id = top.merged;
        right.alive = false;
        left.next = right.next;
        if (right.next >= 0) sym[right.next].prev = top.pos;
        if (left.prev >= 0)
            if (const slot* p = find(sym[left.prev].id, left.id)) {
                heap.push_back({p->rank, left.prev, p->merged});
                std::push_heap(heap.begin(), heap.end());
            }
        if (left.next >= 0)
            if (const slot* q = find(left.id, sym[left.next].id)) {
                heap.push_back({q->rank, top.pos, q->merged});
                std::push_heap(heap.begin(), heap.end());
            }
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
}

}  // namespace dlm
