#include "diffusion/prompt.h"

#include <fmt/format.h>

#include <regex>

#include "core/error.h"
#include "core/setting_name.h"
#include "io/training_metadata.h"

namespace dlm {

namespace {

void mask_token_check(const PromptTokens& special) {
    if (special.mask < 0) fail("the tokenizer has no <mask> token: this is not a masked-LM (diffusion) model");
}

// ids: <s> + prompt tokens; places them as the model was trained and appends the
// masks to generate.
DiffusionPrompt prompt_place(const PromptTokens& special, const ModelConfig& config, std::vector<int32_t> ids,
                             std::optional<int64_t> length) {
    const TrainingMetadata meta = training_metadata_read(config);
    DiffusionPrompt out;
    out.window = training_window(meta, config);
    if (!meta.random_prefix) {
        const int64_t prefix = meta.prefix;
        if (static_cast<int64_t>(ids.size()) > prefix) {
            out.notes.push_back(fmt::format("this model was trained with a fixed {}-token prompt: the prompt ({} tokens) is truncated to its first {}",
                                            prefix, ids.size(), prefix));
            ids.resize(static_cast<size_t>(prefix));
        } else if (static_cast<int64_t>(ids.size()) < prefix) {
            out.notes.push_back(fmt::format("this model was trained with a fixed {}-token prompt: the prompt ({} tokens) is left-padded with <pad> to {}, as the recipe does",
                                            prefix, ids.size(), prefix));
            ids.insert(ids.begin(), static_cast<size_t>(prefix) - ids.size(), special.pad >= 0 ? special.pad : special.eos);
        }
    }
    if (static_cast<int64_t>(ids.size()) >= out.window)
        fail("the prompt is {} tokens long: it leaves no room in the model's window of {}", ids.size(), out.window);
    const int64_t n = length ? *length : out.window - static_cast<int64_t>(ids.size());
    if (n < 1) fail("{} must be at least 1 (got {})", SettingName{"length"}, n);
    out.prompt_len = static_cast<int64_t>(ids.size());
    out.tokens = std::move(ids);
    out.tokens.insert(out.tokens.end(), static_cast<size_t>(n), special.mask);
    return out;
}

// The text with each <mask:N> written as N <mask> tokens, which the tokenizer handles
// (with the space before them) as HuggingFace does.
std::string mask_spans_expand(const std::string& prompt) {
    static const std::regex span(R"(<mask:(\d+)>)");
    std::string text;
    std::sregex_iterator it(prompt.begin(), prompt.end(), span), end;
    size_t last = 0;
    for (; it != end; ++it) {
        text += prompt.substr(last, it->position() - last);
        const int64_t n = std::stoll((*it)[1]);
        if (n < 1 || n > 4096) fail("<mask:{}>: a span needs between 1 and 4096 tokens", n);
        for (int64_t i = 0; i < n; ++i) text += "<mask>";
        last = it->position() + it->length();
    }
    text += prompt.substr(last);
    return text;
}

// ids (<s> + text holding <mask> tokens): the text stays where it is, </s> closes it.
DiffusionPrompt infill_place(const PromptTokens& special, const ModelConfig& config, std::vector<int32_t> ids,
                             std::optional<int64_t> length) {
    DiffusionPrompt out;
    out.window = training_window(training_metadata_read(config), config);
    out.infill = true;
    if (length)
        fail("{} does not apply to infilling: the <mask:N> spans say how much to generate", SettingName{"length"});
    if (special.eos >= 0) ids.push_back(special.eos);
    if (static_cast<int64_t>(ids.size()) > out.window)
        fail("the prompt is {} tokens long, more than the model's window of {}", ids.size(), out.window);
    out.tokens = std::move(ids);
    out.prompt_len = 0;
    return out;
}

}  // namespace

PromptTokens prompt_tokens_of(const Tokenizer& tok) {
    return {tok.bos_id(), tok.eos_id(), tok.pad_id(), tok.mask_id()};
}

DiffusionPrompt diffusion_prompt_from_ids(const PromptTokens& special, const ModelConfig& config,
                                          std::vector<int32_t> ids, std::optional<int64_t> length) {
    mask_token_check(special);
    if (ids.empty()) fail("empty prompt");
    if (special.bos >= 0) ids.insert(ids.begin(), special.bos);
    return prompt_place(special, config, std::move(ids), length);
}

DiffusionPrompt diffusion_prompt_build(const Tokenizer& tok, const ModelConfig& config, const std::string& prompt,
                                       std::optional<int64_t> length) {
    if (prompt.find_first_not_of(" \t\r\n") == std::string::npos)
        fail("empty prompt: give some text with {}", SettingName{"prompt"});
    const PromptTokens special = prompt_tokens_of(tok);
    mask_token_check(special);
    std::vector<int32_t> ids = tok.encode(mask_spans_expand(prompt), false);
    if (special.bos >= 0) ids.insert(ids.begin(), special.bos);
    if (std::find(ids.begin(), ids.end(), special.mask) != ids.end())
        return infill_place(special, config, std::move(ids), length);
    return prompt_place(special, config, std::move(ids), length);
}

}  // namespace dlm
