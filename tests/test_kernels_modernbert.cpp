// The kernels ModernBERT adds (rotary embeddings, GeGLU, local attention, LayerNorm
// without bias) against PyTorch (tests/data/ref/kernels-modernbert.safetensors, written by
// tests/ref/make_modernbert_kernels_reference.py) and against finite differences.
// Tolerances per tensor: forward and autograd fixtures max|got - ref| <= 1e-5 * max|ref|
// (fp32 rounding and libm's last bits: measured <= 1e-6); finite differences in fp32 with
// h = 1e-2 (truncation O(h^2)): max|diff| <= 1e-2 * max|grad|.
#include <gtest/gtest.h>

#include "test_util.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "io/safetensors.h"
#include "kernels/attention.h"
#include "kernels/gemm.h"
#include "kernels/activation.h"
#include "kernels/layernorm.h"
#include "kernels/rotary.h"

namespace {

using vec = std::vector<float>;

constexpr double kRef = 1e-5, kFd = 1e-2;
constexpr int64_t B = 2, T = 7, NH = 2, HD = 8, C = NH * HD, N = B * T, F = 6;

const dlm::SafetensorsReader& fixtures() {
    static dlm::SafetensorsReader st(std::string(DLM_TEST_DATA) + "/ref/kernels-modernbert.safetensors");
    return st;
}

vec fixture(const std::string& name) { return fixture_f32(fixtures(), name); }

std::vector<int32_t> fixture_ids(const std::string& name) { return fixture_i32(fixtures(), name); }

// Central finite-difference gradient of L(x) = sum(f(x) * dy).
vec fd_grad(vec x, const vec& dy, const std::function<vec(const vec&)>& f, float h = 1e-2f) {
    auto loss = [&](const vec& xx) {
        vec y = f(xx);
        double s = 0;
        for (size_t i = 0; i < y.size(); ++i) s += double(y[i]) * dy[i];
        return s;
    };
    vec g(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
        const float x0 = x[i];
        x[i] = x0 + h;
        const double lp = loss(x);
        x[i] = x0 - h;
        const double lm = loss(x);
        x[i] = x0;
        g[i] = static_cast<float>((lp - lm) / (2.0 * h));
    }
    return g;
}

struct rotary_case {
    const char* name;
    float theta;
};
constexpr rotary_case kRotaryCases[] = {
    {"rotary_10000", 10000.0f}, {"rotary_160000", 160000.0f}, {"rotary_160000_positions", 160000.0f}};

// The cos/sin table of a case, large enough for its positions.
struct rotary_table {
    int64_t rows;
    vec cos, sin;
    rotary_table(const std::vector<int32_t>& pos, float theta) {
        rows = 1 + *std::max_element(pos.begin(), pos.end());
        cos.resize(rows * HD);
        sin.resize(rows * HD);
        dlm::rotary_table_build(cos.data(), sin.data(), rows, HD, theta);
    }
    // q and k of a packed qkv [B, T, 3C]: its first 2 NH heads.
    dlm::rotary_shape qk_shape() const { return {B, T, 2 * NH, HD, 3 * C, rows}; }
};

}  // namespace

TEST(kernels_modernbert, rotary_table_equals_hf_cos_sin) {
    for (const auto& c : kRotaryCases) {
        const std::string n = c.name;
        auto pos = fixture_ids(n + ".positions");
        rotary_table tab(pos, c.theta);
        vec cos(N * HD), sin(N * HD);
        for (int64_t r = 0; r < N; ++r) {
            std::memcpy(&cos[r * HD], &tab.cos[pos[r] * HD], HD * sizeof(float));
            std::memcpy(&sin[r * HD], &tab.sin[pos[r] * HD], HD * sizeof(float));
        }
        expect_close(cos, fixture(n + ".cos"), kRef, n + ".cos");
        expect_close(sin, fixture(n + ".sin"), kRef, n + ".sin");
    }
}

