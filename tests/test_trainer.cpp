// The Trainer end to end on small real text: the loss goes down, resumed runs are
// bit-exact, and bad set-ups fail before anything is written.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "models/flops.h"
#include "models/init.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"
#include "train/trainer.h"

namespace fs = std::filesystem;

namespace {

const std::string kData = DLM_TEST_DATA;

// Lines of wiki.test.raw tokenized with <s> ... </s>, concatenated, cut in blocks.
std::vector<int32_t> text_blocks(const dlm::Tokenizer& tok, int64_t block, int64_t max_lines, int64_t skip = 0) {
    std::ifstream in(kData + "/wikitext-2/wiki.test.raw");
    std::string line;
    std::vector<int32_t> all;
    int64_t n = 0;
    while (std::getline(in, line) && n < skip + max_lines) {
        if (line.find_first_not_of(' ') == std::string::npos) continue;
        if (n++ < skip) continue;
        auto ids = tok.encode(line + "\n", true);
        all.insert(all.end(), ids.begin(), ids.end());
    }
    all.resize(all.size() / block * block);
    return all;
}

dlm::ModelConfig tiny_roberta_config(int64_t positions) {
    nlohmann::ordered_json j = {{"architectures", {"RobertaForMaskedLM"}}, {"model_type", "roberta"},
                                {"vocab_size", 50265}, {"hidden_size", 64}, {"num_hidden_layers", 2},
                                {"num_attention_heads", 4}, {"intermediate_size", 128},
                                {"max_position_embeddings", positions}, {"type_vocab_size", 1},
                                {"layer_norm_eps", 1e-5}, {"hidden_act", "gelu"}, {"pad_token_id", 1},
                                {"bos_token_id", 0}, {"eos_token_id", 2}};
    return dlm::config_parse(j, "test config");
}

dlm::TrainerOptions diffusion_options(const dlm::Tokenizer& tok, const std::string& out) {
    dlm::TrainerOptions o;
    o.output_dir = out;
    o.batch = 8;
    o.adamw.lr = 3e-3f;
    o.warmup_steps = 4;
    o.logging_steps = 5;
    o.quiet = true;
    o.tokenizer_dir = kData + "/tokenizers/roberta-base";
    o.vocab.mask_id = tok.mask_id();
    o.vocab.pad_id = tok.pad_id();
    o.vocab.special.assign(static_cast<size_t>(tok.vocab_size()), false);
    for (int32_t id = 0; id < tok.vocab_size(); ++id) o.vocab.special[id] = tok.is_special(id);
    o.collator.prefix = 8;
    return o;
}

std::string temp_dir(const std::string& name) {
    std::string d = ::testing::TempDir() + "dlm_trainer_" + name;
    fs::remove_all(d);
    return d;
}

}  // namespace

TEST(trainer, diffusion_loss_goes_down_on_real_text) {
    auto tok = dlm::Tokenizer::from_folder(kData + "/tokenizers/roberta-base");
    auto train = text_blocks(tok, 64, 300);
    auto valid = text_blocks(tok, 64, 40, 300);
    auto model = dlm::model_create(tiny_roberta_config(66));
    dlm::model_init_random(*model, 3);
    auto o = diffusion_options(tok, temp_dir("down"));
    o.max_steps = 60;
    dlm::TrainBlocks tb{train.data(), static_cast<int64_t>(train.size() / 64), 64};
    dlm::TrainBlocks vb{valid.data(), static_cast<int64_t>(valid.size() / 64), 64};
    const double before = dlm::evaluate_loss(*model, o, vb, 0);
    auto res = dlm::train_run(*model, o, tb, vb);
    EXPECT_EQ(res.steps, 60);
    EXPECT_GT(before, 10.0);  // ~ln(50265) for a random model
    // 2 nats below a random model: it has learnt at least the unigram statistics.
    EXPECT_LT(res.last_eval_loss, before - 2.0) << "eval loss " << before << " -> " << res.last_eval_loss;
    // The output folder is a loadable HF folder with tokenizer files and a log.
    auto reloaded = dlm::model_load(o.output_dir);
    EXPECT_EQ(reloaded->params().data(), model->params().data());
    EXPECT_TRUE(fs::exists(o.output_dir + "/vocab.json"));
    std::ifstream log(o.output_dir + "/train_log.jsonl");
    std::string line;
    int logged = 0, evals = 0;
    while (std::getline(log, line)) {
        auto e = nlohmann::json::parse(line);
        logged += e.contains("loss");
        evals += e.contains("eval_loss");
    }
    EXPECT_EQ(logged, 12);
    EXPECT_GE(evals, 1);
    // save_total_limit 1: only the newest checkpoint is kept.
    int checkpoints = 0;
    for (auto& e : fs::directory_iterator(o.output_dir)) checkpoints += e.path().filename().string().rfind("checkpoint-", 0) == 0;
    EXPECT_EQ(checkpoints, 1);
    EXPECT_TRUE(fs::exists(o.output_dir + "/checkpoint-60/optimizer.safetensors"));
}

