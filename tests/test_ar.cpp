// Autoregressive decoding: the KV cache against full forward passes, greedy
// generation against PyTorch (tests/data/ref/ar-greedy.*, written by
// tests/ref/make_ar_reference.py), sampling determinism, eos, errors; and the decode
// kernels (kernels/gemv.h) against the oneDNN paths they stand in for.
// Logit tolerance, per comparison: max |got - ref| <= 1e-4 * max |ref| (fp32).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>

#include "ar/generate_ar.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "kernels/attention.h"
#include "kernels/gemv.h"
#include "test_util.h"
#include "kernels/gemm.h"
#include "models/model.h"

namespace {

const std::string kModels = std::string(DLM_TEST_DATA) + "/models/";
constexpr double kRelTol = 1e-4;

using Seqs = std::vector<std::vector<int32_t>>;

std::vector<int32_t> read_ids(const dlm::SafetensorsReader& st, const std::string& name) {
    const dlm::TensorInfo* t = st.find(name);
    EXPECT_TRUE(t && t->dtype == dlm::DType::I64) << name;
    if (!t) return {};
    std::vector<int32_t> out(static_cast<size_t>(t->numel()));
    for (int64_t i = 0; i < t->numel(); ++i) {
        int64_t v;
        std::memcpy(&v, st.bytes(*t) + 8 * i, 8);
        out[i] = static_cast<int32_t>(v);
    }
    return out;
}

// Left-pads seqs to their longest length: ids, mask and HF generation positions [B, T].
struct Padded {
    int64_t B = 0, T = 0;
    std::vector<int32_t> ids, mask, positions;
};
Padded left_pad(const Seqs& seqs) {
    Padded p;
    p.B = static_cast<int64_t>(seqs.size());
    for (auto& s : seqs) p.T = std::max<int64_t>(p.T, static_cast<int64_t>(s.size()));
    p.ids.assign(p.B * p.T, 0);
    p.mask.assign(p.B * p.T, 0);
    p.positions.assign(p.B * p.T, 1);
    for (int64_t b = 0; b < p.B; ++b) {
        const int64_t pad = p.T - static_cast<int64_t>(seqs[b].size());
        for (size_t t = 0; t < seqs[b].size(); ++t) {
            p.ids[b * p.T + pad + t] = seqs[b][t];
            p.mask[b * p.T + pad + t] = 1;
            p.positions[b * p.T + pad + t] = static_cast<int32_t>(t);
        }
    }
    return p;
}

Seqs random_seqs(const std::vector<int64_t>& lengths, int64_t vocab, uint32_t seed) {
    std::mt19937 g(seed);
    Seqs out;
    for (int64_t n : lengths) {
        std::vector<int32_t> s(static_cast<size_t>(n));
        for (auto& x : s) x = static_cast<int32_t>(g() % vocab);
        out.push_back(s);
    }
    return out;
}

// Runs seqs (left-padded) through the KV cache: `prefill` columns at once, then
// `chunk` columns per call; logits at every real position must equal those of one
// full forward pass with the same positions.
void check_cache_against_full(const std::string& name, const Seqs& seqs, int64_t prefill, int64_t chunk) {
    SCOPED_TRACE(name + " prefill " + std::to_string(prefill) + " chunk " + std::to_string(chunk));
    auto m = dlm::model_load(kModels + name);
    const int64_t V = m->config().vocab_size;
    Padded p = left_pad(seqs);
    const int64_t B = p.B, T = p.T;

    m->forward({p.ids.data(), p.mask.data(), p.positions.data(), B, T});
    std::vector<int64_t> all(B * T);
    for (int64_t r = 0; r < B * T; ++r) all[r] = r;
    std::vector<float> full(B * T * V);
    m->logits(all, full.data());

    dlm::KvCache cache;
    m->kv_cache_init(cache, B, T + 3);  // spare capacity: unwritten slots must not matter
    std::vector<float> got_all, ref_all;
    for (int64_t t0 = 0; t0 < T;) {
        const int64_t n = std::min(t0 == 0 ? prefill : chunk, T - t0);
        std::vector<int32_t> ids(B * n), mask(B * n);
        for (int64_t b = 0; b < B; ++b)
            for (int64_t t = 0; t < n; ++t) {
                ids[b * n + t] = p.ids[b * T + t0 + t];
                mask[b * n + t] = p.mask[b * T + t0 + t];
            }
        m->forward_cached(cache, ids.data(), mask.data(), n);
        EXPECT_EQ(cache.length, t0 + n);
        std::vector<int64_t> rows;
        for (int64_t b = 0; b < B; ++b)
            for (int64_t t = 0; t < n; ++t)
                if (mask[b * n + t]) rows.push_back(b * n + t);
        std::vector<float> got(rows.size() * V);
        m->logits(rows, got.data());
        size_t i = 0;
        for (int64_t b = 0; b < B; ++b)
            for (int64_t t = 0; t < n; ++t)
                if (mask[b * n + t]) {
                    const float* ref = full.data() + (b * T + t0 + t) * V;
                    got_all.insert(got_all.end(), got.begin() + i * V, got.begin() + (i + 1) * V);
                    ref_all.insert(ref_all.end(), ref, ref + V);
                    ++i;
                }
        t0 += n;
    }
    size_t real = 0;
    for (int32_t x : p.mask) real += x;
    ASSERT_EQ(got_all.size(), real * V);
    const double r = rel_diff(got_all, ref_all);
    EXPECT_LE(r, kRelTol);
    std::printf("  %s B=%ld T=%ld prefill %ld chunk %ld: max|diff|/max|ref| = %.3g\n", name.c_str(), B, T, prefill,
                chunk, r);
}

// Greedy tokens are compared with PyTorch's exactly, on any CPU, because no step is
// near a tie: the fixture records each step's margin (top1 - top2) / max|logit|, and
// logits held to kRelTol (measured ~1e-6 here) cannot swap the top two while every
// margin exceeds 2 * kRelTol.
void expect_no_near_ties(const dlm::SafetensorsReader& st, const std::string& name) {
    const dlm::TensorInfo* t = st.find(name);
    ASSERT_TRUE(t && t->dtype == dlm::DType::F32) << name;
    std::vector<float> margin(static_cast<size_t>(t->numel()));
    st.read_f32(*t, margin.data());
    EXPECT_GT(*std::min_element(margin.begin(), margin.end()), 2 * kRelTol) << name;
}

dlm::ArOptions greedy_options(int64_t n) {
    dlm::ArOptions o;
    o.max_new_tokens = n;
    o.sampling.temperature = 0;
    return o;
}

std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

}  // namespace

