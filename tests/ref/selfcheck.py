#!/usr/bin/python3
"""Self-checks of the reference implementation (not run by CI):

  1. safetensors writer/reader: round trip of every dtype, and byte-identical re-write of
     the transformers-saved shared/data/models/tiny-gpt2-random/model.safetensors
  2. the shared tiny-gpt2-random loads (28 F32 tensors, no lm_head.weight)
  3. hf_models (torch, fp32, batched) against an independent float64 numpy implementation
     written per sequence with loops over heads, on every committed model fixture
  4. attention_core against the einsum formulation
  5. padding semantics: each row of a padded batch equals the same sequence run alone
  6. kernels.safetensors gradients against closed-form backward formulas
  7. the committed fixtures equal a fresh computation (bitwise on the machine that wrote
     them; elsewhere within 2e-6 relative: torch's CPU kernels round differently per CPU)
  8. ModernBERT: float64 per-sequence loops with an explicit sliding-window condition and a
     pairwise RoPE rotation; the torch window mask against explicit loops; the RoPE tables
     against float64 angles; sensitivity (window / thetas / final_norm placement matter)

Run: /usr/bin/python3 tests/ref/selfcheck.py   (exits non-zero on any failure)
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hf_models as hf  # noqa: E402

REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
MODELS = os.path.join(REPO, "tests", "data", "models")
SHARED_GPT2 = "/work/shared/data/models/tiny-gpt2-random"

failures = []


def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name} {detail}")
    if not ok:
        failures.append(name)


def rel(got, ref):
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    return float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-30))


# ------------------------------------------------------------------ 1, 2: safetensors
def check_safetensors():
    g = torch.Generator().manual_seed(5)
    ts = {
        "f32": torch.randn(3, 4, generator=g),
        "f64": torch.randn(2, generator=g, dtype=torch.float64),
        "f16": torch.randn(5, 1, generator=g).half(),
        "bf16": torch.randn(7, generator=g).to(torch.bfloat16),
        "i64": torch.tensor([[1, -2, 3 << 40]]),
        "i32": torch.tensor([7, -8], dtype=torch.int32),
        "u8": torch.tensor([0, 255], dtype=torch.uint8),
        "bool": torch.tensor([[True, False, True]]),
        "scalar": torch.tensor(-1e4),
        "empty": torch.zeros(0, 3),
    }
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "x.safetensors")
        hf.save_safetensors(p, ts)
        back = hf.load_safetensors(p)
        ok = set(back) == set(ts) and all(
            back[k].dtype == v.dtype and back[k].shape == v.shape and torch.equal(back[k], v)
            for k, v in ts.items())
        check("safetensors round trip (all dtypes, 0-dim, empty)", ok)
        with open(p, "rb") as f:
            raw = f.read()
        n = int.from_bytes(raw[:8], "little")
        check("safetensors header padded to 8", (8 + n) % 8 == 0 and raw[8 + n - 1:8 + n] in (b"}", b" "))
        # bf16 bits are the top half of the fp32 bits, rounded to nearest even
        x = torch.tensor([1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, -3.14159])
        hf.save_safetensors(p, {"x": x.to(torch.bfloat16)})
        got = hf.load_safetensors(p)["x"].float()
        check("bf16 round-to-nearest-even", torch.equal(got, torch.tensor([1.0, 1.0 + 2 ** -6, -3.140625])),
              str(got.tolist()))

        src = os.path.join(SHARED_GPT2, "model.safetensors")
        t = hf.load_safetensors(src)
        hdr = hf.read_safetensors_header(src)
        check("shared tiny-gpt2-random: 28 F32 tensors, no lm_head.weight",
              len(t) == 28 and all(v.dtype == torch.float32 for v in t.values())
              and "lm_head.weight" not in t and hdr["__metadata__"] == {"format": "pt"})
        order = sorted(t, key=lambda k: hdr[k]["data_offsets"][0])
        p2 = os.path.join(d, "re.safetensors")
        hf.save_safetensors(p2, {k: t[k] for k in order}, hdr["__metadata__"])
        with open(src, "rb") as a, open(p2, "rb") as b:
            check("re-write of the transformers-saved file is byte-identical", a.read() == b.read())


# ------------------------------------------------------------------ 3: numpy float64 model
def np_ln(x, w, b, eps):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b


def np_gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def np_gelu_new(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def np_attention(q, k, v, nh, key_ok, causal):
    """single sequence: q,k,v [T,C], key_ok [T] bool; masked = excluded from the softmax"""
    T, C = q.shape
    hd = C // nh
    out = np.zeros_like(q)
    for h in range(nh):
        sl = slice(h * hd, (h + 1) * hd)
        for i in range(T):
            s = np.array([q[i, sl] @ k[j, sl] / math.sqrt(hd) for j in range(T)])
            ok = key_ok.copy()
            if causal:
                ok &= np.arange(T) <= i
            if not ok.any():
                return None  # convention-dependent row
            s = np.where(ok, s, -np.inf)
            p = np.exp(s - s.max())
            p /= p.sum()
            out[i, sl] = p @ v[:, sl]
    return out


def np_bertlike(cfg, P, ids, kind):
    """one unpadded sequence [T]; returns (logits [T,V], hidden list)"""
    eps, nh, pad = cfg["layer_norm_eps"], cfg["num_attention_heads"], cfg["pad_token_id"]
    T = len(ids)
    pos = np.arange(T) + (pad + 1 if kind == "roberta" else 0)
    e = kind + ".embeddings."
    x = P[e + "word_embeddings.weight"][ids] + P[e + "position_embeddings.weight"][pos] \
        + P[e + "token_type_embeddings.weight"][0]
    x = np_ln(x, P[e + "LayerNorm.weight"], P[e + "LayerNorm.bias"], eps)
    hs = [x]
    for i in range(cfg["num_hidden_layers"]):
        w = lambda n: P[f"{kind}.encoder.layer.{i}." + n]
        lin = lambda z, n: z @ w(n + ".weight").T + w(n + ".bias")
        q, k, v = lin(x, "attention.self.query"), lin(x, "attention.self.key"), lin(x, "attention.self.value")
        a = np_attention(q, k, v, nh, np.ones(T, bool), False)
        x = np_ln(lin(a, "attention.output.dense") + x, w("attention.output.LayerNorm.weight"),
                  w("attention.output.LayerNorm.bias"), eps)
        f = lin(np_gelu(lin(x, "intermediate.dense")), "output.dense")
        x = np_ln(f + x, w("output.LayerNorm.weight"), w("output.LayerNorm.bias"), eps)
        hs.append(x)
    if kind == "roberta":
        y = np_gelu(x @ P["lm_head.dense.weight"].T + P["lm_head.dense.bias"])
        y = np_ln(y, P["lm_head.layer_norm.weight"], P["lm_head.layer_norm.bias"], eps)
        logits = y @ P["roberta.embeddings.word_embeddings.weight"].T + P["lm_head.bias"]
    else:
        c = "cls.predictions."
        y = np_gelu(x @ P[c + "transform.dense.weight"].T + P[c + "transform.dense.bias"])
        y = np_ln(y, P[c + "transform.LayerNorm.weight"], P[c + "transform.LayerNorm.bias"], eps)
        logits = y @ P["bert.embeddings.word_embeddings.weight"].T + P[c + "bias"]
    return logits, hs


def np_gpt2(cfg, P, ids, pos0=0):
    eps, nh = cfg["layer_norm_epsilon"], cfg["n_head"]
    if "wte.weight" in P:
        P = {"transformer." + k: v for k, v in P.items()}
    T = len(ids)
    C = cfg["n_embd"]
    x = P["transformer.wte.weight"][ids] + P["transformer.wpe.weight"][pos0 + np.arange(T)]
    hs = []
    for i in range(cfg["n_layer"]):
        hs.append(x)
        w = lambda n: P[f"transformer.h.{i}." + n]
        y = np_ln(x, w("ln_1.weight"), w("ln_1.bias"), eps)
        qkv = y @ w("attn.c_attn.weight") + w("attn.c_attn.bias")
        a = np_attention(qkv[:, :C], qkv[:, C:2 * C], qkv[:, 2 * C:], nh, np.ones(T, bool), True)
        x = x + a @ w("attn.c_proj.weight") + w("attn.c_proj.bias")
        y = np_ln(x, w("ln_2.weight"), w("ln_2.bias"), eps)
        y = np_gelu_new(y @ w("mlp.c_fc.weight") + w("mlp.c_fc.bias"))
        x = x + y @ w("mlp.c_proj.weight") + w("mlp.c_proj.bias")
    x = np_ln(x, P["transformer.ln_f.weight"], P["transformer.ln_f.bias"], eps)
    hs.append(x)
    return x @ P["transformer.wte.weight"].T, hs


def np_rope(x, nh, cos, sin):
    """x [T,C] float64; per head (HD = C/nh) rotate the pairs (k, k + HD/2):
    (a, b) -> (a cos - b sin, b cos + a sin); cos/sin [T, HD/2] (angle of pair k)."""
    T, C = x.shape
    hd = C // nh
    h2 = hd // 2
    out = np.empty_like(x)
    for h in range(nh):
        for k in range(h2):
            a, b = x[:, h * hd + k], x[:, h * hd + h2 + k]
            out[:, h * hd + k] = a * cos[:, k] - b * sin[:, k]
            out[:, h * hd + h2 + k] = b * cos[:, k] + a * sin[:, k]
    return out


def np_window_attention(q, k, v, nh, half_window):
    """single unpadded sequence; key j visible from query i iff half_window is None or
    |i - j| <= half_window; scale 1/sqrt(HD)"""
    T, C = q.shape
    hd = C // nh
    out = np.zeros_like(q)
    for h in range(nh):
        sl = slice(h * hd, (h + 1) * hd)
        for i in range(T):
            js = [j for j in range(T) if half_window is None or abs(i - j) <= half_window]
            s = np.array([q[i, sl] @ k[j, sl] for j in js]) / math.sqrt(hd)
            p = np.exp(s - s.max())
            p /= p.sum()
            out[i, sl] = sum(p[n] * v[j, sl] for n, j in enumerate(js))
    return out


def np_modernbert(cfg, P, ids, rope="table"):
    """one unpadded sequence; rope = 'table': the float32 cos/sin tables HF builds
    (hf.rope_cos_sin, widened to float64); 'exact': float64 angles t * theta^(-2k/HD)."""
    eps, nh, C = cfg["norm_eps"], cfg["num_attention_heads"], cfg["hidden_size"]
    hd, L, T = C // nh, cfg["num_hidden_layers"], len(ids)
    every, half = cfg["global_attn_every_n_layers"], cfg["local_attention"] // 2
    ln = lambda x, n: np_ln(x, P[n + ".weight"], 0.0, eps)  # norm_bias false
    tables = {}
    for kind, theta in (("global", cfg["global_rope_theta"]), ("local", cfg["local_rope_theta"])):
        if rope == "table":
            c, s_ = hf.rope_cos_sin(T, hd, theta)
            tables[kind] = (c.double().numpy()[:, :hd // 2], s_.double().numpy()[:, :hd // 2])
        else:
            ang = np.arange(T)[:, None] * (float(theta) ** (-np.arange(0, hd, 2) / hd))[None, :]
            tables[kind] = (np.cos(ang), np.sin(ang))
    x = ln(P["model.embeddings.tok_embeddings.weight"][ids], "model.embeddings.norm")
    hs = [x]
    for i in range(L):
        pre = f"model.layers.{i}."
        is_global = i % every == 0
        a = x if i == 0 else ln(x, pre + "attn_norm")
        qkv = a @ P[pre + "attn.Wqkv.weight"].T
        cos, sin = tables["global" if is_global else "local"]
        q, k = np_rope(qkv[:, :C], nh, cos, sin), np_rope(qkv[:, C:2 * C], nh, cos, sin)
        o = np_window_attention(q, k, qkv[:, 2 * C:], nh, None if is_global else half)
        x = x + o @ P[pre + "attn.Wo.weight"].T
        m = ln(x, pre + "mlp_norm") @ P[pre + "mlp.Wi.weight"].T
        F_ = m.shape[1] // 2
        x = x + (np_gelu(m[:, :F_]) * m[:, F_:]) @ P[pre + "mlp.Wo.weight"].T
        hs.append(x)
    y = ln(x, "model.final_norm") @ P["head.dense.weight"].T
    y = ln(np_gelu(y), "head.norm")
    return y @ P["model.embeddings.tok_embeddings.weight"].T + P["decoder.bias"], hs


def check_models():
    for name in sorted(os.listdir(MODELS)):
        folder = os.path.join(MODELS, name)
        cfg = hf.load_config(folder)
        arch = cfg["architectures"][0]
        P = {k: v.double().numpy() for k, v in hf.load_safetensors(os.path.join(folder, "model.safetensors")).items()
             if v.is_floating_point()}
        ref = hf.load_safetensors(os.path.join(folder, "reference.safetensors"))
        meta = json.load(open(os.path.join(folder, "reference.json")))
        model = hf.load_model(folder)
        model_e = hf.load_model(folder, attention_impl=hf.attention_core_einsum)
        worst_np = worst_pad = worst_e = worst_fresh = 0.0
        for c in meta["cases"]:
            n = c["name"] + "."
            ids, mask = ref[n + "input_ids"], ref[n + "attention_mask"]
            L1 = c["num_hidden"]
            # 7: fresh computation equals the committed fixture (bitwise expected)
            out = model.forward(ids, mask)
            worst_fresh = max(worst_fresh, rel(out.logits, ref[n + "logits"]))
            for l in range(L1):
                worst_fresh = max(worst_fresh, rel(out.hidden_states[l], ref[n + f"hidden.{l}"]))
            # 4: einsum attention
            oe = model_e.forward(ids, mask)
            worst_e = max(worst_e, rel(oe.logits, out.logits))
            # 3 + 5: per-sequence float64 numpy on the real tokens, compared with the batch rows
            for b in range(ids.shape[0]):
                keep = mask[b].bool()
                real = ids[b][keep].numpy()
                first = int(keep.nonzero()[0, 0])
                if arch == "ModernBertForMaskedLM":
                    lg, hs = np_modernbert(cfg, P, real)
                    alone = model.forward(ids[b:b + 1, keep])
                elif arch == "GPT2LMHeadModel":
                    lg, hs = np_gpt2(cfg, P, real, pos0=first)  # left padding: positions start at `first`
                    # 5 (torch): the same sequence alone with the same positions
                    alone = model.forward(ids[b:b + 1, keep], None,
                                          position_ids=torch.arange(first, first + len(real))[None])
                else:
                    lg, hs = np_bertlike(cfg, P, real, "roberta" if arch.startswith("Roberta") else "bert")
                    alone = model.forward(ids[b:b + 1, keep])
                worst_np = max(worst_np, rel(ref[n + "logits"][b][keep].numpy(), lg))
                for l in range(L1):
                    worst_np = max(worst_np, rel(ref[n + f"hidden.{l}"][b][keep].numpy(), hs[l]))
                worst_pad = max(worst_pad, rel(out.logits[b][keep], alone.logits[0]))
            # the padding positions (compare == all) against a numpy evaluation with masked keys
        check(f"{name}: fixture == fresh computation", worst_fresh < 2e-6,
              "bitwise" if worst_fresh == 0.0 else f"rel {worst_fresh:.2e} (not bitwise: other CPU kernels)")
        check(f"{name}: torch fp32 vs numpy float64 per-sequence", worst_np < 2e-6, f"rel {worst_np:.2e}")
        check(f"{name}: einsum attention variant", worst_e < 2e-6, f"rel {worst_e:.2e}")
        check(f"{name}: padded rows == sequence alone", worst_pad < 1e-6, f"rel {worst_pad:.2e}")


def check_padding_positions():
    """Values at padding positions (compare == all) against a direct numpy evaluation:
    RoBERTa pad token at position `pad`, attending to the real keys only."""
    folder = os.path.join(MODELS, "tiny-roberta")
    cfg = hf.load_config(folder)
    ref = hf.load_safetensors(os.path.join(folder, "reference.safetensors"))
    model = hf.load_model(folder)
    ids, mask = ref["case1.input_ids"], ref["case1.attention_mask"]
    # the embedding of a padding token: word[pad] + pos[pad] + type[0]
    P = model.p
    e = "roberta.embeddings."
    x = P[e + "word_embeddings.weight"][1] + P[e + "position_embeddings.weight"][1] + P[e + "token_type_embeddings.weight"][0]
    x = hf.layer_norm(x, P[e + "LayerNorm.weight"], P[e + "LayerNorm.bias"], cfg["layer_norm_eps"])
    b = 1
    t = int(mask[b].sum())  # first padding position of row 1
    check("roberta padding position embeds word[pad]+pos[pad]", rel(ref["case1.hidden.0"][b, t], x) < 1e-6)
    check("roberta position_ids of padded row", ref["case1.position_ids"][b].tolist() ==
          [i + 2 for i in range(t)] + [1] * (ids.shape[1] - t))


# ------------------------------------------------------------------ 8: ModernBERT specifics
def check_modernbert():
    folder = os.path.join(MODELS, "tiny-modernbert")
    cfg = hf.load_config(folder)
    params = hf.load_safetensors(os.path.join(folder, "model.safetensors"))
    P = {k: v.double().numpy() for k, v in params.items()}
    ref = hf.load_safetensors(os.path.join(folder, "reference.safetensors"))
    model = hf.load_model(folder)
    L, hd = cfg["num_hidden_layers"], cfg["hidden_size"] // cfg["num_attention_heads"]
    check("modernbert: no layer-0 attn_norm, no decoder.weight, no biases except decoder.bias",
          "model.layers.0.attn_norm.weight" not in params and "model.layers.1.attn_norm.weight" in params
          and "decoder.weight" not in params
          and [k for k in params if k.endswith(".bias")] == ["decoder.bias"])
    check("modernbert: layer types global/local/local/global",
          model.layer_types == ["full_attention", "sliding_attention", "sliding_attention", "full_attention"])
    # the additive masks against explicit loops
    mask = ref["case1.attention_mask"]
    glob, local = model.masks(mask)
    B, T = mask.shape
    ok = True
    for b in range(B):
        for i in range(T):
            for j in range(T):
                g_want = 0.0 if mask[b, j] == 1 else hf.FMIN
                l_want = g_want if abs(i - j) <= cfg["local_attention"] // 2 else hf.FMIN
                ok &= float(glob[b, 0, i, j]) == g_want and float(local[b, 0, i, j]) == l_want
    check("modernbert: global / sliding-window masks == explicit |i-j| <= local_attention//2 loops", ok)
    # RoPE tables (float32, HF's way) against float64 angles
    worst = 0.0
    for theta in (cfg["global_rope_theta"], cfg["local_rope_theta"]):
        c, s_ = hf.rope_cos_sin(64, hd, theta)
        ang = np.arange(64)[:, None] * (float(theta) ** (-np.arange(0, hd, 2) / hd))[None, :]
        ang = np.concatenate([ang, ang], 1)
        worst = max(worst, float(np.abs(c.double().numpy() - np.cos(ang)).max()),
                    float(np.abs(s_.double().numpy() - np.sin(ang)).max()))
    check("modernbert: float32 RoPE tables vs float64 angles (T=64)", worst < 1e-5, f"max abs {worst:.2e}")
    # the whole fixture with exact float64 angles (what an implementation with double angles sees)
    worst = 0.0
    for k in range(3):
        n = f"case{k}."
        ids, m = ref[n + "input_ids"], ref[n + "attention_mask"]
        for b in range(ids.shape[0]):
            keep = m[b].bool()
            lg, hs = np_modernbert(cfg, P, ids[b][keep].numpy(), rope="exact")
            worst = max(worst, rel(ref[n + "logits"][b][keep].numpy(), lg))
            for l in range(L + 1):
                worst = max(worst, rel(ref[n + f"hidden.{l}"][b][keep].numpy(), hs[l]))
    check("modernbert: fixture vs float64 with exact float64 RoPE angles", worst < 2e-5, f"rel {worst:.2e}")
    # hidden.L is the raw last layer output: head(final_norm(hidden.L)) reproduces the logits,
    # head(hidden.L) does not
    hL = ref[f"case2.hidden.{L}"]
    lg_ok = model.head(hL)[0]
    x = hf.linear(hL, model.p["head.dense.weight"])
    lg_bad = hf.linear(model.ln("head.norm", hf.gelu_erf(x)), model.p["model.embeddings.tok_embeddings.weight"],
                       model.p["decoder.bias"])
    check("modernbert: logits == head(final_norm(hidden.L)), != head(hidden.L)",
          rel(lg_ok, ref["case2.logits"]) < 1e-6 and rel(lg_bad, ref["case2.logits"]) > 1e-2,
          f"{rel(lg_ok, ref['case2.logits']):.1e} / {rel(lg_bad, ref['case2.logits']):.1e}")
    # sensitivity of the long case: each of these changes must move the logits far above 1e-4
    ids = ref["case2.input_ids"]
    variants = {
        "no sliding window (local_attention 1000)": dict(cfg, local_attention=1000),
        "local_attention 10 (half window 5)": dict(cfg, local_attention=10),
        "local rope theta = global": dict(cfg, local_rope_theta=cfg["global_rope_theta"]),
        "global rope theta = local": dict(cfg, global_rope_theta=cfg["local_rope_theta"]),
        "all layers global": dict(cfg, global_attn_every_n_layers=1),
    }
    for what, c in variants.items():
        r = rel(hf.ModernBertForMaskedLM(c, params).forward(ids).logits, ref["case2.logits"])
        check(f"modernbert sensitivity: {what}", r > 1e-3, f"rel change {r:.2e}")
    # a padded row's real positions do not depend on the padding ids
    ids1 = ref["case1.input_ids"].clone()
    m1 = ref["case1.attention_mask"]
    ids1[m1 == 0] = 7
    out = model.forward(ids1, m1)
    keep = m1.bool()
    check("modernbert: real positions independent of the padding ids",
          rel(out.logits[keep], ref["case1.logits"][keep]) < 1e-6)


# ------------------------------------------------------------------ 6: kernels
def check_kernels():
    K = {k: v.double() for k, v in hf.load_safetensors(os.path.join(REPO, "tests/data/ref/kernels.safetensors")).items()}
    # layernorm backward, closed form
    x, w, dy = K["layernorm.x"], K["layernorm.weight"], K["layernorm.dy"]
    C = x.shape[-1]
    mu = x.mean(-1, keepdim=True)
    rstd = 1 / torch.sqrt(((x - mu) ** 2).mean(-1, keepdim=True) + 1e-5)
    xh = (x - mu) * rstd
    dxh = dy * w
    dx = rstd * (dxh - dxh.mean(-1, keepdim=True) - xh * (dxh * xh).mean(-1, keepdim=True))
    check("kernel layernorm y", rel(K["layernorm.y"], xh * w + K["layernorm.bias"]) < 1e-6)
    check("kernel layernorm dx", rel(K["layernorm.dx"], dx) < 1e-5)
    check("kernel layernorm dweight", rel(K["layernorm.dweight"], (dy * xh).sum((0, 1))) < 1e-5)
    check("kernel layernorm dbias", rel(K["layernorm.dbias"], dy.sum((0, 1))) < 1e-6)
    # gelu
    x = K["gelu_erf.x"]
    cdf = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
    pdf = torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    check("kernel gelu_erf y", rel(K["gelu_erf.y"], x * cdf) < 1e-6)
    check("kernel gelu_erf dx", rel(K["gelu_erf.dx"], K["gelu_erf.dy"] * (cdf + x * pdf)) < 1e-5)
    x = K["gelu_tanh.x"]
    a = math.sqrt(2 / math.pi)
    th = torch.tanh(a * (x + 0.044715 * x ** 3))
    d = 0.5 * (1 + th) + 0.5 * x * (1 - th ** 2) * a * (1 + 3 * 0.044715 * x ** 2)
    check("kernel gelu_tanh y", rel(K["gelu_tanh.y"], 0.5 * x * (1 + th)) < 1e-6)
    check("kernel gelu_tanh dx", rel(K["gelu_tanh.dx"], K["gelu_tanh.dy"] * d) < 1e-5)
    # softmax
    y, dy = K["softmax.y"], K["softmax.dy"]
    check("kernel softmax y", rel(y, torch.softmax(K["softmax.x"], -1)) < 1e-6 and not torch.isnan(y).any())
    check("kernel softmax dx", rel(K["softmax.dx"], y * (dy - (dy * y).sum(-1, keepdim=True))) < 1e-5)
    # linear
    x, w, dy = K["linear.x"], K["linear.weight"], K["linear.dy"]
    check("kernel linear", rel(K["linear.y"], x @ w.T + K["linear.bias"]) < 1e-6
          and rel(K["linear.dx"], dy @ w) < 1e-6 and rel(K["linear.dweight"], dy.T @ x) < 1e-6
          and rel(K["linear.dbias"], dy.sum(0)) < 1e-6)
    # embedding
    ids = hf.load_safetensors(os.path.join(REPO, "tests/data/ref/kernels.safetensors"))["embedding.ids"]
    dt = torch.zeros_like(K["embedding.table"])
    for b in range(ids.shape[0]):
        for t in range(ids.shape[1]):
            dt[ids[b, t]] += K["embedding.dy"][b, t]
    check("kernel embedding dtable", rel(K["embedding.dtable"], dt) < 1e-6)
    # attention forward via numpy loops, backward via float64 autograd of the einsum variant
    for name, causal in (("attention_padded", False), ("attention_causal", True)):
        q, k, v = K[name + ".q"].clone(), K[name + ".k"].clone(), K[name + ".v"].clone()
        mask = K.get(name + ".mask")
        B = q.shape[0]
        out = np.stack([np_attention(q[b].numpy(), k[b].numpy(), v[b].numpy(), 2,
                                     np.ones(q.shape[1], bool) if mask is None else mask[b].numpy() > 0.5,
                                     causal) for b in range(B)])
        check(f"kernel {name} out", rel(K[name + ".out"], out) < 1e-5)
        for z in (q, k, v):
            z.requires_grad_()
        ext = None if mask is None else (1.0 - mask[:, None, None, :]) * hf.FMIN
        o = hf.attention_core_einsum(q, k, v, 2, ext, causal)
        g = torch.autograd.grad(o, (q, k, v), K[name + ".dout"])
        check(f"kernel {name} dq dk dv", max(rel(K[name + ".d" + n], gg) for n, gg in zip("qkv", g)) < 1e-5)
    # cross entropy
    lg = K["cross_entropy.logits"]
    lab = hf.load_safetensors(os.path.join(REPO, "tests/data/ref/kernels.safetensors"))["cross_entropy.labels"]
    keep = lab != -100
    n = int(keep.sum())
    lse = torch.logsumexp(lg, -1)
    loss = sum(float(lse[r] - lg[r, lab[r]]) for r in range(len(lab)) if keep[r]) / n
    d = torch.softmax(lg, -1)
    d[keep, lab[keep]] -= 1
    d = d / n
    d[~keep] = 0
    check("kernel cross_entropy loss", abs(float(K["cross_entropy.loss"][0]) - loss) < 1e-5 * abs(loss))
    check("kernel cross_entropy dlogits", rel(K["cross_entropy.dlogits"], d) < 1e-5)


def main():
    torch.set_num_threads(1)
    check_safetensors()
    check_models()
    check_padding_positions()
    check_modernbert()
    check_kernels()
    print("FAILED: " + ", ".join(failures) if failures else "all self-checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
