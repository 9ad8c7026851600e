"""Writes tests/data/ref/kernels-modernbert.{json,safetensors}: forward and backward values
of the kernels ModernBERT adds (rotary position embeddings, GeGLU, sliding-window
attention, LayerNorm without bias), for tests/test_kernels_modernbert.cpp.

Written from the semantics of HF transformers' ModernBertForMaskedLM (eager path), not
copied from it:
  * rotary: inv_freq = 1 / theta ** (arange(0, HD, 2).float() / HD) in float32;
    freqs = position.float() * inv_freq; emb = cat(freqs, freqs); cos, sin = emb.cos(),
    emb.sin() (float32); x' = x * cos + rotate_half(x) * sin with
    rotate_half(x) = cat(-x[HD/2:], x[:HD/2]), on q and k (not v).
  * GeGLU (ModernBertMLP): input, gate = Wi(x).chunk(2, -1); act(input) * gate.
  * local attention: scores = q k^T * HD**-0.5 + mask, where mask = (1 - key_mask) *
    finfo.min, then masked_fill(|i - j| > local_attention // 2, finfo.min) (the
    out-of-window entries are *replaced* by finfo.min, so never -inf).
  * LayerNorm(bias=False) (norm_bias=false).

Gradients come from torch autograd. Deterministic (fixed seed, one thread): a re-run
writes byte-identical files.

    /usr/bin/python3 tests/ref/make_modernbert_kernels_reference.py
"""

from __future__ import annotations

import json
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hf_models as hf  # noqa: E402  (safetensors writer, gelu forms, FMIN)

REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
REFDIR = os.path.join(REPO, "tests", "data", "ref")
SEED = 4242

torch.set_num_threads(1)

B, T, NH, HD = 2, 7, 2, 8
C = NH * HD


def rotary_inv_freq(head_dim: int, theta: float) -> torch.Tensor:
    """[HD/2] float32, in the order HF computes it: the exponent in float32, then
    theta ** exponent (float32), then the reciprocal."""
    exponent = torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim
    return 1.0 / (theta ** exponent)


