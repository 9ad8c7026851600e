// Backward kernels, two independent ways:
//  - against PyTorch autograd (tests/data/ref/kernels.safetensors): max|diff| <= 1e-4 * max|ref|;
//  - against central finite differences of L = sum(forward(x) * dy) in fp32 with
//    h = 1e-2 (truncation O(h^2), rounding ~1e-7 |L| / h): max|diff| <= 1e-2 * max|grad|.
#include <gtest/gtest.h>

#include "test_util.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <random>

#include "io/safetensors.h"
#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/cross_entropy.h"
#include "kernels/dropout.h"
#include "kernels/embedding.h"
#include "kernels/gemm.h"
#include "kernels/layernorm.h"

namespace {

using vec = std::vector<float>;

const dlm::SafetensorsReader& fixtures() {
    static dlm::SafetensorsReader st(std::string(DLM_TEST_DATA) + "/ref/kernels.safetensors");
    return st;
}

vec fixture(const std::string& name) { return fixture_f32(fixtures(), name); }

std::vector<int32_t> fixture_ids(const std::string& name) { return fixture_i32(fixtures(), name); }

// Finite-difference gradient of L(x) = sum(f(x) * dy) with respect to x.
vec fd_grad(vec x, const vec& dy, const std::function<vec(const vec&)>& f, float h = 1e-2f) {
    vec g(x.size());
    auto loss = [&](const vec& xx) {
        vec y = f(xx);
        double s = 0;
        for (size_t i = 0; i < y.size(); ++i) s += double(y[i]) * dy[i];
        return s;
    };
    for (size_t i = 0; i < x.size(); ++i) {
        float x0 = x[i];
        x[i] = x0 + h;
        double lp = loss(x);
        x[i] = x0 - h;
        double lm = loss(x);
        x[i] = x0;
        g[i] = static_cast<float>((lp - lm) / (2.0 * h));
    }
    return g;
}

constexpr double kRef = 1e-4, kFd = 1e-2;

}  // namespace

TEST(kernels_backward, layernorm) {
    auto x = fixture("layernorm.x"), w = fixture("layernorm.weight"), b = fixture("layernorm.bias");
    auto dy = fixture("layernorm.dy");
    vec y(x.size()), mean(10), rstd(10), dx(x.size(), 0.0f), dw(8, 0.0f), db(8, 0.0f);
    dlm::layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), 10, 8, 1e-5f);
    dlm::layernorm_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), mean.data(), rstd.data(),
                            10, 8);
    expect_close(dx, fixture("layernorm.dx"), kRef, "dx");
    expect_close(dw, fixture("layernorm.dweight"), kRef, "dweight");
    expect_close(db, fixture("layernorm.dbias"), kRef, "dbias");
    auto fwd_x = [&](const vec& xx) {
        vec o(xx.size());
        dlm::layernorm_forward(o.data(), nullptr, nullptr, xx.data(), w.data(), b.data(), 10, 8, 1e-5f);
        return o;
    };
    auto fwd_w = [&](const vec& ww) {
        vec o(x.size());
        dlm::layernorm_forward(o.data(), nullptr, nullptr, x.data(), ww.data(), b.data(), 10, 8, 1e-5f);
        return o;
    };
    expect_close(dx, fd_grad(x, dy, fwd_x), kFd, "dx vs finite differences");
    expect_close(dw, fd_grad(w, dy, fwd_w), kFd, "dweight vs finite differences");
}

TEST(kernels_backward, gelu_both_forms) {
    for (auto [name, act] : {std::pair{"gelu_erf", dlm::Activation::gelu_erf},
                             std::pair{"gelu_tanh", dlm::Activation::gelu_tanh}}) {
        std::string n(name);
        auto x = fixture(n + ".x"), dy = fixture(n + ".dy");
        vec dx(x.size());
        dlm::gelu_backward(dx.data(), x.data(), dy.data(), static_cast<int64_t>(x.size()), act);
        expect_close(dx, fixture(n + ".dx"), kRef, n + " dx");
        auto fwd = [&](const vec& xx) {
            vec o(xx.size());
            dlm::gelu_forward(o.data(), xx.data(), static_cast<int64_t>(xx.size()), act);
            return o;
        };
        expect_close(dx, fd_grad(x, dy, fwd), kFd, n + " dx vs finite differences");
        // The keep variant stores the pre-activation (with bias) for this backward.
        vec pre = x, out(x.size()), zero(8, 0.0f);
        dlm::bias_gelu_forward_keep(out.data(), pre.data(), zero.data(), 10, 8, act);
        expect_close(pre, x, 0.0, n + " kept pre-activation");
        expect_close(out, fixture(n + ".y"), kRef, n + " y");
    }
}

