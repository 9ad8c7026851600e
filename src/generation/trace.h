// The trace of a generation as JSON, written by `--trace FILE` for other tools (the
// compare page, GIFs): every step's tokens per sample, with the text piece of every
// token id that appears, so a reader needs no tokenizer.
//
// {"format": "dlm-trace-1", "kind": "diffusion" | "autoregressive", "model": "...",
//  "sampler": "...", "prompt": "...", "mask_id": 50264,
//  "pieces": {"31414": "Hello", ...},
//  "samples": [{"text": "final text",
//               "steps": [{"step": 0, "t": 0.12, "tokens": [...], "committed": [...], "changed": [...]}]}],
//  "stats": {"steps": 10, "forward_passes": 10, "seconds": 1.2, "new_tokens": 240}}
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "generation/events.h"
#include "tokenizer/tokenizer.h"

namespace dlm {

class TraceRecorder {
public:
    TraceRecorder(std::string kind, std::string model, std::string sampler, std::string prompt, int64_t batch);
    void record(const GenerationStep& s);
    // Final texts, stats; the pieces are looked up in tok. Writes atomically.
    void write(const std::string& path, const Tokenizer& tok, const std::vector<std::string>& texts,
               const GenerationStats& stats) const;
    nlohmann::json to_json(const Tokenizer& tok, const std::vector<std::string>& texts, const GenerationStats& stats) const;

private:
    std::string kind_, model_, sampler_, prompt_;
    int32_t mask_id_ = -1;
    std::vector<nlohmann::json> samples_;  // per sample: array of steps
};

}  // namespace dlm