def rotary_cos_sin(positions: torch.Tensor, head_dim: int, theta: float):
    """positions [B, T] int64 -> cos, sin [B, T, HD] float32."""
    inv_freq = rotary_inv_freq(head_dim, theta)
    freqs = positions.float()[..., None] * inv_freq[None, None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def half_rotated(x: torch.Tensor) -> torch.Tensor:
    """rotate_half: (x1, x2) -> (-x2, x1) over the last dim split in halves."""
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rotary_apply_qkv(qkv: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """qkv [B, T, 3C] (HF's Wqkv output, viewed [B, T, 3, NH, HD]); q and k rotated."""
    x = qkv.view(B, T, 3, NH, HD)
    c, s = cos[:, :, None, :], sin[:, :, None, :]  # broadcast over heads
    q = x[:, :, 0] * c + half_rotated(x[:, :, 0]) * s
    k = x[:, :, 1] * c + half_rotated(x[:, :, 1]) * s
    return torch.stack((q, k, x[:, :, 2]), dim=2).reshape(B, T, 3 * C)


def local_attention(q, k, v, key_mask, half_window):
    """q, k, v [B, T, C]; key_mask [B, T] (1 attend, 0 pad); |i - j| <= half_window."""
    def heads(z):
        return z.view(B, T, NH, HD).permute(0, 2, 1, 3)
    pad = (1.0 - key_mask[:, None, None, :].float()) * hf.FMIN          # [B, 1, 1, T]
    pad = pad.expand(B, 1, T, T)
    rows = torch.arange(T)
    inside = (rows[None, :] - rows[:, None]).abs() <= half_window       # [T, T]
    mask = pad.masked_fill(~inside[None, None], hf.FMIN)
    scores = torch.matmul(heads(q), heads(k).transpose(-1, -2)) * HD ** -0.5 + mask
    probs = torch.softmax(scores, dim=-1)
    out = torch.matmul(probs, heads(v))
    return out.permute(0, 2, 1, 3).reshape(B, T, C), probs


def main():
    g = torch.Generator().manual_seed(SEED)

    def rn(*shape, std=1.0):
        return torch.randn(*shape, generator=g) * std

    t, doc = {}, {}

    def grads(out, inputs, dout):
        return torch.autograd.grad(out, inputs, dout)

    # ---- rotary -------------------------------------------------------------------
    implicit = torch.arange(T, dtype=torch.int64)[None, :].expand(B, T).contiguous()
    explicit = torch.tensor([[0, 1, 2, 3, 4, 5, 6], [8191, 5000, 3, 0, 1000, 77, 4096]], dtype=torch.int64)
    for name, theta, pos in (("rotary_10000", 10000.0, implicit),
                             ("rotary_160000", 160000.0, implicit),
                             ("rotary_160000_positions", 160000.0, explicit)):
        cos, sin = rotary_cos_sin(pos, HD, theta)
        qkv = rn(B, T, 3 * C).requires_grad_()
        out = rotary_apply_qkv(qkv, cos, sin)
        dout = rn(B, T, 3 * C)
        (dqkv,) = grads(out, (qkv,), dout)
        t.update({f"{name}.positions": pos, f"{name}.cos": cos, f"{name}.sin": sin, f"{name}.qkv": qkv,
                  f"{name}.out": out, f"{name}.dout": dout, f"{name}.dqkv": dqkv})
        doc[name] = {
            "theta": theta,
            "shapes": {"positions": [B, T], "cos": [B, T, HD], "sin": [B, T, HD], "qkv": [B, T, 3 * C],
                       "out": [B, T, 3 * C], "dout": [B, T, 3 * C], "dqkv": [B, T, 3 * C]},
            "dtypes": {"positions": "I64"},
            "positions": "explicit (large ones on purpose, up to 8191)" if pos is explicit
                         else "implicit 0..T-1 (stored anyway)",
        }

    # ---- GeGLU --------------------------------------------------------------------
    N, FF = B * T, 6
    for name, act in (("geglu_erf", F.gelu), ("geglu_tanh", hf.gelu_tanh)):
        x = rn(N, 2 * FF, std=2.0).requires_grad_()
        bias = rn(2 * FF, std=0.1).requires_grad_()
        inp, gate = (x + bias).chunk(2, dim=-1)
        y = act(inp) * gate
        dy = rn(N, FF)
        dx, dbias = grads(y, (x, bias), dy)
        y0 = act(x[:, :FF]) * x[:, FF:]  # without bias (ModernBERT's mlp_bias=false)
        (dx0,) = grads(y0, (x,), dy)
        t.update({f"{name}.x": x, f"{name}.bias": bias, f"{name}.y": y, f"{name}.dy": dy, f"{name}.dx": dx,
                  f"{name}.dbias": dbias, f"{name}.y_nobias": y0, f"{name}.dx_nobias": dx0})
        doc[name] = {"shapes": {"x": [N, 2 * FF], "bias": [2 * FF], "y": [N, FF], "dy": [N, FF],
                                "dx": [N, 2 * FF], "dbias": [2 * FF], "y_nobias": [N, FF],
                                "dx_nobias": [N, 2 * FF]}}

    # ---- local attention ----------------------------------------------------------
    key_mask = torch.tensor([[1] * T, [1, 1, 1, 1, 0, 0, 0]], dtype=torch.int64)
    for name, half_window, mask in (("local_attention_w2", 2, key_mask),
                                    ("local_attention_w2_nopad", 2, torch.ones(B, T, dtype=torch.int64))):
        q, k, v = rn(B, T, C), rn(B, T, C), rn(B, T, C)
        for z in (q, k, v):
            z.requires_grad_()
        out, probs = local_attention(q, k, v, mask, half_window)
        dout = rn(B, T, C)
        dq, dk, dv = grads(out, (q, k, v), dout)
        t.update({f"{name}.q": q, f"{name}.k": k, f"{name}.v": v, f"{name}.mask": mask, f"{name}.out": out,
                  f"{name}.probs": probs, f"{name}.dout": dout, f"{name}.dq": dq, f"{name}.dk": dk,
                  f"{name}.dv": dv})
        doc[name] = {"window": half_window, "hf_local_attention": 2 * half_window,
                     "shapes": {"q": [B, T, C], "k": [B, T, C], "v": [B, T, C], "mask": [B, T],
                                "out": [B, T, C], "probs": [B, NH, T, T], "dout": [B, T, C],
                                "dq": [B, T, C], "dk": [B, T, C], "dv": [B, T, C]},
                     "dtypes": {"mask": "I64"}}

    # ---- LayerNorm without bias ---------------------------------------------------
    x, w = rn(N, C), (1 + 0.1 * rn(C))
    x.requires_grad_(); w.requires_grad_()
    y = F.layer_norm(x, (C,), w, None, 1e-5)
    dy = rn(N, C)
    dx, dw = grads(y, (x, w), dy)
    t.update({"layernorm_nobias.x": x, "layernorm_nobias.weight": w, "layernorm_nobias.y": y,
              "layernorm_nobias.dy": dy, "layernorm_nobias.dx": dx, "layernorm_nobias.dweight": dw})
    doc["layernorm_nobias"] = {"eps": 1e-5, "shapes": {"x": [N, C], "weight": [C], "y": [N, C], "dy": [N, C],
                                                       "dx": [N, C], "dweight": [C]}}

    t = {k: v.detach().contiguous() for k, v in t.items()}
    os.makedirs(REFDIR, exist_ok=True)
    hf.save_safetensors(os.path.join(REFDIR, "kernels-modernbert.safetensors"), t,
                        {"format": "pt", "generator": "tests/ref/make_modernbert_kernels_reference.py"})
    formulas = {
        "rotary": "inv_freq[i] = 1 / theta ** (float32(2i) / HD) (float32), i < HD/2; "
                  "cos/sin[b,t,:] = cos/sin(cat(f, f)), f = float32(positions[b,t]) * inv_freq; "
                  "qkv viewed [B,T,3,NH,HD]: q' = q*cos + rotate_half(q)*sin, same for k, v unchanged; "
                  "rotate_half(x) = cat(-x[HD/2:], x[:HD/2])",
        "geglu": "input, gate = (x + bias).chunk(2, -1) (input = first F columns); y = act(input) * gate; "
                 "erf: act = F.gelu (HF 'gelu'), tanh: HF 'gelu_new' formula; *_nobias: the same without bias",
        "local_attention": "s = q.k * HD**-0.5 + m, m[b,i,j] = finfo.min if |i-j| > window else "
                           "(1 - mask[b,j]) * finfo.min (masked_fill: replaced, not added twice); p = softmax_j(s); "
                           "out = p @ v; heads split as view(B,T,NH,HD). Row b=1 has keys 4..6 padded: its "
                           "query 6 sees only padding, so all 7 of its scores are finfo.min and p is uniform",
        "layernorm_nobias": "F.layer_norm(x, (C,), weight, None, eps): no bias term, so no dbias",
    }
    with open(os.path.join(REFDIR, "kernels-modernbert.json"), "w") as f:
        json.dump({
            "file": "kernels-modernbert.safetensors",
            "generator": f"tests/ref/make_modernbert_kernels_reference.py (torch autograd, fp32, seed {SEED})",
            "torch_version": torch.__version__,
            "dims": {"B": B, "T": T, "NH": NH, "HD": HD, "C": C, "N": N, "F": FF},
            "naming": "<case>.<tensor>; F32 unless 'dtypes' says otherwise; d<name> = gradient of "
                      "sum(y * dy) with respect to <name>",
            "formulas": formulas,
            "tolerance": "fp32: max|got-ref| <= 1e-5 * max|ref| per tensor",
            "cases": doc,
        }, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
