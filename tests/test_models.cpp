// Models against the PyTorch reference fixtures written by tests/ref/make_reference.py
// (an independent implementation of the HuggingFace models). Tolerance, per tensor:
// max |dlm - ref| <= 1e-4 * max |ref| in fp32.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <numeric>

#include "core/error.h"
#include "core/file.h"
#include "io/safetensors.h"
#include "models/model.h"

namespace {

const std::string kModels = std::string(DLM_TEST_DATA) + "/models/";
constexpr double kRelTol = 1e-4;

std::vector<int32_t> read_ids(const dlm::SafetensorsReader& st, const std::string& name) {
    const dlm::TensorInfo* t = st.find(name);
    EXPECT_NE(t, nullptr) << name;
    EXPECT_EQ(t->dtype, dlm::DType::I64) << name;
    std::vector<int32_t> out(static_cast<size_t>(t->numel()));
    for (int64_t i = 0; i < t->numel(); ++i) {
        int64_t v;
        std::memcpy(&v, st.bytes(*t) + 8 * i, 8);
        out[i] = static_cast<int32_t>(v);
    }
    return out;
}

std::vector<float> read_f32(const dlm::SafetensorsReader& st, const std::string& name) {
    const dlm::TensorInfo* t = st.find(name);
    if (!t) ADD_FAILURE() << "fixture tensor missing: " << name;
    std::vector<float> out(t ? static_cast<size_t>(t->numel()) : 0);
    if (t) st.read_f32(*t, out.data());
    return out;
}

// Compares rows (of width w) selected by keep[row] and returns max |diff| / max |ref|.
double rel_diff(const float* got, const float* ref, int64_t rows, int64_t w, const std::vector<int32_t>& keep) {
    double max_diff = 0, max_ref = 0;
    for (int64_t r = 0; r < rows; ++r) {
        if (!keep.empty() && !keep[r]) continue;
        for (int64_t j = 0; j < w; ++j) {
            double d = std::fabs(static_cast<double>(got[r * w + j]) - ref[r * w + j]);
            if (std::isnan(got[r * w + j])) d = INFINITY;
            max_diff = std::max(max_diff, d);
            max_ref = std::max(max_ref, std::fabs(static_cast<double>(ref[r * w + j])));
        }
    }
    return max_diff / std::max(max_ref, 1e-30);
}

void check_model_against_reference(const std::string& name) {
    const std::string dir = kModels + name;
    auto model = dlm::model_load(dir);
    auto meta = nlohmann::json::parse(dlm::file_read(dir + "/reference.json"));
    dlm::SafetensorsReader ref(dir + "/reference.safetensors");
    const int64_t C = model->config().hidden_size, V = model->config().vocab_size;
    ASSERT_FALSE(meta["cases"].empty());
    for (auto& c : meta["cases"]) {
        const std::string cn = c["name"];
        SCOPED_TRACE(name + " " + cn + ": " + c.value("description", ""));
        const int64_t B = c["batch"], T = c["seq_len"];
        auto ids = read_ids(ref, cn + ".input_ids");
        auto mask = read_ids(ref, cn + ".attention_mask");
        ASSERT_EQ(static_cast<int64_t>(ids.size()), B * T);
        std::vector<int32_t> keep;  // empty = compare every position
        if (c["compare"] == "attention_mask==1") keep = mask;
        model->forward({ids.data(), mask.data(), nullptr, B, T});

        const int64_t num_hidden = c["num_hidden"];
        for (int64_t l = 0; l < num_hidden; ++l) {
            auto h = read_f32(ref, cn + ".hidden." + std::to_string(l));
            ASSERT_EQ(static_cast<int64_t>(h.size()), B * T * C);
            double r = rel_diff(model->hidden_state(l), h.data(), B * T, C, keep);
            EXPECT_LE(r, kRelTol) << "hidden state " << l;
        }
        std::vector<int64_t> rows(static_cast<size_t>(B * T));
        std::iota(rows.begin(), rows.end(), 0);
        std::vector<float> logits(static_cast<size_t>(B * T * V));
        model->logits(rows, logits.data());
        auto ref_logits = read_f32(ref, cn + ".logits");
        ASSERT_EQ(ref_logits.size(), logits.size());
        double r = rel_diff(logits.data(), ref_logits.data(), B * T, V, keep);
        EXPECT_LE(r, kRelTol) << "logits";
        std::printf("  %s %s: logits max|diff|/max|ref| = %.3g\n", name.c_str(), cn.c_str(), r);
    }
}

}  // namespace

