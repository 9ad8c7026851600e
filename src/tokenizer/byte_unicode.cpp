#include "tokenizer/byte_unicode.h"

#include <array>

#include "tokenizer/utf8.h"

namespace dlm {

namespace {

struct byte_tables {
    std::array<char32_t, 256> to_cp{};
    std::array<int16_t, 512> to_byte{};  // every mapped code point is < 0x144

    byte_tables() {
        to_byte.fill(-1);
        auto printable = [](int b) {
            return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        };
        int next = 0;
        for (int b = 0; b < 256; ++b) {
            char32_t cp = printable(b) ? char32_t(b) : char32_t(256 + next++);
            to_cp[b] = cp;
            to_byte[cp] = int16_t(b);
        }
    }
};

const byte_tables& tables() {
    static const byte_tables t;
    return t;
}

}  // namespace

char32_t byte_to_unicode(uint8_t b) { return tables().to_cp[b]; }

int unicode_to_byte(char32_t cp) { return cp < 512 ? tables().to_byte[cp] : -1; }

std::string bytes_to_vocab_string(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size() * 2);
    for (char c : bytes) utf8_append(out, byte_to_unicode(uint8_t(c)));
    return out;
}

bool vocab_string_to_bytes(std::string_view s, std::string& out) {
    out.clear();
    const auto* p = reinterpret_cast<const uint8_t*>(s.data());
    size_t n = s.size(), i = 0;
    // Mapped code points are all < U+0800, so one- and two-byte sequences suffice.
    while (i < n) {
        char32_t cp;
        if (p[i] < 0x80) {
            cp = p[i];
            i += 1;
        } else if (p[i] >= 0xC2 && p[i] <= 0xDF && i + 1 < n && (p[i + 1] & 0xC0) == 0x80) {
            cp = (char32_t(p[i] & 0x1F) << 6) | (p[i + 1] & 0x3F);
            i += 2;
        } else {
            return false;
        }
        int b = unicode_to_byte(cp);
        if (b < 0) return false;
        out.push_back(char(b));
    }
    return true;
}

}  // namespace dlm
