// File helpers shared by every reader and writer: whole-file reads, read-only
// memory maps, and atomic writes (write a temporary file beside the target,
// fsync, rename) so that a crash never leaves a half-written file behind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace dlm {

// Reads a whole file; throws dlm::Error naming the path if it cannot.
std::string file_read(const std::string& path);

bool file_exists(const std::string& path);

// Writes `data` to `path` atomically. Throws dlm::Error naming the path on failure;
// an existing file at `path` is left untouched in that case.
void file_write_atomic(const std::string& path, std::string_view data);

// Same, with the content produced by a callback that writes through `put`.
// Useful for large files that should not be assembled in memory first.
using file_put_fn = std::function<void(const void* data, size_t size)>;
void file_write_atomic_stream(const std::string& path,
                              const std::function<void(const file_put_fn& put)>& produce);

// A read-only memory map of a whole file.
class MappedFile {
public:
    MappedFile() = default;
    explicit MappedFile(const std::string& path);  // throws dlm::Error
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    MappedFile(MappedFile&& o) noexcept;
    MappedFile& operator=(MappedFile&& o) noexcept;

    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    const std::string& path() const { return path_; }

    // Lets the kernel drop the pages of bytes [begin, end) from this process's memory
    // (they are read again from the file if touched). Loading calls it after each tensor
    // so that the file does not stay resident next to the weights built from it.
    void pages_drop(size_t begin, size_t end) const;

private:
    void release();
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
    std::string path_;
};

}  // namespace dlm