// ---- decode kernels -----------------------------------------------------------------

TEST(ar, gemv_kernels_match_onednn) {
    // Widths with and without a tile/lane tail; every row count the kernels specialise.
    for (auto [k, n] : {std::pair<int64_t, int64_t>{64, 384}, {40, 100}, {2, 6}, {768, 2304}, {33, 17}}) {
        for (int64_t m = 1; m <= 10; ++m) {
            SCOPED_TRACE("k " + std::to_string(k) + " n " + std::to_string(n) + " m " + std::to_string(m));
            auto x = random_floats(m * k, 1), w = random_floats(k * n, 2), bias = random_floats(n, 3);
            std::vector<float> got(m * n), ref(m * n);
            std::vector<float> scratch(dlm::kGemvChunks * n);
            dlm::conv1d_forward_gemv(got.data(), scratch.data(), x.data(), w.data(), bias.data(), m, k, n);
            dlm::conv1d_forward(ref.data(), x.data(), w.data(), bias.data(), m, k, n);
            EXPECT_LE(rel_diff(got, ref), 1e-5);
            dlm::linear_forward_gemv(got.data(), x.data(), w.data(), nullptr, m, k, n);
            dlm::linear_forward(ref.data(), x.data(), w.data(), nullptr, m, k, n);
            EXPECT_LE(rel_diff(got, ref), 1e-5);
        }
    }
}

