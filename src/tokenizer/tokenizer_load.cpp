// Loading a tokenizer folder: tokenizer.json (HF tokenizers' serialization), or the
// older vocab.json + merges.txt pair (BPE) or vocab.txt (WordPiece) with the
// transformers config files beside it.
// Both paths fill one `spec`, which `spec_build` checks and turns into TokenizerData,
// so the two formats cannot drift apart in how they are interpreted.
#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <filesystem>
#include <map>
#include <optional>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "tokenizer/byte_unicode.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_data.h"
#include "tokenizer/utf8.h"

namespace dlm {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using detail::AddedToken;
using detail::TokenizerData;

// Ids above this are taken as a corrupt file rather than allocated for.
constexpr int64_t max_vocab_size = int64_t(1) << 24;

std::atomic<uint64_t> next_serial{1};

enum class family { unknown, roberta, gpt2, bert };
using model_kind = TokenizerData::model_kind;

// A special-token role from a config file: absent, explicitly null, or a token.
struct role_spec {
    bool given = false;
    std::optional<AddedToken> token;  // flags as written when the file gave an object
    bool has_flags = false;
};

struct merge_line {
    std::string left, right;
    size_t line;  // 1-based, for messages
};

// Everything the files say, before it is checked and indexed.
struct spec {
    std::string model_file;  // vocab.json, vocab.txt or tokenizer.json: named in errors
    bool from_tokenizer_json = false;
    model_kind model = model_kind::bpe;
    Normalizer normalizer;
    std::string wordpiece_prefix = "##", wordpiece_decoder_prefix = "##";
    size_t wordpiece_max_chars = 100;
    bool wordpiece_cleanup = true;
    std::string merges_file;
    std::vector<std::pair<std::string, int64_t>> vocab;
    std::vector<merge_line> merges;
    std::vector<AddedToken> added;  // from tokenizer.json / added_tokens_decoder
    std::optional<std::string> model_unk;
    bool use_regex = true, add_prefix_space = false, ignore_merges = false;
    family fam = family::unknown;
    // Wrapping from tokenizer.json's post_processor (tokens, resolved at build time).
    bool has_post_processor = false;
    std::vector<int32_t> prefix, suffix;
    // From tokenizer_config.json / special_tokens_map.json.
    std::map<std::string, role_spec> roles;  // "bos", "eos", "unk", "pad", "mask", "cls", "sep"
    std::vector<AddedToken> extra_specials;  // additional_special_tokens
    std::vector<AddedToken> extra_added;     // added_tokens.json
    bool add_bos_token = false, add_eos_token = false;
    // BertTokenizer's options in tokenizer_config.json (used without tokenizer.json).
    std::optional<bool> do_lower_case, strip_accents, tokenize_chinese_chars;
};

json json_read(const std::string& path) {
    std::string text = file_read(path);
    try {
        return json::parse(text);
    } catch (const json::exception& e) {
        fail("{}: invalid JSON: {}", path, e.what());
    }
}

bool json_bool(const json& obj, const char* key, bool fallback) {
    auto it = obj.find(key);
    return it != obj.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

std::string json_type(const json& obj) {
    auto it = obj.find("type");
    return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// {"content": ..., "lstrip": ..., ...} as in tokenizer.json and the config files.
AddedToken added_token_parse(const json& j, bool special_default) {
    AddedToken t;
    t.content = j.at("content").get<std::string>();
    t.special = json_bool(j, "special", special_default);
    t.single_word = json_bool(j, "single_word", false);
    t.lstrip = json_bool(j, "lstrip", false);
    t.rstrip = json_bool(j, "rstrip", false);
    t.normalized = json_bool(j, "normalized", !t.special);
    return t;
}

void vocab_parse(const json& j, const std::string& where, spec& s) {
    if (!j.is_object()) fail("{}: the vocab is not a JSON object of token -> id", where);
    s.vocab.reserve(j.size());
    for (auto it = j.begin(); it != j.end(); ++it) {
        if (!it->is_number_integer())
            fail("{}: token '{}' has a non-integer id", where, it.key());
        int64_t id = it->get<int64_t>();
        if (id < 0 || id >= max_vocab_size)
            fail("{}: token '{}' has id {} outside [0, {})", where, it.key(), id, max_vocab_size);
        s.vocab.emplace_back(it.key(), id);
    }
}

// Calls visit(line, line_no) for each line of text (numbered from 1, without its '\n'
// or a CRLF file's '\r'); a final line without '\n' counts, an empty file has none.
template <class Visit>
void text_lines_visit(std::string_view text, Visit visit) {
    size_t line_no = 0;
    for (size_t pos = 0; pos < text.size();) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        std::string_view line = text.substr(pos, nl - pos);
        pos = nl + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        visit(line, line_no);
    }
}

void merges_txt_parse(const std::string& path, spec& s) {
    std::string text = file_read(path);
    s.merges_file = path;
    text_lines_visit(text, [&](std::string_view line, size_t line_no) {
        if (line.empty() || line.starts_with("#version")) return;
        size_t sp = line.find(' ');
        if (sp == std::string_view::npos || sp == 0 || sp + 1 >= line.size() ||
            line.find(' ', sp + 1) != std::string_view::npos)
            fail("{}: line {}: expected two tokens separated by one space", path, line_no);
        s.merges.push_back({std::string(line.substr(0, sp)), std::string(line.substr(sp + 1)), line_no});
    });
}

// tokenizer.json "post_processor": what add_special puts around a sequence.
void post_processor_parse(const json& pp, const std::string& path, spec& s) {
    if (pp.is_null()) return;
    std::string type = json_type(pp);
    auto token_id = [&](const json& pair) {  // ["<s>", 0]
        return pair.at(1).get<int32_t>();
    };
    if (type == "RobertaProcessing" || type == "BertProcessing") {
        s.has_post_processor = true;
        s.prefix = {token_id(pp.at("cls"))};
        s.suffix = {token_id(pp.at("sep"))};
        if (type == "RobertaProcessing") s.fam = family::roberta;
    } else if (type == "TemplateProcessing") {
        s.has_post_processor = true;
        s.prefix.clear();
        s.suffix.clear();
        const json& specials = pp.at("special_tokens");
        bool seen_sequence = false;
        for (const json& item : pp.at("single")) {
            if (item.contains("Sequence")) {
                seen_sequence = true;
                continue;
            }
            const std::string& name = item.at("SpecialToken").at("id").get_ref<const std::string&>();
            auto ids = specials.at(name).at("ids").get<std::vector<int32_t>>();
            auto& dst = seen_sequence ? s.suffix : s.prefix;
            dst.insert(dst.end(), ids.begin(), ids.end());
        }
    } else if (type == "Sequence") {
        for (const json& p : pp.at("processors")) post_processor_parse(p, path, s);
    } else if (type != "ByteLevel") {
        fail("{}: post_processor '{}' is not supported", path, type);
    }
}

void pre_tokenizer_parse(const json& pt, const std::string& path, spec& s) {
    std::string type = pt.is_object() ? json_type(pt) : std::string();
    if (type == "Sequence" && pt.contains("pretokenizers") && pt["pretokenizers"].size() == 1) {
        pre_tokenizer_parse(pt["pretokenizers"][0], path, s);
        return;
    }
    // Each model goes with the pre-tokenizer it was trained with; others are not supported.
    if (s.model == model_kind::wordpiece) {
        if (type != "BertPreTokenizer")
            fail("{}: pre_tokenizer '{}' is not supported with WordPiece (only BertPreTokenizer)",
                 path, pt.is_null() ? "null" : type);
        return;
    }
    if (type != "ByteLevel")
        fail("{}: pre_tokenizer '{}' is not supported with BPE (only ByteLevel)", path,
             pt.is_null() ? "null" : type);
    s.add_prefix_space = json_bool(pt, "add_prefix_space", false);
    s.use_regex = json_bool(pt, "use_regex", true);
}

void normalizer_parse(const json& n, const std::string& path, spec& s) {
    if (n.is_null()) return;
    std::string type = json_type(n);
    if (type == "Sequence" && n.contains("normalizers") && n["normalizers"].size() <= 1) {
        for (const json& one : n["normalizers"]) normalizer_parse(one, path, s);
        return;
    }
    Normalizer& out = s.normalizer;
    if (type == "NFC") {
        out.type = Normalizer::kind::nfc;
    } else if (type == "NFD") {
        out.type = Normalizer::kind::nfd;
    } else if (type == "BertNormalizer") {
        out.type = Normalizer::kind::bert;
        out.clean_text = json_bool(n, "clean_text", true);
        out.handle_chinese_chars = json_bool(n, "handle_chinese_chars", true);
        out.lowercase = json_bool(n, "lowercase", true);
        out.strip_accents = json_bool(n, "strip_accents", out.lowercase);  // null: as lowercase
    } else {
        fail("{}: normalizer '{}' is not supported (only NFC, NFD and BertNormalizer)", path,
             type);
    }
}

void decoder_parse(const json& dec, const std::string& path, spec& s) {
    std::string type = dec.is_object() ? json_type(dec) : std::string();
    if (s.model == model_kind::wordpiece) {
        if (type != "WordPiece")
            fail("{}: decoder '{}' is not supported with WordPiece (only WordPiece)", path,
                 dec.is_null() ? "null" : type);
        if (dec.contains("prefix") && dec["prefix"].is_string())
            s.wordpiece_decoder_prefix = dec["prefix"].get<std::string>();
        s.wordpiece_cleanup = json_bool(dec, "cleanup", true);
    } else if (!dec.is_null() && type != "ByteLevel") {
        fail("{}: decoder '{}' is not supported with BPE (only ByteLevel)", path, type);
    }
}

// Files written by older tokenizers (bert-base-uncased) give the model no "type":
// merges mean BPE; a WordPiece-only key or a BertNormalizer means WordPiece.
model_kind model_kind_infer(const json& j, const json& model, const std::string& path) {
    std::string type = json_type(model);
    if (type == "BPE") return model_kind::bpe;
    if (type == "WordPiece") return model_kind::wordpiece;
    if (!type.empty())
        fail("{}: model type '{}' is not supported (only BPE and WordPiece)", path, type);
    if (model.contains("merges")) return model_kind::bpe;
    if (model.contains("max_input_chars_per_word") ||
        (model.contains("continuing_subword_prefix") &&
         model["continuing_subword_prefix"].is_string()))
        return model_kind::wordpiece;
    const json* n = j.contains("normalizer") ? &j["normalizer"] : nullptr;
    if (n && n->is_object() && json_type(*n) == "BertNormalizer") return model_kind::wordpiece;
    fail("{}: the model has no \"type\", no \"merges\" (BPE) and no WordPiece keys", path);
}

void bpe_model_parse(const json& model, const std::string& path, spec& s) {
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
        auto it = model.find(key);
        if (it != model.end() && it->is_string() && !it->get<std::string>().empty())
            fail("{}: BPE {} is not supported", path, key);
    }
    if (!model.contains("vocab") || !model.contains("merges"))
        fail("{}: the BPE model lacks \"vocab\" or \"merges\"", path);
    vocab_parse(model["vocab"], path + ": model.vocab", s);
    size_t n = 0;
    for (const json& m : model["merges"]) {
        ++n;
        std::string left, right;
        if (m.is_string()) {  // "Ġ t" (tokenizers < 0.20)
            const auto& str = m.get_ref<const std::string&>();
            size_t sp = str.find(' ');
            if (sp == std::string::npos || str.find(' ', sp + 1) != std::string::npos)
                fail("{}: merge {} ('{}') is not two tokens separated by one space", path, n, str);
            left = str.substr(0, sp);
            right = str.substr(sp + 1);
        } else {  // ["Ġ", "t"]
            if (!m.is_array() || m.size() != 2) fail("{}: merge {} is not a pair", path, n);
            left = m[0].get<std::string>();
            right = m[1].get<std::string>();
        }
        s.merges.push_back({std::move(left), std::move(right), n});
    }
    s.ignore_merges = json_bool(model, "ignore_merges", false);
    if (model.contains("unk_token") && model["unk_token"].is_string())
        s.model_unk = model["unk_token"].get<std::string>();
}

void wordpiece_model_parse(const json& model, const std::string& path, spec& s) {
    if (!model.contains("vocab")) fail("{}: the WordPiece model lacks \"vocab\"", path);
    vocab_parse(model["vocab"], path + ": model.vocab", s);
    auto prefix = model.find("continuing_subword_prefix");
    if (prefix != model.end() && prefix->is_string())
        s.wordpiece_prefix = prefix->get<std::string>();
    auto max_chars = model.find("max_input_chars_per_word");
    if (max_chars != model.end() && !max_chars->is_null()) {
        if (!max_chars->is_number_unsigned())
            fail("{}: model.max_input_chars_per_word is not a non-negative integer", path);
        s.wordpiece_max_chars = max_chars->get<size_t>();
    }
    auto unk = model.find("unk_token");
    s.model_unk = unk != model.end() && unk->is_string() ? unk->get<std::string>() : "[UNK]";
}

void tokenizer_json_parse(const std::string& path, spec& s) {
    json j = json_read(path);
    s.model_file = path;
    s.from_tokenizer_json = true;
    s.merges_file = path;
    try {
        if (!j.is_object() || !j.contains("model") || !j["model"].is_object())
            fail("{}: no \"model\" object", path);
        const json& model = j["model"];
        s.model = model_kind_infer(j, model, path);
        if (s.model == model_kind::wordpiece) {
            s.fam = family::bert;
            wordpiece_model_parse(model, path, s);
        } else {
            bpe_model_parse(model, path, s);
        }
        if (j.contains("added_tokens"))
            for (const json& t : j["added_tokens"]) {
                AddedToken a = added_token_parse(t, false);
                a.id = t.at("id").get<int32_t>();
                s.added.push_back(std::move(a));
            }
        if (j.contains("normalizer")) normalizer_parse(j["normalizer"], path, s);
        pre_tokenizer_parse(j.contains("pre_tokenizer") ? j["pre_tokenizer"] : json(), path, s);
        decoder_parse(j.contains("decoder") ? j["decoder"] : json(), path, s);
        if (j.contains("post_processor")) post_processor_parse(j["post_processor"], path, s);
    } catch (const json::exception& e) {
        fail("{}: unexpected content: {}", path, e.what());
    }
}

// vocab.txt of BertTokenizer: one token per line, its id the line number from 0.
void vocab_txt_parse(const std::string& path, spec& s) {
    std::string text = file_read(path);
    s.model_file = path;
    s.model = model_kind::wordpiece;
    s.fam = family::bert;
    std::unordered_map<std::string_view, size_t> line_of;  // views into `text`
    text_lines_visit(text, [&](std::string_view line, size_t line_no) {
        if (!utf8_is_valid(line)) fail("{}: line {}: not valid UTF-8", path, line_no);
        if (line.empty())
            fail("{}: line {}: empty line (one token per line expected)", path, line_no);
        auto [it, fresh] = line_of.emplace(line, line_no);
        if (!fresh)
            fail("{}: line {}: token '{}' is already on line {}", path, line_no, line, it->second);
        if (int64_t(line_no) > max_vocab_size) fail("{}: more than {} lines", path, max_vocab_size);
        s.vocab.emplace_back(std::string(line), int64_t(line_no - 1));
    });
    if (s.vocab.empty()) fail("{}: no tokens (the file is empty)", path);
}

// bos_token etc. in tokenizer_config.json / special_tokens_map.json: a string, an
// AddedToken object, or null.
void role_parse(const json& obj, spec& s) {
    static const std::pair<const char*, const char*> keys[] = {
        {"bos_token", "bos"}, {"eos_token", "eos"}, {"unk_token", "unk"}, {"pad_token", "pad"},
        {"mask_token", "mask"}, {"cls_token", "cls"}, {"sep_token", "sep"}};
    for (auto [key, role] : keys) {
        auto it = obj.find(key);
        if (it == obj.end()) continue;
        role_spec r;
        r.given = true;
        if (it->is_string()) {
            AddedToken t;
            t.content = it->get<std::string>();
            r.token = t;
        } else if (it->is_object()) {
            r.token = added_token_parse(*it, true);
            r.has_flags = true;
        }
        if (r.token) r.token->special = true;
        s.roles[role] = r;
    }
    auto extra = obj.find("additional_special_tokens");
    if (extra != obj.end() && extra->is_array())
        for (const json& t : *extra) {
            AddedToken a;
            if (t.is_string())
                a.content = t.get<std::string>();
            else
                a = added_token_parse(t, true);
            a.special = true;
            s.extra_specials.push_back(a);
        }
}

void config_files_parse(const fs::path& dir, bool from_tokenizer_json, spec& s) {
    fs::path config = dir / "tokenizer_config.json";
    if (fs::exists(config)) {
        json j = json_read(config.string());
        try {
            if (!j.is_object()) fail("{}: not a JSON object", config.string());
            std::string cls = j.contains("tokenizer_class") && j["tokenizer_class"].is_string()
                                  ? j["tokenizer_class"].get<std::string>()
                                  : "";
            if (cls.starts_with("Roberta")) s.fam = s.fam == family::unknown ? family::roberta : s.fam;
            if (cls.starts_with("GPT2")) s.fam = s.fam == family::unknown ? family::gpt2 : s.fam;
            if (cls.starts_with("Bert") && s.model == model_kind::wordpiece) s.fam = family::bert;
            auto flag = [&](const char* key) -> std::optional<bool> {
                auto it = j.find(key);
                if (it == j.end() || !it->is_boolean()) return std::nullopt;  // absent or null
                return it->get<bool>();
            };
            s.do_lower_case = flag("do_lower_case");
            s.strip_accents = flag("strip_accents");
            s.tokenize_chinese_chars = flag("tokenize_chinese_chars");
            s.add_bos_token = json_bool(j, "add_bos_token", false);
            s.add_eos_token = json_bool(j, "add_eos_token", false);
            role_parse(j, s);
            // tokenizer.json already lists its added tokens with the same flags.
            if (!from_tokenizer_json && j.contains("added_tokens_decoder"))
                for (auto it = j["added_tokens_decoder"].begin();
                     it != j["added_tokens_decoder"].end(); ++it) {
                    AddedToken a = added_token_parse(*it, false);
                    const std::string& key = it.key();
                    auto [p, ec] = std::from_chars(key.data(), key.data() + key.size(), a.id);
                    if (ec != std::errc() || p != key.data() + key.size() || a.id < 0)
                        fail("{}: added_tokens_decoder key '{}' is not an id", config.string(),
                             key);
                    s.added.push_back(std::move(a));
                }
        } catch (const json::exception& e) {
            fail("{}: unexpected content: {}", config.string(), e.what());
        }
    }
    fs::path map = dir / "special_tokens_map.json";
    if (fs::exists(map)) {
        json j = json_read(map.string());
        try {
            if (!j.is_object()) fail("{}: not a JSON object", map.string());
            role_parse(j, s);
        } catch (const json::exception& e) {
            fail("{}: unexpected content: {}", map.string(), e.what());
        }
    }
    fs::path added = dir / "added_tokens.json";
    if (!from_tokenizer_json && fs::exists(added)) {
        json j = json_read(added.string());
        if (!j.is_object()) fail("{}: not a JSON object of token -> id", added.string());
        for (auto it = j.begin(); it != j.end(); ++it) {
            if (!it->is_number_integer() || it->get<int64_t>() < 0 ||
                it->get<int64_t>() >= max_vocab_size)
                fail("{}: token '{}' has an invalid id", added.string(), it.key());
            AddedToken a;
            a.content = it.key();
            a.id = it->get<int32_t>();
            s.extra_added.push_back(a);
        }
    }
}

using role_map = std::map<std::string, role_spec>;

int32_t id_find(const TokenizerData& d, const std::string& tok) {
    auto it = d.token_ids.find(tok);
    return it == d.token_ids.end() ? -1 : it->second;
}

// Fills tokens/present/token_ids from the vocab; returns its size (max id + 1). Ids
// may have holes, but one id must not name two tokens.
int64_t vocab_index(const spec& s, TokenizerData& d) {
    int64_t size = 0;
    for (auto& [tok, id] : s.vocab) size = std::max(size, id + 1);
    d.tokens.resize(size_t(size));
    d.present.assign(size_t(size), 0);
    for (auto& [tok, id] : s.vocab) {
        if (d.present[id])
            fail("{}: id {} is used by both '{}' and '{}'", s.model_file, id, d.tokens[id], tok);
        d.present[id] = 1;
        d.tokens[id] = tok;
        d.token_ids.emplace(tok, int32_t(id));
    }
    return size;
}

void bpe_build(const spec& s, TokenizerData& d) {
    std::array<int32_t, 256> byte_ids;
    for (int b = 0; b < 256; ++b) {
        std::string ch = bytes_to_vocab_string(std::string(1, char(b)));
        byte_ids[b] = id_find(d, ch);
        // Valid UTF-8 (all that BPE ever sees) never holds C0, C1 or F5..FF, and some
        // vocabs (GPT-NeoX's, ModernBERT's) leave them out.
        bool impossible = b == 0xC0 || b == 0xC1 || b >= 0xF5;
        if (byte_ids[b] < 0 && !impossible)
            fail("{}: the vocab has no token '{}' for byte 0x{:02X}: not a byte-level BPE vocab",
                 s.model_file, ch, b);
    }
    d.merges.set_byte_ids(byte_ids);
    for (size_t rank = 0; rank < s.merges.size(); ++rank) {
        const merge_line& m = s.merges[rank];
        int32_t left = id_find(d, m.left), right = id_find(d, m.right),
                merged = id_find(d, m.left + m.right);
        const std::string& missing = left < 0 ? m.left : right < 0 ? m.right : m.left + m.right;
        if (left < 0 || right < 0 || merged < 0)
            fail("{}: merge {} ('{} {}'): token '{}' is not in the vocab", s.merges_file, m.line,
                 m.left, m.right, missing);
        d.merges.add(left, right, merged, int32_t(rank));
    }
}

void wordpiece_build(const spec& s, TokenizerData& d) {
    WordPiece& wp = d.wordpiece;
    wp.prefix = s.wordpiece_prefix;
    wp.max_input_chars_per_word = s.wordpiece_max_chars;
    for (auto& [tok, id] : s.vocab) wp.vocab.emplace(tok, int32_t(id));
    wp.index();
    const std::string unk = s.model_unk.value_or("[UNK]");
    auto it = wp.vocab.find(unk);
    if (it == wp.vocab.end())
        fail("{}: the unk token '{}' is not in the vocab: WordPiece needs it", s.model_file, unk);
    wp.unk_id = it->second;
    // Without tokenizer.json, transformers builds the decoder with the model's prefix.
    d.wordpiece_decoder_prefix = s.from_tokenizer_json ? s.wordpiece_decoder_prefix : wp.prefix;
    d.wordpiece_cleanup = s.wordpiece_cleanup;
}

// The family: from the files if they said, else from the vocab. A tokenizer.json whose
// post_processor wraps the text (ModernBERT's [CLS] ... [SEP]) is not taken for GPT-2
// just because its vocab has <|endoftext|>.
family family_resolve(const spec& s, const TokenizerData& d) {
    if (s.fam != family::unknown) return s.fam;
    if (id_find(d, "<s>") >= 0 && id_find(d, "</s>") >= 0) return family::roberta;
    bool wraps = s.has_post_processor && (!s.prefix.empty() || !s.suffix.empty());
    if (id_find(d, "<|endoftext|>") >= 0 && !wraps) return family::gpt2;
    return family::unknown;
}

// Role defaults of transformers' RobertaTokenizer / GPT2Tokenizer / BertTokenizer,
// then what the config files say.
role_map roles_resolve(const spec& s, family fam) {
    role_map roles;
    auto role_default = [&](const char* role, const char* content, bool lstrip = false) {
        role_spec r;
        AddedToken t;
        t.content = content;
        t.special = true;
        t.normalized = false;
        t.lstrip = lstrip;
        r.token = t;
        r.has_flags = lstrip;
        roles[role] = r;
    };
    if (fam == family::roberta) {
        role_default("bos", "<s>");
        role_default("cls", "<s>");
        role_default("pad", "<pad>");
        role_default("eos", "</s>");
        role_default("sep", "</s>");
        role_default("unk", "<unk>");
        role_default("mask", "<mask>", /*lstrip=*/true);  // RobertaTokenizer's mask_token
    } else if (fam == family::gpt2) {
        role_default("bos", "<|endoftext|>");
        role_default("eos", "<|endoftext|>");
        role_default("unk", "<|endoftext|>");
    } else if (fam == family::bert) {  // BertTokenizer has no bos/eos: see bos_eos_resolve
        role_default("cls", "[CLS]");
        role_default("sep", "[SEP]");
        role_default("pad", "[PAD]");
        role_default("mask", "[MASK]");
        role_default("unk", s.model_unk.value_or("[UNK]").c_str());
    }
    if (s.model_unk && !roles.count("unk")) role_default("unk", s.model_unk->c_str());
    for (auto& [role, r] : s.roles) {
        // A bare string keeps the default flags (mask's lstrip) if it names the same token.
        auto def = roles.find(role);
        if (r.token && !r.has_flags && def != roles.end() && def->second.token &&
            def->second.token->content == r.token->content)
            continue;
        roles[role] = r;
    }
    return roles;
}

// Added tokens: the listed ones, then role tokens and extras not yet listed. A role
// token the vocab lacks gets the next free id, as HF AddedVocabulary does. Returns the
// id space size.
int64_t added_build(const spec& s, const role_map& roles, int64_t size, TokenizerData& d) {
    std::vector<AddedToken> added = s.added;
    auto find_added = [&](const std::string& content) -> AddedToken* {
        for (auto& a : added)
            if (a.content == content) return &a;
        return nullptr;
    };
    int64_t next_id = size;
    for (auto& a : added) next_id = std::max<int64_t>(next_id, a.id + 1);
    auto add_missing = [&](const AddedToken& t) {
        if (t.content.empty()) return;
        if (AddedToken* a = find_added(t.content)) {
            a->special = a->special || t.special;
            return;
        }
        AddedToken n = t;
        n.id = id_find(d, t.content);
        if (n.id < 0) n.id = int32_t(next_id++);
        added.push_back(n);
    };
    for (auto& a : s.extra_added) {
        if (!find_added(a.content)) added.push_back(a);
        next_id = std::max<int64_t>(next_id, a.id + 1);
    }
    for (auto& [role, r] : roles)
        if (r.token) add_missing(*r.token);
    for (auto& t : s.extra_specials) add_missing(t);

    if (next_id > max_vocab_size) fail("{}: too many added tokens", s.model_file);
    for (auto& a : added) {
        if (a.id < 0 || a.id >= max_vocab_size)
            fail("{}: added token '{}' has an invalid id {}", s.model_file, a.content, a.id);
        if (a.content.empty()) fail("{}: an added token (id {}) is empty", s.model_file, a.id);
        size = std::max<int64_t>(size, a.id + 1);
    }
    d.tokens.resize(size_t(size));
    d.present.resize(size_t(size), 0);
    d.special.assign(size_t(size), 0);
    // Specials first, then the others, each in file order (HF's trie order).
    for (int pass = 0; pass < 2; ++pass)
        for (auto& a : added) {
            if (a.special != (pass == 0)) continue;
            if (d.present[a.id] && d.tokens[a.id] != a.content)
                fail("{}: added token '{}' reuses id {} of '{}'", s.model_file, a.content, a.id,
                     d.tokens[a.id]);
            d.present[a.id] = 1;
            d.tokens[a.id] = a.content;
            d.token_ids[a.content] = a.id;
            d.special[a.id] = a.special;
            if (!a.normalized) {
                d.added_raw.add(a);
                continue;
            }
            // Matched in normalized text, so by its normalized form (HF does the same).
            AddedToken n = a;
            n.content = d.normalizer.apply(a.content);
            if (!n.content.empty()) d.added_normalized.add(std::move(n));
        }
    return size;
}

// Id of a role's token, -1 for none; called once every role token is added.
int32_t role_id(const role_map& roles, const TokenizerData& d, const char* role) {
    auto it = roles.find(role);
    return it == roles.end() || !it->second.token ? -1 : id_find(d, it->second.token->content);
}

// What decode and token_text emit per id. Byte-level: the bytes behind the byte-level
// alphabet, or the string itself when it has characters outside it (HF ByteLevel
// decoder). WordPiece: what the token adds to a decoded text when it is not first
// ("##ing" -> "ing", "the" -> " the"), without cleanup.
void token_bytes_build(TokenizerData& d) {
    d.bytes.resize(d.tokens.size());
    for (size_t id = 0; id < d.tokens.size(); ++id) {
        if (!d.present[id]) continue;
        const std::string& t = d.tokens[id];
        if (d.model == model_kind::wordpiece) {
            const std::string& prefix = d.wordpiece_decoder_prefix;
            d.bytes[id] = t.starts_with(prefix) ? t.substr(prefix.size()) : " " + t;
        } else if (!vocab_string_to_bytes(t, d.bytes[id])) {
            d.bytes[id] = t;
        }
    }
}

// add_special's wrapping: the post_processor's, else the family's.
void wrapping_build(const spec& s, family fam, const role_map& roles, int64_t size,
                    TokenizerData& d) {
    if (s.has_post_processor) {
        d.prefix = s.prefix;
        d.suffix = s.suffix;
        for (const auto* ids : {&d.prefix, &d.suffix})
            for (int32_t id : *ids)
                if (id < 0 || id >= size)
                    fail("{}: post_processor uses unknown id {}", s.model_file, id);
    } else if (!s.from_tokenizer_json) {  // tokenizer.json without one: no wrapping
        if (fam == family::roberta || fam == family::bert) {  // <s> A </s>, [CLS] A [SEP]
            int32_t cls = role_id(roles, d, "cls"), sep = role_id(roles, d, "sep");
            if (cls < 0 || sep < 0)
                fail("{}: this tokenizer needs cls and sep tokens to wrap a sequence",
                     s.model_file);
            d.prefix = {cls};
            d.suffix = {sep};
        } else {  // GPT2Tokenizer: add_bos_token (default off)
            if (s.add_bos_token && d.bos >= 0) d.prefix = {d.bos};
            if (s.add_eos_token && d.eos >= 0) d.suffix = {d.eos};
        }
    }
}

// Checks the spec and builds the lookup tables.
std::shared_ptr<TokenizerData> spec_build(spec& s) {
    auto d = std::make_shared<TokenizerData>();
    d->serial = next_serial.fetch_add(1);
    d->use_regex = s.use_regex;
    d->add_prefix_space = s.add_prefix_space;
    d->ignore_merges = s.ignore_merges;
    d->model = s.model;
    d->normalizer = s.normalizer;

    int64_t size = vocab_index(s, *d);
    if (s.model == model_kind::wordpiece)
        wordpiece_build(s, *d);
    else
        bpe_build(s, *d);
    family fam = family_resolve(s, *d);
    role_map roles = roles_resolve(s, fam);
    size = added_build(s, roles, size, *d);
    token_bytes_build(*d);

    // bos/eos fall back to cls/sep: BERT-style tokenizers name only those, and their
    // configs give bos_token_id = cls, eos_token_id = sep (ModernBERT).
    auto role = [&](const char* name) { return role_id(roles, *d, name); };
    d->bos = role("bos") >= 0 ? role("bos") : role("cls");
    d->eos = role("eos") >= 0 ? role("eos") : role("sep");
    d->unk = role("unk");
    d->pad = role("pad");
    d->mask = role("mask");
    wrapping_build(s, fam, roles, size, *d);
    return d;
}

// BertTokenizer options from tokenizer_config.json, for a vocab.txt without a
// tokenizer.json (transformers' BertConverter builds the same BertNormalizer).
void wordpiece_config_apply(spec& s) {
    if (s.model != model_kind::wordpiece || s.from_tokenizer_json) return;
    auto unk = s.roles.find("unk");  // BertConverter gives WordPiece the config's unk
    if (unk != s.roles.end() && unk->second.token) s.model_unk = unk->second.token->content;
    Normalizer& n = s.normalizer;
    n.type = Normalizer::kind::bert;
    n.clean_text = true;
    n.lowercase = s.do_lower_case.value_or(true);
    n.strip_accents = s.strip_accents.value_or(n.lowercase);
    n.handle_chinese_chars = s.tokenize_chinese_chars.value_or(true);
}

}  // namespace

