// A small counter-friendly random generator (splitmix64) whose output is fully
// specified, unlike std::uniform_*_distribution: runs are reproducible across
// compilers and resumable from a saved state.
#pragma once

#include <cstdint>

namespace dlm {

struct Rng {
    uint64_t state;
    explicit Rng(uint64_t seed = 0) : state(seed) {}
    // Seed for one (stream, index) pair, e.g. (seed, step): independent streams.
    static Rng derive(uint64_t seed, uint64_t a, uint64_t b = 0) { return Rng(mix(mix(seed ^ mix(a)) ^ mix(b + 0x51ed27))); }

    uint64_t next() {
        state += 0x9e3779b97f4a7c15ull;
        return mix_raw(state);
    }
    // Uniform in [0, 1) with 24 random bits (exact in float).
    float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }
    // Uniform in [0, 1) with 53 random bits.
    double uniform_double() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
    // Uniform integer in [0, n) (Lemire's multiply-shift; the tiny bias is irrelevant here).
    uint64_t below(uint64_t n) { return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64); }

    static uint64_t mix(uint64_t x) { return mix_raw(x + 0x9e3779b97f4a7c15ull); }

private:
    static uint64_t mix_raw(uint64_t z) {
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
};

}  // namespace dlm