TEST(trainer, causal_loss_goes_down_on_real_text) {
    auto tok = dlm::Tokenizer::from_folder(kData + "/tokenizers/gpt2");
    auto train = text_blocks(tok, 64, 300);
    nlohmann::ordered_json j = {{"architectures", {"GPT2LMHeadModel"}}, {"model_type", "gpt2"}, {"vocab_size", 50257},
                                {"n_embd", 64}, {"n_layer", 2}, {"n_head", 4}, {"n_positions", 64}};
    auto model = dlm::model_create(dlm::config_parse(j, "test"));
    dlm::model_init_random(*model, 4);
    dlm::TrainerOptions o;
    o.output_dir = temp_dir("causal");
    o.objective = dlm::Objective::causal;
    o.batch = 8;
    o.max_steps = 40;
    o.adamw.lr = 3e-3f;
    o.quiet = true;
    dlm::TrainBlocks tb{train.data(), static_cast<int64_t>(train.size() / 64), 64};
    const double before = dlm::evaluate_loss(*model, o, tb, 4);
    dlm::train_run(*model, o, tb, std::nullopt);
    const double after = dlm::evaluate_loss(*model, o, tb, 4);
    EXPECT_LT(after, before - 3.0) << before << " -> " << after;
}

// A gated MLP (ModernBERT's GeGLU: Wi is [2F, C]) counts three C x F matrices.
TEST(trainer, gated_mlp_flops_count_three_matrices) {
    const dlm::ModelConfig c = dlm::config_load(std::string(DLM_TEST_DATA) + "/models/tiny-modernbert/config.json");
    const double C = c.hidden_size, F = c.intermediate_size, L = c.num_layers, V = c.vocab_size;
    const double by_hand = 2 * 4 * 32.0 * L * (4 * C * C + 3 * C * F) + 2 * 4 * 32.0 * L * 2 * 32 * C +
                           2 * 10.0 * (C * C + C * V);
    EXPECT_NEAR(dlm::forward_flops(c, 4, 32, 10), by_hand, 1e-9 * by_hand);
}

TEST(trainer, flops_budget_sets_the_steps_and_the_log_counts_flops) {
    const dlm::ModelConfig c = tiny_roberta_config(66);
    // The formula by hand: body, attention and head of the masked LM, x 3 for training.
    const double C = c.hidden_size, F = c.intermediate_size, L = c.num_layers, V = c.vocab_size;
    const double by_hand = 3 * (2 * 4 * 32.0 * L * (4 * C * C + 2 * C * F) + 2 * 4 * 32.0 * L * 2 * 32 * C +
                                2 * 10.0 * (C * C + C * V));
    EXPECT_NEAR(dlm::train_step_flops(c, 4, 32, 10), by_hand, 1e-9 * by_hand);
    // Expected targets: the mean rate 0.55 of the recipe over seq - prefix positions.
    dlm::CollatorOptions co;
    co.prefix = 8;
    EXPECT_NEAR(dlm::collator_expected_targets(co, 32), 0.55 * 24, 1e-6);  // float rates
    co.mode = dlm::MaskRateMode::continuous;
    co.random_prefix = true;
    co.prefix_min = 0;
    co.prefix_max = 4;
    EXPECT_NEAR(dlm::collator_expected_targets(co, 32), (1 + co.eps) / 2 * 30, 1e-6);

    const auto tok = dlm::Tokenizer::from_folder(kData + "/tokenizers/roberta-base");
    auto blocks = text_blocks(tok, 32, 200);
    auto m = dlm::model_create(c);
    dlm::model_init_random(*m, 3);
    auto o = diffusion_options(tok, temp_dir("flops"));
    o.batch = 4;
    o.collator.prefix = 8;
    o.max_flops = 7.5 * dlm::train_step_flops(c, 4, 32, 4 * dlm::collator_expected_targets(o.collator, 32));
    o.logging_steps = 1;
    auto r = dlm::train_run(*m, o, {blocks.data(), static_cast<int64_t>(blocks.size() / 32), 32}, std::nullopt);
    EXPECT_EQ(r.steps, 8);  // the budget buys 7.5 expected steps, rounded
    // The logged FLOPs are those of the masks actually drawn: between no target and
    // every maskable position a target, growing at every logged step.
    auto lines = dlm::file_read(o.output_dir + "/train_log.jsonl");
    double last = 0;
    for (size_t i = 0, j; (j = lines.find('\n', i)) != std::string::npos; i = j + 1) {
        auto e = nlohmann::json::parse(lines.substr(i, j - i));
        if (e.contains("total_flos")) {
            EXPECT_GT(e["total_flos"].get<double>(), last);
            last = e["total_flos"];
        }
    }
    EXPECT_DOUBLE_EQ(last, r.total_flos);
    EXPECT_GT(r.total_flos, 8 * dlm::train_step_flops(c, 4, 32, 0));
    EXPECT_LT(r.total_flos, 8 * dlm::train_step_flops(c, 4, 32, 4 * 24));
}