// A row's result does not depend on how many rows are computed with it.
TEST(ar, gemv_rows_are_independent_of_row_count) {
    const int64_t k = 96, n = 200;
    auto x = random_floats(8 * k, 4), w = random_floats(k * n, 5);
    std::vector<float> one(n), many(8 * n);
    std::vector<float> scratch(dlm::kGemvChunks * n);
    auto conv1d = [&](float* out, const float* inp, const float* weight, const float* bias, int64_t m, int64_t kk,
                      int64_t nn) { dlm::conv1d_forward_gemv(out, scratch.data(), inp, weight, bias, m, kk, nn); };
    for (int which = 0; which < 2; ++which) {
        std::function<void(float*, const float*, const float*, const float*, int64_t, int64_t, int64_t)> f = conv1d;
        if (which) f = dlm::linear_forward_gemv;
        f(many.data(), x.data(), w.data(), nullptr, 8, k, n);
        for (int64_t r = 0; r < 8; ++r) {
            f(one.data(), x.data() + r * k, w.data(), nullptr, 1, k, n);
            EXPECT_EQ(0, std::memcmp(one.data(), many.data() + r * n, n * sizeof(float))) << "row " << r;
        }
    }
}

// fp32 column tiles: packing puts each element where tiled_index says and unpacking
// restores the plain layout exactly; the tiled GEMV sums each column as the plain Conv1D
// GEMV does (bit for bit) and the nn.Linear one to summation order; the tiled product
// (prompts, batches) and the embedding gather from a tiled table agree with the plain ones.
TEST(ar, tiled_f32_layout_matches_the_plain_layout) {
    for (auto [k, n] : {std::pair<int64_t, int64_t>{768, 2304}, {96, 200}, {33, 17}, {64, 384}, {50, 130}, {3, 64}}) {
        for (bool transposed : {false, true}) {
            SCOPED_TRACE("k " + std::to_string(k) + " n " + std::to_string(n) + (transposed ? " transposed" : ""));
            const auto plain = random_floats(k * n, 9), x = random_floats(3 * k, 10), bias = random_floats(n, 11);
            std::vector<float> tiled = plain, scratch(dlm::tiled_pack_scratch(k, n, transposed, dlm::kTileColsF32));
            dlm::tiled_pack_f32(tiled.data(), scratch.data(), k, n, transposed);
            for (int64_t kk = 0; kk < k; ++kk)
                for (int64_t j = 0; j < n; ++j)
                    ASSERT_EQ(tiled[dlm::tiled_index(kk, j, k, n, dlm::kTileColsF32)],
                              transposed ? plain[j * k + kk] : plain[kk * n + j]) << kk << ", " << j;
            std::vector<float> got(3 * n), ref(3 * n), gemv_scratch(dlm::kGemvChunks * n);
            dlm::tiled_gemv_f32(got.data(), x.data(), tiled.data(), bias.data(), 3, k, n);
            if (transposed) {
                dlm::linear_forward_gemv(ref.data(), x.data(), plain.data(), bias.data(), 3, k, n);
                EXPECT_LE(rel_diff(got, ref), 1e-5);
            } else {
                dlm::conv1d_forward_gemv(ref.data(), gemv_scratch.data(), x.data(), plain.data(), bias.data(), 3, k, n);
                EXPECT_EQ(got, ref) << "the tiled GEMV sums as the plain one";
            }
            dlm::tiled_forward_f32(got.data(), x.data(), tiled.data(), bias.data(), 3, k, n);
            if (transposed) dlm::linear_forward(ref.data(), x.data(), plain.data(), bias.data(), 3, k, n);
            else dlm::conv1d_forward(ref.data(), x.data(), plain.data(), bias.data(), 3, k, n);
            EXPECT_LE(rel_diff(got, ref), 1e-5);
            const std::vector<int32_t> ids = {0, static_cast<int32_t>(n - 1), static_cast<int32_t>(n / 2)};
            std::vector<float> e_got(3 * k, 1.0f), e_ref(3 * k, 1.0f);
            dlm::tiled_columns_gather_f32(e_got.data(), ids.data(), tiled.data(), 3, k, n, true);
            for (int i = 0; i < 3; ++i)
                for (int64_t kk = 0; kk < k; ++kk)
                    e_ref[i * k + kk] += transposed ? plain[ids[i] * k + kk] : plain[kk * n + ids[i]];
            EXPECT_EQ(e_got, e_ref);
            dlm::tiled_unpack_f32(tiled.data(), scratch.data(), k, n, transposed);
            EXPECT_EQ(tiled, plain) << "unpacking restores the plain layout";
        }
    }
}