TEST(models, tiny_roberta_matches_reference) { check_model_against_reference("tiny-roberta"); }
TEST(models, tiny_roberta_bf16_matches_reference) { check_model_against_reference("tiny-roberta-bf16"); }
TEST(models, tiny_roberta_f16_matches_reference) { check_model_against_reference("tiny-roberta-f16"); }
TEST(models, tiny_bert_matches_reference) { check_model_against_reference("tiny-bert"); }

TEST(models, tiny_modernbert_matches_reference) { check_model_against_reference("tiny-modernbert"); }
TEST(models, tiny_gpt2_matches_reference) { check_model_against_reference("tiny-gpt2"); }
TEST(models, tiny_gpt2_noprefix_matches_reference) { check_model_against_reference("tiny-gpt2-noprefix"); }
TEST(models, transformers_saved_tiny_gpt2_matches_reference) {
    check_model_against_reference("tiny-gpt2-random");
}

// Logits asked for a subset of rows equal the same rows of the full computation.
TEST(models, logits_at_selected_rows_equal_full_rows) {
    auto m = dlm::model_load(kModels + "tiny-roberta");
    const int64_t T = 12, V = m->config().vocab_size;
    std::vector<int32_t> ids(T);
    for (int64_t t = 0; t < T; ++t) ids[t] = static_cast<int32_t>((t * 37 + 5) % V);
    m->forward({ids.data(), nullptr, nullptr, 1, T});
    std::vector<int64_t> all(T);
    std::iota(all.begin(), all.end(), 0);
    std::vector<float> full(T * V), some(2 * V);
    m->logits(all, full.data());
    std::vector<int64_t> pick{7, 3};
    m->logits(pick, some.data());
    for (int64_t j = 0; j < V; ++j) {
        EXPECT_NEAR(some[j], full[7 * V + j], 1e-5);
        EXPECT_NEAR(some[V + j], full[3 * V + j], 1e-5);
    }
}

// The encoder key/value cache (diffusion block decoding): forward_kv computes what
// forward computes (bit for bit) and keeps the keys and values; right after it, a span
// run against them gives the full forward's rows (to the GEMMs' blocking, 1e-5 of the
// largest logit), for a span inside the canvas (dual cache) and one reaching its end
// (prefix cache), in fp32 and bf16, for RoBERTa, BERT and ModernBERT (whose spans of 8
// and 19 positions reach past its local layers' window). A causal LM has no such cache.
TEST(models, encoder_kv_span_matches_the_full_forward) {
    for (const std::string name : {"tiny-roberta", "tiny-bert", "tiny-modernbert"})
        for (auto dt : {dlm::DType::F32, dlm::DType::BF16}) {
            SCOPED_TRACE(name + (dt == dlm::DType::BF16 ? " bf16" : " f32"));
            auto m = dlm::model_load(kModels + name);
            m->compute_dtype_set(dt);
            const int64_t B = 2, T = 24, V = m->config().vocab_size;
            std::vector<int32_t> ids(B * T);
            for (int64_t i = 0; i < B * T; ++i) ids[i] = static_cast<int32_t>((i * 53 + 11) % V);
            std::vector<int64_t> all(B * T);
            std::iota(all.begin(), all.end(), 0);
            std::vector<float> full(B * T * V), kept(B * T * V);
            m->forward({ids.data(), nullptr, nullptr, B, T});
            m->logits(all, full.data());
            dlm::EncoderKv kv;
            m->forward_kv(kv, {ids.data(), nullptr, nullptr, B, T});
            m->logits(all, kept.data());
            EXPECT_EQ(kept, full);
            for (auto [q0, q1] : {std::pair<int64_t, int64_t>{8, 16}, {5, 24}, {0, 3}}) {
                const int64_t S = q1 - q0;
                m->forward_span(kv, ids.data(), q0, q1);
                std::vector<int64_t> rows(B * S);
                std::iota(rows.begin(), rows.end(), 0);
                std::vector<float> got(B * S * V), ref(B * S * V);
                m->logits(rows, got.data());
                for (int64_t b = 0; b < B; ++b)
                    std::copy_n(full.begin() + (b * T + q0) * V, S * V, ref.begin() + b * S * V);
                double md = 0, mr = 0;
                for (size_t i = 0; i < ref.size(); ++i) {
                    md = std::max(md, std::fabs(double(got[i]) - ref[i]));
                    mr = std::max(mr, std::fabs(double(ref[i])));
                }
                EXPECT_LE(md, 1e-5 * mr) << "span [" << q0 << ", " << q1 << ")";
            }
            EXPECT_THROW(m->forward_span(kv, ids.data(), 10, 30), dlm::Error);
        }
    auto gpt2 = dlm::model_load(kModels + "tiny-gpt2");
    std::vector<int32_t> ids(8, 5);
    dlm::EncoderKv kv;
    EXPECT_THROW(gpt2->forward_kv(kv, {ids.data(), nullptr, nullptr, 1, 8}), dlm::Error);
}

