#include "server/engine.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "core/error.h"
#include "core/file.h"
#include "request/ar_request.h"
#include "request/diffusion_request.h"

namespace dlm {

namespace {

using json = nlohmann::json;

// One sample's text as the steps go: what was sent, and whether a stop string or the end
// of text has ended it.
struct text_stream {
    std::string sent;
    bool ended = false;
};

// The generated part of a sequence as text: from `from` up to the first <mask> (the
// rest is still open) or the end-of-text token (which ends it). ended: the end of text
// (or a stop string) was reached.
std::string generated_text(const Tokenizer& tok, std::span<const int32_t> tokens, int64_t from, int32_t mask_id,
                           int32_t eos_id, const std::vector<std::string>& stop, bool& ended, int64_t* count = nullptr) {
    int64_t end = from;
    ended = false;
    while (end < static_cast<int64_t>(tokens.size()) && tokens[end] != mask_id) {
        if (tokens[end] == eos_id) {
            ended = true;
            break;
        }
        ++end;
    }
    if (count) *count = end - from + (ended ? 1 : 0);
    std::string text = tok.decode(tokens.subspan(from, end - from), true);
    if (text_stop_cut(text, stop)) ended = true;
    return text;
}

// Sends what became final of one sample's text. final_text: the whole sample is done.
void text_advance(text_stream& ts, const std::string& text, bool ended, bool final_text,
                  const std::vector<std::string>& stop, const std::function<void(const std::string&)>& send) {
    if (ts.ended || text.compare(0, ts.sent.size(), ts.sent) != 0) return;
    const size_t upto = final_text || ended ? text.size() : text_sendable_length(text, stop);
    if (upto > ts.sent.size()) {
        send(text.substr(ts.sent.size(), upto - ts.sent.size()));
        ts.sent = text.substr(0, upto);
    }
    if (ended || final_text) ts.ended = true;
}

json step_event(const Tokenizer& tok, const GenerationStep& s, int64_t choice, int64_t prompt_len) {
    std::vector<int64_t> masked;
    json pieces = json::array();
    for (size_t i = 0; i < s.tokens.size(); ++i) {
        if (s.tokens[i] == s.mask_id) masked.push_back(static_cast<int64_t>(i));
        pieces.push_back(s.tokens[i] == s.mask_id ? std::string() : tok.token_text(s.tokens[i]));
    }
    return {{"object", "denoise.step"},
            {"choice", choice},
            {"step", s.step},
            {"seconds", s.seconds},
            {"forward_passes", s.forward_passes},
            {"prompt_tokens", prompt_len},
            {"tokens", std::vector<int32_t>(s.tokens.begin(), s.tokens.end())},
            {"pieces", pieces},
            {"masked", masked},
            {"committed", std::vector<int64_t>(s.committed.begin(), s.committed.end())}};
}

uint64_t seed_fresh() {
    static std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
           static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

// What one prompt's run shares between its steps and its end.
struct prompt_run {
    const ServedModel& m;
    const CompletionRequest& q;
    const CompletionSink& sink;
    int64_t first_choice = 0, prompt_len = 0;
    bool stable_steps = true;  // committed tokens never change (not the remask sampler)
    bool infill = false;
    int64_t infill_tokens = 0;  // infilling: the <mask> positions to fill
    std::vector<text_stream> streams;

    step_callback observer() {
        return [this](const GenerationStep& s) {
            if (sink.cancelled && sink.cancelled()) throw CompletionCancelled{};
            const int64_t choice = first_choice + s.sample;
            if (sink.step) sink.step(step_event(m.tokenizer, s, choice, prompt_len));
            if (!sink.text || !stable_steps || infill) return;
            bool ended = false;
            const std::string text = generated_text(m.tokenizer, s.tokens, prompt_len, s.mask_id,
                                                    m.special.eos, q.stop, ended);
            text_advance(streams[static_cast<size_t>(s.sample)], text, ended, false, q.stop,
                         [&](const std::string& d) { sink.text(choice, d); });
        };
    }

    // The finished samples: their choices, the rest of their text to the sink.
    void finish(const std::vector<std::vector<int32_t>>& samples, CompletionResult& out) {
        for (size_t j = 0; j < samples.size(); ++j) {
            bool ended = false;
            int64_t count = 0;
            std::string text;
            if (infill) {  // the whole text with its spans filled
                text = m.tokenizer.decode(samples[j], true);
                count = infill_tokens;
            } else {
                text = generated_text(m.tokenizer, samples[j], prompt_len, -1, m.special.eos, q.stop, ended, &count);
            }
            out.choices.push_back({text, ended ? "stop" : "length"});
            out.usage.completion_tokens += count;
            if (sink.text)
                text_advance(streams[j], text, ended, true, q.stop,
                             [&](const std::string& d) { sink.text(first_choice + static_cast<int64_t>(j), d); });
        }
        out.usage.prompt_tokens += infill ? static_cast<int64_t>(samples.front().size()) - infill_tokens : prompt_len;
    }
};

void stats_add(GenerationStats& a, const GenerationStats& b) {
    a.steps += b.steps;
    a.forward_passes += b.forward_passes;
    a.new_tokens += b.new_tokens;
    a.seconds += b.seconds;
}

void run_diffusion(StepBatcher& batcher, ServedModel& m, const CompletionRequest& q, const std::string& prompt, uint64_t seed,
                   prompt_run& run, CompletionResult& out) {
    DiffusionChoices c = q.diffusion;
    c.sampling = q.sampling;
    c.length = q.max_tokens;
    c.seed = seed;
    c.batch = q.n;
    DiffusionRequest r = diffusion_request_resolve(*m.model, m.tokenizer, prompt, m.defaults, c);
    run.prompt_len = r.prompt_len;
    run.infill = r.infill;
    run.infill_tokens = std::count(r.starts[0].begin(), r.starts[0].end(), r.options.mask_id);
    run.stable_steps = r.options.sampler != SamplerKind::remask;
    r.denoiser = batcher.denoiser(*m.model);
    const DiffusionResult res = diffusion_request_run(r, run.observer());
    run.finish(res.tokens, out);
    stats_add(out.stats, res.stats);
}

void run_autoregressive(StepBatcher& batcher, ServedModel& m, const CompletionRequest& q, const std::string& prompt, uint64_t seed,
                        prompt_run& run, CompletionResult& out) {
    const DiffusionChoices& d = q.diffusion;
    for (const auto& [set, name] :
         {std::pair{d.sampler.has_value(), "sampler"}, {d.steps.has_value(), "steps"}, {d.block.has_value(), "block"},
          {d.cache.has_value(), "cache"}, {d.threshold.has_value(), "threshold"}, {d.commit.has_value(), "commit"},
          {d.factor.has_value(), "factor"}, {d.entropy_bound.has_value(), "entropy_bound"}})
        if (set) throw ApiError(400, fmt::format("'{}' applies to diffusion models; {} is autoregressive", name, m.id), name);
    ArChoices c;
    c.sampling = q.sampling;
    c.length = q.max_tokens;
    c.seed = seed;
    c.batch = q.n;
    const ArRequest r = ar_request_resolve(m.tokenizer, prompt, m.defaults, c);
    run.prompt_len = static_cast<int64_t>(r.prompts[0].size());
    auto decoder = batcher.decoder(*m.model);
    const ArResult res = ar_generate(*decoder, r.prompts, r.options, run.observer());
    run.finish(res.tokens, out);
    stats_add(out.stats, res.stats);
}

}  // namespace

void ServeEngine::model_add(const std::string& dir, const std::string& id, DType dtype) {
    std::unique_ptr<Model> model;
    batcher_->task_run([&] { model = model_load(dir, dtype); });  // its parallel loops on the compute thread
    Tokenizer tok = Tokenizer::from_folder(dir);
    const PromptTokens special = prompt_tokens_of(tok);
    const bool causal = model->config().is_causal();
    const std::string tc = dir + "/tokenizer_config.json";
    const nlohmann::json config = file_exists(tc) ? nlohmann::json::parse(file_read(tc), nullptr, false) : nlohmann::json();
    const bool chat = config.is_object() && config.contains("chat_template");
    models_.push_back(std::unique_ptr<ServedModel>(new ServedModel{
        id, dir, std::move(model), std::move(tok), generation_defaults_load(dir), special, causal, chat}));
}

ServedModel& ServeEngine::model_find(const std::string& id) {
    DLM_ASSERT(!models_.empty());
    if (id.empty()) return *models_.front();
    for (auto& m : models_)
        if (m->id == id) return *m;
    std::vector<std::string> ids;
    for (const auto& m : models_) ids.push_back(m->id);
    throw ApiError(404, fmt::format("The model '{}' does not exist (this server has {})", id, fmt::join(ids, ", ")),
                   "model", "invalid_request_error", "model_not_found");
}

ServeEngine::ServeEngine(int threads, std::chrono::microseconds batch_wait)
    : batcher_(std::make_unique<StepBatcher>(threads, batch_wait)) {}

CompletionResult ServeEngine::run(const CompletionRequest& q, const CompletionSink& sink) {
    ServedModel& m = model_find(q.model);
    // Many requests sample at once, each on its thread: one OpenMP thread each (the
    // compute thread's passes take the cores; see server/step_batcher.h).
    omp_set_num_threads(1);
    const uint64_t seed = q.seed ? *q.seed : seed_fresh();
    CompletionResult out;
    for (size_t p = 0; p < q.prompts.size(); ++p) {
        prompt_run run{m, q, sink, static_cast<int64_t>(p) * q.n, 0, true, false, 0,
                       std::vector<text_stream>(static_cast<size_t>(q.n))};
        try {
            if (m.causal)
                run_autoregressive(*batcher_, m, q, q.prompts[p], seed, run, out);
            else
                run_diffusion(*batcher_, m, q, q.prompts[p], seed, run, out);
        } catch (const Error& e) {  // what the request asked that the model cannot do
            throw ApiError(400, e.what());
        }
    }
    return out;
}

}  // namespace dlm
