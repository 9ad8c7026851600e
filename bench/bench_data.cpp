// Data pipeline timings (not a test): content hash throughput, tokenizer fingerprint,
// and building the training blocks twice into a fresh cache folder, so the first
// build tokenizes and the second reads the cache.
//   bench_data [--threads N] [--model DIR] [--mode concat|document] [--cache DIR] [PATH ...]
// With --cache the build runs once into DIR, which is kept: run it twice to time a
// second run in a fresh process (no memoized tokenizer fingerprint, cold malloc).
// PATH defaults to wiki_00..wiki_11 of /work/shared/data/enwiki-2015-sample (the
// enwiki training set), MODEL to the roberta-base tokenizer in tests/data.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/file.h"
#include "data/dataset.h"
#include "data/hash.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
    try {
        dlm::DatasetOptions opt;
        opt.threads = 2;
        std::string model = DLM_TEST_DATA "/tokenizers/roberta-base";
        std::vector<std::string> paths;
        std::string keep_cache;
        for (int i = 1; i < argc; ++i) {
            if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) opt.threads = std::atoi(argv[++i]);
            else if (!std::strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
            else if (!std::strcmp(argv[i], "--cache") && i + 1 < argc) keep_cache = argv[++i];
            else if (!std::strcmp(argv[i], "--mode") && i + 1 < argc) opt.mode = dlm::block_mode_parse(argv[++i]);
            else paths.push_back(argv[i]);
        }
        if (paths.empty())
            for (int i = 0; i < 12; ++i)
                paths.push_back(fmt::format("/work/shared/data/enwiki-2015-sample/wiki_{:02}", i));

        std::string all;
        for (const auto& p : dlm::corpus_list_files(paths)) all += dlm::file_read(p);
        auto t0 = std::chrono::steady_clock::now();
        uint64_t h = 0;
        for (int r = 0; r < 10; ++r) h ^= dlm::hash_bytes(all, uint64_t(r));
        double dt = seconds_since(t0) / 10;
        std::printf("hash_bytes: %.1f MB in %.2f ms (%.1f GB/s) [%016llx]\n", all.size() / 1e6, dt * 1e3,
                    all.size() / dt / 1e9, (unsigned long long)h);

        t0 = std::chrono::steady_clock::now();
        auto tok = dlm::Tokenizer::from_folder(model);
        std::printf("tokenizer load: %.0f ms\n", seconds_since(t0) * 1e3);
        if (keep_cache.empty()) {
            t0 = std::chrono::steady_clock::now();
            uint64_t fp = dlm::tokenizer_fingerprint(tok);
            std::printf("tokenizer_fingerprint: %.1f ms [%016llx]\n", seconds_since(t0) * 1e3,
                        (unsigned long long)fp);
        }

        if (!keep_cache.empty()) {
            opt.cache_dir = keep_cache;
            dlm::Dataset ds = dlm::dataset_build(paths, tok, opt);
            std::printf("%-30s %7.0f ms  threads %d  %s\n", ds.stats.from_cache ? "build (cache hit)" : "build (tokenized)",
                        ds.stats.seconds * 1e3, opt.threads, dlm::dataset_summary(ds).c_str());
            return 0;
        }
        fs::path cache = fs::temp_directory_path() / "dlm_bench_data_cache";
        fs::remove_all(cache);
        opt.cache_dir = cache.string();
        for (const char* run : {"first (tokenize, write cache)", "second (read cache)"}) {
            dlm::Dataset ds = dlm::dataset_build(paths, tok, opt);
            std::printf("%-30s %7.0f ms  threads %d  %s\n", run, ds.stats.seconds * 1e3, opt.threads,
                        dlm::dataset_summary(ds).c_str());
        }
        fs::remove_all(cache);
    } catch (const dlm::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
