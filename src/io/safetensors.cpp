#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace dlm {

namespace {

struct dtype_entry {
    DType t;
    const char* name;
    size_t size;
};
constexpr dtype_entry kDTypes[] = {
    {DType::F64, "F64", 8},   {DType::F32, "F32", 4},         {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I64, "I64", 8},         {DType::I32, "I32", 4},
    {DType::I16, "I16", 2},   {DType::I8, "I8", 1},           {DType::U8, "U8", 1},
    {DType::BOOL, "BOOL", 1}, {DType::F8_E4M3, "F8_E4M3", 1}, {DType::F8_E5M2, "F8_E5M2", 1},
};

const dtype_entry* dtype_find(const std::string& name) {
    for (auto& e : kDTypes)
        if (name == e.name) return &e;
    return nullptr;
}

// The header is at most 100 MB in the reference implementation; larger is corrupt.
constexpr uint64_t kMaxHeader = 100ull << 20;

}  // namespace

const char* dtype_name(DType t) {
    for (auto& e : kDTypes)
        if (e.t == t) return e.name;
    return "?";
}

size_t dtype_size(DType t) {
    for (auto& e : kDTypes)
        if (e.t == t) return e.size;
    return 0;
}

int64_t TensorInfo::numel() const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
}

float bf16_to_f32(uint16_t h) {
    uint32_t u = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

uint16_t f32_to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // NaN stays NaN
    u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
    return static_cast<uint16_t>(u >> 16);
}

float f16_to_f32(uint16_t h) {
    uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else {  // subnormal: normalise
            int e = -1;
            do {
                man <<= 1;
                ++e;
            } while ((man & 0x400u) == 0);
            u = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

uint16_t f32_to_f16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00u;           // NaN
    if (a >= 0x477ff000u) return sign | 0x7c00u;          // overflow (after rounding) -> inf
    if (a < 0x38800000u) {                                // subnormal or zero in f16
        if (a < 0x33000000u) return sign;                 // below half the smallest subnormal
        uint32_t man = (a & 0x7fffffu) | 0x800000u;
        int shift = 126 - static_cast<int>(a >> 23);      // 14..24
        uint32_t half = 1u << (shift - 1 + 0);
        uint32_t r = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        if (rem > half || (rem == half && (r & 1u))) ++r;
        return sign | static_cast<uint16_t>(r);
    }
    uint32_t r = a + 0xfffu + ((a >> 13) & 1u) - (112u << 23);  // rebias 127 -> 15, round
    return sign | static_cast<uint16_t>(r >> 13);
}

SafetensorsReader::SafetensorsReader(const std::string& path) : file_(path) {
    const size_t size = file_.size();
    if (size < 8) fail("{}: not a safetensors file (only {} bytes)", path, size);
    uint64_t n = 0;
    std::memcpy(&n, file_.data(), 8);  // little-endian on every platform we build for
    if (n == 0 || n > kMaxHeader || n > size - 8)
        fail("{}: corrupt safetensors header: header length {} does not fit the file size {}", path,
             n, size);
    const char* hdr = reinterpret_cast<const char*>(file_.data() + 8);
    if (hdr[0] != '{') fail("{}: corrupt safetensors header: it does not start with '{{'", path);
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(hdr, hdr + n);
    } catch (const nlohmann::json::exception& e) {
        fail("{}: corrupt safetensors header: invalid JSON ({})", path, e.what());
    }
    if (!j.is_object()) fail("{}: corrupt safetensors header: not a JSON object", path);
    data_ = file_.data() + 8 + n;
    const uint64_t data_size = size - 8 - n;

    for (auto& [name, v] : j.items()) {
        if (name == "__metadata__") {
            if (!v.is_object()) fail("{}: __metadata__ is not an object", path);
            for (auto& [k, mv] : v.items()) {
                if (!mv.is_string()) fail("{}: __metadata__ value of '{}' is not a string", path, k);
                metadata_[k] = mv.get<std::string>();
            }
            continue;
        }
        if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") ||
            !v.contains("data_offsets"))
            fail("{}: tensor '{}': entry needs dtype, shape and data_offsets", path, name);
        TensorInfo t;
        t.name = name;
        if (!v["dtype"].is_string()) fail("{}: tensor '{}': dtype is not a string", path, name);
        auto dt = dtype_find(v["dtype"].get<std::string>());
        if (!dt) fail("{}: tensor '{}': unknown dtype '{}'", path, name, v["dtype"].get<std::string>());
        t.dtype = dt->t;
        if (!v["shape"].is_array()) fail("{}: tensor '{}': shape is not an array", path, name);
        uint64_t numel = 1;
        for (auto& d : v["shape"]) {
            if (!d.is_number_unsigned()) fail("{}: tensor '{}': shape has a non-integer or negative dimension", path, name);
            uint64_t dim = d.get<uint64_t>();
            if (dim > (1ull << 40) || (dim && numel > (1ull << 50) / dim))
                fail("{}: tensor '{}': shape is absurdly large", path, name);
            numel *= dim;
            t.shape.push_back(static_cast<int64_t>(dim));
        }
        auto& off = v["data_offsets"];
        if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
            !off[1].is_number_unsigned())
            fail("{}: tensor '{}': data_offsets must be two non-negative integers", path, name);
        uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
        if (b > e) fail("{}: tensor '{}': data_offsets [{}, {}] are reversed", path, name, b, e);
        if (e > data_size)
            fail("{}: tensor '{}': data_offsets [{}, {}] run past the end of the file (data section is {} bytes; file truncated?)",
                 path, name, b, e, data_size);
        if (e - b != numel * dt->size)
            fail("{}: tensor '{}': {} bytes for shape {} of {} (expected {})", path, name, e - b,
                 v["shape"].dump(), dt->name, numel * dt->size);
        t.begin = b;
        t.end = e;
        tensors_.push_back(std::move(t));
    }
    // Tensors must not overlap (the format also forbids holes, but we only need
    // that no two tensors share bytes to read safely).
    std::vector<const TensorInfo*> by_offset;
    for (auto& t : tensors_) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(),
              [](auto* a, auto* b) { return a->begin < b->begin; });
    for (size_t i = 1; i < by_offset.size(); ++i)
        if (by_offset[i]->begin < by_offset[i - 1]->end)
            fail("{}: tensors '{}' and '{}' overlap in the data section", path, by_offset[i - 1]->name,
                 by_offset[i]->name);
    for (size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
}

