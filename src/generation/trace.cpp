#include "generation/trace.h"

#include <set>

#include "core/file.h"

namespace dlm {

TraceRecorder::TraceRecorder(std::string kind, std::string model, std::string sampler, std::string prompt,
                             int64_t batch)
    : kind_(std::move(kind)), model_(std::move(model)), sampler_(std::move(sampler)), prompt_(std::move(prompt)),
      samples_(static_cast<size_t>(batch), nlohmann::json::array()) {}

void TraceRecorder::record(const GenerationStep& s) {
    mask_id_ = s.mask_id;
    if (s.sample < 0 || s.sample >= static_cast<int64_t>(samples_.size())) return;
    samples_[s.sample].push_back({{"step", s.step},
                                  {"t", std::round(s.seconds * 1e4) / 1e4},
                                  {"tokens", std::vector<int32_t>(s.tokens.begin(), s.tokens.end())},
                                  {"commits", s.committed.size()},  // tokens this pass committed
                                  {"committed", std::vector<int64_t>(s.committed.begin(), s.committed.end())},
                                  {"changed", std::vector<int64_t>(s.changed.begin(), s.changed.end())}});
}

nlohmann::json TraceRecorder::to_json(const Tokenizer& tok, const std::vector<std::string>& texts,
                                      const GenerationStats& stats) const {
    std::set<int32_t> ids;
    for (auto& steps : samples_)
        for (auto& st : steps)
            for (auto& id : st["tokens"]) ids.insert(id.get<int32_t>());
    nlohmann::json pieces = nlohmann::json::object();
    for (int32_t id : ids)
        if (id >= 0 && id < tok.vocab_size()) pieces[std::to_string(id)] = tok.decode(std::span<const int32_t>(&id, 1));
    nlohmann::json samples = nlohmann::json::array();
    for (size_t i = 0; i < samples_.size(); ++i)
        samples.push_back({{"text", i < texts.size() ? texts[i] : ""}, {"steps", samples_[i]}});
    return {{"format", "dlm-trace-1"},
            {"kind", kind_},
            {"model", model_},
            {"sampler", sampler_},
            {"prompt", prompt_},
            {"mask_id", mask_id_},
            {"pieces", pieces},
            {"samples", samples},
            {"stats",
             {{"steps", stats.steps},
              {"forward_passes", stats.forward_passes},
              {"new_tokens", stats.new_tokens},
              {"seconds", stats.seconds}}}};
}

void TraceRecorder::write(const std::string& path, const Tokenizer& tok, const std::vector<std::string>& texts,
                          const GenerationStats& stats) const {
    file_write_atomic(path, to_json(tok, texts, stats).dump() + "\n");
}

}  // namespace dlm