// The same for row counts around the head's 32-row groups (whole groups straight into
// the output, a last partial group through a padded side buffer): each row's logits
// equal that row's asked on its own, for both architectures and both dtypes (1e-5 of
// the row's largest logit: only the GEMM's blocking may differ).
TEST(models, logits_by_row_groups_equal_single_rows) {
    for (const std::string name : {"tiny-roberta", "tiny-gpt2"})
        for (dlm::DType dt : {dlm::DType::F32, dlm::DType::BF16}) {
            auto m = dlm::model_load(kModels + name);
            m->compute_dtype_set(dt);
            const int64_t B = 3, T = 34, V = m->config().vocab_size;  // tiny-roberta holds 38 tokens
            std::vector<int32_t> ids(B * T);
            for (int64_t i = 0; i < B * T; ++i) ids[i] = static_cast<int32_t>((i * 41 + 9) % V);
            m->forward({ids.data(), nullptr, nullptr, B, T});
            // Each row alone, as one whole group (the row 32 times): a single row would take
            // GPT-2's decoding GEMV, which reads the activations in fp32, not bf16.
            std::vector<float> alone(B * T * V), group(32 * V);
            for (int64_t r = 0; r < B * T; ++r) {
                m->logits(std::vector<int64_t>(32, r), group.data());
                std::copy(group.begin(), group.begin() + V, alone.begin() + r * V);
            }
            for (int64_t n : {31, 32, 45, 64, 100}) {
                std::vector<int64_t> rows(n);
                for (int64_t i = 0; i < n; ++i) rows[i] = (i * 37 + 11) % (B * T);  // distinct: 37 is prime to 102
                std::vector<float> got(n * V);
                m->logits(rows, got.data());
                for (int64_t i = 0; i < n; ++i) {
                    const float* ref = alone.data() + rows[i] * V;
                    float mx = 0;
                    for (int64_t j = 0; j < V; ++j) mx = std::max(mx, std::fabs(ref[j]));
                    for (int64_t j = 0; j < V; ++j)
                        ASSERT_NEAR(got[i * V + j], ref[j], 1e-5 * mx)
                            << name << (dt == dlm::DType::BF16 ? " bf16" : " f32") << ", " << n << " rows, row " << i;
                }
            }
        }
}

// A checkpoint saved by dlm loads back to the same logits (F32 exactly; BF16 close).
TEST(models, save_then_load_round_trip) {
    auto m = dlm::model_load(kModels + "tiny-gpt2");
    std::string dir = ::testing::TempDir() + "dlm_save_round_trip";
    m->save(dir);
    auto m2 = dlm::model_load(dir);
    ASSERT_EQ(m->params().data(), m2->params().data());
    m->save(dir + "_bf16", dlm::DType::BF16);
    auto m3 = dlm::model_load(dir + "_bf16");
    for (size_t i = 0; i < m->params().data().size(); ++i)
        ASSERT_NEAR(m3->params().data()[i], m->params().data()[i], std::fabs(m->params().data()[i]) / 128 + 1e-30);
}
