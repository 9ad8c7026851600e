// The last link of a generation request: the samples as text.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace dlm {

// Each sample's text, special tokens dropped.
std::vector<std::string> texts_decode(const Tokenizer& tok, const std::vector<std::vector<int32_t>>& samples);

}  // namespace dlm
