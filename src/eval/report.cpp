#include "eval/report.h"

#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "core/error.h"
#include "core/file.h"

namespace dlm {

namespace {

nlohmann::ordered_json summary_json(const NllSummary& s) {
    // nlohmann writes NaN as null: "no standard error with one block".
    return {{"blocks", s.blocks},
            {"samples", s.samples},
            {"tokens", s.tokens},
            {"bytes", s.bytes},
            {"nats", s.nats},
            {"nats_per_token", s.nats_per_token},
            {"se_nats_per_token", s.se_nats_per_token},
            {"perplexity", s.perplexity},
            {"se_perplexity", s.se_perplexity},
            {"bits_per_byte", s.bits_per_byte},
            {"se_bits_per_byte", s.se_bits_per_byte}};
}

// "3.2100 ± 0.0310", or "3.2100 (one block: no error)" when the error is unknown.
std::string with_error(double x, double se, int digits) {
    if (std::isnan(se)) return fmt::format("{:.{}f} (± n/a: one block)", x, digits);
    return fmt::format("{:.{}f} ± {:.{}f}", x, digits, se, digits);
}

std::string blocks_line(const LikelihoodReport& r) {
    std::string files;
    for (size_t i = 0; i < r.files.size(); ++i) files += (i ? ", " : "") + r.files[i];
    return fmt::format("{}: {} blocks of {} tokens{} (the first {} of each block are context only), seed {}, {}", files,
                       r.blocks, r.block_size,
                       r.blocks < r.blocks_in_files ? fmt::format(" (of {})", r.blocks_in_files) : "", r.prefix,
                       r.seed, r.dtype);
}

}  // namespace

nlohmann::ordered_json likelihood_report_json(const LikelihoodReport& r) {
    nlohmann::ordered_json j = {{"format", "dlm-eval-likelihood-1"},
                                {"model", r.model},
                                {"architecture", r.architecture},
                                {"kind", r.causal ? "causal" : "masked"},
                                {"files", r.files},
                                {"block_size", r.block_size},
                                {"prefix", r.prefix},
                                {"blocks", r.blocks},
                                {"blocks_in_files", r.blocks_in_files},
                                {"seed", r.seed},
                                {"dtype", r.dtype},
                                {"seconds", r.seconds}};
    if (!r.causal) {
        auto rates = nlohmann::ordered_json::array();
        for (const auto& x : r.rates)
            rates.push_back({{"rate", x.rate},
                             {"eligible", x.eligible},
                             {"masked", x.masked},
                             {"ce", x.ce()},
                             {"accuracy", x.accuracy()}});
        j["mask_rates"] = rates;
    }
    if (r.bound) {
        nlohmann::ordered_json b = {{"estimator", bound_estimator_name(r.estimator)},
                                    {"samples_per_block", r.samples_per_block}};
        b.update(summary_json(*r.bound));
        j["bound"] = b;
    }
    if (r.exact) j["exact"] = summary_json(*r.exact);
    return j;
}

std::string likelihood_report_markdown(const LikelihoodReport& r) {
    std::string md = fmt::format("## {} ({})\n\n{}\n\n", r.model, r.architecture, blocks_line(r));
    if (!r.rates.empty()) {
        md += "| mask rate | masked tokens | cross-entropy (nats) | accuracy |\n|---:|---:|---:|---:|\n";
        for (const auto& x : r.rates)
            md += fmt::format("| {:.2f} | {} | {:.4f} | {:.4f} |\n", x.rate, x.masked, x.ce(), x.accuracy());
        md += "\n";
    }
    auto summary_rows = [&](const NllSummary& s, const char* what, const char* ppl_sign) {
        md += "| metric | value |\n|---|---:|\n";
        md += fmt::format("| {} (nats/token) | {} |\n", what, with_error(s.nats_per_token, s.se_nats_per_token, 4));
        md += fmt::format("| perplexity | {}{} |\n", ppl_sign, with_error(s.perplexity, s.se_perplexity, 2));
        md += fmt::format("| bits per byte | {}{} |\n", ppl_sign, with_error(s.bits_per_byte, s.se_bits_per_byte, 4));
        md += fmt::format("| tokens scored | {} ({} bytes of text) |\n", s.tokens, s.bytes);
    };
    if (r.bound) {
        summary_rows(*r.bound, "NELBO bound", "≤ ");
        md += fmt::format("| samples | {} ({} blocks × {} {}) |\n", r.bound->samples, r.bound->blocks,
                          r.samples_per_block,
                          r.estimator == BoundEstimator::time ? "stratified t" : "stratified mask counts");
    }
    if (r.exact) {
        summary_rows(*r.exact, "NLL", "");
        md += fmt::format("| samples | {} blocks (exact) |\n", r.exact->blocks);
    }
    return md;
}

PlotResult likelihood_report_plot(const LikelihoodReport& r, const std::string& out) {
    const std::string term = plot_terminal_for(out);
    if (r.rates.empty()) return {false, "the mask-rate figure needs a masked LM"};
    const std::string data = std::filesystem::path(out).replace_extension(".dat").string();
    std::string text = "# rate  cross_entropy_nats  accuracy  masked_tokens\n";
    for (const auto& x : r.rates) text += fmt::format("{:.4f} {:.6f} {:.6f} {}\n", x.rate, x.ce(), x.accuracy(), x.masked);
    file_write_atomic(data, text);
    std::vector<std::pair<std::string, std::string>> vars = {
        {"data", plot_quote(data)}, {"out", plot_quote(out)}, {"term", plot_quote(term)},
        {"name", plot_quote(r.model)}};
    if (r.bound) vars.emplace_back("bound", fmt::format("{:.6f}", r.bound->nats_per_token));
    return gnuplot_run(plot_script_path("plot-mask-rates.gp"), vars);
}

}  // namespace dlm
