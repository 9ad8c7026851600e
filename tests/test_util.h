// Helpers several test files share: random inputs, relative differences, a short
// held-out text file.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <string>
#include <vector>

// n floats uniform in [-1, 1) from a fixed seed.
inline std::vector<float> random_floats(size_t n, uint32_t seed) {
    std::mt19937 g(seed);
    std::uniform_real_distribution<float> u(-1, 1);
    std::vector<float> v(n);
    for (auto& x : v) x = u(g);
    return v;
}

// max |got - ref| / max |ref| (a NaN in got counts as infinitely far).
inline double rel_diff(const std::vector<float>& got, const std::vector<float>& ref) {
    double d = 0, m = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        d = std::max(d, std::isnan(got[i]) ? INFINITY : std::fabs(static_cast<double>(got[i]) - ref[i]));
        m = std::max(m, std::fabs(static_cast<double>(ref[i])));
    }
    return d / std::max(m, 1e-30);
}

// `path`, holding the first 40 lines of WikiText-2's test split (written on the first
// call): a few blocks of 64 tokens, where tokenizing the whole file in each test is slow.
inline std::string held_out_file(const std::string& path) {
    if (!std::ifstream(path)) {
        std::ifstream in(std::string(DLM_TEST_DATA) + "/wikitext-2/wiki.test.raw");
        std::ofstream out(path);
        std::string line;
        for (int i = 0; i < 40 && std::getline(in, line); ++i) out << line << "\n";
    }
    return path;
}
