// NumPy .npy files (format version 1.0, little-endian float32, C order): what
// `dlm logits` writes so that results can be checked with numpy in one line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dlm {

// Writes a float32 array atomically. shape: e.g. {T, V}.
void npy_write_f32(const std::string& path, const float* data, const std::vector<int64_t>& shape);

struct NpyArray {
    std::vector<int64_t> shape;
    std::vector<float> data;
};
// Reads a little-endian float32 C-order .npy; throws dlm::Error otherwise.
NpyArray npy_read_f32(const std::string& path);

}  // namespace dlm
