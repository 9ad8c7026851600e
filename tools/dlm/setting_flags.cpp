// The command line's spelling of the library's settings: library messages name a
// setting by its own name (core/setting_name.h), dlm's users read the flag they type.
#include <array>
#include <string_view>
#include <utility>

#include "command.h"
#include "core/setting_name.h"

namespace dlm::cli {

namespace {

// Library name -> flag: every setting library messages name. One missing here would be
// spelled by the library's convention ("--" + name, '_' as '-').
constexpr std::array<std::pair<std::string_view, std::string_view>, 15> kSettingFlags = {{
    {"batch", "--batch"},
    {"block", "--block"},
    {"cache", "--cache"},
    {"epochs", "--epochs"},
    {"grad_accum", "--grad-accum"},
    {"length", "--length"},
    {"lr", "--lr"},
    {"max_flops", "--max-flops"},
    {"max_steps", "--max-steps"},
    {"objective", "--objective"},
    {"prompt", "-p"},
    {"prompt_tokens", "--prompt-tokens"},
    {"resume", "--resume"},
    {"scorer", "--scorer"},
    {"steps", "--steps"},
}};

std::string setting_flag(std::string_view name) {
    for (const auto& [setting, flag] : kSettingFlags)
        if (setting == name) return std::string(flag);
    return setting_conventional_spelling(name);
}

}  // namespace

void setting_flags_install() { setting_spelling_set(setting_flag); }

}  // namespace dlm::cli
