// dlm compare: the same prompt through a diffusion model and an autoregressive one,
// the two texts side by side with their time, forward passes and tokens/s; --animate
// replays both in the terminal at their real speed, --html writes a page that does.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "command.h"
#include "core/error.h"
#include "core/file.h"
#include "generation/generation_config.h"
#include "generation/trace.h"
#include "models/model.h"
#include "request/ar_request.h"
#include "request/diffusion_request.h"
#include "request/texts.h"
#include "tokenizer/tokenizer.h"
#include "view/compare_html.h"
#include "view/terminal_view.h"

namespace dlm::cli {
namespace {

struct compare_options {
    std::string diffusion, ar, prompt, sampler, html, dtype = "auto";
    int64_t length = 240, steps = 0;
    uint64_t seed = 0;
    int threads = 0;
    bool animate = false;
};

struct side_run {
    std::string model, settings, text;  // model folder; sampler and its settings
    nlohmann::json trace;
    GenerationStats stats;
    std::vector<std::vector<int32_t>> frames;  // sample 0's tokens per step (for --animate)
    std::vector<double> times;
    int32_t mask_id = -1;
    int64_t prompt_len = 0;
};

// Words of `text` wrapped to `width` columns.
std::vector<std::string> text_wrap(const std::string& text, size_t width) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    std::string word, line;
    while (in >> word) {
        if (!line.empty() && line.size() + 1 + word.size() > width) {
            lines.push_back(line);
            line.clear();
        }
        line += (line.empty() ? "" : " ") + word;
    }
    if (!line.empty()) lines.push_back(line);
    return lines;
}

// Display width of a UTF-8 string (code points; good enough for text columns).
size_t text_width(const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xc0) != 0x80;
    return n;
}

void columns_print(const std::string& left, const std::string& right, size_t width) {
    auto l = text_wrap(left, width), r = text_wrap(right, width);
    for (size_t i = 0; i < std::max(l.size(), r.size()); ++i) {
        std::string a = i < l.size() ? l[i] : "";
        fmt::print("{}{} | {}\n", a, std::string(width - std::min(width, text_width(a)), ' '), i < r.size() ? r[i] : "");
    }
}

// The page's and the replay's one-line label.
std::string label_of(const std::string& kind, const side_run& s) {
    return fmt::format("{}: {} ({})", kind, s.model, s.settings);
}

std::string sampling_describe(const SamplingParams& p) {
    if (p.temperature <= 0) return "greedy";
    std::string out = fmt::format("T {:g}", p.temperature);
    if (p.top_k > 0) out += fmt::format(", top-k {}", p.top_k);
    if (p.top_p < 1) out += fmt::format(", top-p {:g}", p.top_p);
    return out;
}

std::string summary(const side_run& s) {
    return fmt::format("{:.2f} s, {} forward passes, {:.1f} tokens/s", s.stats.seconds, s.stats.forward_passes,
                       s.stats.tokens_per_second());
}