Tokenizer Tokenizer::from_folder(const std::string& dir) {
    fs::path path(dir);
    std::error_code ec;
    spec s;
    fs::path folder;
    if (fs::is_regular_file(path, ec) && path.extension() == ".json") {  // a tokenizer.json
        folder = path.parent_path();
        tokenizer_json_parse(path.string(), s);
    } else {
        if (!fs::is_directory(path, ec)) fail("{}: no such tokenizer folder", dir);
        folder = path;
        if (fs::exists(path / "tokenizer.json")) {
            tokenizer_json_parse((path / "tokenizer.json").string(), s);
        } else {
            bool bpe = fs::exists(path / "vocab.json") || fs::exists(path / "merges.txt");
            if (!bpe && fs::exists(path / "vocab.txt")) {
                vocab_txt_parse((path / "vocab.txt").string(), s);
            } else {
                if (!bpe)
                    fail("{}: no tokenizer files (expected tokenizer.json, vocab.json and "
                         "merges.txt, or vocab.txt)",
                         dir);
                std::string vocab_path = (path / "vocab.json").string();
                s.model_file = vocab_path;
                vocab_parse(json_read(vocab_path), vocab_path, s);
                merges_txt_parse((path / "merges.txt").string(), s);
            }
        }
    }
    config_files_parse(folder, s.from_tokenizer_json, s);
    wordpiece_config_apply(s);
    return Tokenizer(spec_build(s));
}

void tokenizer_files_copy(const std::string& from, const std::string& to) {
    if (from.empty()) return;
    for (const char* f : {"vocab.json", "merges.txt", "vocab.txt", "tokenizer.json",
                          "tokenizer_config.json", "special_tokens_map.json",
                          "added_tokens.json"}) {
        const std::string src = from + "/" + f;
        if (file_exists(src)) file_write_atomic(to + "/" + f, file_read(src));
    }
}

}  // namespace dlm
