#include "diffusion/prompt.h"

#include <fmt/format.h>

#include <regex>

#include "core/error.h"

namespace dlm {

namespace {

// How the model was trained to see prompts (config.json's "dlm" key).
struct prompt_layout {
    int64_t window = 256;
    bool fixed = true;   // a fixed prompt length (the recipe) rather than a random one
    int64_t prefix = 16;
};

prompt_layout prompt_layout_of(const ModelConfig& config) {
    const auto meta = config.json.contains("dlm") ? config.json["dlm"] : nlohmann::ordered_json::object();
    prompt_layout l;
    l.window = std::min<int64_t>(meta.value("block_size", int64_t{256}), config.max_sequence());
    if (meta.contains("prefix")) {
        if (meta["prefix"].is_array()) l.fixed = false;
        else l.prefix = meta["prefix"].get<int64_t>();
    }
    return l;
}

// ids: <s> + prompt tokens; places them and appends the masks to generate.
DiffusionPrompt prompt_place(const Tokenizer& tok, const prompt_layout& l, std::vector<int32_t> ids,
                             std::optional<int64_t> length) {
    DiffusionPrompt out;
    out.window = l.window;
    if (l.fixed) {
        const int64_t prefix = l.prefix;
        if (static_cast<int64_t>(ids.size()) > prefix) {
            out.notes.push_back(fmt::format("this model was trained with a fixed {}-token prompt: the prompt ({} tokens) is truncated to its first {}",
                                            prefix, ids.size(), prefix));
            ids.resize(static_cast<size_t>(prefix));
        } else if (static_cast<int64_t>(ids.size()) < prefix) {
            out.notes.push_back(fmt::format("this model was trained with a fixed {}-token prompt: the prompt ({} tokens) is left-padded with <pad> to {}, as the recipe does",
                                            prefix, ids.size(), prefix));
            ids.insert(ids.begin(), static_cast<size_t>(prefix) - ids.size(), tok.pad_id() >= 0 ? tok.pad_id() : tok.eos_id());
        }
    }
    if (static_cast<int64_t>(ids.size()) >= out.window)
        fail("the prompt is {} tokens long: it leaves no room in the model's window of {}", ids.size(), out.window);
    const int64_t n = length ? *length : out.window - static_cast<int64_t>(ids.size());
    if (n < 1) fail("--length must be at least 1 (got {})", n);
    out.prompt_len = static_cast<int64_t>(ids.size());
    out.tokens = std::move(ids);
    out.tokens.insert(out.tokens.end(), static_cast<size_t>(n), tok.mask_id());
    return out;
}

}  // namespace

DiffusionPrompt diffusion_prompt_from_ids(const Tokenizer& tok, const ModelConfig& config, std::vector<int32_t> ids,
                                          std::optional<int64_t> length) {
    if (tok.mask_id() < 0) fail("the tokenizer has no <mask> token: this is not a masked-LM (diffusion) model");
    if (ids.empty()) fail("empty prompt");
    if (tok.bos_id() >= 0) ids.insert(ids.begin(), tok.bos_id());
    return prompt_place(tok, prompt_layout_of(config), std::move(ids), length);
}

DiffusionPrompt diffusion_prompt_build(const Tokenizer& tok, const ModelConfig& config, const std::string& prompt,
                                       std::optional<int64_t> length) {
    if (prompt.find_first_not_of(" \t\r\n") == std::string::npos) fail("empty prompt: give some text with -p");
    if (tok.mask_id() < 0) fail("the tokenizer has no <mask> token: this is not a masked-LM (diffusion) model");
    const prompt_layout layout = prompt_layout_of(config);

    // <mask:N> becomes N <mask> tokens; the tokenizer handles <mask> (and the space
    // before it) as HuggingFace does.
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
    std::vector<int32_t> ids = tok.encode(text, false);
    if (tok.bos_id() >= 0) ids.insert(ids.begin(), tok.bos_id());
    if (std::find(ids.begin(), ids.end(), tok.mask_id()) != ids.end()) {
        DiffusionPrompt out;
        out.window = layout.window;
        out.infill = true;
        if (length) fail("--length does not apply to infilling: the <mask:N> spans say how much to generate");
        if (tok.eos_id() >= 0) ids.push_back(tok.eos_id());
        if (static_cast<int64_t>(ids.size()) > out.window)
            fail("the prompt is {} tokens long, more than the model's window of {}", ids.size(), out.window);
        out.tokens = ids;
        out.prompt_len = 0;
        return out;
    }
    return prompt_place(tok, layout, std::move(ids), length);
}

}  // namespace dlm