TEST(kernels_backward, softmax) {
    auto x = fixture("softmax.x"), dy = fixture("softmax.dy");
    vec y = x, dx(x.size());
    dlm::softmax_forward(y.data(), 10, 8);
    dlm::softmax_backward(dx.data(), y.data(), dy.data(), 10, 8);
    expect_close(dx, fixture("softmax.dx"), kRef, "dx");
}

TEST(kernels_backward, linear_and_conv1d) {
    auto x = fixture("linear.x"), w = fixture("linear.weight"), b = fixture("linear.bias");
    auto dy = fixture("linear.dy");
    vec dx(80, 0.0f), dw(48, 0.0f), db(6, 0.0f);
    dlm::linear_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), 10, 8, 6);
    expect_close(dx, fixture("linear.dx"), kRef, "dx");
    expect_close(dw, fixture("linear.dweight"), kRef, "dweight");
    expect_close(db, fixture("linear.dbias"), kRef, "dbias");
    // Conv1D: the same numbers with the weight (and its gradient) stored [in, out].
    vec wt(48), dxc(80, 0.0f), dwt(48, 0.0f), dbc(6, 0.0f);
    for (int o = 0; o < 6; ++o)
        for (int i = 0; i < 8; ++i) wt[i * 6 + o] = w[o * 8 + i];
    dlm::conv1d_backward(dxc.data(), dwt.data(), dbc.data(), dy.data(), x.data(), wt.data(), 10, 8, 6);
    vec dw_back(48);
    for (int o = 0; o < 6; ++o)
        for (int i = 0; i < 8; ++i) dw_back[o * 8 + i] = dwt[i * 6 + o];
    expect_close(dxc, fixture("linear.dx"), kRef, "conv1d dx");
    expect_close(dw_back, fixture("linear.dweight"), kRef, "conv1d dweight");
    expect_close(dbc, fixture("linear.dbias"), kRef, "conv1d dbias");
    // Accumulation: a second call doubles every gradient.
    dlm::linear_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), 10, 8, 6);
    vec dx2 = fixture("linear.dx");
    for (auto& v : dx2) v *= 2;
    expect_close(dx, dx2, kRef, "accumulated dx");
}

TEST(kernels_backward, embedding) {
    auto ids = fixture_ids("embedding.ids");
    auto dy = fixture("embedding.dy");
    vec dtable(11 * 8, 0.0f);
    dlm::embedding_backward(dtable.data(), dy.data(), ids.data(), 10, 8);
    expect_close(dtable, fixture("embedding.dtable"), kRef, "dtable");
}

namespace {

void attention_check(const std::string& name, bool causal) {
    auto q = fixture(name + ".q"), k = fixture(name + ".k"), v = fixture(name + ".v");
    auto dout = fixture(name + ".dout");
    std::vector<int32_t> mask = causal ? std::vector<int32_t>{} : fixture_ids(name + ".mask");
    const int32_t* m = causal ? nullptr : mask.data();
    dlm::attention_shape s{2, 5, 5, 2, 4, 8, 8, causal, 0};
    vec out(80), att(100), datt(100), dq(80, 0.0f), dk(80, 0.0f), dv(80, 0.0f);
    dlm::attention_forward(out.data(), att.data(), nullptr, q.data(), k.data(), v.data(), m, s);
    dlm::attention_backward(dq.data(), dk.data(), dv.data(), datt.data(), nullptr, dout.data(), q.data(), k.data(),
                            v.data(), att.data(), s);
    expect_close(dq, fixture(name + ".dq"), kRef, name + " dq");
    expect_close(dk, fixture(name + ".dk"), kRef, name + " dk");
    expect_close(dv, fixture(name + ".dv"), kRef, name + " dv");
    auto fwd = [&](int which) {
        return [&, which](const vec& xx) {
            vec o(80), a(100);
            const float* qq = which == 0 ? xx.data() : q.data();
            const float* kk = which == 1 ? xx.data() : k.data();
            const float* vv = which == 2 ? xx.data() : v.data();
            dlm::attention_forward(o.data(), a.data(), nullptr, qq, kk, vv, m, s);
            return o;
        };
    };
    expect_close(dq, fd_grad(q, dout, fwd(0)), kFd, name + " dq vs finite differences");
    expect_close(dk, fd_grad(k, dout, fwd(1)), kFd, name + " dk vs finite differences");
    expect_close(dv, fd_grad(v, dout, fwd(2)), kFd, name + " dv vs finite differences");
}

}  // namespace

