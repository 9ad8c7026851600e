// Plots through gnuplot (Debian gnuplot-nox): dlm writes a data file and runs a
// script kept in scripts/plot-*.gp, so a figure can be redrawn or restyled by hand:
//
//   gnuplot -e "data='out.dat'; out='out.png'; term='pngcairo'; bound=3.2" scripts/plot-mask-rates.gp
//
// A missing gnuplot or script is not an error: the caller gets the reason and goes on
// without the figure.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace dlm {

struct PlotResult {
    bool ok = false;
    std::string message;  // why there is no figure (empty when ok)
};

// Runs `gnuplot -e "k1=v1; k2=v2; ..." script`; string values must be given quoted
// (plot_quote). Captures gnuplot's stderr for the message on failure.
PlotResult gnuplot_run(const std::string& script, const std::vector<std::pair<std::string, std::string>>& vars);

// A gnuplot string literal: 'text' with ' doubled.
std::string plot_quote(const std::string& text);

// The script scripts/<name> of the source tree ($DLM_SCRIPTS_DIR overrides the folder).
std::string plot_script_path(const std::string& name);

// The gnuplot terminal for an output file: .png -> pngcairo, .svg -> svg; throws
// dlm::Error for any other extension.
std::string plot_terminal_for(const std::string& path);

}  // namespace dlm
