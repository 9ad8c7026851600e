#include "tokenizer/word_cache.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

namespace dlm {

uint64_t WordCache::hash(std::string_view word) {
    // Multiply-xorshift over 8-byte blocks; words are short, so this is a few rounds.
    const char* p = word.data();
    size_t n = word.size();
    uint64_t h = 0x243F6A8885A308D3ull ^ (n * 0x9E3779B97F4A7C15ull);
    while (n >= 8) {
        uint64_t w;
        std::memcpy(&w, p, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    if (n > 0) {
        uint64_t w = 0;
        std::memcpy(&w, p, n);
        h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    }
    h ^= h >> 29;
    h *= 0x9E3779B97F4A7C15ull;
    h ^= h >> 32;
    return h ? h : 1;
}

std::span<const int32_t> WordCache::find(std::string_view word, uint64_t h) const {
    if (slots_.empty()) return {};
    size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const slot& s = slots_[i];
        if (s.hash == 0) return {};
        if (s.hash == h && s.key_len == word.size() &&
            std::memcmp(keys_.data() + s.key_begin, word.data(), word.size()) == 0)
            return {ids_.data() + s.ids_begin, s.ids_len};
    }
}

void WordCache::insert(std::string_view word, uint64_t h, std::span<const int32_t> ids) {
    // Arena offsets are 32-bit; clearing well before that also bounds memory.
    if (count_ >= max_entries_ || keys_.size() + word.size() > (size_t(1) << 30) ||
        ids_.size() + ids.size() > (size_t(1) << 28))
        clear();
    if ((count_ + 1) * 2 > slots_.size()) rehash(std::max<size_t>(1024, slots_.size() * 2));
    size_t mask = slots_.size() - 1;
    size_t i = h & mask;
    while (slots_[i].hash != 0) i = (i + 1) & mask;
    slot& s = slots_[i];
    s.hash = h;
    s.key_begin = uint32_t(keys_.size());
    s.key_len = uint32_t(word.size());
    s.ids_begin = uint32_t(ids_.size());
    s.ids_len = uint32_t(ids.size());
    keys_.append(word);
    ids_.insert(ids_.end(), ids.begin(), ids.end());
    ++count_;
}

void WordCache::rehash(size_t capacity) {
    std::vector<slot> old = std::move(slots_);
    slots_.assign(capacity, slot{});
    size_t mask = capacity - 1;
    for (const slot& s : old) {
        if (s.hash == 0) continue;
        size_t i = s.hash & mask;
        while (slots_[i].hash != 0) i = (i + 1) & mask;
        slots_[i] = s;
    }
}

void WordCache::clear() {
    // Keep the slot array's size: a cache that filled up once will fill up again.
    std::fill(slots_.begin(), slots_.end(), slot{});
    keys_.clear();
    ids_.clear();
    count_ = 0;
}

WordCache& thread_word_cache(uint64_t owner) {
    struct entry {
        uint64_t owner = 0;  // 0 = unused (serials start at 1)
        uint64_t last_use = 0;
        std::unique_ptr<WordCache> cache;
    };
    thread_local std::array<entry, 4> entries;
    thread_local uint64_t clock = 0;
    ++clock;
    entry* victim = &entries[0];
    for (entry& e : entries) {
        if (e.owner == owner) {
            e.last_use = clock;
            return *e.cache;
        }
        if (e.last_use < victim->last_use) victim = &e;
    }
    // A recycled cache may hold words of a tokenizer that has since been destroyed;
    // the owner serial is never reused, so clearing on hand-over is enough.
    if (victim->cache)
        victim->cache->clear();
    else
        victim->cache = std::make_unique<WordCache>();
    victim->owner = owner;
    victim->last_use = clock;
    return *victim->cache;
}

}  // namespace dlm