TEST(kernels_backward, attention_padded) { attention_check("attention_padded", false); }
TEST(kernels_backward, attention_causal) { attention_check("attention_causal", true); }

TEST(kernels_backward, attention_with_dropout_matches_finite_differences) {
    // With a fixed dropout stream the function is deterministic, so finite
    // differences apply; the backward must recompute the forward's mask.
    auto q = fixture("attention_causal.q"), k = fixture("attention_causal.k"), v = fixture("attention_causal.v");
    auto dout = fixture("attention_causal.dout");
    dlm::attention_shape s{2, 5, 5, 2, 4, 8, 8, true, 0, 0.3f, 1234};
    vec out(80), att(100), scratch(100), datt(100), dq(80, 0.0f), dk(80, 0.0f), dv(80, 0.0f);
    dlm::attention_forward(out.data(), att.data(), scratch.data(), q.data(), k.data(), v.data(), nullptr, s);
    dlm::attention_backward(dq.data(), dk.data(), dv.data(), datt.data(), scratch.data(), dout.data(), q.data(),
                            k.data(), v.data(), att.data(), s);
    auto fwd_q = [&](const vec& xx) {
        vec o(80), a(100), sc(100);
        dlm::attention_forward(o.data(), a.data(), sc.data(), xx.data(), k.data(), v.data(), nullptr, s);
        return o;
    };
    auto fwd_v = [&](const vec& xx) {
        vec o(80), a(100), sc(100);
        dlm::attention_forward(o.data(), a.data(), sc.data(), q.data(), k.data(), xx.data(), nullptr, s);
        return o;
    };
    expect_close(dq, fd_grad(q, dout, fwd_q), kFd, "dq");
    expect_close(dv, fd_grad(v, dout, fwd_v), kFd, "dv");
}

TEST(kernels_backward, cross_entropy) {
    auto logits = fixture("cross_entropy.logits");
    auto labels = fixture_ids("cross_entropy.labels");
    auto want_loss = fixture("cross_entropy.loss");
    auto want_d = fixture("cross_entropy.dlogits");
    // Keep the labelled rows (the kernel is given only rows that have a target) and
    // weight each by 1/n for the mean.
    vec x;
    std::vector<int32_t> t;
    std::vector<int> kept;
    for (int r = 0; r < 6; ++r)
        if (labels[r] != -100) {
            x.insert(x.end(), logits.begin() + r * 11, logits.begin() + (r + 1) * 11);
            t.push_back(labels[r]);
            kept.push_back(r);
        }
    const int64_t n = static_cast<int64_t>(t.size());
    ASSERT_GT(n, 0);
    ASSERT_LT(n, 6);
    vec w(n, 1.0f / n), row_loss(n);
    double loss = dlm::cross_entropy_forward_backward(x.data(), row_loss.data(), t.data(), w.data(), n, 11);
    EXPECT_NEAR(loss, want_loss[0], 1e-5 * std::fabs(want_loss[0]));
    vec want_kept;
    for (int r : kept) want_kept.insert(want_kept.end(), want_d.begin() + r * 11, want_d.begin() + (r + 1) * 11);
    expect_close(x, want_kept, kRef, "dlogits");
    vec fwd_loss(n);
    vec x0;
    for (int r : kept) x0.insert(x0.end(), logits.begin() + r * 11, logits.begin() + (r + 1) * 11);
    dlm::cross_entropy_forward(fwd_loss.data(), x0.data(), t.data(), n, 11);
    double s = 0;
    for (auto v : fwd_loss) s += v / n;
    EXPECT_NEAR(s, want_loss[0], 1e-5 * std::fabs(want_loss[0]));
}

TEST(kernels_backward, dropout_mask_is_deterministic_and_has_the_right_rate) {
    vec a(100000, 1.0f), b(100000, 1.0f);
    dlm::dropout_apply(a.data(), 100000, 0.1f, 77);
    dlm::dropout_apply(b.data(), 100000, 0.1f, 77);
    EXPECT_EQ(a, b);
    int64_t zeros = 0;
    for (float v : a) {
        zeros += v == 0.0f;
        if (v != 0.0f) {
            ASSERT_FLOAT_EQ(v, 1.0f / 0.9f);
        }
    }
    EXPECT_NEAR(zeros / 100000.0, 0.1, 0.005);
    vec c(100000, 1.0f);
    dlm::dropout_apply(c.data(), 100000, 0.1f, 78);
    EXPECT_NE(a, c);
}
