// Bad model folders and bad input: a clear one-line error naming the file and the
// problem, a non-zero exit from the CLI, never a crash.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "core/error.h"
#include "core/file.h"
#include "models/model.h"

namespace fs = std::filesystem;

namespace {

const std::string kGood = std::string(DLM_TEST_DATA) + "/models/tiny-gpt2";

// A fresh copy of the tiny GPT-2 folder to break.
std::string folder_copy(const std::string& tag) {
    std::string dir = ::testing::TempDir() + "dlm_bad_" + tag;
    fs::remove_all(dir);
    fs::create_directories(dir);
    fs::copy_file(kGood + "/config.json", dir + "/config.json");
    fs::copy_file(kGood + "/model.safetensors", dir + "/model.safetensors");
    fs::permissions(dir + "/config.json", fs::perms::owner_write, fs::perm_options::add);
    fs::permissions(dir + "/model.safetensors", fs::perms::owner_write, fs::perm_options::add);
    return dir;
}

// Rewrites the safetensors header of dir/model.safetensors through `edit`.
void header_edit(const std::string& dir, const std::function<void(nlohmann::ordered_json&)>& edit) {
    std::string bytes = dlm::file_read(dir + "/model.safetensors");
    uint64_t n;
    std::memcpy(&n, bytes.data(), 8);
    auto h = nlohmann::ordered_json::parse(bytes.substr(8, n));
    edit(h);
    std::string hs = h.dump();
    hs.append((8 - hs.size() % 8) % 8, ' ');
    uint64_t m = hs.size();
    std::string out(reinterpret_cast<const char*>(&m), 8);
    out += hs + bytes.substr(8 + n);
    dlm::file_write_atomic(dir + "/model.safetensors", out);
}

void config_edit(const std::string& dir, const std::function<void(nlohmann::ordered_json&)>& edit) {
    auto j = nlohmann::ordered_json::parse(dlm::file_read(dir + "/config.json"));
    edit(j);
    dlm::file_write_atomic(dir + "/config.json", j.dump(2));
}

// Loading fails with a dlm::Error whose message contains every part of `expect`,
// and the CLI exits 1 with that message on one line of stderr.
void expect_load_error(const std::string& dir, std::vector<std::string> expect) {
    try {
        dlm::model_load(dir);
        ADD_FAILURE() << "loading " << dir << " should fail";
    } catch (const dlm::Error& e) {
        std::string msg = e.what();
        for (auto& s : expect) EXPECT_NE(msg.find(s), std::string::npos) << "'" << s << "' not in: " << msg;
        EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
    auto r = cli_run("logits -m " + dir + " --ids \"1 2 3\" -o " + ::testing::TempDir() + "never.npy");
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_EQ(r.err.rfind("dlm: error: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    for (auto& s : expect) EXPECT_NE(r.err.find(s), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(::testing::TempDir() + "never.npy"));
}

}  // namespace

TEST(model_errors, missing_folder) { expect_load_error("/nonexistent/model", {"/nonexistent/model", "not found"}); }

TEST(model_errors, missing_config) {
    auto d = folder_copy("noconfig");
    fs::remove(d + "/config.json");
    expect_load_error(d, {d, "config.json is missing"});
}

TEST(model_errors, missing_weights) {
    auto d = folder_copy("noweights");
    fs::remove(d + "/model.safetensors");
    expect_load_error(d, {d, "model.safetensors is missing"});
}

TEST(model_errors, invalid_config_json) {
    auto d = folder_copy("badjson");
    dlm::file_write_atomic(d + "/config.json", "{\"n_embd\": 32,");
    expect_load_error(d, {"config.json", "invalid JSON"});
}

TEST(model_errors, unknown_architecture) {
    auto d = folder_copy("arch");
    config_edit(d, [](auto& j) {
        j["architectures"] = {"LlamaForCausalLM"};
        j["model_type"] = "llama";
    });
    expect_load_error(d, {"config.json", "llama", "not supported"});
}

TEST(model_errors, truncated_safetensors) {
    auto d = folder_copy("trunc");
    std::string b = dlm::file_read(d + "/model.safetensors");
    dlm::file_write_atomic(d + "/model.safetensors", b.substr(0, b.size() - 1000));
    expect_load_error(d, {"model.safetensors", "past the end", "truncated"});
}

TEST(model_errors, tiny_file) {
    auto d = folder_copy("tiny");
    dlm::file_write_atomic(d + "/model.safetensors", "abc");
    expect_load_error(d, {"model.safetensors", "not a safetensors file"});
}

TEST(model_errors, header_length_past_file_end) {
    auto d = folder_copy("hdrlen");
    std::string b = dlm::file_read(d + "/model.safetensors");
    uint64_t n = b.size() * 2;
    std::memcpy(b.data(), &n, 8);
    dlm::file_write_atomic(d + "/model.safetensors", b);
    expect_load_error(d, {"model.safetensors", "header length"});
}

TEST(model_errors, corrupt_header_json) {
    auto d = folder_copy("hdrjson");
    std::string b = dlm::file_read(d + "/model.safetensors");
    b[b.find(':')] = '#';  // the first key/value separator: invalid JSON
    dlm::file_write_atomic(d + "/model.safetensors", b);
    expect_load_error(d, {"model.safetensors", "corrupt safetensors header"});
}

TEST(model_errors, offsets_past_end) {
    auto d = folder_copy("offsets");
    header_edit(d, [](auto& h) { h["transformer.ln_f.bias"]["data_offsets"] = {1u << 30, (1u << 30) + 128}; });
    expect_load_error(d, {"model.safetensors", "transformer.ln_f.bias", "past the end"});
}

TEST(model_errors, size_does_not_match_shape) {
    auto d = folder_copy("bytes");
    header_edit(d, [](auto& h) { h["transformer.ln_f.bias"]["shape"] = {31}; });
    expect_load_error(d, {"model.safetensors", "transformer.ln_f.bias", "bytes for shape"});
}

TEST(model_errors, overlapping_tensors) {
    auto d = folder_copy("overlap");
    header_edit(d, [](auto& h) { h["transformer.ln_f.bias"]["data_offsets"] = h["transformer.ln_f.weight"]["data_offsets"]; });
    expect_load_error(d, {"model.safetensors", "overlap"});
}

TEST(model_errors, unknown_dtype) {
    auto d = folder_copy("dtype");
    header_edit(d, [](auto& h) { h["transformer.ln_f.bias"]["dtype"] = "Q4_K"; });
    expect_load_error(d, {"model.safetensors", "transformer.ln_f.bias", "unknown dtype 'Q4_K'"});
}

TEST(model_errors, integer_dtype_for_a_weight) {
    auto d = folder_copy("intdtype");
    header_edit(d, [](auto& h) {
        h["transformer.ln_f.bias"]["dtype"] = "I32";  // same byte size, wrong type
    });
    expect_load_error(d, {"transformer.ln_f.bias", "I32", "not a floating-point type"});
}

TEST(model_errors, shape_mismatch_with_config) {
    auto d = folder_copy("shape");
    config_edit(d, [](auto& j) { j["n_positions"] = 128; });
    expect_load_error(d, {"model.safetensors", "transformer.wpe.weight", "config.json implies [128, 32]"});
}

TEST(model_errors, missing_tensor) {
    auto d = folder_copy("missing");
    header_edit(d, [](auto& h) { h.erase("transformer.h.1.mlp.c_fc.bias"); });
    expect_load_error(d, {"model.safetensors", "transformer.h.1.mlp.c_fc.bias", "missing"});
}

TEST(model_errors, ids_out_of_vocabulary) {
    auto r = cli_run("logits -m " + kGood + " --ids \"5 1000 7\" -o " + ::testing::TempDir() + "x.npy");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("token id 1000"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("vocabulary"), std::string::npos) << r.err;
    r = cli_run("logits -m " + kGood + " --ids \"5 -1\" -o " + ::testing::TempDir() + "x.npy");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("token id -1"), std::string::npos) << r.err;
}

TEST(model_errors, ids_not_numbers_or_empty) {
    auto r = cli_run("logits -m " + kGood + " --ids \"5 seven\" -o " + ::testing::TempDir() + "x.npy");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("'seven' is not a token id"), std::string::npos) << r.err;
    r = cli_run("logits -m " + kGood + " --ids \" \" -o " + ::testing::TempDir() + "x.npy");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("no token ids"), std::string::npos) << r.err;
}

TEST(model_errors, sequence_longer_than_positions) {
    std::string ids;
    for (int i = 0; i < 65; ++i) ids += "3 ";
    auto r = cli_run("logits -m " + kGood + " --ids \"" + ids + "\" -o " + ::testing::TempDir() + "x.npy");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("sequence too long"), std::string::npos) << r.err;
}

TEST(model_errors, unwritable_output_keeps_nothing_half_written) {
    auto r = cli_run("logits -m " + kGood + " --ids \"1 2\" -o /nonexistent/dir/out.npy");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("/nonexistent/dir/out.npy"), std::string::npos) << r.err;
}

TEST(model_errors, missing_required_option) {
    auto r = cli_run("logits -m " + kGood);
    EXPECT_NE(r.code, 0);
    EXPECT_NE(r.err.find("--ids"), std::string::npos) << r.err;
}
