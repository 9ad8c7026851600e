#include "data/hash.h"

#include <cstring>

namespace dlm {

namespace {

constexpr uint64_t k1 = 0x9fb21c651e98df25ull;
constexpr uint64_t k2 = 0xc2b2ae3d27d4eb4full;
constexpr uint64_t k3 = 0x165667b19e3779f9ull;

inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

inline uint64_t load64(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);  // unaligned-safe; the cache is only read on the machine that wrote it
    return v;
}

// One lane step: the multiply spreads each input bit over the high bits, the
// rotation brings them back down for the next step.
inline uint64_t lane_step(uint64_t acc, uint64_t w) { return rotl(acc + w * k2, 29) * k1; }

// splitmix64 finaliser: every input bit affects every output bit.
inline uint64_t avalanche(uint64_t x) {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

}  // namespace

uint64_t hash_bytes(const void* data, size_t size, uint64_t seed) {
    const auto* p = static_cast<const uint8_t*>(data);
    const uint8_t* end = p + size;
    uint64_t h;
    if (size >= 32) {
        uint64_t a = seed + k1 + k2, b = seed + k2, c = seed, d = seed - k1;
        for (; end - p >= 32; p += 32) {
            a = lane_step(a, load64(p));
            b = lane_step(b, load64(p + 8));
            c = lane_step(c, load64(p + 16));
            d = lane_step(d, load64(p + 24));
        }
        h = rotl(a, 1) + rotl(b, 7) + rotl(c, 12) + rotl(d, 18);
        for (uint64_t lane : {a, b, c, d}) h = (h ^ lane_step(0, lane)) * k1 + k3;
    } else {
        h = seed + k3;
    }
    h += uint64_t(size);
    for (; end - p >= 8; p += 8) h = rotl(h ^ lane_step(0, load64(p)), 27) * k1 + k3;
    for (; p < end; ++p) h = rotl(h ^ (uint64_t(*p) * k3), 11) * k1;
    return avalanche(h);
}

HashKey& HashKey::add(uint64_t v) {
    bytes_.append(reinterpret_cast<const char*>(&v), sizeof v);
    return *this;
}

HashKey& HashKey::add(std::string_view s) {
    add(uint64_t(s.size()));
    bytes_.append(s);
    return *this;
}

}  // namespace dlm
