#include "view/terminal_view.h"

#include <fmt/format.h>

#include <set>

namespace dlm {

namespace {
constexpr const char* kReset = "\033[0m";
constexpr const char* kPrompt = "\033[1;36m";     // bold cyan
constexpr const char* kCommitted = "\033[1;32m";  // bold green
constexpr const char* kChanged = "\033[33m";      // yellow
constexpr const char* kMasked = "\033[2m";        // dim
}  // namespace

TerminalView::TerminalView(const Tokenizer& tok, int64_t prompt_len, std::FILE* out, bool tty, std::string title)
    : tok_(tok), prompt_len_(prompt_len), out_(out), tty_(tty), title_(std::move(title)) {}

std::string TerminalView::render(const GenerationStep& s) const {
    std::set<int64_t> committed(s.committed.begin(), s.committed.end()), changed(s.changed.begin(), s.changed.end());
    std::string text;
    const char* current = nullptr;
    auto style = [&](const char* st) {
        if (!tty_ || st == current) return;
        text += current ? kReset : "";
        if (st) text += st;
        current = st;
    };
    for (int64_t p = 0; p < static_cast<int64_t>(s.tokens.size()); ++p) {
        const int32_t id = s.tokens[p];
        if (id == s.mask_id) {
            style(kMasked);
            text += tty_ ? "\u2591" : "_";  // light shade block
            continue;
        }
        if (tok_.is_special(id)) continue;  // <s>, </s>, <pad>: nothing to show
        style(p < prompt_len_ ? kPrompt : committed.count(p) ? kCommitted : changed.count(p) ? kChanged : nullptr);
        text += tok_.token_text(id);
    }
    style(nullptr);
    return text;
}

void TerminalView::show(const GenerationStep& s) {
    const std::string frame = render(s);
    const std::string head = fmt::format("{}step {} | {} forward passes | {:.2f}s", title_.empty() ? "" : title_ + " | ",
                                         s.step + 1, s.forward_passes, s.seconds);
    if (tty_) {
        // Clear the screen once, then redraw from the top each step.
        std::fprintf(out_, "%s\033[H\033[J%s\n\n%s\n", first_ ? "\033[2J" : "", head.c_str(), frame.c_str());
    } else {
        std::fprintf(out_, "%s\n%s\n", head.c_str(), frame.c_str());
    }
    first_ = false;
    std::fflush(out_);
}

}  // namespace dlm
