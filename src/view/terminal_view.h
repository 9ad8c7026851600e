// The live view of `--animate`: after every step the sequence is redrawn in place,
// still-masked positions as blocks, tokens committed in this step highlighted.
// Off a terminal (a file, a pipe) each step is printed as a plain line instead,
// masks as '_', so the view can be logged and tested.
#pragma once

#include <cstdio>
#include <string>

#include "generation/events.h"
#include "tokenizer/tokenizer.h"

namespace dlm {

class TerminalView {
public:
    // prompt_len: the leading tokens shown as the prompt; sample: which sample to show.
    TerminalView(const Tokenizer& tok, int64_t prompt_len, std::FILE* out, bool tty, std::string title = "");
    void show(const GenerationStep& s);
    // One frame as text (no escape codes when tty is false).
    std::string render(const GenerationStep& s) const;

private:
    const Tokenizer& tok_;
    int64_t prompt_len_;
    std::FILE* out_;
    bool tty_;
    std::string title_;
    bool first_ = true;
};

}  // namespace dlm