TEST(trainer, resumed_run_ends_with_identical_weights) {
    auto tok = dlm::Tokenizer::from_folder(kData + "/tokenizers/roberta-base");
    auto train = text_blocks(tok, 32, 120);
    dlm::TrainBlocks tb{train.data(), static_cast<int64_t>(train.size() / 32), 32};
    auto cfg = tiny_roberta_config(34);
    auto run = [&](const std::string& dir, bool resume) {
        auto model = dlm::model_create(cfg);
        dlm::model_init_random(*model, 11);
        auto o = diffusion_options(tok, dir);
        o.batch = 4;
        o.grad_accum = 2;
        o.max_steps = 6;
        o.save_steps = 2;
        o.save_total_limit = 0;
        o.resume = resume;
        dlm::train_run(*model, o, tb, std::nullopt);
        return model->params().data();
    };
    const std::string a = temp_dir("resume_a"), b = temp_dir("resume_b");
    auto full = run(a, false);
    // A run killed after its step-2 checkpoint: only that checkpoint survives.
    fs::create_directories(b);
    fs::copy(a + "/checkpoint-2", b + "/checkpoint-2", fs::copy_options::recursive);
    auto resumed = run(b, true);
    EXPECT_EQ(full, resumed);  // bit for bit
    EXPECT_EQ(dlm::file_read(a + "/model.safetensors"), dlm::file_read(b + "/model.safetensors"));
}

TEST(trainer, bad_setups_fail_clearly_before_writing) {
    auto tok = dlm::Tokenizer::from_folder(kData + "/tokenizers/roberta-base");
    auto train = text_blocks(tok, 64, 50);
    dlm::TrainBlocks tb{train.data(), static_cast<int64_t>(train.size() / 64), 64};
    auto expect_error = [](const std::function<void()>& f, const std::string& part) {
        try {
            f();
            ADD_FAILURE() << "expected an error containing '" << part << "'";
        } catch (const dlm::Error& e) {
            EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
        }
    };
    {  // blocks longer than the positions
        auto model = dlm::model_create(tiny_roberta_config(40));
        auto o = diffusion_options(tok, temp_dir("long"));
        expect_error([&] { dlm::train_run(*model, o, tb, std::nullopt); }, "longer than the model's 40 positions");
        EXPECT_FALSE(fs::exists(o.output_dir));
    }
    {  // causal objective on a masked LM
        auto model = dlm::model_create(tiny_roberta_config(66));
        auto o = diffusion_options(tok, temp_dir("objective"));
        o.objective = dlm::Objective::causal;
        expect_error([&] { dlm::train_run(*model, o, tb, std::nullopt); }, "masked LM");
    }
    {  // diffusion on a causal model
        auto gpt = dlm::model_load(kData + "/models/tiny-gpt2");
        auto o = diffusion_options(tok, temp_dir("gpt"));
        dlm::TrainBlocks small{train.data(), 2, 32};
        expect_error([&] { dlm::train_run(*gpt, o, small, std::nullopt); }, "causal LM");
    }
    {  // an output folder that cannot be created
        auto model = dlm::model_create(tiny_roberta_config(66));
        auto o = diffusion_options(tok, "/proc/dlm_cannot_write_here");
        expect_error([&] { dlm::train_run(*model, o, tb, std::nullopt); }, "/proc/dlm_cannot_write_here");
    }
    {  // resume without a checkpoint
        auto model = dlm::model_create(tiny_roberta_config(66));
        auto o = diffusion_options(tok, temp_dir("noresume"));
        o.resume = true;
        expect_error([&] { dlm::train_run(*model, o, tb, std::nullopt); }, "no checkpoint");
    }
    {  // no complete block
        auto model = dlm::model_create(tiny_roberta_config(66));
        auto o = diffusion_options(tok, temp_dir("empty"));
        expect_error([&] { dlm::train_run(*model, o, {train.data(), 0, 64}, std::nullopt); }, "no complete block");
    }
}

