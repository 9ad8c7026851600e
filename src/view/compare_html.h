// The replay page of `dlm compare`: one self-contained HTML file (inline CSS and JS,
// nothing fetched; they live in view/assets/ and are embedded at build time) that plays two generation traces (generation/trace.h, "dlm-trace-1")
// side by side at their recorded speed: per side the text as it was at each step
// (masks as dim '░', the tokens committed in the current step highlighted, the prompt
// in bold), a live counter, and a summary table from each trace's stats once both
// have finished. Only sample 0 of a batch is shown.
//
//   CompareHtmlOptions opt;
//   opt.title = "Diffusion vs autoregressive";
//   opt.left_label = "RoBERTa diffusion (remask, 10 steps)";
//   opt.right_label = "GPT-2 (KV cache)";
//   compare_html_write("compare.html", left_trace, right_trace, opt);
//
// The page plays on load; a URL hash changes that: `#speed=8` (any positive factor),
// `#paused` (do not start), `#at=0.5` (start there, in trace seconds; with #paused, a
// still of that moment). It marks its state in the DOM for scripts/check-html.sh: <main
// id="replay" data-done="N"> counts the finished sides, each side has data-state
// ("waiting", "running", "done") and data-step, each text data-masked (masks shown),
// and <table id="summary"> loses its `hidden` attribute when both are done.
//
// Embedded format. The traces are not embedded as they are: an autoregressive trace
// repeats the whole sequence at every step, so its size grows with the square of the
// length (240 steps x 256 tokens). The page holds instead, in
// <script type="application/json" id="dlm-data">:
//
// {"format": "dlm-compare-1", "title": "...", "prompt": "...",
//  "sides": [side, side]}                       left, right
// side: {"label": "...", "kind": "diffusion" | "autoregressive", "model": "...",
//        "sampler": "...", "mask_id": 50264 (-1: none), "samples": 1 (batch size),
//        "pieces": {"31414": "Hello", ...},    text of every id in sample 0; the
//                                              special tokens (<s>, <pad>, ...) as ""
//        "start": [ids],                       the sequence before step 0 (below)
//        "steps": [step, ...],
//        "stats": {"steps": 10, "forward_passes": 10, "new_tokens": 240, "seconds": 1.2}}
// step: {"t": 0.12,                            seconds since the start (the trace's t)
//        "n": 40,                              optional: resize the sequence to n first
//                                              (new positions hold mask_id)
//        "s": [p0, id0, p1, id1, ...],         optional: set position p to id
//        "a": [id, ...],                       optional: append ids at the end
//        "c": [p, ...]}                        positions committed in this step;
//                                              omitted: the positions "a" appended
// A step's sequence is the previous one (step 0: "start") with n, s, a applied in that
// order. The writer uses "a" alone when the step only appended tokens (an
// autoregressive step: one id) and "s" otherwise (a diffusion step: the positions
// that changed), so sequences are never stored whole.
//
// "start" is not in the trace; it is derived from step 0. Diffusion: step 0's tokens
// with every position that any step commits or changes set to mask_id (the canvas
// before denoising; what stays is the prompt and its padding). Autoregressive: step
// 0's tokens before the first position step 0 committed (all but the last if it names
// none).
// The page shows the non-mask positions of "start" as the prompt.
//
// The JSON is escaped for the inside of a <script> element: "</" is written "<\/"
// and "<!--" as "\u003c!--" (both mean the same in JSON), so no text in a trace can
// end the element or change how the HTML parser reads it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace dlm {

struct CompareHtmlOptions {
    std::string title = "dlm compare";  // <title> and heading
    std::string left_label;             // e.g. "RoBERTa diffusion (remask, 10 steps)"; empty: model and kind
    std::string right_label;            // e.g. "GPT-2 (KV cache)"
    std::string prompt;                 // shown under the title; empty: the left trace's prompt
};

// The page for two traces in the "dlm-trace-1" format. Throws dlm::Error naming the
// side ("left trace: ...") for a trace it cannot read: another format, no samples, a
// step without tokens, a token id without a piece.
std::string compare_html_render(const nlohmann::json& left_trace, const nlohmann::json& right_trace,
                                const CompareHtmlOptions& opt);

// compare_html_render() written to `path` atomically.
void compare_html_write(const std::string& path, const nlohmann::json& left_trace, const nlohmann::json& right_trace,
                        const CompareHtmlOptions& opt);

}  // namespace dlm
