// The likelihood report of `dlm eval likelihood`: JSON for machines, a Markdown table
// for people, and the data + gnuplot call behind the mask-rate figure.
//
// JSON (numbers in nats unless the key says bits; a standard error that cannot be
// computed, with one block, is null):
// {"format": "dlm-eval-likelihood-1", "model": "...", "architecture": "...", "kind": "masked" | "causal",
//  "files": [...], "block_size": 256, "prefix": 16, "blocks": 40, "blocks_in_files": 1132, "seed": 0,
//  "dtype": "f32", "seconds": 12.3,
//  "mask_rates": [{"rate": 0.1, "eligible": 9000, "masked": 901, "ce": 3.2, "accuracy": 0.41}, ...],   (masked)
//  "bound": {"estimator": "t", "samples_per_block": 4, ...summary},                                  (masked)
//  "exact": {...summary}}                                                                            (causal)
// summary = {"blocks", "samples", "tokens", "bytes", "nats", "nats_per_token", "se_nats_per_token",
//            "perplexity", "se_perplexity", "bits_per_byte", "se_bits_per_byte"}
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "eval/likelihood.h"
#include "eval/plot.h"

namespace dlm {

struct LikelihoodReport {
    std::string model, architecture;
    bool causal = false;
    std::vector<std::string> files;
    int64_t block_size = 0, prefix = 0, blocks = 0, blocks_in_files = 0;
    uint64_t seed = 0;
    std::string dtype = "f32";
    double seconds = 0;
    std::vector<RateResult> rates;     // masked LMs
    std::optional<NllSummary> bound;   // masked LMs
    BoundEstimator estimator = BoundEstimator::time;
    int64_t samples_per_block = 0;
    std::optional<NllSummary> exact;   // causal LMs
};

nlohmann::ordered_json likelihood_report_json(const LikelihoodReport& r);
std::string likelihood_report_markdown(const LikelihoodReport& r);

// Writes the mask-rate data next to `out` (out with the extension .dat: rate, CE,
// accuracy, masked tokens) and runs scripts/plot-mask-rates.gp to draw `out` (.png or
// .svg). Masked LMs only.
PlotResult likelihood_report_plot(const LikelihoodReport& r, const std::string& out);

}  // namespace dlm
