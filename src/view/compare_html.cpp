#include "view/compare_html.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <vector>

#include "core/error.h"
#include "core/file.h"
#include "view/embedded_assets.h"  // generated from assets/ at build time

namespace dlm {

namespace {

using json = nlohmann::json;

// One sample-0 step of a trace, checked.
struct trace_step {
    double t = 0;
    std::vector<int32_t> tokens;
    std::vector<int64_t> committed, changed;
};

// What the page needs of one trace.
struct trace_side {
    std::string kind, model, sampler, prompt;
    int32_t mask_id = -1;
    int64_t samples = 1;
    std::vector<trace_step> steps;
    json pieces, stats;
};

// Spellings of the special tokens of the tokenizers dlm reads. The trace keeps no list
// of them, and the page hides them like the terminal view does.
bool piece_is_special(const std::string& s) {
    static const std::set<std::string> specials = {"<s>",   "</s>",  "<pad>", "<unk>", "<mask>", "<|endoftext|>",
                                                   "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"};
    return specials.count(s) > 0;
}

std::string type_name(const json& j) { return j.type_name(); }

// The integer array `key` of a step, each in [lo, hi); empty when absent and optional.
std::vector<int64_t> ints_read(const json& st, const char* key, int64_t lo, int64_t hi, const std::string& where,
                               bool required) {
    std::vector<int64_t> out;
    auto it = st.find(key);
    if (it == st.end()) {
        if (required) fail("{}: no \"{}\"", where, key);
        return out;
    }
    if (!it->is_array()) fail("{}: \"{}\" must be an array, not {}", where, key, type_name(*it));
    for (auto& v : *it) {
        if (!v.is_number_integer()) fail("{}: \"{}\" holds a {}, expected integers", where, key, type_name(v));
        const int64_t x = v.get<int64_t>();
        if (x < lo || x >= hi) fail("{}: \"{}\" holds {}, outside [{}, {})", where, key, x, lo, hi);
        out.push_back(x);
    }
    return out;
}

std::string string_or(const json& j, const char* key, const std::string& fallback) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

trace_side trace_read(const json& trace, const std::string& side) {
    const std::string name = side + " trace";
    if (!trace.is_object()) fail("{}: expected a JSON object, got {}", name, type_name(trace));
    auto format = trace.find("format");
    if (format == trace.end()) fail("{}: not a dlm trace (no \"format\": \"dlm-trace-1\")", name);
    if (!format->is_string() || format->get<std::string>() != "dlm-trace-1")
        fail("{}: format is {}, expected \"dlm-trace-1\"", name, format->dump());
    trace_side s;
    s.kind = string_or(trace, "kind", "");
    if (s.kind != "diffusion" && s.kind != "autoregressive")
        fail("{}: kind is \"{}\", expected \"diffusion\" or \"autoregressive\"", name, s.kind);
    s.model = string_or(trace, "model", "");
    s.sampler = string_or(trace, "sampler", "");
    s.prompt = string_or(trace, "prompt", "");
    if (auto m = trace.find("mask_id"); m != trace.end() && m->is_number_integer()) s.mask_id = m->get<int32_t>();
    if (s.kind == "diffusion" && s.mask_id < 0) fail("{}: a diffusion trace needs a \"mask_id\"", name);

    auto samples = trace.find("samples");
    if (samples == trace.end() || !samples->is_array()) fail("{}: no \"samples\" array", name);
    if (samples->empty()) fail("{}: \"samples\" is empty", name);
    s.samples = static_cast<int64_t>(samples->size());
    const json& sample = (*samples)[0];
    auto steps = sample.is_object() ? sample.find("steps") : sample.end();
    if (!sample.is_object() || steps == sample.end() || !steps->is_array())
        fail("{}: sample 0 has no \"steps\" array", name);
    if (steps->empty()) fail("{}: sample 0 has no steps", name);

    double t_last = 0;
    for (size_t k = 0; k < steps->size(); ++k) {
        const json& st = (*steps)[k];
        const std::string where = fmt::format("{}: sample 0 step {}", name, k);
        if (!st.is_object()) fail("{}: expected an object, got {}", where, type_name(st));
        auto t = st.find("t");
        if (t == st.end() || !t->is_number()) fail("{}: no \"t\" (seconds since the start)", where);
        trace_step ts;
        // A replay needs times that never go back; a clock hiccup must not reorder steps.
        ts.t = std::max(t->get<double>(), t_last);
        t_last = ts.t;
        for (int64_t id : ints_read(st, "tokens", INT32_MIN, INT32_MAX + int64_t{1}, where, true))
            ts.tokens.push_back(static_cast<int32_t>(id));
        const auto len = static_cast<int64_t>(ts.tokens.size());
        ts.committed = ints_read(st, "committed", 0, len, where, false);
        ts.changed = ints_read(st, "changed", 0, len, where, false);
        s.steps.push_back(std::move(ts));
    }

    auto pieces = trace.find("pieces");
    if (pieces == trace.end() || !pieces->is_object()) fail("{}: no \"pieces\" object (the text of each token id)", name);
    s.pieces = *pieces;
    if (auto st = trace.find("stats"); st != trace.end() && st->is_object()) s.stats = *st;
    return s;
}

// The sequence before step 0 (see the header).
std::vector<int32_t> start_derive(const trace_side& s) {
    const trace_step& first = s.steps.front();
    if (s.kind == "autoregressive") {
        size_t len = first.tokens.empty() ? 0 : first.tokens.size() - 1;
        if (!first.committed.empty())
            len = static_cast<size_t>(*std::min_element(first.committed.begin(), first.committed.end()));
        return {first.tokens.begin(), first.tokens.begin() + static_cast<std::ptrdiff_t>(len)};
    }
    std::vector<int32_t> start = first.tokens;
    for (auto& st : s.steps)
        for (const auto* list : {&st.committed, &st.changed})
            for (int64_t p : *list)
                if (p < static_cast<int64_t>(start.size())) start[p] = s.mask_id;
    return start;
}

// One step as a change of the previous sequence (see the header).
json step_encode(const std::vector<int32_t>& prev, const trace_step& st, int32_t mask_id) {
    const auto& cur = st.tokens;
    json out = {{"t", st.t}};
    std::vector<int64_t> implied_commits;  // what the page assumes when "c" is absent
    const bool grew = cur.size() >= prev.size() && std::equal(prev.begin(), prev.end(), cur.begin());
    if (grew && cur.size() > prev.size()) {
        out["a"] = std::vector<int32_t>(cur.begin() + static_cast<std::ptrdiff_t>(prev.size()), cur.end());
        for (size_t p = prev.size(); p < cur.size(); ++p) implied_commits.push_back(static_cast<int64_t>(p));
    } else if (!grew) {
        std::vector<int32_t> base = prev;
        if (cur.size() != prev.size()) {
            out["n"] = cur.size();
            base.resize(cur.size(), mask_id);
        }
        std::vector<int64_t> set;
        for (size_t p = 0; p < cur.size(); ++p)
            if (base[p] != cur[p]) {
                set.push_back(static_cast<int64_t>(p));
                set.push_back(cur[p]);
            }
        out["s"] = set;
    }
    if (st.committed != implied_commits) out["c"] = st.committed;
    return out;
}

// Generated tokens in the last step: positions that are not prompt and not masked.
int64_t generated_count(const std::vector<int32_t>& start, const std::vector<int32_t>& last, int32_t mask_id) {
    int64_t n = 0;
    for (size_t p = 0; p < last.size(); ++p)
        n += last[p] != mask_id && (p >= start.size() || start[p] == mask_id);
    return n;
}

json side_encode(const trace_side& s, const std::string& side, const std::string& label) {
    const std::vector<int32_t> start = start_derive(s);
    json pieces = json::object();
    auto piece_add = [&](int32_t id, size_t k) {
        if (id == s.mask_id) return;
        const std::string key = std::to_string(id);
        if (pieces.contains(key)) return;
        auto it = s.pieces.find(key);
        if (it == s.pieces.end() || !it->is_string())
            fail("{} trace: sample 0 step {}: token id {} has no text in \"pieces\"", side, k, id);
        const std::string text = it->get<std::string>();
        pieces[key] = piece_is_special(text) ? "" : text;
    };
    json steps = json::array();
    const std::vector<int32_t>* prev = &start;
    for (size_t k = 0; k < s.steps.size(); ++k) {
        for (int32_t id : s.steps[k].tokens) piece_add(id, k);
        steps.push_back(step_encode(*prev, s.steps[k], s.mask_id));
        prev = &s.steps[k].tokens;
    }

    // Stats as the trace gives them; what is missing comes from the steps.
    auto num = [&](const char* key, double fallback) {
        auto it = s.stats.is_object() ? s.stats.find(key) : s.stats.end();
        return it != s.stats.end() && it->is_number() ? it->get<double>() : fallback;
    };
    const double n_steps = static_cast<double>(s.steps.size());
    json stats = {{"steps", num("steps", n_steps)},
                  {"forward_passes", num("forward_passes", n_steps)},
                  {"new_tokens", num("new_tokens", static_cast<double>(generated_count(start, *prev, s.mask_id)))},
                  {"seconds", num("seconds", s.steps.back().t)}};
    return {{"label", label}, {"kind", s.kind},   {"model", s.model},   {"sampler", s.sampler},
            {"mask_id", s.mask_id}, {"samples", s.samples}, {"pieces", pieces}, {"start", start},
            {"steps", steps}, {"stats", stats}};
}

std::string label_default(const trace_side& s) {
    std::string model = s.model;
    if (auto slash = model.find_last_of('/'); slash != std::string::npos && slash + 1 < model.size())
        model = model.substr(slash + 1);
    std::string how = s.kind + (s.sampler.empty() ? "" : ", " + s.sampler);
    return model.empty() ? how : model + " (" + how + ")";
}

std::string html_escape(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

// JSON for the inside of <script type="application/json"> (see the header).
std::string json_for_script(const json& j) {
    const std::string raw = j.dump(-1, ' ', false, json::error_handler_t::replace);
    std::string out;
    out.reserve(raw.size() + 16);
    for (size_t i = 0; i < raw.size(); ++i) {
        if (raw.compare(i, 2, "</") == 0) {
            out += "<\\/";
            ++i;
        } else if (raw.compare(i, 4, "<!--") == 0) {
            out += "\\u003c";
        } else {
            out += raw[i];
        }
    }
    return out;
}

std::string number_format(double x, int decimals) { return fmt::format("{:.{}f}", x, decimals); }

// The summary table: filled now from the stats; the page unhides it when both sides end.
std::string summary_render(const json& left, const json& right) {
    auto row = [&](const char* name, auto value) {
        return fmt::format("<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td></tr>\n", name, value(left["stats"]),
                           value(right["stats"]));
    };
    auto tps = [](const json& st) {
        const double sec = st["seconds"].get<double>();
        return sec > 0 ? number_format(st["new_tokens"].get<double>() / sec, 1) : std::string("–");
    };
    std::string html = "<table id=\"summary\" hidden>\n<caption>Summary</caption>\n";
    html += "<thead><tr><th></th><th scope=\"col\">" + html_escape(left["label"].get<std::string>()) + "</th><th scope=\"col\">" +
            html_escape(right["label"].get<std::string>()) + "</th></tr></thead>\n<tbody>\n";
    html += row("Seconds", [](const json& st) { return number_format(st["seconds"].get<double>(), 2); });
    html += row("Forward passes", [](const json& st) { return number_format(st["forward_passes"].get<double>(), 0); });
    html += row("Tokens/s", tps);
    html += row("Steps", [](const json& st) { return number_format(st["steps"].get<double>(), 0); });
    html += row("New tokens", [](const json& st) { return number_format(st["new_tokens"].get<double>(), 0); });
    html += "</tbody>\n";
    const int64_t batch = std::max(left["samples"].get<int64_t>(), right["samples"].get<int64_t>());
    if (batch > 1)
        html += "<tfoot><tr><td colspan=\"3\">Batches of more than one sample: tokens and tokens/s count every "
                "sample; the replay shows sample 0.</td></tr></tfoot>\n";
    return html + "</table>\n";
}

std::string side_markup(const json& side, int index) {
    std::string meta = side["kind"].get<std::string>();
    if (!side["sampler"].get<std::string>().empty()) meta += " · " + side["sampler"].get<std::string>();
    const int64_t samples = side["samples"].get<int64_t>();
    if (samples > 1) meta += fmt::format(" · sample 0 of {}", samples);
    return fmt::format(
        "<section class=\"side\" id=\"side{0}\" data-side=\"{0}\" data-state=\"waiting\" data-step=\"0\">\n"
        "<h2>{1}</h2>\n<div class=\"meta\">{2}</div>\n"
        "<div class=\"counter\">step <b data-field=\"step\">0/{3}</b> · <b data-field=\"time\">0.00 s</b> · "
        "<b data-field=\"tokens\">0</b> tokens</div>\n"
        "<div class=\"text\" data-masked=\"0\"></div>\n</section>\n",
        index, html_escape(side["label"].get<std::string>()), html_escape(meta), side["steps"].size());
}

}  // namespace

std::string compare_html_render(const json& left_trace, const json& right_trace, const CompareHtmlOptions& opt) {
    const trace_side left = trace_read(left_trace, "left"), right = trace_read(right_trace, "right");
    const std::string prompt = !opt.prompt.empty() ? opt.prompt : !left.prompt.empty() ? left.prompt : right.prompt;
    json data = {{"format", "dlm-compare-1"},
                 {"title", opt.title},
                 {"prompt", prompt},
                 {"sides",
                  {side_encode(left, "left", opt.left_label.empty() ? label_default(left) : opt.left_label),
                   side_encode(right, "right", opt.right_label.empty() ? label_default(right) : opt.right_label)}}};
    const json& l = data["sides"][0];
    const json& r = data["sides"][1];

    std::string page;
    page += "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    page += "<title>" + html_escape(opt.title) + "</title>\n<style>\n" + assets::canvas_css + assets::compare_css + "</style>\n</head>\n<body>\n";
    page += "<header>\n<h1>" + html_escape(opt.title) + "</h1>\n";
    if (!prompt.empty()) page += "<p class=\"prompt\">Prompt: <b>" + html_escape(prompt) + "</b></p>\n";
    page += "</header>\n<main id=\"replay\" data-done=\"0\">\n<div class=\"controls\">\n";
    page += "<button id=\"play\" type=\"button\">Play</button>\n";
    page += "<button id=\"restart\" type=\"button\">Restart</button>\n";
    page += "<label>Speed <select id=\"speed\"><option value=\"0.25\">0.25×</option>"
            "<option value=\"1\" selected>1×</option><option value=\"4\">4×</option></select></label>\n";
    page += "<input id=\"timeline\" type=\"range\" min=\"0\" max=\"1\" value=\"0\" step=\"1\" aria-label=\"Timeline\">\n";
    page += "<span id=\"clock\">0.00 s</span>\n</div>\n<div class=\"columns\">\n";
    page += side_markup(l, 0) + side_markup(r, 1);
    page += "</div>\n" + summary_render(l, r) + "</main>\n";
    page += "<p class=\"legend\">Replayed at the recorded speed. <b>Prompt</b> in bold, <span class=\"c\">tokens "
            "committed in the current step</span> highlighted, <span class=\"m\">░</span> still masked.</p>\n";
    page += "<script type=\"application/json\" id=\"dlm-data\">" + json_for_script(data) + "</script>\n";
    page += "<script>\n" + std::string(assets::compare_js) + "</script>\n</body>\n</html>\n";
    return page;
}

void compare_html_write(const std::string& path, const json& left_trace, const json& right_trace,
                        const CompareHtmlOptions& opt) {
    file_write_atomic(path, compare_html_render(left_trace, right_trace, opt));
}

}  // namespace dlm
