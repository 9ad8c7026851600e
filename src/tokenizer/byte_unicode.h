// GPT-2's reversible byte <-> code point map (HF tokenizers `bytes_char`, openai
// encoder.py `bytes_to_unicode`). Vocab strings are written in this alphabet so that
// every byte is a printable character: printable Latin-1 bytes map to themselves,
// the other 68 bytes to U+0100.. in byte order (so ' ' (0x20) is 'Ġ' U+0120).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dlm {

// Code point that stands for byte `b`.
char32_t byte_to_unicode(uint8_t b);

// Byte that code point `cp` stands for, or -1 if `cp` is not in the map.
int unicode_to_byte(char32_t cp);

// Raw bytes -> vocab alphabet ("Ġthe" for " the").
std::string bytes_to_vocab_string(std::string_view bytes);

// Vocab alphabet -> raw bytes. Returns false if `s` is not valid UTF-8 or has a code
// point outside the map; `out` is then unspecified.
bool vocab_string_to_bytes(std::string_view s, std::string& out);

}  // namespace dlm