TEST(ar, cached_attention_matches_attention_forward) {
    const int64_t B = 2, NH = 3, HD = 8, C = NH * HD, cap = 11, t0 = 6, Tq = 3;
    auto q = random_floats(B * Tq * C, 6), k = random_floats(B * cap * C, 7), v = random_floats(B * cap * C, 8);
    std::vector<int32_t> mask(B * cap, 1);
    mask[0] = mask[1] = 0;      // sample 0 left-padded by two
    mask[cap + 4] = 0;          // a masked slot in the middle of sample 1
    for (int64_t j = t0 + Tq; j < cap; ++j) mask[j] = mask[cap + j] = 0;  // not written yet
    dlm::attention_shape s{B, Tq, cap, NH, HD, C, C, true, t0};
    std::vector<float> got(B * Tq * C), ref(B * Tq * C), att(B * NH * Tq * cap);
    dlm::attention_forward_cached(got.data(), att.data(), q.data(), k.data(), v.data(), mask.data(), s);
    dlm::attention_forward(ref.data(), att.data(), nullptr, q.data(), k.data(), v.data(), mask.data(), s);
    EXPECT_LE(rel_diff(got, ref), 1e-5);
}

// ---- KV cache ------------------------------------------------------------------------

TEST(ar, kv_cache_logits_equal_full_forward_tiny_gpt2) {
    const int64_t V = 1000;
    auto one = random_seqs({23}, V, 11);
    check_cache_against_full("tiny-gpt2", one, 5, 1);   // per-query attention from the start
    check_cache_against_full("tiny-gpt2", one, 20, 1);  // a prompt longer than 16: oneDNN attention
    check_cache_against_full("tiny-gpt2", one, 1, 3);   // several queries per call
    auto two = random_seqs({21, 9}, V, 12);             // left padding
    check_cache_against_full("tiny-gpt2", two, 18, 1);
    check_cache_against_full("tiny-gpt2", two, 3, 2);
    check_cache_against_full("tiny-gpt2", random_seqs({64}, V, 13), 40, 1);  // every position
}

TEST(ar, kv_cache_logits_equal_full_forward_tiny_gpt2_random) {
    const int64_t V = 50257;
    check_cache_against_full("tiny-gpt2-random", random_seqs({12}, V, 14), 4, 1);
    check_cache_against_full("tiny-gpt2-random", random_seqs({10, 4}, V, 15), 10, 1);
}

// A left-padded sample gets the logits it gets alone (HF generation positions).
TEST(ar, left_padded_sample_equals_sample_alone) {
    auto m = dlm::model_load(kModels + "tiny-gpt2");
    const int64_t V = m->config().vocab_size;
    auto seqs = random_seqs({4, 9}, V, 16);
    Padded p = left_pad(seqs);
    dlm::KvCache batch, alone;
    m->kv_cache_init(batch, 2, 9);
    m->forward_cached(batch, p.ids.data(), p.mask.data(), 9);
    std::vector<float> lb(V), la(V);
    const int64_t row = 8;  // sample 0, last position
    m->logits({&row, 1}, lb.data());
    m->kv_cache_init(alone, 1, 4);
    m->forward_cached(alone, seqs[0].data(), nullptr, 4);
    const int64_t last = 3;
    m->logits({&last, 1}, la.data());
    EXPECT_LE(rel_diff(lb, la), kRelTol);
}

