#include "tokenizer/utf8.h"

#include <cstdint>
#include <cstring>

namespace dlm {

namespace {

// Length of the well-formed sequence starting at p[0] (1..4), or 0 if it is ill-formed.
// On 0, *subpart is the length of its maximal subpart (>= 1): the bytes that one
// U+FFFD replaces. Bounds per Unicode Table 3-7 (no overlongs, no surrogates, <= U+10FFFF).
size_t sequence_length(const uint8_t* p, size_t n, size_t* subpart) {
    uint8_t b0 = p[0];
    *subpart = 1;
    if (b0 < 0x80) return 1;
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3;
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
    } else {
        return 0;  // C0, C1, F5..FF, or a stray continuation byte
    }
    for (size_t i = 1; i < len; ++i) {
        if (i >= n) return 0;
        uint8_t b = p[i];
        bool ok = i == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
        if (!ok) return 0;
        *subpart = i + 1;
    }
    return len;
}

}  // namespace

size_t utf8_valid_prefix(std::string_view s) {
    const auto* p = reinterpret_cast<const uint8_t*>(s.data());
    size_t n = s.size(), i = 0;
    while (i < n) {
        // ASCII fast path, 8 bytes at a time.
        if (i + 8 <= n) {
            uint64_t w;
            std::memcpy(&w, p + i, 8);
            if ((w & 0x8080808080808080ull) == 0) {
                i += 8;
                continue;
            }
        }
        size_t sub;
        size_t len = sequence_length(p + i, n - i, &sub);
        if (len == 0) return i;
        i += len;
    }
    return n;
}

std::string utf8_repair(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 8);
    const auto* p = reinterpret_cast<const uint8_t*>(s.data());
    size_t n = s.size(), i = 0;
    while (i < n) {
        size_t good = utf8_valid_prefix(s.substr(i));
        out.append(s.data() + i, good);
        i += good;
        if (i >= n) break;
        size_t sub;
        sequence_length(p + i, n - i, &sub);
        out.append("\xEF\xBF\xBD");
        i += sub;
    }
    return out;
}

void utf8_append(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

}  // namespace dlm
