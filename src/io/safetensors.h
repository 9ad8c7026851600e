// safetensors: the HuggingFace weight file format.
//   [8 bytes: header length N, little-endian u64][N bytes: JSON header][data]
//   header: {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//            "__metadata__": {"key": "value"}}   (offsets are relative to the data start)
// The reader maps the file and validates the whole header up front (sizes, offsets,
// dtypes, overlaps), so that a corrupt file is rejected with a message naming the
// file and the tensor before any of it is used.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/file.h"

namespace dlm {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, F8_E4M3, F8_E5M2 };

const char* dtype_name(DType t);
size_t dtype_size(DType t);

struct TensorInfo {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    size_t begin = 0, end = 0;  // byte range inside the data section
    int64_t numel() const;
};

class SafetensorsReader {
public:
    explicit SafetensorsReader(const std::string& path);  // throws dlm::Error

    const std::string& path() const { return file_.path(); }
    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    const TensorInfo* find(const std::string& name) const;  // nullptr if absent

    // Raw bytes of a tensor, as stored.
    const uint8_t* bytes(const TensorInfo& t) const { return data_ + t.begin; }

    // Converts a floating-point tensor (F64, F32, F16, BF16) to fp32 into out[numel].
    // Throws dlm::Error naming the tensor for other dtypes.
    void read_f32(const TensorInfo& t, float* out) const;
    // The same into bf16 (round to nearest even from the fp32 value; BF16 is copied).
    void read_bf16(const TensorInfo& t, uint16_t* out) const;
    // The tensor's bytes are no longer needed: drop their pages from memory.
    void pages_drop(const TensorInfo& t) const;

private:
    MappedFile file_;
    const uint8_t* data_ = nullptr;
    std::vector<TensorInfo> tensors_;
    std::map<std::string, size_t> index_;
    std::map<std::string, std::string> metadata_;
};

// One tensor to write: fp32 data converted to `dtype` (F32, F16 or BF16) on the way out.
struct TensorToWrite {
    std::string name;
    std::vector<int64_t> shape;
    const float* data;
};

// Writes a safetensors file atomically (temporary file + rename), tensors in the
// given order, data aligned as the reference implementation does (header padded
// with spaces to a multiple of 8 bytes).
void safetensors_write(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       DType dtype = DType::F32,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// fp16/bf16 conversions (round to nearest even).
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

}  // namespace dlm