TEST(kernels_modernbert, rotary_forward_backward) {
    for (const auto& c : kRotaryCases) {
        const std::string n = c.name;
        auto pos = fixture_ids(n + ".positions");
        rotary_table tab(pos, c.theta);
        const bool implicit = n != "rotary_160000_positions";
        const int32_t* p = implicit ? nullptr : pos.data();
        auto qkv = fixture(n + ".qkv"), dout = fixture(n + ".dout");
        auto forward = [&](const vec& x) {
            vec y = x;
            dlm::rotary_forward(y.data(), tab.cos.data(), tab.sin.data(), p, tab.qk_shape());
            return y;
        };
        vec out = forward(qkv);
        expect_close(out, fixture(n + ".out"), kRef, n + ".out");
        for (int64_t r = 0; r < N; ++r)  // v untouched
            EXPECT_EQ(0, std::memcmp(&out[r * 3 * C + 2 * C], &qkv[r * 3 * C + 2 * C], C * sizeof(float))) << n;
        if (implicit) {  // nullptr positions = explicit 0..T-1, to the bit
            vec explicit_out = qkv;
            dlm::rotary_forward(explicit_out.data(), tab.cos.data(), tab.sin.data(), pos.data(), tab.qk_shape());
            EXPECT_EQ(explicit_out, out) << n;
        }
        vec dx = dout;
        dlm::rotary_backward(dx.data(), tab.cos.data(), tab.sin.data(), p, tab.qk_shape());
        expect_close(dx, fixture(n + ".dqkv"), kRef, n + ".dqkv");
        expect_close(dx, fd_grad(qkv, dout, forward), kFd, n + ".dqkv vs finite differences");
        // The backward rotation undoes the forward one (a rotation's transpose is its inverse).
        vec back = out;
        dlm::rotary_backward(back.data(), tab.cos.data(), tab.sin.data(), p, tab.qk_shape());
        expect_close(back, qkv, 1e-6, n + " backward(forward(x)) = x");
    }
}

TEST(kernels_modernbert, geglu_forward_both_forms) {
    for (auto [name, act] : {std::pair{"geglu_erf", dlm::Activation::gelu_erf},
                             std::pair{"geglu_tanh", dlm::Activation::gelu_tanh}}) {
        const std::string n = name;
        auto x = fixture(n + ".x"), bias = fixture(n + ".bias");
        vec y(N * F), y0(N * F);
        dlm::geglu_forward(y.data(), x.data(), bias.data(), N, F, act);
        dlm::geglu_forward(y0.data(), x.data(), nullptr, N, F, act);
        expect_close(y, fixture(n + ".y"), kRef, n + ".y");
        expect_close(y0, fixture(n + ".y_nobias"), kRef, n + ".y_nobias");
        // The bf16 variant is the fp32 result rounded (the same loop, another store).
        std::vector<uint16_t> y16(N * F);
        dlm::geglu_forward_bf16(y16.data(), x.data(), bias.data(), N, F, act);
        for (int64_t i = 0; i < N * F; ++i) EXPECT_EQ(y16[i], dlm::bf16_round(y[i])) << n << " " << i;
    }
}

TEST(kernels_modernbert, geglu_backward_both_forms) {
    for (auto [name, act] : {std::pair{"geglu_erf", dlm::Activation::gelu_erf},
                             std::pair{"geglu_tanh", dlm::Activation::gelu_tanh}}) {
        const std::string n = name;
        auto x = fixture(n + ".x"), bias = fixture(n + ".bias"), dy = fixture(n + ".dy");
        vec dx(N * 2 * F), dx0(N * 2 * F), dbias(2 * F, 0.0f);
        dlm::geglu_backward(dx.data(), dy.data(), x.data(), bias.data(), N, F, act);
        dlm::geglu_backward(dx0.data(), dy.data(), x.data(), nullptr, N, F, act);
        for (int64_t i = 0; i < N; ++i)
            for (int64_t j = 0; j < 2 * F; ++j) dbias[j] += dx[i * 2 * F + j];
        expect_close(dx, fixture(n + ".dx"), kRef, n + ".dx");
        expect_close(dbias, fixture(n + ".dbias"), kRef, n + ".dbias (column sums of dx)");
        expect_close(dx0, fixture(n + ".dx_nobias"), kRef, n + ".dx_nobias");
        auto forward = [&](const vec& xx) {
            vec y(N * F);
            dlm::geglu_forward(y.data(), xx.data(), bias.data(), N, F, act);
            return y;
        };
        expect_close(dx, fd_grad(x, dy, forward), kFd, n + ".dx vs finite differences");
        vec in_place = x;  // dx may alias x
        dlm::geglu_backward(in_place.data(), dy.data(), in_place.data(), bias.data(), N, F, act);
        EXPECT_EQ(in_place, dx) << n;
    }
}

namespace {

// One local-attention fixture case with window 2, and its inputs.
struct local_case {
    std::string n;
    vec q, k, v, dout;
    std::vector<int32_t> mask;
    dlm::attention_shape s{B, T, T, NH, HD, C, C, false, 0};
    explicit local_case(const std::string& name) : n(name) {
        q = fixture(n + ".q"), k = fixture(n + ".k"), v = fixture(n + ".v"), dout = fixture(n + ".dout");
        mask = fixture_ids(n + ".mask");
        s.window = 2;
    }
    vec forward(const vec& qq, const vec& kk, const vec& vv, vec* att = nullptr) const {
        vec out(N * C), a(B * NH * T * T);
        dlm::attention_forward(out.data(), a.data(), nullptr, qq.data(), kk.data(), vv.data(), mask.data(), s);
        if (att) *att = a;
        return out;
    }
};

}  // namespace