// fp32 decoding tiles GPT-2's matrices in the arena itself (prompt through oneDNN on the
// tiles, tokens through the tiled GEMV, embeddings gathered from the tiled tied table):
// the logits of the plain layout to summation order, and everything that reads the arena
// afterwards (save, bf16 copies, training) sees the plain layout.
TEST(ar, gpt2_fp32_tiles_match_the_plain_layout) {
    const std::string dir = kModels + "tiny-gpt2";
    auto m = dlm::model_load(dir);
    const int64_t T = 12, V = m->config().vocab_size, L = m->config().num_layers;
    std::vector<int32_t> ids(T);
    for (int64_t t = 0; t < T; ++t) ids[t] = static_cast<int32_t>(5 + 83 * t % 990);
    auto decode = [&](dlm::Model& model) {
        std::vector<float> logits;
        dlm::KvCache cache;
        model.kv_cache_init(cache, 1, T);
        model.forward_cached(cache, ids.data(), nullptr, 4);
        for (int64_t t = 4; t < T; ++t) {
            model.forward_cached(cache, ids.data() + t, nullptr, 1);
            std::vector<float> l(V);
            model.logits(std::vector<int64_t>{0}, l.data());
            logits.insert(logits.end(), l.begin(), l.end());
        }
        return logits;
    };
    m->prepack_set(false);
    const auto plain = decode(*m);
    EXPECT_EQ(m->prepacked_count(), 0);
    m->prepack_set(true);
    const auto tiled = decode(*m);
    EXPECT_EQ(m->prepacked_count(), 4 * L + 1);
    EXPECT_LE(rel_diff(tiled, plain), 1e-5);

    // save() writes the plain layout while the arena is tiled.
    const std::string out = ::testing::TempDir() + "/dlm_tiles_saved";
    m->save(out);
    auto fresh = dlm::model_load(dir), saved = dlm::model_load(out);
    ASSERT_EQ(saved->params().size(), fresh->params().size());
    EXPECT_EQ(0, std::memcmp(saved->params().get(0), fresh->params().get(0), fresh->params().size() * sizeof(float)));
    EXPECT_EQ(m->prepacked_count(), 4 * L + 1) << "saving leaves the tiles in place";

    // bf16 copies are rounded from the plain layout: the same logits as a fresh model's.
    m->compute_dtype_set(dlm::DType::BF16);
    fresh->compute_dtype_set(dlm::DType::BF16);
    EXPECT_EQ(decode(*m), decode(*fresh));
    m->compute_dtype_set(dlm::DType::F32);
    fresh->compute_dtype_set(dlm::DType::F32);

    // Training after decoding: the plain layout again, the same loss and gradients.
    decode(*m);
    EXPECT_EQ(m->prepacked_count(), 4 * L + 1);
    std::vector<int32_t> targets(T, dlm::kIgnoreTarget);
    for (int64_t t = 0; t + 1 < T; ++t) targets[t] = ids[t + 1];
    const dlm::TrainInput in{{ids.data(), nullptr, nullptr, 1, T}, targets.data(), nullptr, false, 0, {}};
    m->params().grads_zero();
    fresh->params().grads_zero();
    EXPECT_EQ(m->forward_backward(in), fresh->forward_backward(in));
    EXPECT_EQ(m->prepacked_count(), 0);
    EXPECT_EQ(0, std::memcmp(m->params().grads().data(), fresh->params().grads().data(), fresh->params().size() * sizeof(float)));
    EXPECT_EQ(0, std::memcmp(m->params().get(0), fresh->params().get(0), fresh->params().size() * sizeof(float)));
}

TEST(ar, gpt2_logits_at_few_rows_equal_full_rows) {
    auto m = dlm::model_load(kModels + "tiny-gpt2");
    const int64_t T = 12, V = m->config().vocab_size;
    auto ids = random_seqs({T}, V, 17)[0];
    m->forward({ids.data(), nullptr, nullptr, 1, T});
    std::vector<int64_t> all(T);
    for (int64_t t = 0; t < T; ++t) all[t] = t;
    std::vector<float> full(T * V), some(3 * V);
    m->logits(all, full.data());
    std::vector<int64_t> pick{7, 3, 11};
    m->logits(pick, some.data());
    for (int i = 0; i < 3; ++i)
        for (int64_t j = 0; j < V; ++j) EXPECT_NEAR(some[i * V + j], full[pick[i] * V + j], 1e-4);
}

// ---- generation against PyTorch -----------------------------------------------------

TEST(ar, greedy_matches_pytorch) {
    dlm::SafetensorsReader ref(std::string(DLM_TEST_DATA) + "/ref/ar-greedy.safetensors");
    for (std::string name : {"tiny-gpt2", "tiny-gpt2-random"}) {
        SCOPED_TRACE(name);
        auto m = dlm::model_load(kModels + name);
        auto prompt = read_ids(ref, name + ".prompt");
        auto want = read_ids(ref, name + ".greedy");
        expect_no_near_ties(ref, name + ".margin");
        auto r = dlm::ar_generate(*m, {prompt}, greedy_options(static_cast<int64_t>(want.size())));
        ASSERT_EQ(r.tokens.size(), 1u);
        EXPECT_EQ(r.tokens[0], concat(prompt, want));
        EXPECT_EQ(r.prompt_len[0], static_cast<int64_t>(prompt.size()));
        EXPECT_EQ(r.stats.new_tokens, static_cast<int64_t>(want.size()));
        EXPECT_EQ(r.stats.steps, static_cast<int64_t>(want.size()));
        EXPECT_EQ(r.stats.forward_passes, static_cast<int64_t>(want.size()));  // the last token needs none
    }
}