TEST(trainer, resume_refuses_a_different_setup) {
    auto tok = dlm::Tokenizer::from_folder(kData + "/tokenizers/roberta-base");
    auto train = text_blocks(tok, 32, 60);
    dlm::TrainBlocks tb{train.data(), static_cast<int64_t>(train.size() / 32), 32};
    auto model = dlm::model_create(tiny_roberta_config(34));
    dlm::model_init_random(*model, 1);
    auto o = diffusion_options(tok, temp_dir("refuse"));
    o.max_steps = 2;
    dlm::train_run(*model, o, tb, std::nullopt);
    o.batch = 4;
    o.resume = true;
    o.max_steps = 4;
    try {
        dlm::train_run(*model, o, tb, std::nullopt);
        ADD_FAILURE() << "expected an error";
    } catch (const dlm::Error& e) {
        EXPECT_NE(std::string(e.what()).find("batch"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(fs::exists(o.output_dir + "/checkpoint-2/model.safetensors"));  // nothing lost
}

// The local-attention start: key weights equal query weights, the position table holds
// sinusoids of the token index (RoBERTa's first token at pad + 1; the padding row zero),
// neighbouring positions are more alike than distant ones, the rest is HF's init; causal
// models are refused.
TEST(trainer, local_attention_init_sets_positions_and_tied_query_key) {
    auto m = dlm::model_create(tiny_roberta_config(66));
    dlm::model_init_random(*m, 3);
    auto hf = dlm::model_create(tiny_roberta_config(66));
    dlm::model_init_random(*hf, 3);
    dlm::model_init_local_attention(*m, 3, 0.05f);
    auto& p = m->params();
    const auto* q = p.find("roberta.encoder.layer.1.attention.self.query.weight");
    const auto* k = p.find("roberta.encoder.layer.1.attention.self.key.weight");
    ASSERT_TRUE(q && k);
    EXPECT_TRUE(std::equal(p.get(q->offset), p.get(q->offset) + q->numel(), p.get(k->offset)));
    const auto* pos = p.find("roberta.embeddings.position_embeddings.weight");
    const int64_t C = pos->shape[1];
    const float* t = p.get(pos->offset);
    for (int64_t j = 0; j < C; ++j) EXPECT_EQ(t[1 * C + j], 0.0f);  // padding row (pad id 1)
    EXPECT_FLOAT_EQ(t[2 * C + 0], 0.0f);                             // sin(0): first token
    EXPECT_FLOAT_EQ(t[2 * C + 1], 0.05f);                            // cos(0)
    EXPECT_NEAR(t[3 * C + 0], 0.05 * std::sin(1.0), 1e-6);           // second token, fastest wave
    auto dot = [&](int64_t a, int64_t b) {
        double s = 0;
        for (int64_t j = 0; j < C; ++j) s += double(t[a * C + j]) * t[b * C + j];
        return s;
    };
    EXPECT_GT(dot(20, 21), dot(20, 40));
    const auto* w = p.find("roberta.encoder.layer.0.intermediate.dense.weight");
    EXPECT_TRUE(std::equal(p.get(w->offset), p.get(w->offset) + w->numel(), hf->params().get(w->offset)));
    nlohmann::ordered_json j = {{"architectures", {"GPT2LMHeadModel"}}, {"model_type", "gpt2"}, {"vocab_size", 100},
                                {"n_embd", 16}, {"n_layer", 1}, {"n_head", 2}, {"n_positions", 16}};
    auto g = dlm::model_create(dlm::config_parse(j, "test"));
    EXPECT_THROW(dlm::model_init_local_attention(*g, 1), dlm::Error);
}

// The neighbour-head start: on the position table alone, head h of every layer scores
// the key at n = m + d_h highest for each interior query position m; value/output
// weights get the requested std; the rest is HF's init.
TEST(trainer, shift_attention_init_points_each_head_at_its_neighbour) {
    auto m = dlm::model_create(tiny_roberta_config(66));
    dlm::model_init_random(*m, 3);
    auto hf = dlm::model_create(tiny_roberta_config(66));
    dlm::model_init_random(*hf, 3);
    dlm::model_init_shift_attention(*m, 3, 0.1f, 1.5f, 0.05f);
    auto& p = m->params();
    const auto* pos = p.find("roberta.embeddings.position_embeddings.weight");
    const int64_t H = pos->shape[1], NH = m->config().num_heads, HD = H / NH;
    const float* table = p.get(pos->offset);
    for (int64_t l = 0; l < m->config().num_layers; ++l) {
        const std::string base = "roberta.encoder.layer." + std::to_string(l) + ".attention.";
        const float* q = p.get(p.find(base + "self.query.weight")->offset);
        const float* k = p.get(p.find(base + "self.key.weight")->offset);
        auto project = [&](const float* w, int64_t row, int64_t h, std::vector<double>& out) {
            out.assign(HD, 0.0);
            for (int64_t r = 0; r < HD; ++r)
                for (int64_t j = 0; j < H; ++j) out[r] += double(w[(h * HD + r) * H + j]) * table[row * H + j];
        };
        for (int64_t h = 0; h < NH; ++h) {
            std::vector<double> qv, kv;
            for (int64_t mpos = 12; mpos < 50; mpos += 7) {
                project(q, mpos, h, qv);
                int64_t best = -1;
                double best_score = -1e30;
                for (int64_t n = 2; n < 66; ++n) {
                    project(k, n, h, kv);
                    double s = 0;
                    for (int64_t r = 0; r < HD; ++r) s += qv[r] * kv[r];
                    if (s > best_score) best_score = s, best = n;
                }
                EXPECT_EQ(best, mpos + dlm::kShiftOffsets[h % 4]) << "layer " << l << " head " << h << " position " << mpos;
            }
        }
        const auto* v = p.find(base + "self.value.weight");
        double ss = 0;
        for (int64_t i = 0; i < v->numel(); ++i) ss += double(p.get(v->offset)[i]) * p.get(v->offset)[i];
        EXPECT_NEAR(std::sqrt(ss / v->numel()), 0.05, 0.005);
        const auto* w = p.find("roberta.encoder.layer." + std::to_string(l) + ".intermediate.dense.weight");
        EXPECT_TRUE(std::equal(p.get(w->offset), p.get(w->offset) + w->numel(), hf->params().get(w->offset)));
    }
}

// The unigram start: softmax(bias) is the smoothed frequency of each token, the bias
// has mean 0, nothing else moves; wrong counts and causal models are refused.
TEST(trainer, unigram_bias_init_makes_the_bias_the_smoothed_log_frequencies) {
    auto m = dlm::model_create(tiny_roberta_config(66));
    dlm::model_init_random(*m, 3);
    auto hf = dlm::model_create(tiny_roberta_config(66));
    dlm::model_init_random(*hf, 3);
    const int64_t V = m->config().vocab_size;
    std::vector<int64_t> counts(static_cast<size_t>(V), 0);
    for (int64_t v = 0; v < V; v += 3) counts[static_cast<size_t>(v)] = 1 + (v * 7) % 50;
    dlm::model_init_unigram_bias(*m, counts, 0.5);
    auto& p = m->params();
    const auto* b = p.find("lm_head.bias");
    ASSERT_TRUE(b);
    const float* bias = p.get(b->offset);
    double total = 0, z = 0, mean = 0;
    for (int64_t v = 0; v < V; ++v) total += counts[v] + 0.5, z += std::exp(double(bias[v])), mean += bias[v];
    EXPECT_NEAR(mean / V, 0.0, 1e-5);
    for (int64_t v = 0; v < V; ++v) EXPECT_NEAR(std::exp(double(bias[v])) / z, (counts[v] + 0.5) / total, 1e-6) << v;
    for (const auto& e : p.entries()) {
        if (e.name == "lm_head.bias") continue;
        EXPECT_TRUE(std::equal(p.get(e.offset), p.get(e.offset) + e.numel(), hf->params().get(e.offset))) << e.name;
    }
    counts.pop_back();
    EXPECT_THROW(dlm::model_init_unigram_bias(*m, counts), dlm::Error);
    nlohmann::ordered_json j = {{"architectures", {"GPT2LMHeadModel"}}, {"model_type", "gpt2"}, {"vocab_size", 100},
                                {"n_embd", 16}, {"n_layer", 1}, {"n_head", 2}, {"n_positions", 16}};
    auto g = dlm::model_create(dlm::config_parse(j, "test"));
    EXPECT_THROW(dlm::model_init_unigram_bias(*g, std::vector<int64_t>(100, 1)), dlm::Error);
}
