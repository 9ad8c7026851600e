// Atomic writes and memory maps.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "core/file.h"

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
