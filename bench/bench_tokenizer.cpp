// Tokenizer throughput: MB/s encoding a corpus line by line, on 1 and 2 threads.
//   bench_tokenizer [FILE [MODEL_DIR]]
// FILE defaults to tests/data/wikitext-2/wiki.test.raw, MODEL_DIR to the roberta-base
// tokenizer in tests/data. "cold" is the first pass with empty word caches (what a
// one-off data preparation run sees); "warm" is the best of three later passes.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/file.h"
#include "tokenizer/tokenizer.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Encodes every line once; returns seconds. threads == 1 uses plain encode().
double pass_time(const dlm::Tokenizer& tok, const std::vector<std::string>& lines, int threads,
                 size_t* tokens) {
    auto t0 = std::chrono::steady_clock::now();
    size_t n = 0;
    if (threads == 1) {
        for (const auto& l : lines) n += tok.encode(l).size();
    } else {
        for (const auto& ids : tok.encode_batch(lines, false, threads)) n += ids.size();
    }
    double dt = seconds_since(t0);
    *tokens = n;
    return dt;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        std::string path = argc > 1 ? argv[1] : DLM_TEST_DATA "/wikitext-2/wiki.test.raw";
        std::string model = argc > 2 ? argv[2] : DLM_TEST_DATA "/tokenizers/roberta-base";
        std::string text = dlm::file_read(path);
        std::vector<std::string> lines;
        for (size_t pos = 0; pos < text.size();) {
            size_t nl = text.find('\n', pos);
            size_t end = nl == std::string::npos ? text.size() : nl + 1;
            lines.push_back(text.substr(pos, end - pos));
            pos = end;
        }
        double mb = double(text.size()) / 1e6;

        auto t0 = std::chrono::steady_clock::now();
        auto probe = dlm::Tokenizer::from_folder(model);
        std::printf("model %s: loaded in %.0f ms\n", model.c_str(), seconds_since(t0) * 1e3);
        std::printf("file %s: %.2f MB, %zu lines\n", path.c_str(), mb, lines.size());

        for (int threads : {1, 2}) {
            // A fresh load has fresh (empty) per-thread caches.
            auto tok = dlm::Tokenizer::from_folder(model);
            size_t tokens = 0;
            double cold = pass_time(tok, lines, threads, &tokens);
            double warm = 1e30;
            for (int rep = 0; rep < 3; ++rep) warm = std::min(warm, pass_time(tok, lines, threads, &tokens));
            std::printf("%d thread%s: cold %6.1f MB/s   warm %6.1f MB/s   (%zu tokens, %.1f Mtok/s warm)\n",
                        threads, threads > 1 ? "s" : " ", mb / cold, mb / warm, tokens,
                        double(tokens) / warm / 1e6);
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_tokenizer: error: %s\n", e.what());
        return 1;
    }
}
