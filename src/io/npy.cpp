#include "io/npy.h"

#include <cstring>

#include "core/error.h"
#include "core/file.h"

namespace dlm {

void npy_write_f32(const std::string& path, const float* data, const std::vector<int64_t>& shape) {
    std::string dims;
    int64_t n = 1;
    for (auto d : shape) {
        dims += std::to_string(d) + ",";
        n *= d;
    }
    if (shape.size() > 1) dims.pop_back();  // (T, V) but (T,) for one dimension
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
    // magic(6) + version(2) + header length(2) + header, padded with spaces to a
    // multiple of 64 and ended by a newline.
    size_t total = 10 + header.size() + 1;
    header.append((64 - total % 64) % 64, ' ');
    header += '\n';
    std::string pre = "\x93NUMPY";
    pre += '\x01';
    pre += '\x00';
    uint16_t hl = static_cast<uint16_t>(header.size());
    pre.append(reinterpret_cast<const char*>(&hl), 2);
    file_write_atomic_stream(path, [&](const file_put_fn& put) {
        put(pre.data(), pre.size());
        put(header.data(), header.size());
        put(data, static_cast<size_t>(n) * sizeof(float));
    });
}

NpyArray npy_read_f32(const std::string& path) {
    std::string s = file_read(path);
    if (s.size() < 10 || s.compare(0, 6, "\x93NUMPY") != 0) fail("{}: not a .npy file", path);
    size_t hl, off;
    if (s[6] == 1) {
        uint16_t v;
        std::memcpy(&v, s.data() + 8, 2);
        hl = v;
        off = 10;
    } else {
        uint32_t v;
        std::memcpy(&v, s.data() + 8, 4);
        hl = v;
        off = 12;
    }
    if (off + hl > s.size()) fail("{}: truncated .npy header", path);
    std::string h = s.substr(off, hl);
    if (h.find("'<f4'") == std::string::npos) fail("{}: only little-endian float32 .npy is supported", path);
    if (h.find("'fortran_order': False") == std::string::npos) fail("{}: Fortran-order .npy is not supported", path);
    auto a = h.find('('), b = h.find(')');
    if (a == std::string::npos || b == std::string::npos) fail("{}: .npy header has no shape", path);
    NpyArray out;
    int64_t n = 1;
    std::string dims = h.substr(a + 1, b - a - 1);
    size_t p = 0;
    while (p < dims.size()) {
        size_t q = dims.find(',', p);
        if (q == std::string::npos) q = dims.size();
        std::string tok = dims.substr(p, q - p);
        if (tok.find_first_not_of(' ') != std::string::npos) {
            out.shape.push_back(std::stoll(tok));
            n *= out.shape.back();
        }
        p = q + 1;
    }
    size_t data_off = off + hl;
    if (s.size() - data_off != static_cast<size_t>(n) * 4)
        fail("{}: .npy data size does not match its shape", path);
    out.data.resize(static_cast<size_t>(n));
    std::memcpy(out.data.data(), s.data() + data_off, static_cast<size_t>(n) * 4);
    return out;
}

}  // namespace dlm
