// dlm logits -m DIR --ids "0 31414 232 2" -o OUT.npy: the logits of one sequence
// as a float32 [T, vocab] .npy, for checking dlm against a reference.
#include <fmt/format.h>

#include <numeric>
#include <sstream>

#include "command.h"
#include "core/error.h"
#include "io/npy.h"
#include "models/model.h"

namespace dlm::cli {
namespace {

struct logits_options {
    std::string model, ids, out;
    int threads = 0;
};

std::vector<int32_t> ids_parse(const std::string& s) {
    std::vector<int32_t> ids;
    std::istringstream in(s);
    std::string tok;
    while (in >> tok) {
        size_t used = 0;
        long long v = 0;
        try {
            v = std::stoll(tok, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != tok.size() || v < INT32_MIN || v > INT32_MAX)
            fail("--ids: '{}' is not a token id (expected integers separated by spaces)", tok);
        ids.push_back(static_cast<int32_t>(v));
    }
    if (ids.empty()) fail("--ids: no token ids given");
    return ids;
}

void logits_run(const logits_options& o) {
    threads_apply(o.threads);
    std::vector<int32_t> ids = ids_parse(o.ids);
    auto m = model_load(o.model);
    const int64_t T = static_cast<int64_t>(ids.size()), V = m->config().vocab_size;
    m->forward({ids.data(), nullptr, nullptr, 1, T});
    std::vector<int64_t> rows(static_cast<size_t>(T));
    std::iota(rows.begin(), rows.end(), 0);
    std::vector<float> logits(static_cast<size_t>(T * V));
    m->logits(rows, logits.data());
    npy_write_f32(o.out, logits.data(), {T, V});
    fmt::print(stderr, "dlm: wrote logits [{}, {}] to {}\n", T, V, o.out);
}

command_registration reg(11, "logits", "Write the logits of one sequence of token ids as a .npy file",
                         [](CLI::App& sub) {
                             auto o = std::make_shared<logits_options>();
                             sub.add_option("-m,--model", o->model, "Model folder")->required();
                             sub.add_option("--ids", o->ids, "Token ids separated by spaces, e.g. \"0 31414 232 2\"")
                                 ->required();
                             sub.add_option("-o,--output", o->out, "Output .npy file (float32 [T, vocab])")
                                 ->required();
                             add_threads_option(sub, o->threads);
                             sub.callback([o] { logits_run(*o); });
                         });

}  // namespace
}  // namespace dlm::cli
