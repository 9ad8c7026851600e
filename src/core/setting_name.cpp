#include "core/setting_name.h"

namespace dlm {

namespace {
SettingSpelling& spelling_installed() {
    static SettingSpelling spelling;
    return spelling;
}
}  // namespace

void setting_spelling_set(SettingSpelling spelling) { spelling_installed() = std::move(spelling); }

std::string setting_spell(std::string_view name) {
    const SettingSpelling& spelling = spelling_installed();
    return spelling ? spelling(name) : setting_conventional_spelling(name);
}

std::string setting_conventional_spelling(std::string_view name) {
    std::string option = "--";
    for (char c : name) option += c == '_' ? '-' : c;
    return option;
}

}  // namespace dlm
