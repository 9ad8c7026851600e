#include "eval/generation_eval.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "core/setting_name.h"
#include "core/file.h"

namespace dlm {

std::vector<EvalPrompt> eval_prompts_pick(const Corpus& corpus, const Tokenizer& tok, int64_t n,
                                          int64_t prompt_tokens, int64_t new_tokens, const std::string& what) {
    if (n < 1) fail("the number of prompts must be at least 1, not {}", n);
    if (prompt_tokens < 1) fail("prompts need at least 1 token, not {}", prompt_tokens);
    if (new_tokens < 1) fail("the continuation needs at least 1 token, not {}", new_tokens);
    const int64_t min_len = 2 * prompt_tokens;
    const int64_t units = static_cast<int64_t>(corpus.units.size());
    std::vector<std::vector<int32_t>> ids(static_cast<size_t>(units));
    std::vector<int64_t> long_units;
    for (int64_t u = 0; u < units; ++u) {
        ids[u] = tok.encode(corpus.units[u], false);
        if (static_cast<int64_t>(ids[u].size()) >= min_len) long_units.push_back(u);
    }
    if (long_units.empty())
        fail("{} has no line or paragraph of at least {} tokens (2 x {}) to take prompts from", what,
             min_len, SettingName{"prompt_tokens"});
    const int64_t m = static_cast<int64_t>(long_units.size());
    const int64_t count = std::min(n, m);
    std::vector<EvalPrompt> out;
    for (int64_t i = 0; i < count; ++i) {
        const int64_t u = long_units[static_cast<size_t>(i * m / count)];
        EvalPrompt p;
        p.ids.assign(ids[u].begin(), ids[u].begin() + prompt_tokens);
        // The reference: what follows in the same document, as much as a sample gets.
        p.reference_ids.assign(ids[u].begin() + prompt_tokens, ids[u].end());
        for (int64_t v = u + 1; v < units && corpus.unit_doc[v] == corpus.unit_doc[u] &&
                                static_cast<int64_t>(p.reference_ids.size()) < new_tokens;
             ++v)
            p.reference_ids.insert(p.reference_ids.end(), ids[v].begin(), ids[v].end());
        if (static_cast<int64_t>(p.reference_ids.size()) > new_tokens) p.reference_ids.resize(static_cast<size_t>(new_tokens));
        p.text = tok.decode(p.ids);
        p.reference = tok.decode(p.reference_ids);
        out.push_back(std::move(p));
    }
    return out;
}

std::string GenSetting::label() const {
    std::string s;
    if (method == "confidence") {
        s = commit == "factor"    ? fmt::format("confidence, factor {:g}", factor)
            : commit == "entropy" ? fmt::format("confidence, entropy <= {:g}", entropy_bound)
                                  : fmt::format("confidence, threshold {:g}", threshold);
        if (steps > 0) s += fmt::format(", at most {} steps", steps);
    } else if (method == "remask" || method == "lowconf") {
        s = fmt::format("{}, {} steps", method, steps);
    } else if (method == "reference") {
        return "reference (held-out text)";
    } else {
        return model.empty() ? method : fmt::format("{} ({})", method, model);
    }
    if (block > 0) s += fmt::format(", block {}", block);
    if (cache != "none") s += fmt::format(", {} cache", cache);
    return s;
}

std::string GenSetting::curve() const {
    std::string s = method;
    if (method == "confidence") s += steps > 0 ? "-steps" : "-" + commit;
    if (block > 0) s += fmt::format("-block{}", block);
    if (cache != "none") s += "-" + cache;
    return s;
}

GenSettingResult generation_setting_evaluate(const GenSetting& setting, std::span<const EvalPrompt> prompts,
                                             int64_t batch, const gen_batch_fn& generate, const Tokenizer& tok,
                                             const std::optional<GenScorer>& scorer,
                                             const std::function<void(int64_t, int64_t)>& progress) {
    if (batch < 1) fail("the batch must hold at least one sample");
    GenSettingResult r;
    r.setting = setting;
    const int64_t n = static_cast<int64_t>(prompts.size());
    r.samples = n;
    std::vector<std::vector<int32_t>> conts;
    int64_t passes = 0;
    const auto t0 = std::chrono::steady_clock::now();
    if (setting.method == "reference") {
        for (const auto& p : prompts) conts.push_back(p.reference_ids);
    } else {
        for (int64_t i = 0; i < n; i += batch) {
            const int64_t b = std::min(batch, n - i);
            GenBatchOutput o = generate(prompts.subspan(static_cast<size_t>(i), static_cast<size_t>(b)));
            DLM_ASSERT(static_cast<int64_t>(o.continuations.size()) == b);
            DLM_ASSERT(static_cast<int64_t>(o.forward_passes.size()) == b);
            for (auto& c : o.continuations) conts.push_back(std::move(c));
            for (int64_t f : o.forward_passes) passes += f;
            if (progress) progress(i + b, n);
        }
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    int64_t new_tokens = 0;
    for (const auto& c : conts) new_tokens += static_cast<int64_t>(c.size());
    if (n > 0) {
        r.seconds_per_sample = r.seconds / static_cast<double>(n);
        r.forward_passes_per_sample = static_cast<double>(passes) / static_cast<double>(n);
        r.new_tokens_per_sample = static_cast<double>(new_tokens) / static_cast<double>(n);
    }
    r.tokens_per_pass = passes > 0 ? static_cast<double>(new_tokens) / static_cast<double>(passes) : 0.0;
    r.tokens_per_second = r.seconds > 0 && setting.method != "reference" ? new_tokens / r.seconds : 0.0;
    r.metrics = text_metrics_tokens(conts, token_classes_make(tok));
    for (const auto& c : conts) r.texts.push_back(tok.decode(c, true));
    if (scorer) {
        std::vector<std::string> prompt_texts;
        for (const auto& p : prompts) prompt_texts.push_back(p.text);
        r.perplexity = generative_perplexity(*scorer->model, *scorer->tokenizer, prompt_texts, r.texts);
    }
    return r;
}

namespace {

nlohmann::ordered_json number_or_null(double v) { return std::isfinite(v) ? nlohmann::ordered_json(v) : nullptr; }

}  // namespace

nlohmann::ordered_json generation_report_json(const GenerationReport& r) {
    nlohmann::ordered_json j;
    j["format"] = "dlm-eval-generation-1";
    j["model"] = r.model;
    j["architecture"] = r.architecture;
    j["scorer"] = r.scorer.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(r.scorer);
    j["files"] = r.files;
    j["prompts"] = r.prompts;
    j["prompt_tokens"] = r.prompt_tokens;
    j["new_tokens"] = r.new_tokens;
    j["batch"] = r.batch;
    j["threads"] = r.threads;
    j["seed"] = r.seed;
    j["dtype"] = r.dtype;
    j["sampling"] = r.sampling;
    auto& settings = j["settings"] = nlohmann::ordered_json::array();
    for (const auto& x : r.results) {
        nlohmann::ordered_json s;
        s["method"] = x.setting.method;
        s["steps"] = x.setting.steps;
        s["threshold"] = x.setting.threshold;
        s["block"] = x.setting.block;
        s["cache"] = x.setting.cache;
        s["commit"] = x.setting.commit;
        s["factor"] = x.setting.factor;
        s["entropy_bound"] = x.setting.entropy_bound;
        s["label"] = x.setting.label();
        s["model"] = x.setting.model.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(x.setting.model);
        s["samples"] = x.samples;
        s["seconds"] = x.seconds;
        s["seconds_per_sample"] = x.seconds_per_sample;
        s["forward_passes_per_sample"] = x.forward_passes_per_sample;
        s["tokens_per_second"] = x.tokens_per_second;
        s["new_tokens_per_sample"] = x.new_tokens_per_sample;
        s["tokens_per_pass"] = x.tokens_per_pass;
        s["gen_perplexity"] = x.perplexity ? number_or_null(x.perplexity->perplexity) : nullptr;
        s["mean_sample_perplexity"] = x.perplexity ? number_or_null(x.perplexity->mean_sample_perplexity) : nullptr;
        s["scored_tokens"] = x.perplexity ? x.perplexity->tokens_total : 0;
        s["unigram_entropy_bits"] = x.metrics.unigram_entropy_bits;
        s["distinct"] = x.metrics.distinct;
        s["distinct_mean"] = x.metrics.distinct_mean;
        s["repeated_4gram_rate"] = x.metrics.repeated_4gram_rate;
        s["share_with_mask"] = x.metrics.share_with_mask;
        s["share_with_special"] = x.metrics.share_with_special;
        s["texts"] = x.texts;
        settings.push_back(std::move(s));
    }
    return j;
}

std::string generation_report_markdown(const GenerationReport& r) {
    std::string md = fmt::format("## Generation: {}\n\n", r.model);
    md += fmt::format("{} prompts of {} tokens from {}; {} new tokens per sample; batch {}, {} threads, {}, seed {}.",
                      r.prompts, r.prompt_tokens, fmt::join(r.files, ", "), r.new_tokens, r.batch, r.threads, r.dtype,
                      r.seed);
    md += r.scorer.empty() ? fmt::format(" No scorer (pass {} DIR for generative perplexity).\n\n", SettingName{"scorer"})
                           : fmt::format(" Generative perplexity scored by {}.\n\n", r.scorer);
    md += "| setting | passes/sample | tokens/pass | s/sample | tokens/s | gen. PPL | entropy (bits) | distinct-1/2/3 | "
          "rep. 4-grams | with mask | with special |\n";
    md += "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|\n";
    for (const auto& x : r.results) {
        const bool ref = x.setting.method == "reference";
        md += fmt::format("| {} | {} | {} | {} | {} | {} | {:.2f} | {:.3f} / {:.3f} / {:.3f} | {:.3f} | {:.0f}% | {:.0f}% |\n",
                          x.setting.label(), ref ? "-" : fmt::format("{:.1f}", x.forward_passes_per_sample),
                          ref ? "-" : fmt::format("{:.2f}", x.tokens_per_pass),
                          ref ? "-" : fmt::format("{:.3f}", x.seconds_per_sample),
                          ref ? "-" : fmt::format("{:.0f}", x.tokens_per_second),
                          x.perplexity ? fmt::format("{:.2f}", x.perplexity->perplexity) : "-",
                          x.metrics.unigram_entropy_bits, x.metrics.distinct[0], x.metrics.distinct[1],
                          x.metrics.distinct[2], x.metrics.repeated_4gram_rate, 100 * x.metrics.share_with_mask,
                          100 * x.metrics.share_with_special);
    }
    md += "\n";
    return md;
}

PlotResult generation_report_plot(const GenerationReport& r, const std::string& out) {
    const std::string term = plot_terminal_for(out);
    const bool scored = !r.scorer.empty();
    auto quality = [&](const GenSettingResult& x) {
        return scored ? (x.perplexity ? x.perplexity->perplexity : NAN) : x.metrics.unigram_entropy_bits;
    };
    // One data block per curve: the samplers' step sweeps, the threshold sweep, the
    // causal model; the reference is a level line.
    std::map<std::string, std::vector<const GenSettingResult*>> curves;
    std::vector<std::string> order;
    std::optional<double> reference;
    for (const auto& x : r.results) {
        if (x.setting.method == "reference") {
            reference = quality(x);
            continue;
        }
        const std::string name = x.setting.curve();
        if (!curves.count(name)) order.push_back(name);
        curves[name].push_back(&x);
    }
    if (order.empty()) return {false, "nothing was generated"};
    const std::string data = std::filesystem::path(out).replace_extension(".dat").string();
    std::string text = "# forward_passes_per_sample  seconds_per_sample  quality  steps  threshold\n";
    std::string titles;
    for (const auto& name : order) {
        auto pts = curves[name];
        std::sort(pts.begin(), pts.end(), [](auto* a, auto* b) { return a->forward_passes_per_sample < b->forward_passes_per_sample; });
        text += fmt::format("# {}\n", name);
        for (auto* x : pts)
            text += fmt::format("{:.4f} {:.6f} {:.6f} {} {:g}\n", x->forward_passes_per_sample, x->seconds_per_sample,
                                quality(*x), x->setting.steps, x->setting.threshold);
        text += "\n\n";
        titles += (titles.empty() ? "" : " ") + name;
    }
    file_write_atomic(data, text);
    std::vector<std::pair<std::string, std::string>> vars = {
        {"data", plot_quote(data)}, {"out", plot_quote(out)},        {"term", plot_quote(term)},
        {"name", plot_quote(r.model)}, {"titles", plot_quote(titles)},
        {"ylabel", plot_quote(scored ? "generative perplexity (lower is better)" : "unigram entropy (bits)")}};
    if (reference && std::isfinite(*reference)) vars.emplace_back("reference", fmt::format("{:.6f}", *reference));
    if (scored) vars.emplace_back("logy", "1");
    return gnuplot_run(plot_script_path("plot-tradeoff.gp"), vars);
}

}  // namespace dlm