const TensorInfo* SafetensorsReader::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

void SafetensorsReader::read_f32(const TensorInfo& t, float* out) const {
    const uint8_t* p = bytes(t);
    const int64_t n = t.numel();
    switch (t.dtype) {
        case DType::F32:
            std::memcpy(out, p, static_cast<size_t>(n) * 4);
            break;
        case DType::F64:
            for (int64_t i = 0; i < n; ++i) {
                double d;
                std::memcpy(&d, p + 8 * i, 8);
                out[i] = static_cast<float>(d);
            }
            break;
        case DType::BF16:
#pragma omp parallel for schedule(static) if (n > (1 << 16))
            for (int64_t i = 0; i < n; ++i) {
                uint16_t h;
                std::memcpy(&h, p + 2 * i, 2);
                out[i] = bf16_to_f32(h);
            }
            break;
        case DType::F16:
#pragma omp parallel for schedule(static) if (n > (1 << 16))
            for (int64_t i = 0; i < n; ++i) {
                uint16_t h;
                std::memcpy(&h, p + 2 * i, 2);
                out[i] = f16_to_f32(h);
            }
            break;
        default:
            fail("{}: tensor '{}': dtype {} is not a floating-point type dlm can load", path(), t.name,
                 dtype_name(t.dtype));
    }
}

void SafetensorsReader::read_bf16(const TensorInfo& t, uint16_t* out) const {
    if (t.dtype == DType::BF16) {
        std::memcpy(out, bytes(t), static_cast<size_t>(t.numel()) * 2);
        return;
    }
    // Through fp32 a slice at a time, so no fp32 copy of a whole tensor is held.
    const int64_t n = t.numel(), slice = int64_t{1} << 20;
    std::vector<float> tmp(static_cast<size_t>(std::min(n, slice)));
    TensorInfo part = t;
    const size_t es = dtype_size(t.dtype);
    for (int64_t i = 0; i < n; i += slice) {
        const int64_t m = std::min(slice, n - i);
        part.begin = t.begin + static_cast<size_t>(i) * es;
        part.end = part.begin + static_cast<size_t>(m) * es;
        part.shape = {m};
        read_f32(part, tmp.data());
#pragma omp parallel for schedule(static)
        for (int64_t j = 0; j < m; ++j) out[i + j] = f32_to_bf16(tmp[static_cast<size_t>(j)]);
    }
}

void SafetensorsReader::pages_drop(const TensorInfo& t) const {
    const size_t base = static_cast<size_t>(data_ - file_.data());
    file_.pages_drop(base + t.begin, base + t.end);
}

void safetensors_write(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       DType dtype, const std::map<std::string, std::string>& metadata) {
    if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16)
        fail("{}: can only write F32, F16 or BF16 tensors, not {}", path, dtype_name(dtype));
    const size_t es = dtype_size(dtype);
    nlohmann::ordered_json h = nlohmann::ordered_json::object();
    if (!metadata.empty()) h["__metadata__"] = metadata;
    uint64_t off = 0;
    for (auto& t : tensors) {
        int64_t n = 1;
        for (auto d : t.shape) n *= d;
        uint64_t bytes = static_cast<uint64_t>(n) * es;
        h[t.name] = {{"dtype", dtype_name(dtype)}, {"shape", t.shape}, {"data_offsets", {off, off + bytes}}};
        off += bytes;
    }
    std::string header = h.dump();
    header.append((8 - header.size() % 8) % 8, ' ');
    file_write_atomic_stream(path, [&](const file_put_fn& put) {
        uint64_t n = header.size();
        put(&n, 8);
        put(header.data(), header.size());
        std::vector<uint16_t> buf;
        for (auto& t : tensors) {
            int64_t n = 1;
            for (auto d : t.shape) n *= d;
            if (dtype == DType::F32) {
                put(t.data, static_cast<size_t>(n) * 4);
                continue;
            }
            buf.resize(static_cast<size_t>(n));
            for (int64_t i = 0; i < n; ++i)
                buf[i] = dtype == DType::BF16 ? f32_to_bf16(t.data[i]) : f32_to_f16(t.data[i]);
            put(buf.data(), buf.size() * 2);
        }
    });
}

}  // namespace dlm
