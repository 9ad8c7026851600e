// The server's step batcher (server/step_batcher.h) on the shipped models: requests
// sampled at once on their own threads, their steps batched into shared forward
// passes, end with the tokens each gets alone (diffusion: every sampler and cache mode;
// AR: prompts of different lengths, n samples); and the passes really were shared;
// both models on one batcher.
#include <gtest/gtest.h>

#include <thread>

#include "ar/generate_ar.h"
#include "core/error.h"
#include "diffusion/generate.h"
#include "models/model.h"
#include "server/step_batcher.h"

namespace {

const std::string kModel = std::string(DLM_SOURCE_DIR) + "/models/dlm-diffusion";

// <s>, a prompt of 6 ids (different per request), then 16 masks.
std::vector<int32_t> canvas(int32_t mask, int k) {
    std::vector<int32_t> s = {0};
    for (int i = 0; i < 6; ++i) s.push_back(1000 + 37 * k + 11 * i);
    s.insert(s.end(), 16, mask);
    return s;
}

}  // namespace

TEST(step_batcher, concurrent_requests_get_what_they_get_alone) {
    auto model = dlm::model_load(kModel);
    const int32_t mask = 50264;
    for (auto sampler : {dlm::SamplerKind::remask, dlm::SamplerKind::confidence, dlm::SamplerKind::lowconf})
        for (auto cache : {dlm::CacheMode::none, dlm::CacheMode::dual, dlm::CacheMode::prefix}) {
            SCOPED_TRACE(std::string(dlm::sampler_name(sampler)) + ", cache " + dlm::cache_name(cache));
            dlm::DiffusionOptions o = dlm::diffusion_options_default(sampler);
            o.mask_id = mask;
            o.block = 8;
            o.cache = cache;
            o.steps = sampler == dlm::SamplerKind::confidence ? 0 : 4;
            o.window = 64;
            constexpr int kRequests = 3;
            std::vector<std::vector<int32_t>> alone(kRequests), together(kRequests);
            for (int k = 0; k < kRequests; ++k) {
                dlm::ModelDenoiser d(*model);
                auto ok = o;
                ok.seed = 100 + k;
                ok.batch = k == 2 ? 2 : 1;  // one request with two samples
                alone[k] = dlm::diffusion_generate(d, canvas(mask, k), ok).tokens.back();
            }
            // A long window: each batch waits for every running request, so they share.
            dlm::StepBatcher batcher(0, std::chrono::seconds(5));
            std::vector<std::unique_ptr<dlm::Denoiser>> denoisers;
            for (int k = 0; k < kRequests; ++k) denoisers.push_back(batcher.denoiser(*model));
            std::vector<std::thread> threads;
            for (int k = 0; k < kRequests; ++k)
                threads.emplace_back([&, k] {
                    auto ok = o;
                    ok.seed = 100 + k;
                    ok.batch = k == 2 ? 2 : 1;
                    together[k] = dlm::diffusion_generate(*denoisers[k], canvas(mask, k), ok).tokens.back();
                    denoisers[k].reset();  // this request leaves the batch
                });
            for (auto& t : threads) t.join();
            for (int k = 0; k < kRequests; ++k) EXPECT_EQ(together[k], alone[k]) << "request " << k;
            const auto s = batcher.stats();
            EXPECT_LT(s.forward_passes, s.calls) << "no pass was shared";
            EXPECT_GT(s.sequences, s.forward_passes);
        }
}

TEST(step_batcher, concurrent_ar_requests_get_what_they_get_alone) {
    auto model = dlm::model_load(std::string(DLM_SOURCE_DIR) + "/models/dlm-ar");
    const std::vector<std::vector<int32_t>> prompts = {{464, 2106, 286}, {818, 1248, 11, 262, 4141, 1230}, {464}};
    constexpr int kRequests = 3;
    auto options = [](int k) {
        dlm::ArOptions o;
        o.max_new_tokens = 12 + 4 * k;
        o.seed = 50 + k;
        o.batch = k == 1 ? 2 : 1;
        o.eos_id = 50256;
        return o;
    };
    std::vector<std::vector<std::vector<int32_t>>> alone(kRequests), together(kRequests);
    for (int k = 0; k < kRequests; ++k) alone[k] = dlm::ar_generate(*model, {prompts[k]}, options(k)).tokens;
    dlm::StepBatcher batcher(0, std::chrono::seconds(5));
    std::vector<std::unique_ptr<dlm::CausalDecoder>> decoders;
    for (int k = 0; k < kRequests; ++k) decoders.push_back(batcher.decoder(*model));
    std::vector<std::thread> threads;
    for (int k = 0; k < kRequests; ++k)
        threads.emplace_back([&, k] {
            together[k] = dlm::ar_generate(*decoders[k], {prompts[k]}, options(k)).tokens;
            decoders[k].reset();
        });
    for (auto& t : threads) t.join();
    for (int k = 0; k < kRequests; ++k) EXPECT_EQ(together[k], alone[k]) << "request " << k;
    const auto s = batcher.stats();
    EXPECT_LT(s.forward_passes, s.calls) << "no decoding step was shared";
}

// Both models of a server on one batcher (its one compute thread): a denoising and a
// decoding run at once, each getting what it gets alone; a task runs there too and
// passes its error back.
TEST(step_batcher, two_models_share_the_thread) {
    auto mlm = dlm::model_load(kModel);
    auto ar = dlm::model_load(std::string(DLM_SOURCE_DIR) + "/models/dlm-ar");
    dlm::DiffusionOptions d = dlm::diffusion_options_default(dlm::SamplerKind::confidence);
    d.mask_id = 50264;
    d.block = 8;
    d.cache = dlm::CacheMode::dual;
    d.window = 64;
    d.seed = 7;
    dlm::ArOptions a;
    a.max_new_tokens = 16;
    a.seed = 8;
    a.eos_id = 50256;
    const std::vector<int32_t> prompt = {464, 2106, 286};
    dlm::ModelDenoiser alone_denoiser(*mlm);
    const auto denoised = dlm::diffusion_generate(alone_denoiser, canvas(d.mask_id, 0), d).tokens;
    const auto decoded = dlm::ar_generate(*ar, {prompt}, a).tokens;

    dlm::StepBatcher batcher(0, std::chrono::milliseconds(50));
    std::thread other([&] {
        auto decoder = batcher.decoder(*ar);
        EXPECT_EQ(dlm::ar_generate(*decoder, {prompt}, a).tokens, decoded);
    });
    {
        auto denoiser = batcher.denoiser(*mlm);
        EXPECT_EQ(dlm::diffusion_generate(*denoiser, canvas(d.mask_id, 0), d).tokens, denoised);
    }
    other.join();
    std::thread::id ran_on;
    batcher.task_run([&] { ran_on = std::this_thread::get_id(); });
    EXPECT_NE(ran_on, std::this_thread::get_id());
    EXPECT_THROW(batcher.task_run([] { dlm::fail("from the task"); }), dlm::Error);
}
