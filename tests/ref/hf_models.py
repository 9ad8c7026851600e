"""Independent PyTorch re-implementation of the HuggingFace `transformers` forward
passes that dlm must reproduce (eval mode, no dropout, fp32):

    RobertaForMaskedLM, BertForMaskedLM, GPT2LMHeadModel, ModernBertForMaskedLM

Written from the documented semantics of `transformers` (4.x eager code path), not
copied from it. Parameters are looked up by their HuggingFace names, exactly as they
appear in a checkpoint's `model.safetensors`, so this file also documents the
checkpoint layout dlm has to read.

Also holds a small hand-written safetensors reader/writer (the `safetensors` Python
package is not available here).

Usage:
    import hf_models
    model = hf_models.load_model("tests/data/models/tiny-roberta")
    out = model.forward(input_ids, attention_mask)      # LongTensor [B,T]
    out.logits            # [B,T,V] fp32
    out.hidden_states     # list of L+1 tensors [B,T,C], as output_hidden_states=True

Only the standard library, numpy and torch are used.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F

FMIN = torch.finfo(torch.float32).min  # -3.4028234663852886e38, HF's mask value for fp32

# --------------------------------------------------------------------------------------
# safetensors, by hand
# --------------------------------------------------------------------------------------
# File layout: u64 little-endian N, then N bytes of UTF-8 JSON
#   {"__metadata__": {...}, name: {"dtype": "F32", "shape": [...], "data_offsets": [b, e]}, ...}
# padded with spaces so that 8 + N is a multiple of 8, then the raw little-endian data;
# offsets are relative to the start of the data section.

_ST_TO_NP = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8,
    "BOOL": np.bool_,
}
_TORCH_TO_ST = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}
_ST_SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
            "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}


def _tensor_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        arr = t.view(torch.int16).numpy()
    else:
        arr = t.numpy()
    # all platforms we care about are little-endian; make it explicit anyway
    if arr.dtype.byteorder == ">":
        arr = arr.byteswap().newbyteorder()
    return arr.tobytes(order="C")


def save_safetensors(path: str, tensors: Dict[str, torch.Tensor],
                     metadata: Optional[Dict[str, str]] = None) -> None:
    """Write `tensors` in the given dict order (data laid out in that order), atomically."""
    header: Dict[str, object] = {"__metadata__": dict(metadata or {"format": "pt"})}
    off = 0
    for name, t in tensors.items():
        if t.dtype not in _TORCH_TO_ST:
            raise ValueError(f"{name}: unsupported dtype {t.dtype}")
        dt = _TORCH_TO_ST[t.dtype]
        nb = t.numel() * _ST_SIZE[dt]
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + nb]}
        off += nb
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((8 - (8 + len(hj)) % 8) % 8)
    tmp = path + ".tmp.write"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for name, t in tensors.items():
            b = _tensor_bytes(t)
            assert len(b) == header[name]["data_offsets"][1] - header[name]["data_offsets"][0]
            f.write(b)
    os.replace(tmp, path)


def read_safetensors_header(path: str) -> Dict[str, object]:
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n).decode("utf-8"))


def load_safetensors(path: str) -> Dict[str, torch.Tensor]:
    """Read every tensor with its stored dtype (BF16 -> torch.bfloat16)."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    base = 8 + n
    out: Dict[str, torch.Tensor] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt, shape, (b, e) = info["dtype"], info["shape"], info["data_offsets"]
        nel = int(np.prod(shape)) if shape else 1
        if e - b != nel * _ST_SIZE[dt]:
            raise ValueError(f"{path}: {name}: byte size {e - b} != {nel} x {dt}")
        buf = raw[base + b: base + e]
        if dt == "BF16":
            u = np.frombuffer(buf, dtype="<u2").astype(np.int32) << 16
            t = torch.from_numpy(u.view(np.float32).reshape(shape).copy()).to(torch.bfloat16)
        else:
            a = np.frombuffer(buf, dtype=np.dtype(_ST_TO_NP[dt]).newbyteorder("<"))
            t = torch.from_numpy(a.reshape(shape).copy())
        out[name] = t
    return out


# --------------------------------------------------------------------------------------
# shared pieces
# --------------------------------------------------------------------------------------

