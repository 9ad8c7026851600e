// UTF-8 validation and lossy repair.
//
// HuggingFace tokenizers work on Rust strings, which are valid UTF-8 by construction,
// and decode bytes with String::from_utf8_lossy. We do the same at both ends:
// invalid input to encode and invalid byte sequences produced by decode are replaced
// with U+FFFD, one per "maximal subpart" (Unicode 15, section 3.9 "U+FFFD
// Substitution of Maximal Subparts"; also what from_utf8_lossy and WHATWG do).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace dlm {

// Length of the longest prefix of `s` that is valid UTF-8 (== s.size() if valid).
size_t utf8_valid_prefix(std::string_view s);

inline bool utf8_is_valid(std::string_view s) { return utf8_valid_prefix(s) == s.size(); }

// `s` with every ill-formed subsequence replaced by U+FFFD (EF BF BD).
std::string utf8_repair(std::string_view s);

// Appends the UTF-8 encoding of code point `cp` (must be a scalar value) to `out`.
void utf8_append(std::string& out, char32_t cp);

}  // namespace dlm