TEST(ar, greedy_left_padded_batch_matches_pytorch) {
    dlm::SafetensorsReader ref(std::string(DLM_TEST_DATA) + "/ref/ar-greedy.safetensors");
    auto m = dlm::model_load(kModels + "tiny-gpt2");
    auto ids = read_ids(ref, "tiny-gpt2.batch.input_ids"), mask = read_ids(ref, "tiny-gpt2.batch.attention_mask");
    auto want = read_ids(ref, "tiny-gpt2.batch.greedy");
    expect_no_near_ties(ref, "tiny-gpt2.batch.margin");  // also what the eos test below relies on
    const int64_t B = 3, T = static_cast<int64_t>(ids.size()) / B, N = static_cast<int64_t>(want.size()) / B;
    Seqs prompts(B);
    for (int64_t b = 0; b < B; ++b)
        for (int64_t t = 0; t < T; ++t)
            if (mask[b * T + t]) prompts[b].push_back(ids[b * T + t]);
    auto r = dlm::ar_generate(*m, prompts, greedy_options(N));
    ASSERT_EQ(r.tokens.size(), 3u);
    for (int64_t b = 0; b < B; ++b)
        EXPECT_EQ(r.tokens[b], concat(prompts[b], {want.begin() + b * N, want.begin() + (b + 1) * N}))
            << "sample " << b;
}

// ---- sampling ------------------------------------------------------------------------

TEST(ar, sampling_is_deterministic_per_seed) {
    auto m = dlm::model_load(kModels + "tiny-gpt2");
    dlm::ArOptions o;
    o.max_new_tokens = 30;
    o.sampling = {1.0f, 0, 1.0f};  // the whole distribution: seeds surely differ
    o.seed = 7;
    o.batch = 3;
    std::vector<int32_t> prompt{5, 17, 300};
    auto a = dlm::ar_generate(*m, {prompt}, o);
    auto b = dlm::ar_generate(*m, {prompt}, o);
    EXPECT_EQ(a.tokens, b.tokens);
    EXPECT_NE(a.tokens[0], a.tokens[1]);  // samples draw from their own streams
    o.seed = 8;
    auto c = dlm::ar_generate(*m, {prompt}, o);
    EXPECT_NE(a.tokens, c.tokens);
}

TEST(ar, sample_does_not_depend_on_batch) {
    auto m = dlm::model_load(kModels + "tiny-gpt2");
    dlm::ArOptions o;
    o.max_new_tokens = 25;
    o.seed = 3;
    std::vector<int32_t> prompt{5, 17, 300};
    o.batch = 1;
    auto one = dlm::ar_generate(*m, {prompt}, o);
    o.batch = 4;
    auto four = dlm::ar_generate(*m, {prompt}, o);
    o.batch = 2;
    auto two = dlm::ar_generate(*m, {prompt}, o);
    EXPECT_EQ(four.tokens[0], one.tokens[0]);
    EXPECT_EQ(four.tokens[1], two.tokens[1]);
    // A shorter prompt left-padded next to a longer one: the same as alone.
    o.batch = 1;
    auto padded = dlm::ar_generate(*m, {prompt, {9, 8, 7, 6, 5, 4, 3}}, o);
    EXPECT_EQ(padded.tokens[0], one.tokens[0]);
}

TEST(ar, top_k_1_is_greedy) {
    auto m = dlm::model_load(kModels + "tiny-gpt2");
    std::vector<int32_t> prompt{42, 7};
    auto greedy = dlm::ar_generate(*m, {prompt}, greedy_options(20));
    dlm::ArOptions o;
    o.max_new_tokens = 20;
    o.sampling = {1.5f, 1, 1.0f};
    o.seed = 99;
    o.batch = 2;
    auto k1 = dlm::ar_generate(*m, {prompt}, o);
    EXPECT_EQ(k1.tokens[0], greedy.tokens[0]);
    EXPECT_EQ(k1.tokens[1], greedy.tokens[0]);
}

// ---- stopping, events, limits ------------------------------------------------------