TEST(kernels_modernbert, local_attention_forward_backward) {
    for (const char* name : {"local_attention_w2", "local_attention_w2_nopad"}) {
        local_case c(name);
        vec att;
        vec out = c.forward(c.q, c.k, c.v, &att);
        expect_close(out, fixture(c.n + ".out"), kRef, c.n + ".out");
        expect_close(att, fixture(c.n + ".probs"), kRef, c.n + ".probs");
        vec dq(N * C, 0.0f), dk(N * C, 0.0f), dv(N * C, 0.0f), datt(att.size());
        dlm::attention_backward(dq.data(), dk.data(), dv.data(), datt.data(), nullptr, c.dout.data(), c.q.data(),
                                c.k.data(), c.v.data(), att.data(), c.s);
        expect_close(dq, fixture(c.n + ".dq"), kRef, c.n + ".dq");
        expect_close(dk, fixture(c.n + ".dk"), kRef, c.n + ".dk");
        expect_close(dv, fixture(c.n + ".dv"), kRef, c.n + ".dv");
        // Finite differences only without padding: the padded case has a query whose
        // scores all round to finfo.min, a constant in fp32, while autograd (HF's and
        // ours) passes a gradient through the additive mask.
        if (c.n != "local_attention_w2_nopad") continue;
        expect_close(dq, fd_grad(c.q, c.dout, [&](const vec& x) { return c.forward(x, c.k, c.v); }), kFd,
                     c.n + ".dq vs finite differences");
        expect_close(dk, fd_grad(c.k, c.dout, [&](const vec& x) { return c.forward(c.q, x, c.v); }), kFd,
                     c.n + ".dk vs finite differences");
        expect_close(dv, fd_grad(c.v, c.dout, [&](const vec& x) { return c.forward(c.q, c.k, x); }), kFd,
                     c.n + ".dv vs finite differences");
    }
}

TEST(kernels_modernbert, local_attention_bf16_close_to_fp32) {
    local_case c("local_attention_w2");
    vec out32 = c.forward(c.q, c.k, c.v), out16(N * C), att16(B * NH * T * T);
    std::vector<uint16_t> scratch(dlm::attention_bf16_scratch(c.s));
    dlm::attention_forward_bf16(out16.data(), att16.data(), scratch.data(), c.q.data(), c.k.data(), c.v.data(),
                                c.mask.data(), c.s);
    // bf16 operands (2^-9 relative each), fp32 sums: as tests/test_bf16.cpp.
    expect_close(out16, out32, 1e-2, "bf16 local attention vs fp32");
    expect_close(att16, fixture(c.n + ".probs"), 1e-2, "bf16 local attention probabilities");
    auto probs = fixture(c.n + ".probs");
    for (size_t i = 0; i < probs.size(); ++i) {
        if (probs[i] == 0.0f) {
            EXPECT_EQ(att16[i], 0.0f) << "a key outside the window got weight, " << i;
        }
    }
}

// A window covering every key masks nothing more: the same bits as window 0 (the code
// path every existing caller takes), forward fp32 and bf16, and backward.
TEST(kernels_modernbert, wide_window_equals_no_window_bitwise) {
    for (bool causal : {false, true}) {
        local_case c("local_attention_w2");
        c.s.causal = causal;
        vec att0, attw;
        c.s.window = 0;
        vec out0 = c.forward(c.q, c.k, c.v, &att0);
        std::vector<uint16_t> scratch(dlm::attention_bf16_scratch(c.s));
        vec o16_0(N * C), a16_0(att0.size()), o16_w(N * C), a16_w(att0.size());
        dlm::attention_forward_bf16(o16_0.data(), a16_0.data(), scratch.data(), c.q.data(), c.k.data(), c.v.data(),
                                    c.mask.data(), c.s);
        c.s.window = T;
        vec outw = c.forward(c.q, c.k, c.v, &attw);
        dlm::attention_forward_bf16(o16_w.data(), a16_w.data(), scratch.data(), c.q.data(), c.k.data(), c.v.data(),
                                    c.mask.data(), c.s);
        EXPECT_EQ(out0, outw) << "causal " << causal;
        EXPECT_EQ(att0, attw) << "causal " << causal;
        EXPECT_EQ(o16_0, o16_w) << "causal " << causal;
        vec dq0(N * C, 0.0f), dk0 = dq0, dv0 = dq0, dqw = dq0, dkw = dq0, dvw = dq0, datt(att0.size());
        dlm::attention_backward(dqw.data(), dkw.data(), dvw.data(), datt.data(), nullptr, c.dout.data(), c.q.data(),
                                c.k.data(), c.v.data(), attw.data(), c.s);
        c.s.window = 0;
        dlm::attention_backward(dq0.data(), dk0.data(), dv0.data(), datt.data(), nullptr, c.dout.data(), c.q.data(),
                                c.k.data(), c.v.data(), att0.data(), c.s);
        EXPECT_EQ(dq0, dqw) << "causal " << causal;
        EXPECT_EQ(dk0, dkw) << "causal " << causal;
        EXPECT_EQ(dv0, dvw) << "causal " << causal;
    }
}

