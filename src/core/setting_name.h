// How messages name the caller's settings. The library names a setting by its own name
// (DiffusionOptions::steps is "steps", TrainerOptions::grad_accum "grad_accum") and
// never by a front end's spelling of it; a front end installs its spelling once at
// start-up (dlm: its command-line flags, tools/dlm/setting_flags.cpp), so that its
// users read the names they typed. Without one, a setting is spelled as options
// conventionally are ("grad_accum" -> "--grad-accum"), the spelling the library's own
// tests read.
//
//   fail("{} must be at least 1 (got {})", SettingName{"steps"}, steps);
//     -> "--steps must be at least 1 (got 0)"
#pragma once

#include <fmt/format.h>

#include <functional>
#include <string>
#include <string_view>

namespace dlm {

// A setting as messages name it; formats (fmt) through the installed spelling.
struct SettingName {
    std::string_view name;
};

// name -> the front end's spelling of it. Install before any thread formats a message;
// an empty function restores the conventional spelling.
using SettingSpelling = std::function<std::string(std::string_view name)>;
void setting_spelling_set(SettingSpelling spelling);
std::string setting_spell(std::string_view name);
// "--" + name with '_' as '-': the spelling when no front end installed one.
std::string setting_conventional_spelling(std::string_view name);

}  // namespace dlm

template <>
struct fmt::formatter<dlm::SettingName> : fmt::formatter<std::string_view> {
    auto format(const dlm::SettingName& s, format_context& ctx) const {
        return fmt::formatter<std::string_view>::format(dlm::setting_spell(s.name), ctx);
    }
};
