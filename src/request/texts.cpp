#include "request/texts.h"

namespace dlm {

std::vector<std::string> texts_decode(const Tokenizer& tok, const std::vector<std::vector<int32_t>>& samples) {
    std::vector<std::string> texts;
    for (const auto& s : samples) texts.push_back(tok.decode(s, true));
    return texts;
}

}  // namespace dlm