def gelu_erf(x: torch.Tensor) -> torch.Tensor:
    """HF "gelu" (GELUActivation) = exact erf GELU: 0.5*x*(1+erf(x/sqrt(2)))."""
    return F.gelu(x)


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """HF "gelu_new" (NewGELUActivation), written exactly as HF writes it."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


ACT = {
    "gelu": gelu_erf,
    "gelu_new": gelu_tanh,
    # HF's "gelu_pytorch_tanh" is F.gelu(approximate="tanh"): same formula, different rounding
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
}


def layer_norm(x, w, b, eps):
    """Biased variance over the last dim: (x-mean)/sqrt(var+eps)*w+b."""
    return F.layer_norm(x, (x.shape[-1],), w, b, eps)


def linear(x, w, b=None):
    """nn.Linear: weight stored [out, in]; y = x @ W^T + b."""
    return F.linear(x, w, b)


def conv1d(x, w, b):
    """GPT-2 Conv1D: weight stored [in, out]; y = x @ W + b."""
    return torch.addmm(b, x.reshape(-1, x.shape[-1]), w).reshape(*x.shape[:-1], w.shape[1])


def extended_padding_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """[B,T] 0/1 -> additive [B,1,1,T]: 0 for keep, finfo(fp32).min for masked keys.
    HF get_extended_attention_mask: (1.0 - mask[:, None, None, :]) * finfo.min."""
    m = attention_mask[:, None, None, :].to(torch.float32)
    return (1.0 - m) * FMIN


def split_heads(x, nh):
    B, T, C = x.shape
    return x.view(B, T, nh, C // nh).permute(0, 2, 1, 3)  # [B,NH,T,HD]


def merge_heads(x):
    B, NH, T, HD = x.shape
    return x.permute(0, 2, 1, 3).reshape(B, T, NH * HD)


def attention_core(q, k, v, nh, additive_mask=None, causal=False):
    """q,k,v [B,T,C]; returns [B,T,C].
    scores = q k^T / sqrt(HD); if causal: where(j<=i, scores, finfo.min);
    then + additive_mask (broadcast [B,1,1,T]); softmax over keys; @ v."""
    qh, kh, vh = split_heads(q, nh), split_heads(k, nh), split_heads(v, nh)
    hd = qh.shape[-1]
    s = torch.matmul(qh, kh.transpose(-1, -2))
    s = s / torch.full([], hd ** 0.5, dtype=s.dtype)
    if causal:
        T = s.shape[-1]
        keep = torch.tril(torch.ones(T, T, dtype=torch.bool))
        s = torch.where(keep, s, torch.full([], FMIN, dtype=s.dtype))
    if additive_mask is not None:
        s = s + additive_mask
    p = torch.softmax(s, dim=-1)
    return merge_heads(torch.matmul(p, vh))


def attention_core_einsum(q, k, v, nh, additive_mask=None, causal=False):
    """Alternative formulation (per-head einsum, explicit max-subtracted softmax), used
    only by the self-checks to validate attention_core."""
    B, T, C = q.shape
    hd = C // nh
    qh = q.reshape(B, T, nh, hd)
    kh = k.reshape(B, T, nh, hd)
    vh = v.reshape(B, T, nh, hd)
    s = torch.einsum("bihd,bjhd->bhij", qh, kh) * (1.0 / math.sqrt(hd))
    if causal:
        i = torch.arange(T)[:, None]
        j = torch.arange(T)[None, :]
        s = s.masked_fill(j > i, FMIN)
    if additive_mask is not None:
        s = s + additive_mask
    s = s - s.max(dim=-1, keepdim=True).values
    e = torch.exp(s)
    p = e / e.sum(dim=-1, keepdim=True)
    return torch.einsum("bhij,bjhd->bihd", p, vh).reshape(B, T, C)


@dataclass
class Output:
    logits: torch.Tensor
    hidden_states: List[torch.Tensor]


def _f32(params: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    return {k: (v.to(torch.float32) if v.is_floating_point() else v) for k, v in params.items()}


# --------------------------------------------------------------------------------------
# BERT / RoBERTa (post-LN encoder)
# --------------------------------------------------------------------------------------

class BertLikeForMaskedLM:
    """RobertaForMaskedLM (prefix 'roberta', head 'lm_head') and BertForMaskedLM
    (prefix 'bert', head 'cls.predictions')."""

    def __init__(self, config: dict, params: Dict[str, torch.Tensor], kind: str,
                 attention_impl=attention_core):
        assert kind in ("roberta", "bert")
        self.cfg = config
        self.kind = kind
        self.p = _f32(params)
        self.attn = attention_impl
        self.L = config["num_hidden_layers"]
        self.nh = config["num_attention_heads"]
        self.eps = config.get("layer_norm_eps", 1e-12)
        self.act = ACT[config.get("hidden_act", "gelu")]
        self.pad = config.get("pad_token_id", 1 if kind == "roberta" else 0)
        pet = config.get("position_embedding_type", "absolute")
        if pet != "absolute":
            raise NotImplementedError(f"position_embedding_type {pet}")

    def _w(self, name):
        return self.p[name]

    def position_ids(self, input_ids):
        if self.kind == "roberta":
            # create_position_ids_from_input_ids: cumsum over non-pad tokens, pad -> padding_idx
            m = (input_ids != self.pad).to(torch.int64)
            return torch.cumsum(m, dim=1) * m + self.pad
        T = input_ids.shape[1]
        return torch.arange(T, dtype=torch.int64)[None, :].expand_as(input_ids)

    def embeddings(self, input_ids):
        pre = self.kind + ".embeddings."
        tt = torch.zeros_like(input_ids)  # token_type_ids default: all zeros
        x = (F.embedding(input_ids, self._w(pre + "word_embeddings.weight"))
             + F.embedding(tt, self._w(pre + "token_type_embeddings.weight")))
        x = x + F.embedding(self.position_ids(input_ids), self._w(pre + "position_embeddings.weight"))
        return layer_norm(x, self._w(pre + "LayerNorm.weight"), self._w(pre + "LayerNorm.bias"), self.eps)

    def layer(self, i, h, ext_mask):
        pre = f"{self.kind}.encoder.layer.{i}."
        w = lambda n: self._w(pre + n)
        q = linear(h, w("attention.self.query.weight"), w("attention.self.query.bias"))
        k = linear(h, w("attention.self.key.weight"), w("attention.self.key.bias"))
        v = linear(h, w("attention.self.value.weight"), w("attention.self.value.bias"))
        a = self.attn(q, k, v, self.nh, ext_mask, causal=False)
        a = linear(a, w("attention.output.dense.weight"), w("attention.output.dense.bias"))
        h1 = layer_norm(a + h, w("attention.output.LayerNorm.weight"), w("attention.output.LayerNorm.bias"), self.eps)
        f = self.act(linear(h1, w("intermediate.dense.weight"), w("intermediate.dense.bias")))
        f = linear(f, w("output.dense.weight"), w("output.dense.bias"))
        return layer_norm(f + h1, w("output.LayerNorm.weight"), w("output.LayerNorm.bias"), self.eps)

    def head(self, h):
        if self.kind == "roberta":
            # RobertaLMHead: dense -> gelu (always exact erf gelu, whatever hidden_act says)
            #   -> layer_norm -> decoder (tied to word embeddings) + lm_head.bias
            x = linear(h, self._w("lm_head.dense.weight"), self._w("lm_head.dense.bias"))
            x = gelu_erf(x)
            x = layer_norm(x, self._w("lm_head.layer_norm.weight"), self._w("lm_head.layer_norm.bias"), self.eps)
            dec = self.p.get("lm_head.decoder.weight", self._w("roberta.embeddings.word_embeddings.weight"))
            bias = self.p.get("lm_head.bias", self.p.get("lm_head.decoder.bias"))
            return linear(x, dec, bias)
        # BertLMPredictionHead: transform (dense -> hidden_act -> LayerNorm) -> decoder + bias
        pre = "cls.predictions."
        x = linear(h, self._w(pre + "transform.dense.weight"), self._w(pre + "transform.dense.bias"))
        x = self.act(x)
        x = layer_norm(x, self._w(pre + "transform.LayerNorm.weight"), self._w(pre + "transform.LayerNorm.bias"), self.eps)
        dec = self.p.get(pre + "decoder.weight", self._w("bert.embeddings.word_embeddings.weight"))
        bias = self.p.get(pre + "bias", self.p.get(pre + "decoder.bias"))
        return linear(x, dec, bias)

    @torch.no_grad()
    def forward(self, input_ids, attention_mask=None) -> Output:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        ext = extended_padding_mask(attention_mask)
        h = self.embeddings(input_ids)
        hs = [h]
        for i in range(self.L):
            h = self.layer(i, h, ext)
            hs.append(h)
        return Output(self.head(h), hs)


# --------------------------------------------------------------------------------------
# GPT-2 (pre-LN decoder)
# --------------------------------------------------------------------------------------

class GPT2LMHeadModel:
    def __init__(self, config: dict, params: Dict[str, torch.Tensor], attention_impl=attention_core):
        self.cfg = config
        p = _f32(params)
        # hub 'gpt2' stores GPT2Model keys without the 'transformer.' prefix; HF accepts both
        if not any(k.startswith("transformer.") for k in p):
            p = {("transformer." + k if k != "lm_head.weight" else k): v for k, v in p.items()}
        self.p = p
        self.attn = attention_impl
        self.L = config["n_layer"]
        self.nh = config["n_head"]
        self.eps = config.get("layer_norm_epsilon", 1e-5)
        self.act = ACT[config.get("activation_function", "gelu_new")]
        if config.get("scale_attn_by_inverse_layer_idx", False) or config.get("reorder_and_upcast_attn", False):
            raise NotImplementedError("scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn")
        if not config.get("scale_attn_weights", True):
            raise NotImplementedError("scale_attn_weights=false")

    def _w(self, name):
        return self.p["transformer." + name]

    def block(self, i, h, ext_mask):
        w = lambda n: self._w(f"h.{i}." + n)
        C = h.shape[-1]
        x = layer_norm(h, w("ln_1.weight"), w("ln_1.bias"), self.eps)
        qkv = conv1d(x, w("attn.c_attn.weight"), w("attn.c_attn.bias"))  # [B,T,3C] = q | k | v
        q, k, v = qkv.split(C, dim=-1)
        a = self.attn(q, k, v, self.nh, ext_mask, causal=True)
        a = conv1d(a, w("attn.c_proj.weight"), w("attn.c_proj.bias"))
        h = h + a
        x = layer_norm(h, w("ln_2.weight"), w("ln_2.bias"), self.eps)
        x = self.act(conv1d(x, w("mlp.c_fc.weight"), w("mlp.c_fc.bias")))
        x = conv1d(x, w("mlp.c_proj.weight"), w("mlp.c_proj.bias"))
        return h + x

    @torch.no_grad()
    def forward(self, input_ids, attention_mask=None, position_ids=None) -> Output:
        B, T = input_ids.shape
        if position_ids is None:
            position_ids = torch.arange(T, dtype=torch.int64)[None, :].expand(B, T)  # plain forward
        ext = None if attention_mask is None else extended_padding_mask(attention_mask)
        h = F.embedding(input_ids, self._w("wte.weight")) + F.embedding(position_ids, self._w("wpe.weight"))
        hs = []
        for i in range(self.L):
            hs.append(h)
            h = self.block(i, h, ext)
        h = layer_norm(h, self._w("ln_f.weight"), self._w("ln_f.bias"), self.eps)
        hs.append(h)  # HF: the last hidden state is *after* ln_f
        wte = self._w("wte.weight")
        lm = self.p.get("lm_head.weight", wte)  # tied
        return Output(linear(h, lm), hs)


# --------------------------------------------------------------------------------------
# ModernBERT (pre-LN encoder, RoPE, GeGLU, alternating global / sliding-window attention)
# --------------------------------------------------------------------------------------

def rotate_half(x):
    """Split the last dim in halves (a, b) and return (-b, a): the GPT-NeoX / Llama RoPE
    convention (not the interleaved GPT-J one)."""
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope_cos_sin(T, head_dim, theta, positions=None):
    """cos, sin [T, head_dim] in float32, computed the way HF's default rotary embedding does:
    inv_freq[k] = 1 / theta^(float32(2k) / head_dim) (float32 pow), angle = float32(pos) *
    inv_freq (one float32 rounding), emb = cat(angle, angle), cos/sin of that in float32."""
    if positions is None:
        positions = torch.arange(T, dtype=torch.int64)
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).to(torch.float32) / head_dim))
    ang = positions.to(torch.float32)[:, None] * inv[None, :]
    emb = torch.cat((ang, ang), dim=-1)
    return emb.cos(), emb.sin()


def attention_core_scaled(q, k, v, nh, additive_mask=None, causal=False):
    """As attention_core, but the scores are multiplied by head_dim**-0.5 (ModernBERT's eager
    path writes `matmul(q, k^T) * scale`) and softmax runs in float32."""
    qh, kh, vh = split_heads(q, nh), split_heads(k, nh), split_heads(v, nh)
    hd = qh.shape[-1]
    s = torch.matmul(qh, kh.transpose(-1, -2)) * (hd ** -0.5)
    if causal:
        raise NotImplementedError("ModernBERT is bidirectional")
    if additive_mask is not None:
        s = s + additive_mask
    if s.dtype == torch.float64:  # float64 runs of the training self-checks stay float64
        p = torch.softmax(s, dim=-1)
    else:
        p = torch.softmax(s, dim=-1, dtype=torch.float32).to(q.dtype)
    return merge_heads(torch.matmul(p, vh))


class ModernBertForMaskedLM:
    """HF ModernBertForMaskedLM, eval forward of the padded (eager / sdpa) code path.

    Parameter names (no biases when attention_bias / mlp_bias / norm_bias /
    classifier_bias are false; decoder.weight absent = tied to tok_embeddings):
        model.embeddings.tok_embeddings.weight [V,C]   model.embeddings.norm.weight [C]
        model.layers.{i}.attn_norm.weight [C]          (absent for i = 0: nn.Identity)
        model.layers.{i}.attn.Wqkv.weight [3C,C]       output columns q | k | v
        model.layers.{i}.attn.Wo.weight [C,C]
        model.layers.{i}.mlp_norm.weight [C]
        model.layers.{i}.mlp.Wi.weight [2F,C]          output columns input | gate
        model.layers.{i}.mlp.Wo.weight [C,F]
        model.final_norm.weight [C]
        head.dense.weight [C,C]  head.norm.weight [C]  decoder.bias [V]
    """

    def __init__(self, config: dict, params: Dict[str, torch.Tensor], attention_impl=None):
        self.cfg = config
        self.p = _f32(params)
        self.attn = attention_impl or attention_core_scaled
        self.L = config["num_hidden_layers"]
        self.nh = config["num_attention_heads"]
        self.C = config["hidden_size"]
        self.hd = self.C // self.nh
        self.eps = config.get("norm_eps", 1e-5)
        self.norm_bias = config.get("norm_bias", False)
        self.attention_bias = config.get("attention_bias", False)
        self.mlp_bias = config.get("mlp_bias", False)
        self.classifier_bias = config.get("classifier_bias", False)
        self.decoder_bias = config.get("decoder_bias", True)
        self.act = ACT[config.get("hidden_activation", "gelu")]
        self.head_act = ACT[config.get("classifier_activation", "gelu")]
        self.window = config.get("local_attention", 128)
        every = config.get("global_attn_every_n_layers", 3)
        # layer i is global ("full_attention") when i % every == 0, else sliding window
        self.layer_types = config.get("layer_types") or [
            "sliding_attention" if i % every else "full_attention" for i in range(self.L)]
        rp = config.get("rope_parameters") or {}
        g = config.get("global_rope_theta", 160000.0)
        loc = config.get("local_rope_theta")
        loc = g if loc is None else loc
        self.theta = {"full_attention": (rp.get("full_attention") or {}).get("rope_theta", g),
                      "sliding_attention": (rp.get("sliding_attention") or {}).get("rope_theta", loc)}
        for t in rp.values():
            if t and t.get("rope_type", "default") != "default":
                raise NotImplementedError(f"rope_type {t.get('rope_type')}")

    def _w(self, name):
        return self.p[name]

    def _opt(self, name, flag):
        if not flag:
            return None
        return self.p[name]

    def ln(self, prefix, x):
        return layer_norm(x, self._w(prefix + ".weight"), self._opt(prefix + ".bias", self.norm_bias), self.eps)

    def position_ids(self, input_ids):
        # padded path: position_ids = arange(T) for every row (right padding keeps real
        # tokens at 0..len-1, the same positions the unpadded flash path uses)
        T = input_ids.shape[1]
        return torch.arange(T, dtype=torch.int64)[None, :].expand_as(input_ids)

    def masks(self, attention_mask):
        """-> (global [B,1,T,T], sliding [B,1,T,T]) additive float32 masks, as HF's
        _update_attention_mask: finfo.min on padded keys; the sliding one also finfo.min
        where |i - j| > local_attention // 2 (masked_fill, so never 2*finfo.min)."""
        B, T = attention_mask.shape
        m = attention_mask[:, None, None, :].expand(B, 1, T, T).to(torch.float32)
        inv = 1.0 - m
        glob = inv.masked_fill(inv.to(torch.bool), FMIN)
        r = torch.arange(T)
        far = (r[:, None] - r[None, :]).abs() > self.window // 2
        return glob, glob.masked_fill(far[None, None], FMIN)

    def apply_rope(self, x, cos, sin):
        """x [B,T,C] -> per head [B,T,NH,HD]: x*cos + rotate_half(x)*sin."""
        B, T, C = x.shape
        xh = x.view(B, T, self.nh, self.hd)
        c, s = cos[None, :, None, :], sin[None, :, None, :]
        return ((xh * c) + (rotate_half(xh) * s)).reshape(B, T, C)

    def embeddings(self, input_ids):
        x = F.embedding(input_ids, self._w("model.embeddings.tok_embeddings.weight"))
        return self.ln("model.embeddings.norm", x)

    def layer(self, i, h, glob, local, rope):
        pre = f"model.layers.{i}."
        x = h if i == 0 else self.ln(pre + "attn_norm", h)
        qkv = linear(x, self._w(pre + "attn.Wqkv.weight"), self._opt(pre + "attn.Wqkv.bias", self.attention_bias))
        q, k, v = qkv.split(self.C, dim=-1)
        cos, sin = rope[self.layer_types[i]]
        q, k = self.apply_rope(q, cos, sin), self.apply_rope(k, cos, sin)
        mask = glob if self.layer_types[i] == "full_attention" else local
        a = self.attn(q, k, v, self.nh, mask, causal=False)
        h = h + linear(a, self._w(pre + "attn.Wo.weight"), self._opt(pre + "attn.Wo.bias", self.attention_bias))
        y = self.ln(pre + "mlp_norm", h)
        y = linear(y, self._w(pre + "mlp.Wi.weight"), self._opt(pre + "mlp.Wi.bias", self.mlp_bias))
        inp, gate = y.chunk(2, dim=-1)
        y = linear(self.act(inp) * gate, self._w(pre + "mlp.Wo.weight"), self._opt(pre + "mlp.Wo.bias", self.mlp_bias))
        return h + y

    def encode(self, input_ids, attention_mask):
        """-> list of L+1 hidden states exactly as HF output_hidden_states (embeddings output,
        then each layer's raw output; NO final_norm on the last one)."""
        T = input_ids.shape[1]
        glob, local = self.masks(attention_mask)
        rope = {t: rope_cos_sin(T, self.hd, self.theta[t]) for t in set(self.layer_types)}
        h = self.embeddings(input_ids)
        hs = [h]
        for i in range(self.L):
            h = self.layer(i, h, glob, local, rope)
            hs.append(h)
        return hs

    def head(self, h):
        """last layer output -> final_norm (= ModernBertModel's last_hidden_state) ->
        head.dense -> classifier_activation -> head.norm -> decoder (tied) + decoder.bias.
        Returns (logits, last_hidden_state)."""
        last = self.ln("model.final_norm", h)
        x = linear(last, self._w("head.dense.weight"), self._opt("head.dense.bias", self.classifier_bias))
        x = self.ln("head.norm", self.head_act(x))
        dec = self.p.get("decoder.weight", self._w("model.embeddings.tok_embeddings.weight"))
        return linear(x, dec, self._opt("decoder.bias", self.decoder_bias)), last

    @torch.no_grad()
    def forward(self, input_ids, attention_mask=None) -> Output:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        hs = self.encode(input_ids, attention_mask)
        return Output(self.head(hs[-1])[0], hs)


# --------------------------------------------------------------------------------------
# loading a checkpoint folder
# --------------------------------------------------------------------------------------

def load_config(folder: str) -> dict:
    with open(os.path.join(folder, "config.json")) as f:
        return json.load(f)


def load_model(folder: str, attention_impl=attention_core, params=None):
    cfg = load_config(folder)
    if params is None:
        params = load_safetensors(os.path.join(folder, "model.safetensors"))
    arch = (cfg.get("architectures") or [None])[0]
    if arch == "RobertaForMaskedLM":
        return BertLikeForMaskedLM(cfg, params, "roberta", attention_impl)
    if arch == "BertForMaskedLM":
        return BertLikeForMaskedLM(cfg, params, "bert", attention_impl)
    if arch == "GPT2LMHeadModel":
        return GPT2LMHeadModel(cfg, params, attention_impl)
    if arch == "ModernBertForMaskedLM":
        return ModernBertForMaskedLM(cfg, params, None if attention_impl is attention_core else attention_impl)
    raise ValueError(f"{folder}: unsupported architectures {cfg.get('architectures')}")
