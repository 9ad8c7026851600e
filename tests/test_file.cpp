// Atomic writes and memory maps.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "core/file.h"
#include "core/zero_pages.h"

namespace fs = std::filesystem;

TEST(file, write_atomic_then_read_back) {
    fs::path dir = fs::temp_directory_path() / "dlm_test_file";
    fs::create_directories(dir);
    std::string path = (dir / "a.txt").string();
    dlm::file_write_atomic(path, "hello");
    EXPECT_EQ(dlm::file_read(path), "hello");
    dlm::file_write_atomic(path, "world!");
    EXPECT_EQ(dlm::file_read(path), "world!");
    dlm::MappedFile m(path);
    ASSERT_EQ(m.size(), 6u);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(m.data()), m.size()), "world!");
    fs::remove_all(dir);
}

TEST(file, failed_write_keeps_old_content_and_leaves_no_temp) {
    fs::path dir = fs::temp_directory_path() / "dlm_test_file2";
    fs::create_directories(dir);
    std::string path = (dir / "b.txt").string();
    dlm::file_write_atomic(path, "keep me");
    EXPECT_THROW(dlm::file_write_atomic_stream(path,
                                               [](const dlm::file_put_fn& put) {
                                                   put("partial", 7);
                                                   dlm::fail("producer failed");
                                               }),
                 dlm::Error);
    EXPECT_EQ(dlm::file_read(path), "keep me");
    int n = 0;
    for (auto& e : fs::directory_iterator(dir)) n += e.is_regular_file();
    EXPECT_EQ(n, 1);
    fs::remove_all(dir);
}

TEST(file, missing_file_names_the_path) {
    try {
        dlm::file_read("/nonexistent/dir/x.bin");
        FAIL() << "expected an error";
    } catch (const dlm::Error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/x.bin"), std::string::npos);
    }
    EXPECT_THROW(dlm::MappedFile("/nonexistent/y.bin"), dlm::Error);
}

// Zero-page buffers (core/zero_pages.h): sized without writing, they read as zeros, and
// the huge-page form (advised from 2 MB) holds what is written like any vector.
TEST(zero_pages, buffers_read_zero_and_keep_what_is_written) {
    for (size_t n : {size_t{1000}, size_t{3} << 20}) {
        dlm::HugePageVector<float> big(n);
        std::vector<float, dlm::ZeroPageAllocator<float>> small(n);
        size_t nonzero = 0;
        for (size_t i = 0; i < n; ++i) nonzero += (big[i] != 0.0f) + (small[i] != 0.0f);
        EXPECT_EQ(nonzero, 0u) << n << " floats";
        for (size_t i = 0; i < n; i += 4093) big[i] = small[i] = static_cast<float>(i);
        dlm::HugePageVector<float> moved = std::move(big);
        for (size_t i = 0; i < n; i += 4093) {
            ASSERT_EQ(moved[i], static_cast<float>(i));
            ASSERT_EQ(small[i], static_cast<float>(i));
        }
    }
}
