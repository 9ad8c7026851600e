// dlm tokenize / dlm detokenize: text <-> token ids with a model folder's tokenizer.
//   dlm tokenize -m DIR [--special] (--file F | TEXT)   -> "0 31414 232 2"
//   dlm detokenize -m DIR [--skip-special] "0 31414 232 2"   -> "<s>Hello world</s>"
#include <charconv>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "command.h"
#include "core/error.h"
#include "core/file.h"
#include "tokenizer/tokenizer.h"

namespace dlm::cli {

namespace {

struct tokenize_options {
    std::string model;
    std::string file;
    std::string text;
    bool special = false;
    bool from_file = false;
};

void tokenize_run(const tokenize_options& o) {
    auto tok = Tokenizer::from_folder(o.model);
    // The whole file is one text (its newlines are tokens too), as HF would see it.
    std::string text = o.from_file ? file_read(o.file) : o.text;
    std::vector<int32_t> ids = tok.encode(text, o.special);
    std::string line;
    line.reserve(ids.size() * 6 + 1);
    for (size_t i = 0; i < ids.size(); ++i) {
        if (i) line.push_back(' ');
        line += std::to_string(ids[i]);
    }
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stdout);
}

struct detokenize_options {
    std::string model;
    std::vector<std::string> ids;
    bool skip_special = false;
    bool no_newline = false;
};

// Ids separated by spaces, commas or newlines, from the arguments or else stdin.
std::vector<int32_t> ids_parse(const std::vector<std::string>& args) {
    std::string all;
    if (args.empty()) {
        all.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
        for (const auto& a : args) (all += a) += ' ';
    }
    std::vector<int32_t> ids;
    const char* p = all.data();
    const char* end = p + all.size();
    while (p < end) {
        if (*p == ' ' || *p == ',' || *p == '\n' || *p == '\t' || *p == '\r' || *p == '[' ||
            *p == ']') {
            ++p;
            continue;
        }
        int32_t id = 0;
        auto [q, ec] = std::from_chars(p, end, id);
        if (ec != std::errc() || (q < end && *q != ' ' && *q != ',' && *q != '\n' &&
                                  *q != '\t' && *q != '\r' && *q != ']')) {
            const char* e = p;
            while (e < end && *e != ' ' && *e != ',' && *e != '\n') ++e;
            fail("detokenize: '{}' is not a token id", std::string(p, e));
        }
        ids.push_back(id);
        p = q;
    }
    return ids;
}

void detokenize_run(const detokenize_options& o) {
    auto tok = Tokenizer::from_folder(o.model);
    std::string text = tok.decode(ids_parse(o.ids), o.skip_special);
    if (!o.no_newline) text.push_back('\n');
    std::fwrite(text.data(), 1, text.size(), stdout);
}

const command_registration tokenize_registration(
    20, "tokenize", "Print the token ids of a text", [](CLI::App& sub) {
        auto o = std::make_shared<tokenize_options>();
        sub.add_option("-m,--model", o->model, "Model or tokenizer folder")->required();
        sub.add_flag("--special", o->special, "Add the special tokens (<s> ... </s> for RoBERTa)");
        auto* file = sub.add_option("--file", o->file, "Read the text from this file");
        auto* text = sub.add_option("text", o->text, "The text to tokenize");
        file->excludes(text);
        text->excludes(file);
        sub.callback([o, file, text] {
            if (file->count() + text->count() != 1) fail("tokenize: give a TEXT or --file FILE");
            o->from_file = file->count() > 0;
            tokenize_run(*o);
        });
    });

const command_registration detokenize_registration(
    21, "detokenize", "Print the text of token ids", [](CLI::App& sub) {
        auto o = std::make_shared<detokenize_options>();
        sub.add_option("-m,--model", o->model, "Model or tokenizer folder")->required();
        sub.add_flag("--skip-special", o->skip_special, "Leave out special tokens");
        sub.add_flag("-n,--no-newline", o->no_newline, "Do not end the output with a newline");
        sub.add_option("ids", o->ids, "Token ids, separated by spaces or commas (default: stdin)");
        sub.callback([o] { detokenize_run(*o); });
    });

}  // namespace

}  // namespace dlm::cli
