#include "data/dataset.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <numeric>
#include <system_error>

#include "core/error.h"
#include "core/file.h"
#include "data/hash.h"

namespace fs = std::filesystem;

namespace dlm {

namespace {

// The ids of one file (or in-memory corpus) before blocking, wherever they live.
struct StreamView {
    std::span<const int32_t> ids;
    std::span<const int64_t> doc_end;  // end offset in `ids` of each document
    int64_t units = 0;
    int64_t truncated = 0;
};

// A stream just tokenized.
struct TokenStream {
    std::vector<int32_t> ids;
    std::vector<int64_t> doc_end;
    int64_t units = 0;
    int64_t truncated = 0;
    StreamView view() const { return {ids, doc_end, units, truncated}; }
};

// A stream in a cache file, read in place.
struct CachedStream {
    MappedFile file;
    StreamView view;
};

// What add_special puts around a sequence: `prefix` ids before, `suffix` after.
struct Wrapping {
    int64_t prefix = 0, suffix = 0;
};

Wrapping wrapping_detect(const Tokenizer& tok) {
    auto plain = tok.encode("a", false);
    auto wrapped = tok.encode("a", true);
    auto it = std::search(wrapped.begin(), wrapped.end(), plain.begin(), plain.end());
    DLM_ASSERT(it != wrapped.end());
    Wrapping w;
    w.prefix = it - wrapped.begin();
    w.suffix = int64_t(wrapped.size()) - w.prefix - int64_t(plain.size());
    return w;
}

// Everything derived from (tokenizer, options) that tokenization needs.
struct TokenizeSetup {
    Wrapping wrap;                       // around each unit
    std::vector<int32_t> doc_prefix, doc_suffix;  // around each document (wrap_documents)
    bool eos = false;
    int32_t eos_id = -1;
    int32_t pad_id = -1;
};

TokenizeSetup setup_make(const Tokenizer& tok, const DatasetOptions& opt) {
    if (opt.block_size < 1) fail("dataset: block_size must be at least 1, not {}", opt.block_size);
    if (opt.unit_max_tokens < 0)
        fail("dataset: unit_max_tokens must be 0 (no limit) or more, not {}", opt.unit_max_tokens);
    TokenizeSetup s;
    if (opt.add_special && !opt.wrap_documents) s.wrap = wrapping_detect(tok);
    if (opt.wrap_documents) {
        const Wrapping w = wrapping_detect(tok);
        const auto wrapped = tok.encode("a", true);
        s.doc_prefix.assign(wrapped.begin(), wrapped.begin() + w.prefix);
        s.doc_suffix.assign(wrapped.end() - w.suffix, wrapped.end());
    }
    int64_t special = s.wrap.prefix + s.wrap.suffix;
    if (opt.unit_max_tokens > 0 && opt.unit_max_tokens <= special)
        fail("dataset: unit_max_tokens {} leaves no room for text besides the {} special tokens",
             opt.unit_max_tokens, special);
    s.eos = opt.eos_between_documents.value_or(tok.num_special_to_add() == 0);
    if (opt.wrap_documents && !s.doc_suffix.empty()) s.eos = opt.eos_between_documents.value_or(false);
    s.eos_id = tok.eos_id();
    if (s.eos && s.eos_id < 0) fail("dataset: eos_between_documents is on but the tokenizer has no eos token");
    s.pad_id = tok.pad_id() >= 0 ? tok.pad_id() : tok.eos_id();
    if (opt.mode == BlockMode::DOCUMENT && s.pad_id < 0)
        fail("dataset: document mode pads blocks, but the tokenizer has neither a pad nor an eos token");
    return s;
}

TokenStream stream_tokenize(const Corpus& c, const Tokenizer& tok, const DatasetOptions& opt,
                            const TokenizeSetup& s) {
    TokenStream st;
    st.units = int64_t(c.units.size());
    auto encoded = tok.encode_batch(c.units, opt.add_special && !opt.wrap_documents, opt.threads);
    size_t total = 0;
    for (const auto& e : encoded) total += e.size();
    st.ids.reserve(total + (s.eos ? size_t(c.documents) : 0));
    st.doc_end.reserve(size_t(c.documents));
    const auto max = size_t(opt.unit_max_tokens);
    for (size_t i = 0; i < encoded.size(); ++i) {
        auto& e = encoded[i];
        if (max > 0 && e.size() > max) {
            // HF truncation cuts the text's ids, then wraps: keep the suffix (</s>).
            st.truncated += int64_t(e.size() - max);
            auto suffix = size_t(s.wrap.suffix);
            std::copy(e.end() - suffix, e.end(), e.begin() + (max - suffix));
            e.resize(max);
        }
        if (i == 0 || c.unit_doc[i - 1] != c.unit_doc[i]) st.ids.insert(st.ids.end(), s.doc_prefix.begin(), s.doc_prefix.end());
        st.ids.insert(st.ids.end(), e.begin(), e.end());
        std::vector<int32_t>().swap(e);
        if (i + 1 == encoded.size() || c.unit_doc[i + 1] != c.unit_doc[i]) {
            st.ids.insert(st.ids.end(), s.doc_suffix.begin(), s.doc_suffix.end());
            if (s.eos) st.ids.push_back(s.eos_id);
            st.doc_end.push_back(int64_t(st.ids.size()));
        }
    }
    return st;
}

// ---- the cache -------------------------------------------------------------------

constexpr char cache_magic[8] = {'D', 'L', 'M', 'T', 'O', 'K', 'S', '\0'};
constexpr uint32_t cache_version = 1;

struct CacheHeader {
    char magic[8];
    uint32_t version;
    uint32_t header_bytes;
    uint64_t key;
    int64_t units;
    int64_t documents;
    int64_t tokens;
    int64_t truncated;
    uint64_t checksum;  // of doc_end then ids
};
static_assert(sizeof(CacheHeader) == 64);

uint64_t stream_checksum(const StreamView& st) {
    uint64_t h = hash_bytes(st.doc_end.data(), st.doc_end.size() * sizeof(int64_t));
    return hash_bytes(st.ids.data(), st.ids.size() * sizeof(int32_t), h);
}

void cache_warn(const std::string& path, const std::string& why) {
    std::fprintf(stderr, "warning: %s: %s\n", path.c_str(), why.c_str());
}

// The cached stream at `path`, or nothing if absent; a damaged file is reported and
// treated as absent (it is overwritten when rebuilt).
std::optional<CachedStream> cache_read(const std::string& path, uint64_t key) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return std::nullopt;
    auto damaged = [&](const char* why) {
        cache_warn(path, fmt::format("damaged token cache ({}), rebuilding it", why));
        return std::nullopt;
    };
    CachedStream c;
    try {
        c.file = MappedFile(path);
    } catch (const Error& e) {
        cache_warn(path, fmt::format("unreadable token cache ({}), rebuilding it", e.what()));
        return std::nullopt;
    }
    CacheHeader h;
    if (c.file.size() < sizeof h) return damaged("shorter than its header");
    std::memcpy(&h, c.file.data(), sizeof h);
    if (std::memcmp(h.magic, cache_magic, sizeof cache_magic) != 0) return damaged("bad magic");
    if (h.version != cache_version || h.header_bytes != sizeof h)
        return damaged("written by another version of dlm");
    if (h.key != key) return damaged("key does not match its name");
    const auto size = int64_t(c.file.size());
    if (h.documents < 0 || h.tokens < 0 || h.units < 0 || h.truncated < 0 || h.documents > size ||
        h.tokens > size)
        return damaged("impossible counts");
    uint64_t payload = uint64_t(h.documents) * sizeof(int64_t) + uint64_t(h.tokens) * sizeof(int32_t);
    if (c.file.size() != sizeof h + payload) return damaged("wrong size");
    // The header is 64 bytes and mmap is page-aligned, so both arrays are aligned.
    const uint8_t* p = c.file.data() + sizeof h;
    c.view.doc_end = {reinterpret_cast<const int64_t*>(p), size_t(h.documents)};
    c.view.ids = {reinterpret_cast<const int32_t*>(p + h.documents * sizeof(int64_t)), size_t(h.tokens)};
    c.view.units = h.units;
    c.view.truncated = h.truncated;
    if (stream_checksum(c.view) != h.checksum) return damaged("checksum mismatch");
    // Blocking trusts the document ends, so check them even though the checksum matched.
    int64_t prev = 0;
    for (int64_t end : c.view.doc_end) {
        if (end < prev) return damaged("document ends out of order");
        prev = end;
    }
    if (prev != h.tokens) return damaged("document ends do not cover the tokens");
    return c;
}

void cache_write(const std::string& path, uint64_t key, const StreamView& st) {
    CacheHeader h{};
    std::memcpy(h.magic, cache_magic, sizeof cache_magic);
    h.version = cache_version;
    h.header_bytes = sizeof h;
    h.key = key;
    h.units = st.units;
    h.documents = int64_t(st.doc_end.size());
    h.tokens = int64_t(st.ids.size());
    h.truncated = st.truncated;
    h.checksum = stream_checksum(st);
    file_write_atomic_stream(path, [&](const file_put_fn& put) {
        put(&h, sizeof h);
        put(st.doc_end.data(), st.doc_end.size() * sizeof(int64_t));
        put(st.ids.data(), st.ids.size() * sizeof(int32_t));
    });
}

// ---- blocking ----------------------------------------------------------------------

// Cuts the streams into blocks (see dataset.h), sizing the result exactly first so
// that every id is copied once.
Dataset blocks_make(const std::vector<StreamView>& streams, const DatasetOptions& opt, int32_t pad_id) {
    Dataset ds;
    const int64_t bs = opt.block_size;
    ds.block_size = bs;
    auto& stats = ds.stats;
    for (const auto& st : streams) {
        stats.units += st.units;
        stats.documents += int64_t(st.doc_end.size());
        stats.tokens += int64_t(st.ids.size());
        stats.tokens_truncated += st.truncated;
        if (opt.mode == BlockMode::DOCUMENT) {
            int64_t begin = 0;
            for (int64_t end : st.doc_end) {
                ds.blocks += (end - begin + bs - 1) / bs;
                begin = end;
            }
        }
    }
    if (opt.mode == BlockMode::CONCAT) {
        ds.blocks = stats.tokens / bs;
        stats.tokens_dropped = stats.tokens - ds.blocks * bs;
    }
    // reserve + insert: no zero-filling of memory that is overwritten at once.
    const auto total = size_t(ds.blocks * bs);
    ds.ids.reserve(total);
    ds.real.assign(size_t(ds.blocks), int32_t(bs));
    if (opt.mode == BlockMode::CONCAT) {
        for (const auto& st : streams) {
            auto n = std::min(st.ids.size(), total - ds.ids.size());
            ds.ids.insert(ds.ids.end(), st.ids.begin(), st.ids.begin() + int64_t(n));
        }
        return ds;
    }
    int64_t block = 0;
    for (const auto& st : streams) {
        int64_t begin = 0;
        for (int64_t end : st.doc_end) {
            for (int64_t b = begin; b < end; b += bs) {
                int64_t real = std::min(bs, end - b);
                ds.ids.insert(ds.ids.end(), st.ids.begin() + b, st.ids.begin() + b + real);
                ds.ids.insert(ds.ids.end(), size_t(bs - real), pad_id);
                ds.real[size_t(block++)] = int32_t(real);
                stats.tokens_padded += bs - real;
            }
            begin = end;
        }
    }
    DLM_ASSERT(ds.ids.size() == total && block == ds.blocks);
    return ds;
}

std::string env_or_empty(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

// A splitmix64-style generator at an arbitrary position: value i of stream `key`.
uint64_t stream_value(uint64_t key, uint64_t i) {
    uint64_t x = key + (i + 1) * 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

}  // namespace

BlockMode block_mode_parse(std::string_view name) {
    if (name == "concat") return BlockMode::CONCAT;
    if (name == "document") return BlockMode::DOCUMENT;
    fail("unknown block mode '{}' (expected concat or document)", name);
}

const char* block_mode_name(BlockMode mode) {
    return mode == BlockMode::CONCAT ? "concat" : "document";
}

std::string dataset_cache_dir_default() {
    if (auto d = env_or_empty("DLM_CACHE_DIR"); !d.empty()) return d;
    if (auto x = env_or_empty("XDG_CACHE_HOME"); !x.empty()) return x + "/dlm";
    if (auto h = env_or_empty("HOME"); !h.empty()) return h + "/.cache/dlm";
    return (fs::temp_directory_path() / "dlm-cache").string();
}

uint64_t tokenizer_fingerprint(const Tokenizer& tok) {
    // The cheap part (~1 ms): every token's string and flag, the special ids, the
    // wrapping of two samples.
    HashKey key;
    key.add("dlm tokenizer fingerprint 1");
    const int32_t n = tok.vocab_size();
    key.add(uint64_t(n));
    std::vector<int32_t> ordinary;
    for (int32_t id = 0; id < n; ++id) {
        try {
            key.add(tok.id_to_token(id)).add(uint64_t(tok.is_special(id)));
            if (!tok.is_special(id)) ordinary.push_back(id);
        } catch (const Error&) {
            key.add("<no token>");  // a gap in the ids
        }
    }
    for (int32_t id : {tok.bos_id(), tok.eos_id(), tok.pad_id(), tok.mask_id(), tok.unk_id(),
                       tok.num_special_to_add()})
        key.add(uint64_t(int64_t(id)));
    for (const char* s : {"Hello world", " <mask> <s></s><pad><|endoftext|> x"})
        for (int32_t id : tok.encode(s, true)) key.add(uint64_t(int64_t(id)));
    const uint64_t cheap = key.value();

    // The merges are not visible through Tokenizer's interface, so probe them: encode
    // every 4th ordinary token's text, one per line (so each is mostly a pre-token of
    // its own) and hash the ids. A first encode is slow (every word goes through BPE),
    // so remember the result per tokenizer: a Tokenizer's data lives at a fixed
    // address, and `cheap` guards against a new tokenizer reusing that address.
    struct Known {
        const void* data;
        uint64_t cheap, full;
    };
    static std::mutex mutex;
    static std::vector<Known> known;
    const void* data = n > 0 && !ordinary.empty() ? &tok.id_to_token(ordinary[0]) : nullptr;
    {
        std::lock_guard lock(mutex);
        for (const auto& k : known)
            if (k.data == data && k.cheap == cheap) return k.full;
    }
    std::string probe;
    for (size_t i = 0; i < ordinary.size(); i += 4) (probe += tok.token_text(ordinary[i])) += '\n';
    auto ids = tok.encode(probe, false);
    const uint64_t full = hash_bytes(ids.data(), ids.size() * sizeof(int32_t), cheap);
    std::lock_guard lock(mutex);
    if (known.size() >= 16) known.erase(known.begin());
    known.push_back({data, cheap, full});
    return full;
}

Dataset dataset_from_corpus(const Corpus& corpus, const Tokenizer& tok, const DatasetOptions& opt) {
    auto t0 = std::chrono::steady_clock::now();
    TokenizeSetup s = setup_make(tok, opt);
    TokenStream st = stream_tokenize(corpus, tok, opt, s);
    Dataset ds = blocks_make({st.view()}, opt, s.pad_id);
    ds.stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return ds;
}

Dataset dataset_build(const std::vector<std::string>& paths, const Tokenizer& tok,
                      const DatasetOptions& opt) {
    auto t0 = std::chrono::steady_clock::now();
    TokenizeSetup s = setup_make(tok, opt);
    auto files = corpus_list_files(paths);

    std::string cache_folder;
    uint64_t options_key = 0;
    if (opt.use_cache) {
        cache_folder = (opt.cache_dir.empty() ? dataset_cache_dir_default() : opt.cache_dir) + "/datasets";
        std::error_code ec;
        fs::create_directories(cache_folder, ec);
        if (ec) {
            cache_warn(cache_folder, fmt::format("cannot create the token cache folder ({}); not caching",
                                                 ec.message()));
            cache_folder.clear();
        }
        // Everything but the file that decides its tokens.
        options_key = HashKey()
                          .add("dlm token cache")
                          .add(cache_version)
                          .add(tokenizer_fingerprint(tok))
                          .add(uint64_t(opt.unit_max_tokens))
                          .add(uint64_t(opt.add_special))
                          .add(uint64_t(opt.wrap_documents))
                          .add(uint64_t(s.eos))
                          .value();
    }

    // Each file's tokens, kept until blocking: cached ones stay in their mappings.
    std::vector<CachedStream> cached;
    std::vector<TokenStream> built;
    std::vector<StreamView> streams;
    cached.reserve(files.size());
    built.reserve(files.size());
    int64_t from_cache = 0;
    for (const auto& path : files) {
        MappedFile file(path);
        std::string_view content(reinterpret_cast<const char*>(file.data()), file.size());
        CorpusFormat format = corpus_detect_format(opt.corpus.format, path, content);
        std::string cache_path;
        uint64_t key = 0;
        if (!cache_folder.empty()) {
            HashKey k;
            k.add(options_key).add(hash_bytes(content)).add(uint64_t(content.size()));
            k.add(corpus_format_name(format));
            if (format == CorpusFormat::JSONL) k.add(opt.corpus.jsonl_field);
            key = k.value();
            cache_path = fmt::format("{}/{:016x}.tokens", cache_folder, key);
            if (auto c = cache_read(cache_path, key)) {
                cached.push_back(std::move(*c));
                streams.push_back(cached.back().view);
                ++from_cache;
                continue;
            }
        }
        CorpusOptions copt = opt.corpus;
        copt.format = format;
        built.push_back(stream_tokenize(corpus_parse(content, path, copt), tok, opt, s));
        streams.push_back(built.back().view());
        if (!cache_path.empty()) {
            try {
                cache_write(cache_path, key, streams.back());
            } catch (const Error& e) {
                cache_warn(cache_path, fmt::format("cannot write the token cache ({})", e.what()));
            }
        }
    }

    Dataset ds = blocks_make(streams, opt, s.pad_id);
    ds.stats.files = int64_t(files.size());
    ds.stats.files_from_cache = from_cache;
    ds.stats.from_cache = from_cache == int64_t(files.size());
    ds.stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return ds;
}

std::string dataset_summary(const Dataset& ds) {
    const auto& s = ds.stats;
    return fmt::format(
        "{} blocks of {} from {} units ({} documents, {} files, {} from cache): {} tokens, "
        "{} truncated, {} dropped, {} padding; {:.2f} s",
        ds.blocks, ds.block_size, s.units, s.documents, s.files, s.files_from_cache, s.tokens,
        s.tokens_truncated, s.tokens_dropped, s.tokens_padded, s.seconds);
}

std::vector<int64_t> epoch_order(int64_t n_blocks, uint64_t seed, int64_t epoch) {
    if (n_blocks < 0) fail("epoch_order: negative block count {}", n_blocks);
    std::vector<int64_t> order(static_cast<size_t>(n_blocks));
    std::iota(order.begin(), order.end(), int64_t(0));
    const uint64_t key = stream_value(stream_value(seed, 0), uint64_t(epoch));
    uint64_t draw = 0;
    for (int64_t i = n_blocks - 1; i > 0; --i) {
        // j uniform in [0, i]: Lemire's multiply-shift with rejection (no modulo bias).
        const auto range = uint64_t(i) + 1;
        const uint64_t threshold = (0 - range) % range;
        unsigned __int128 m;
        do {
            m = (unsigned __int128)stream_value(key, draw++) * range;
        } while (uint64_t(m) < threshold);
        std::swap(order[size_t(i)], order[size_t(m >> 64)]);
    }
    return order;
}

}  // namespace dlm
