#!/usr/bin/python3
"""Writes the ModernBERT reference fixture (deterministic, seeded, one thread):

    tests/data/models/tiny-modernbert/   ModernBertForMaskedLM, F32, decoder tied
        config.json, model.safetensors, reference.safetensors, reference.json

Kept apart from make_reference.py so that writing it never touches the other fixtures
(see README "Reproducibility across machines"). Reuses make_reference.py's helpers
(Init, write_model, write_reference, ...), so the files have exactly the same format.

Run from anywhere:  /usr/bin/python3 tests/ref/make_modernbert_reference.py
Needs torch + numpy (Debian python3-torch); CI does not run it.
"""

from __future__ import annotations

import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hf_models as hf  # noqa: E402
import make_reference as mr  # noqa: E402

GENERATOR = "tests/ref/make_modernbert_reference.py"
MODERNBERT_BASE_CONFIG = os.environ.get("DLM_MODERNBERT_BASE_CONFIG",
                                        "/work/shared/data/tokenizers/modernbert-base/config.json")
FOLDER = os.path.join(mr.MODELS, "tiny-modernbert")

V = 1000
# the real ids (bos = cls 50281, eos = sep 50282, pad 50283, [MASK] 50284 in a vocab of
# 50368) kept at the same distance from the end of the vocab: 50368 - 50281 = 87 -> 913
CLS, SEP, PAD, MASK = V - 87, V - 86, V - 85, V - 84  # 913, 914, 915, 916

torch.set_num_threads(1)


def modernbert_config():
    with open(MODERNBERT_BASE_CONFIG) as f:
        cfg = json.load(f)  # the real ModernBERT-base config.json as the template
    cfg.update({
        "_name_or_path": "tiny-modernbert",
        "vocab_size": V, "hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 4,
        "intermediate_size": 48, "max_position_embeddings": 64,
        "local_attention": 8, "global_attn_every_n_layers": 3,
        "global_rope_theta": 160000.0, "local_rope_theta": 10000.0,
        "norm_bias": False, "attention_bias": False, "mlp_bias": False,
        "classifier_bias": False, "decoder_bias": True,
        "bos_token_id": CLS, "cls_token_id": CLS, "eos_token_id": SEP, "sep_token_id": SEP,
        "pad_token_id": PAD, "torch_dtype": "float32",
    })
    assert cfg["architectures"] == ["ModernBertForMaskedLM"] and cfg["model_type"] == "modernbert"
    assert cfg["hidden_activation"] == "gelu" and cfg["classifier_activation"] == "gelu"
    assert cfg["tie_word_embeddings"] is True
    return mr.sorted_dict(cfg)