// Both recorded generations played together at their real speed.
void replay_terminal(const side_run& a, const side_run& b, const Tokenizer& ta, const Tokenizer& tb, size_t width) {
    TerminalView va(ta, a.prompt_len, stdout, false), vb(tb, b.prompt_len, stdout, false);
    const double end = std::max(a.times.empty() ? 0 : a.times.back(), b.times.empty() ? 0 : b.times.back());
    const auto t0 = std::chrono::steady_clock::now();
    size_t ia = 0, ib = 0;
    bool first = true;
    for (;;) {
        const double now = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        while (ia + 1 < a.times.size() && a.times[ia + 1] <= now) ++ia;
        while (ib + 1 < b.times.size() && b.times[ib + 1] <= now) ++ib;
        auto frame = [](TerminalView& v, const side_run& s, size_t i) {
            GenerationStep st;
            if (!s.frames.empty()) st.tokens = s.frames[i];
            st.mask_id = s.mask_id;
            return v.render(st);
        };
        std::string fa = frame(va, a, ia), fb = frame(vb, b, ib);
        fmt::print("{}\033[H\033[J{} | {}\n{:.1f}s\n\n", first ? "\033[2J" : "", label_of("diffusion", a),
                   label_of("autoregressive", b), now);
        first = false;
        columns_print(fa, fb, width);
        std::fflush(stdout);
        if (now > end) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

// The diffusion side: the recipe's canvas (prompt as trained, `length` masks), the
// sampler from the command line, else the model's generation_config.json, else its
// defaults.
side_run diffusion_side_run(const compare_options& o, Model& model, const Tokenizer& tok) {
    DiffusionChoices c;
    if (!o.sampler.empty()) c.sampler = o.sampler;
    if (o.steps != 0) c.steps = o.steps;  // negative values reach the samplers' check
    c.length = o.length;
    c.seed = o.seed;
    DiffusionRequest req = diffusion_request_resolve(model, tok, o.prompt, generation_defaults_load(o.diffusion), c,
                                                     [](const std::string& n) { fmt::print(stderr, "dlm: note: {}\n", n); });
    DiffusionOptions& opt = req.options;
    // A canvas past the window needs blocks: 64 unless the model or the caller chose.
    if (static_cast<int64_t>(req.starts[0].size()) > opt.window && opt.block == 0) opt.block = 64;
    side_run d;
    TraceRecorder trace("diffusion", o.diffusion, sampler_name(opt.sampler), o.prompt, 1);
    fmt::print(stderr, "dlm: diffusion ({} sampler)...\n", sampler_name(opt.sampler));
    auto r = diffusion_request_run(req, [&](const GenerationStep& s) {
        trace.record(s);
        d.frames.emplace_back(s.tokens.begin(), s.tokens.end());
        d.times.push_back(s.seconds);
    });
    d.text = texts_decode(tok, r.tokens)[0];
    d.stats = r.stats;
    d.trace = trace.to_json(tok, {d.text}, r.stats);
    d.model = o.diffusion;
    d.settings = fmt::format("{} sampler, {} steps", sampler_name(opt.sampler), r.stats.steps);
    if (opt.block > 0) d.settings += fmt::format(", blocks of {}", opt.block);
    if (opt.cache != CacheMode::none) d.settings += fmt::format(", {} cache", cache_name(opt.cache));
    d.mask_id = opt.mask_id;
    d.prompt_len = req.prompt_len;
    return d;
}

// The autoregressive side: same prompt text, its own tokenizer, same length; sampling
// from ArOptions, then the AR model's generation_config.json (as `dlm generate` does).
side_run autoregressive_side_run(const compare_options& o, Model& model, const Tokenizer& tok) {
    ArChoices c;
    c.length = o.length;
    c.seed = o.seed;
    const ArRequest req = ar_request_resolve(tok, o.prompt, generation_defaults_load(o.ar), c);
    side_run a;
    TraceRecorder trace("autoregressive", o.ar, "kv-cache", o.prompt, 1);
    a.model = o.ar;
    a.settings = "KV cache, " + sampling_describe(req.options.sampling);
    fmt::print(stderr, "dlm: autoregressive ({})...\n", a.settings);
    auto r = ar_request_run(model, req, [&](const GenerationStep& s) {
        trace.record(s);
        a.frames.emplace_back(s.tokens.begin(), s.tokens.end());
        a.times.push_back(s.seconds);
    });
    a.text = texts_decode(tok, r.tokens)[0];
    a.stats = r.stats;
    a.trace = trace.to_json(tok, {a.text}, r.stats);
    a.prompt_len = static_cast<int64_t>(req.prompts[0].size());
    return a;
}

// The two texts side by side: model folders, then settings and speed on rows of their
// own, so that a long path wraps alone and never moves the rest.
void sides_print(const side_run& d, const side_run& a, size_t width) {
    fmt::print("{}\n", std::string(2 * width + 3, '='));
    columns_print("diffusion: " + d.model, "autoregressive: " + a.model, width);
    columns_print(d.settings, a.settings, width);
    columns_print(summary(d), summary(a), width);
    fmt::print("{}\n", std::string(2 * width + 3, '-'));
    columns_print(d.text, a.text, width);
}

void page_write(const compare_options& o, const side_run& d, const side_run& a) {
    CompareHtmlOptions h;
    h.title = "dlm compare: diffusion vs autoregressive";
    h.left_label = label_of("diffusion", d);
    h.right_label = label_of("autoregressive", a);
    h.prompt = o.prompt;
    compare_html_write(o.html, d.trace, a.trace, h);
    fmt::print(stderr, "dlm: wrote {}\n", o.html);
}

void compare_cmd(const compare_options& o_in) {
    compare_options o = o_in;
    threads_apply(o.threads);
    if (o.diffusion.empty()) o.diffusion = shipped_model_dir("dlm-diffusion");
    if (o.ar.empty()) o.ar = shipped_model_dir("dlm-ar");
    const DType dtype = dtype_option_resolve(o.dtype);
    auto dm = model_load(o.diffusion, dtype);
    auto am = model_load(o.ar, dtype);
    if (dm->config().is_causal())
        fail("-m {} is a causal LM ({}): -m takes the diffusion (masked-LM) model and --ar the causal one; swapped?",
             o.diffusion, dm->config().architecture);
    if (!am->config().is_causal())
        fail("--ar {} is a masked LM ({}): --ar takes the autoregressive (causal) model; swapped?", o.ar,
             am->config().architecture);
    Tokenizer dt = Tokenizer::from_folder(o.diffusion);
    Tokenizer at = Tokenizer::from_folder(o.ar);
    dtype_option_report(o.dtype);

    const side_run d = diffusion_side_run(o, *dm, dt);
    const side_run a = autoregressive_side_run(o, *am, at);
    const size_t width = 58;
    if (o.animate) replay_terminal(d, a, dt, at, width);
    sides_print(d, a, width);
    if (!o.html.empty()) page_write(o, d, a);
}

command_registration reg(41, "compare", "Generate from one prompt with a diffusion and an autoregressive model, side by side",
                         [](CLI::App& sub) {
    auto o = std::make_shared<compare_options>();
    sub.add_option("-m,--model", o->diffusion, "Diffusion (masked-LM) model folder (default: the shipped dlm-diffusion)");
    sub.add_option("--ar", o->ar, "Autoregressive (causal-LM) model folder (default: the shipped dlm-ar)");
    sub.add_option("-p,--prompt", o->prompt, "Prompt")->required();
    sub.add_option("-n,--length", o->length, "Tokens to generate on each side")->capture_default_str();
    sub.add_option("--sampler", o->sampler,
                   "Diffusion sampler: remask, confidence, lowconf (default: the model's generation_config.json, else remask)");
    sub.add_option("--steps", o->steps, "Diffusion steps (default: the model's, else the sampler's)");
    sub.add_option("-s,--seed", o->seed, "Random seed")->capture_default_str();
    add_dtype_option(sub, o->dtype, "Matrix products of both models: bf16 or f32");
    add_threads_option(sub, o->threads);
    sub.add_flag("--animate", o->animate, "Replay both generations side by side at their real speed");
    sub.add_option("--html", o->html, "Write a self-contained page that replays both (no network)");
    sub.callback([o] { compare_cmd(*o); });
});

}  // namespace
}  // namespace dlm::cli