TEST(ar, eos_stops_a_sample_and_the_others_go_on) {
    dlm::SafetensorsReader ref(std::string(DLM_TEST_DATA) + "/ref/ar-greedy.safetensors");
    auto m = dlm::model_load(kModels + "tiny-gpt2");
    auto ids = read_ids(ref, "tiny-gpt2.batch.input_ids"), mask = read_ids(ref, "tiny-gpt2.batch.attention_mask");
    auto want = read_ids(ref, "tiny-gpt2.batch.greedy");
    const int64_t B = 3, T = 9, N = 20;
    Seqs prompts(B);
    for (int64_t b = 0; b < B; ++b)
        for (int64_t t = 0; t < T; ++t)
            if (mask[b * T + t]) prompts[b].push_back(ids[b * T + t]);
    // eos = a token sample 0 and 1 reach (at different steps) and sample 2 never does.
    const int32_t eos = 400;
    auto o = greedy_options(N);
    o.eos_id = eos;
    std::vector<int64_t> reported(B, 0);
    auto r = dlm::ar_generate(*m, prompts, o, [&](const dlm::GenerationStep& st) {
        EXPECT_EQ(st.step, reported[st.sample]);
        ++reported[st.sample];
    });
    int64_t total = 0;
    for (int64_t b = 0; b < B; ++b) {
        std::vector<int32_t> cont(want.begin() + b * N, want.begin() + (b + 1) * N);
        auto it = std::find(cont.begin(), cont.end(), eos);
        if (it != cont.end()) cont.erase(it + 1, cont.end());
        EXPECT_EQ(r.tokens[b], concat(prompts[b], cont)) << "sample " << b;
        EXPECT_EQ(reported[b], static_cast<int64_t>(cont.size())) << "sample " << b;
        total += static_cast<int64_t>(cont.size());
    }
    EXPECT_LT(r.tokens[1].size() - prompts[1].size(), static_cast<size_t>(N));  // sample 1 did stop early
    EXPECT_EQ(r.tokens[2].size() - prompts[2].size(), static_cast<size_t>(N));
    EXPECT_EQ(r.stats.new_tokens, total);

    // All samples done: generation ends before max_new_tokens.
    auto alone = dlm::ar_generate(*m, {prompts[1]}, o);
    EXPECT_EQ(alone.tokens[0], r.tokens[1]);
    EXPECT_EQ(alone.stats.steps, static_cast<int64_t>(r.tokens[1].size() - prompts[1].size()));
}

TEST(ar, steps_report_each_new_token) {
    auto m = dlm::model_load(kModels + "tiny-gpt2");
    std::vector<int32_t> prompt{1, 2, 3, 4};
    auto o = greedy_options(6);
    o.batch = 2;
    std::vector<dlm::GenerationStep> steps;
    std::vector<std::vector<int32_t>> seen;
    auto r = dlm::ar_generate(*m, {prompt}, o, [&](const dlm::GenerationStep& st) {
        steps.push_back(st);
        seen.emplace_back(st.tokens.begin(), st.tokens.end());
    });
    ASSERT_EQ(steps.size(), 12u);
    for (size_t i = 0; i < steps.size(); ++i) {
        const auto& st = steps[i];
        const int64_t pos = 4 + st.step;
        EXPECT_EQ(st.sample, static_cast<int64_t>(i % 2));
        EXPECT_EQ(st.step, static_cast<int64_t>(i / 2));
        ASSERT_EQ(seen[i].size(), static_cast<size_t>(pos + 1));
        EXPECT_TRUE(std::equal(seen[i].begin(), seen[i].end(), r.tokens[st.sample].begin()));
        EXPECT_EQ(st.mask_id, -1);
        EXPECT_EQ(st.forward_passes, st.step + 1);
    }
    EXPECT_EQ(r.stats.new_tokens, 12);
    EXPECT_EQ(r.stats.steps, 6);
}

TEST(ar, new_tokens_are_bounded_by_positions) {
    auto m = dlm::model_load(kModels + "tiny-gpt2");  // 64 positions
    auto o = greedy_options(240);
    auto r = dlm::ar_generate(*m, {std::vector<int32_t>(60, 5), {1, 2}}, o);
    EXPECT_EQ(r.tokens[0].size(), 64u);
    EXPECT_EQ(r.tokens[1].size(), 64u);
    o.max_new_tokens = 0;
    r = dlm::ar_generate(*m, {{1, 2}}, o);
    EXPECT_EQ(r.tokens[0], (std::vector<int32_t>{1, 2}));
}

