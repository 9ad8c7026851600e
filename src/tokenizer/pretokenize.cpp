#include "tokenizer/pretokenize.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <new>

#include "core/error.h"

namespace dlm {

namespace {

// Oniguruma's Unicode \s (see the header); used inside character classes.
#define DLM_WS "\\t\\n\\x0B\\f\\r\\x{85}\\p{Z}"
constexpr const char* gpt2_pattern =
    "'s|'t|'re|'ve|'m|'ll|'d"
    "| ?\\p{L}+| ?\\p{N}+"
    "| ?[^" DLM_WS "\\p{L}\\p{N}]+"
    "|[" DLM_WS "]+(?![^" DLM_WS "])"
    "|[" DLM_WS "]+";
#undef DLM_WS

// One match-data block per thread, shared by every pattern: we only read group 0.
pcre2_match_data* thread_match_data() {
    struct holder {
        pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
        ~holder() { pcre2_match_data_free(md); }
    };
    thread_local holder h;
    if (!h.md) throw std::bad_alloc();
    return h.md;
}

// Length of the UTF-8 character that starts with byte `b` (1 for invalid leads).
size_t char_length(unsigned char b) {
    return b < 0xC0 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}

}  // namespace

struct Pretokenizer::compiled {
    pcre2_code* code = nullptr;
    bool jit = false;
    ~compiled() { pcre2_code_free(code); }
};

Pretokenizer::Pretokenizer() {
    auto c = std::make_shared<compiled>();
    int err = 0;
    PCRE2_SIZE err_offset = 0;
    c->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(gpt2_pattern), PCRE2_ZERO_TERMINATED,
                            PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED, &err, &err_offset,
                            nullptr);
    if (!c->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        fail("tokenizer: cannot compile the GPT-2 pre-tokenizer pattern at offset {}: {}",
             err_offset, reinterpret_cast<const char*>(msg));
    }
    // Without JIT (a PCRE2 built without it) the interpreter gives the same matches.
    c->jit = pcre2_jit_compile(c->code, PCRE2_JIT_COMPLETE) == 0;
    re_ = std::move(c);
}

size_t Pretokenizer::piece_end(std::string_view text, size_t pos) const {
    DLM_ASSERT(pos < text.size());
    pcre2_match_data* md = thread_match_data();
    auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    // The pattern is anchored: every character is matched by some alternative, so a
    // piece always starts exactly at `pos`.
    int rc = re_->jit ? pcre2_jit_match(re_->code, subject, text.size(), pos, 0, md, nullptr)
                      : pcre2_match(re_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK,
                                    md, nullptr);
    if (rc > 0) {
        size_t end = pcre2_get_ovector_pointer(md)[1];
        if (end > pos) return end;
    }
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        fail("tokenizer: pre-tokenizer match failed: {}", reinterpret_cast<const char*>(msg));
    }
    // Unreachable for valid UTF-8; one character keeps the loop going regardless.
    return std::min(text.size(), pos + char_length(static_cast<unsigned char>(text[pos])));
}

}  // namespace dlm