def modernbert_params(cfg, init: mr.Init, hf_init=False):
    """HF-named parameters of ModernBertForMaskedLM (biases only where the config asks for
    them; no decoder.weight: tied). hf_init=True: HF's init shape (truncated normal is
    approximated by a plain normal: 0.02 / 0.02/sqrt(2L), LayerNorm 1, zero biases)."""
    C, Vv, F, L = cfg["hidden_size"], cfg["vocab_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    std_in = cfg["initializer_range"] if hf_init else 0.2
    std_out = cfg["initializer_range"] / (2.0 * L) ** 0.5 if hf_init else 0.2
    estd = cfg["initializer_range"] if hf_init else 0.5
    ln_w = (lambda n: torch.ones(n)) if hf_init else init.ln_w
    bias = (lambda n: torch.zeros(n)) if hf_init else init.bias
    p = {"model.embeddings.tok_embeddings.weight": init.mat(Vv, C, std=estd),
         "model.embeddings.norm.weight": ln_w(C)}
    if cfg["norm_bias"]:
        p["model.embeddings.norm.bias"] = bias(C)

    def norm(name):
        p[name + ".weight"] = ln_w(C)
        if cfg["norm_bias"]:
            p[name + ".bias"] = bias(C)

    def lin(name, o, i, std, flag):
        p[name + ".weight"] = init.mat(o, i, std=std)
        if flag:
            p[name + ".bias"] = bias(o)

    for i in range(L):
        l = f"model.layers.{i}."
        if i > 0:
            norm(l + "attn_norm")  # layer 0: attn_norm is nn.Identity (no parameter)
        lin(l + "attn.Wqkv", 3 * C, C, std_in, cfg["attention_bias"])
        lin(l + "attn.Wo", C, C, std_out, cfg["attention_bias"])
        norm(l + "mlp_norm")
        lin(l + "mlp.Wi", 2 * F, C, std_in, cfg["mlp_bias"])
        lin(l + "mlp.Wo", C, F, std_out, cfg["mlp_bias"])
    norm("model.final_norm")
    lin("head.dense", C, C, std_out, cfg["classifier_bias"])
    norm("head.norm")
    if cfg["decoder_bias"]:
        p["decoder.bias"] = bias(Vv)
    return mr.sorted_dict(p)


NOTES = {
    "hidden_states": "HF output_hidden_states for ModernBertForMaskedLM: hidden.0 = embeddings output "
                     "(after model.embeddings.norm); hidden.l (l = 1..L) = output of layer l-1 (0-based), "
                     "i.e. the residual stream after that layer. hidden.L is the RAW output of the last "
                     "layer: model.final_norm is NOT applied to it (final_norm is applied afterwards and "
                     "feeds the head; it is ModernBertModel's last_hidden_state)",
    "notes": [
        "embeddings: x = LayerNorm(tok_embeddings[ids]) with weight model.embeddings.norm.weight, no bias "
        "(norm_bias false), eps norm_eps = 1e-5; no position embeddings (RoPE in attention)",
        "layer i: a = Identity(h) if i == 0 else LayerNorm_attn_norm(h); qkv = a @ Wqkv^T ([3C] = q | k | v, "
        "each split into heads as view(T, NH, HD)); q, k rotated by RoPE; attention; h = h + o @ Wo^T; "
        "m = LayerNorm_mlp_norm(h); [inp | gate] = m @ Wi^T ([2F], first F = inp); "
        "h = h + (gelu_erf(inp) * gate) @ mlp.Wo^T. No biases (attention_bias, mlp_bias false)",
        "layer types: layer i is global (full attention, rope theta global_rope_theta = 160000) when "
        "i % global_attn_every_n_layers == 0, otherwise local (sliding window, rope theta "
        "local_rope_theta = 10000): with 4 layers and every 3: layers 0, 3 global; 1, 2 local",
        "local window: query i sees key j iff |i - j| <= local_attention // 2 = 4 (local_attention = 8 "
        "is the total window); combined with the key padding mask",
        "RoPE (rotate_half convention, HD = 8): inv_freq[k] = 1 / theta^(2k/HD), k = 0..HD/2-1 "
        "(float32); angle[t,k] = t * inv_freq[k] with t = position 0..T-1 (float32 product); "
        "cos/sin of cat(angle, angle) [T,HD]; x' = x*cos + rotate_half(x)*sin, "
        "rotate_half(x) = cat(-x[HD/2:], x[:HD/2]); applied to q and k of every head",
        "position_ids = arange(T) for every row (HF's padded path); right padding therefore keeps the real "
        "tokens at the positions of the unpadded run",
        "attention: s = (q k^T) * HD^-0.5 + mask; mask = finfo(float32).min on padded keys and (local "
        "layers) outside the window, else 0 (HF eager: additive, masked_fill so never 2*finfo.min); "
        "softmax over keys in float32; @ v",
        "head: logits = (LayerNorm_head.norm(gelu_erf(final_norm(hidden.L) @ head.dense.weight^T))) "
        "@ tok_embeddings^T + decoder.bias; decoder.weight absent (tied); head.dense has no bias "
        "(classifier_bias false); classifier_activation gelu = erf GELU",
        "all LayerNorms: biased variance, eps norm_eps = 1e-5, weight only (norm_bias false)",
        "reference path: HF's eager / sdpa padded path (attn_implementation='eager' or 'sdpa'), "
        "sparse_prediction false (full [B,T,V] logits). With flash_attention_2 HF unpads: real tokens "
        "give the same values, padding positions come back as zeros -> padding positions are "
        "implementation-defined in HF itself",
        f"special ids (real ModernBERT ids kept at the same distance from the vocab end): cls = bos = {CLS}, "
        f"sep = eos = {SEP}, pad = {PAD}, [MASK] = {MASK} (not a config key; used by the training fixture)",
    ],
}


def modernbert_cases(g):
    lo, hi = 0, CLS  # ordinary tokens: ids below the special ones
    cases = []
    ids = [CLS] + mr.rand_ids(g, 5, lo, hi) + [SEP]
    cases.append({"description": f"one sequence, batch 1, T=7: cls({CLS}) ... sep({SEP})",
                  "input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, 7, dtype=torch.int64)})
    lengths = (14, 10, 11)
    seqs = [[CLS] + mr.rand_ids(g, n - 2, lo, hi) + [SEP] for n in lengths]
    ids, mask = mr.pad_batch(seqs, PAD)
    cases.append({"description": f"batch of 3, lengths {list(lengths)}, right-padded with pad id {PAD}, "
                                 "attention_mask 0 on padding; T=14 > window so the local layers mask "
                                 "inside the batch too. Every padding query row still sees >= 1 real key "
                                 "in the local layers (T - length <= 4), so the stored eager values at "
                                 "padding positions are well defined, but HF's flash path returns zeros "
                                 "there: compare attention_mask==1",
                  "input_ids": ids, "attention_mask": mask, "padding": "right",
                  "compare": "attention_mask==1"})
    T = 40
    ids = [CLS] + mr.rand_ids(g, T - 2, lo, hi) + [SEP]
    cases.append({"description": f"one long sequence T={T} (5x local_attention): the sliding window and the "
                                 "local/global rope thetas matter",
                  "input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, T, dtype=torch.int64)})
    return cases


def main():
    cfg = modernbert_config()
    params = modernbert_params(cfg, mr.Init(1004))
    mr.write_model(FOLDER, cfg, params)
    model = hf.load_model(FOLDER)
    cases = modernbert_cases(torch.Generator().manual_seed(2004))
    mr.write_reference(FOLDER, "tiny-modernbert", model, cases, NOTES, generator=GENERATOR)
    total = 0
    for fn in sorted(os.listdir(FOLDER)):
        s = os.path.getsize(os.path.join(FOLDER, fn))
        total += s
        print(f"{s:>10}  tests/data/models/tiny-modernbert/{fn}")
    print(f"{total:>10}  total")


if __name__ == "__main__":
    main()
