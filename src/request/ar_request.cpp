#include "request/ar_request.h"

#include "core/error.h"
#include "core/setting_name.h"

namespace dlm {

namespace {

[[noreturn]] void empty_prompt_fail() { fail("empty prompt: give some text with {}", SettingName{"prompt"}); }

}  // namespace

ArOptions ar_options_resolve(const GenerationDefaults& g, const ArChoices& c, int32_t eos_id) {
    ArOptions a;
    a.max_new_tokens = c.length.value_or(g.max_new_tokens.value_or(a.max_new_tokens));
    if (a.max_new_tokens < 1) fail("{} must be at least 1 (got {})", SettingName{"length"}, a.max_new_tokens);
    a.sampling = sampling_resolve(a.sampling, g, c.sampling);
    a.seed = c.seed;
    a.eos_id = eos_id;
    a.batch = c.batch;
    return a;
}

ArRequest ar_request_resolve(const Tokenizer& tok, const std::string& prompt, const GenerationDefaults& g,
                             const ArChoices& c) {
    if (prompt.find_first_not_of(" \t\r\n") == std::string::npos) empty_prompt_fail();
    ArRequest r;
    r.options = ar_options_resolve(g, c, tok.eos_id());
    r.prompts = {tok.encode(prompt, false)};
    if (r.prompts[0].empty()) empty_prompt_fail();
    return r;
}

ArResult ar_request_run(Model& model, const ArRequest& r, const step_callback& on_step) {
    return ar_generate(model, r.prompts, r.options, on_step);
}

}  // namespace dlm