TEST(ar, errors) {
    auto m = dlm::model_load(kModels + "tiny-gpt2");
    auto o = greedy_options(5);
    auto expect_error = [](const std::function<void()>& f, const std::string& part) {
        try {
            f();
            ADD_FAILURE() << "expected an error containing '" << part << "'";
        } catch (const dlm::Error& e) {
            EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
        }
    };
    expect_error([&] { dlm::ar_generate(*m, {{}}, o); }, "prompt 0 is empty");
    expect_error([&] { dlm::ar_generate(*m, {{1, 2}, {}}, o); }, "prompt 1 is empty");
    expect_error([&] { dlm::ar_generate(*m, {}, o); }, "no prompt");
    expect_error([&] { dlm::ar_generate(*m, {std::vector<int32_t>(64, 1)}, o); }, "64 positions");
    expect_error([&] { dlm::ar_generate(*m, {std::vector<int32_t>(100, 1)}, o); }, "has 100 tokens");
    expect_error([&] { dlm::ar_generate(*m, {{1, 1000}}, o); }, "outside the vocabulary");
    o.batch = 3;
    expect_error([&] { dlm::ar_generate(*m, {{1}, {2}}, o); }, "2 prompts but batch 3");

    dlm::KvCache cache;
    expect_error([&] { m->forward_cached(cache, nullptr, nullptr, 1); }, "kv_cache_init");
    m->kv_cache_init(cache, 1, 2);
    std::vector<int32_t> ids{1, 2, 3};
    expect_error([&] { m->forward_cached(cache, ids.data(), nullptr, 3); }, "KV cache full");
    EXPECT_EQ(cache.length, 0);

    auto roberta = dlm::model_load(kModels + "tiny-roberta");
    expect_error([&] { roberta->kv_cache_init(cache, 1, 8); },
                 "RobertaForMaskedLM has no KV cache: it is not a causal LM");
    expect_error([&] { dlm::ar_generate(*roberta, {{0, 5}}, greedy_options(3)); }, "not a causal LM");
}

// One decoding step of several caches at once (a server's concurrent generations) gives
// each cache's samples the logits its own forward_cached gives (to float rounding: the
// products see more rows), and leaves each cache as its own step leaves it.
TEST(ar, forward_cached_multi_matches_each_cache_alone) {
    auto m = dlm::model_load(kModels + "tiny-gpt2");
    const int64_t V = m->config().vocab_size;
    const std::vector<std::vector<int32_t>> prompts = {{5, 17, 300}, {9, 8, 7, 6, 5, 4, 3}};
    std::vector<dlm::KvCache> alone(2), together(2);
    for (size_t i = 0; i < 2; ++i)
        for (auto* k : {&alone[i], &together[i]}) {
            m->kv_cache_init(*k, i == 0 ? 1 : 2, 16);
            std::vector<int32_t> ids;
            for (int64_t b = 0; b < k->batch; ++b) ids.insert(ids.end(), prompts[i].begin(), prompts[i].end());
            m->forward_cached(*k, ids.data(), nullptr, static_cast<int64_t>(prompts[i].size()));
        }
    const std::vector<int32_t> next = {11, 12, 13};  // cache 0's one sample, cache 1's two
    const std::vector<int32_t> mask = {1, 1, 0};     // cache 1's second sample finished
    std::vector<float> want(3 * V), got(3 * V);
    std::vector<int64_t> rows = {0};
    m->forward_cached(alone[0], next.data(), mask.data(), 1);
    m->logits(rows, want.data());
    rows = {0, 1};
    m->forward_cached(alone[1], next.data() + 1, mask.data() + 1, 1);
    m->logits(rows, want.data() + V);
    std::vector<dlm::KvCache*> both = {&together[0], &together[1]};
    m->forward_cached_multi(both, next.data(), mask.data());
    rows = {0, 1, 2};
    m->logits(rows, got.data());
    for (int64_t r = 0; r < 2 * V; ++r) EXPECT_NEAR(got[r], want[r], 1e-4f * (1.0f + std::fabs(want[r]))) << r;
    for (size_t i = 0; i < 2; ++i) {
        EXPECT_EQ(together[i].length, alone[i].length);
        EXPECT_EQ(together[i].mask, alone[i].mask);
    }
}