// A span of queries (the diffusion KV-span path: Tq < Tk) at q_offset sees the window
// around its absolute positions: the rows of the full attention, packed qkv strides.
TEST(kernels_modernbert, local_attention_span_with_query_offset) {
    local_case c("local_attention_w2");
    const vec full = fixture(c.n + ".out");
    const int64_t q0 = 3, S = 3;
    vec qkv(N * 3 * C), q(B * S * 3 * C);
    for (int64_t r = 0; r < N; ++r)
        for (int64_t j = 0; j < C; ++j) {
            qkv[r * 3 * C + j] = c.q[r * C + j];
            qkv[r * 3 * C + C + j] = c.k[r * C + j];
            qkv[r * 3 * C + 2 * C + j] = c.v[r * C + j];
        }
    for (int64_t b = 0; b < B; ++b)
        std::memcpy(&q[b * S * 3 * C], &qkv[(b * T + q0) * 3 * C], S * 3 * C * sizeof(float));
    dlm::attention_shape s{B, S, T, NH, HD, 3 * C, 3 * C, false, q0};
    s.window = 2;
    vec out(B * S * C), att(B * NH * S * T), want(B * S * C);
    dlm::attention_forward(out.data(), att.data(), nullptr, q.data(), qkv.data() + C, qkv.data() + 2 * C,
                           c.mask.data(), s);
    for (int64_t b = 0; b < B; ++b)
        std::memcpy(&want[b * S * C], &full[(b * T + q0) * C], S * C * sizeof(float));
    expect_close(out, want, kRef, "span rows 3..5 at q_offset 3");
}

TEST(kernels_modernbert, layernorm_without_bias) {
    auto x = fixture("layernorm_nobias.x"), w = fixture("layernorm_nobias.weight"), dy = fixture("layernorm_nobias.dy");
    vec y(N * C), mean(N), rstd(N), zero(C, 0.0f), yz(N * C);
    dlm::layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), nullptr, N, C, 1e-5f);
    expect_close(y, fixture("layernorm_nobias.y"), kRef, "layernorm_nobias.y");
    dlm::layernorm_forward(yz.data(), nullptr, nullptr, x.data(), w.data(), zero.data(), N, C, 1e-5f);
    EXPECT_EQ(y, yz) << "no bias = a zero bias";
    // The fused residual form: a + b with a = b = x / 2 (exact halves).
    vec half(N * C), sum(N * C), yr(N * C);
    for (int64_t i = 0; i < N * C; ++i) half[i] = 0.5f * x[i];
    dlm::residual_layernorm_forward(yr.data(), sum.data(), nullptr, nullptr, half.data(), half.data(), w.data(),
                                    nullptr, N, C, 1e-5f);
    EXPECT_EQ(yr, y);
    vec dx(N * C, 0.0f), dw(C, 0.0f), dx2(N * C, 0.0f), dw2(C, 0.0f), db2(C, 0.0f);
    dlm::layernorm_backward(dx.data(), dw.data(), nullptr, dy.data(), x.data(), w.data(), mean.data(), rstd.data(),
                            N, C);
    expect_close(dx, fixture("layernorm_nobias.dx"), kRef, "layernorm_nobias.dx");
    expect_close(dw, fixture("layernorm_nobias.dweight"), kRef, "layernorm_nobias.dweight");
    dlm::layernorm_backward(dx2.data(), dw2.data(), db2.data(), dy.data(), x.data(), w.data(), mean.data(),
                            rstd.data(), N, C);
    EXPECT_EQ(dx, dx2);
    EXPECT_EQ(dw, dw2);
    auto fwd_x = [&](const vec& xx) {
        vec o(N * C);
        dlm::layernorm_forward(o.data(), nullptr, nullptr, xx.data(), w.data(), nullptr, N, C, 1e-5f);
        return o;
    };
    auto fwd_w = [&](const vec& ww) {
        vec o(N * C);
        dlm::layernorm_forward(o.data(), nullptr, nullptr, x.data(), ww.data(), nullptr, N, C, 1e-5f);
        return o;
    };
    expect_close(dx, fd_grad(x, dy, fwd_x), kFd, "layernorm_nobias.dx vs finite differences");
    expect_close(dw, fd_grad(w, dy, fwd_w), kFd, "layernorm_nobias.dweight vs finite differences");
}
