// Helpers several test files share: random inputs, relative differences, a short
// held-out text file, fixture tensors.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "io/safetensors.h"

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

// A fixture tensor of st as floats; a missing one fails the test (empty result).
inline std::vector<float> fixture_f32(const dlm::SafetensorsReader& st, const std::string& name) {
    const dlm::TensorInfo* t = st.find(name);
    if (!t) {
        ADD_FAILURE() << "missing fixture " << name;
        return {};
    }
    std::vector<float> v(static_cast<size_t>(t->numel()));
    st.read_f32(*t, v.data());
    return v;
}

// An I64 fixture tensor of st as int32 ids.
inline std::vector<int32_t> fixture_i32(const dlm::SafetensorsReader& st, const std::string& name) {
    const dlm::TensorInfo* t = st.find(name);
    EXPECT_TRUE(t && t->dtype == dlm::DType::I64) << name;
    std::vector<int32_t> v(t ? static_cast<size_t>(t->numel()) : 0);
    for (size_t i = 0; i < v.size(); ++i) {
        int64_t x;
        std::memcpy(&x, st.bytes(*t) + 8 * i, 8);
        v[i] = static_cast<int32_t>(x);
    }
    return v;
}

// max|got - want| <= rel * max|want| (a NaN in got fails); DLM_TEST_PRINT_ERRORS=1
// prints the measured ratio.
inline void expect_close(const std::vector<float>& got, const std::vector<float>& want, double rel,
                         const std::string& what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    double md = 0, mr = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        md = std::max(md, std::isnan(got[i]) ? INFINITY : std::fabs(double(got[i]) - want[i]));
        mr = std::max(mr, std::fabs(double(want[i])));
    }
    EXPECT_LE(md, rel * mr) << what << ": max|diff| " << md << " max|ref| " << mr;
    if (std::getenv("DLM_TEST_PRINT_ERRORS")) std::printf("  %-50s %.3g\n", what.c_str(), md / std::max(mr, 1e-30));
}
