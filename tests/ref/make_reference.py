#!/usr/bin/python3
"""Writes the committed PyTorch reference fixtures (deterministic, seeded):

    tests/data/models/tiny-roberta/         RobertaForMaskedLM, F32, decoder tied
    tests/data/models/tiny-roberta-bf16/    same weights stored as BF16
    tests/data/models/tiny-roberta-f16/     same weights stored as F16
    tests/data/models/tiny-bert/            BertForMaskedLM, F32, decoder tied
    tests/data/models/tiny-gpt2/            GPT2LMHeadModel, F32, lm_head tied
    tests/data/models/tiny-gpt2-noprefix/   same weights, GPT2Model keys (no 'transformer.'),
                                            plus the legacy attn.bias / attn.masked_bias buffers
    tests/data/models/tiny-gpt2-random/     copy of shared/data/models/tiny-gpt2-random
    each with reference.safetensors + reference.json
    tests/data/ref/kernels.safetensors + kernels.json   per-kernel forward/backward values

Run from anywhere:  /usr/bin/python3 tests/ref/make_reference.py
Needs torch + numpy (Debian python3-torch); CI does not run it.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hf_models as hf  # noqa: E402

REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
MODELS = os.path.join(REPO, "tests", "data", "models")
REFDIR = os.path.join(REPO, "tests", "data", "ref")
SHARED_GPT2 = os.environ.get("DLM_SHARED_TINY_GPT2",
                             "/work/shared/data/models/tiny-gpt2-random")
ROBERTA_BASE_CONFIG = os.environ.get("DLM_ROBERTA_BASE_CONFIG",
                                     "/work/shared/data/tokenizers/roberta-base/config.json")

TOL_NOTE = ("fp32: max|got-ref| <= 1e-4 * max|ref| per tensor; for padded cases compare "
            "the positions named by 'compare'")

torch.set_num_threads(1)  # bitwise reproducible fixtures across machines as far as torch allows


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------

def write_json(path, obj):
    text = json.dumps(obj, indent=2)
    # keep short lists of numbers on one line ("shape": [2, 5, 8])
    text = re.sub(r"\[\s*(-?[\d.e+-]+(?:,\s*-?[\d.e+-]+)*)\s*\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
    tmp = path + ".tmp.write"
    with open(tmp, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, path)


def sorted_dict(d):
    return {k: d[k] for k in sorted(d)}


class Init:
    """Larger-than-HF random init so that errors are not hidden by tiny activations."""

    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def mat(self, *shape, std=0.2):
        return torch.randn(*shape, generator=self.g) * std

    def ln_w(self, n):
        return 1.0 + 0.1 * torch.randn(n, generator=self.g)

    def bias(self, n):
        return 0.1 * torch.randn(n, generator=self.g)


# --------------------------------------------------------------------------------------
# configs
# --------------------------------------------------------------------------------------

def roberta_config(**over):
    with open(ROBERTA_BASE_CONFIG) as f:
        cfg = json.load(f)  # the real roberta-base config.json as the template
    cfg.setdefault("position_embedding_type", "absolute")
    cfg.setdefault("classifier_dropout", None)
    cfg.setdefault("use_cache", True)
    cfg.update(over)
    return sorted_dict(cfg)


def bert_config(**over):
    cfg = {
        "architectures": ["BertForMaskedLM"],
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None,
        "gradient_checkpointing": False,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": 768,
        "initializer_range": 0.02,
        "intermediate_size": 3072,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": 512,
        "model_type": "bert",
        "num_attention_heads": 12,
        "num_hidden_layers": 12,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
        "type_vocab_size": 2,
        "use_cache": True,
        "vocab_size": 30522,
    }
    cfg.update(over)
    return sorted_dict(cfg)


def gpt2_config(**over):
    cfg = {
        "activation_function": "gelu_new",
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.1,
        "bos_token_id": 50256,
        "embd_pdrop": 0.1,
        "eos_token_id": 50256,
        "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-05,
        "model_type": "gpt2",
        "n_ctx": 1024,
        "n_embd": 768,
        "n_head": 12,
        "n_inner": None,
        "n_layer": 12,
        "n_positions": 1024,
        "reorder_and_upcast_attn": False,
        "resid_pdrop": 0.1,
        "scale_attn_by_inverse_layer_idx": False,
        "scale_attn_weights": True,
        "summary_activation": None,
        "summary_first_dropout": 0.1,
        "summary_proj_to_labels": True,
        "summary_type": "cls_index",
        "summary_use_proj": True,
        "task_specific_params": {"text-generation": {"do_sample": True, "max_length": 50}},
        "torch_dtype": "float32",
        "use_cache": True,
        "vocab_size": 50257,
    }
    cfg.update(over)
    return sorted_dict(cfg)


# --------------------------------------------------------------------------------------
# random checkpoints in HF layout (also used by check_full.py)
# --------------------------------------------------------------------------------------

def bertlike_params(cfg, prefix, head, init: Init, emb_std=None, mat_std=None, hf_init=False):
    """HF-named parameters for RobertaForMaskedLM (prefix 'roberta', head 'lm_head') or
    BertForMaskedLM (prefix 'bert', head 'cls'). hf_init=True: HF's own init
    (normal 0.02, zero biases, LayerNorm 1/0); otherwise the larger fixture init."""
    C, V, I = cfg["hidden_size"], cfg["vocab_size"], cfg["intermediate_size"]
    P, TV, L = cfg["max_position_embeddings"], cfg["type_vocab_size"], cfg["num_hidden_layers"]
    std = cfg["initializer_range"] if hf_init else (mat_std or 0.2)
    estd = cfg["initializer_range"] if hf_init else (emb_std or 0.5)
    mat = lambda *s: init.mat(*s, std=std)
    bias = (lambda n: torch.zeros(n)) if hf_init else init.bias
    ln_w = (lambda n: torch.ones(n)) if hf_init else init.ln_w
    p = {}
    e = prefix + ".embeddings."
    p[e + "word_embeddings.weight"] = init.mat(V, C, std=estd)
    p[e + "position_embeddings.weight"] = init.mat(P, C, std=estd)
    p[e + "token_type_embeddings.weight"] = init.mat(TV, C, std=estd)
    if hf_init:  # HF zeroes the padding_idx row of nn.Embedding(padding_idx=pad)
        p[e + "word_embeddings.weight"][cfg["pad_token_id"]] = 0
        if prefix == "roberta":
            p[e + "position_embeddings.weight"][cfg["pad_token_id"]] = 0
    p[e + "LayerNorm.weight"] = ln_w(C)
    p[e + "LayerNorm.bias"] = bias(C)
    for i in range(L):
        l = f"{prefix}.encoder.layer.{i}."
        for n in ("query", "key", "value"):
            p[l + f"attention.self.{n}.weight"] = mat(C, C)
            p[l + f"attention.self.{n}.bias"] = bias(C)
        p[l + "attention.output.dense.weight"] = mat(C, C)
        p[l + "attention.output.dense.bias"] = bias(C)
        p[l + "attention.output.LayerNorm.weight"] = ln_w(C)
        p[l + "attention.output.LayerNorm.bias"] = bias(C)
        p[l + "intermediate.dense.weight"] = mat(I, C)
        p[l + "intermediate.dense.bias"] = bias(I)
        p[l + "output.dense.weight"] = mat(C, I)
        p[l + "output.dense.bias"] = bias(C)
        p[l + "output.LayerNorm.weight"] = ln_w(C)
        p[l + "output.LayerNorm.bias"] = bias(C)
    if head == "lm_head":
        p["lm_head.dense.weight"] = mat(C, C)
        p["lm_head.dense.bias"] = bias(C)
        p["lm_head.layer_norm.weight"] = ln_w(C)
        p["lm_head.layer_norm.bias"] = bias(C)
        p["lm_head.bias"] = bias(V)
    else:
        c = "cls.predictions."
        p[c + "transform.dense.weight"] = mat(C, C)
        p[c + "transform.dense.bias"] = bias(C)
        p[c + "transform.LayerNorm.weight"] = ln_w(C)
        p[c + "transform.LayerNorm.bias"] = bias(C)
        p[c + "bias"] = bias(V)
    return sorted_dict(p)


def gpt2_params(cfg, init: Init, hf_init=False, mat_std=None, emb_std=None):
    C, V, L, NP = cfg["n_embd"], cfg["vocab_size"], cfg["n_layer"], cfg["n_positions"]
    I = cfg.get("n_inner") or 4 * C
    std = cfg["initializer_range"] if hf_init else (mat_std or 0.2)
    estd = cfg["initializer_range"] if hf_init else (emb_std or 0.5)
    # HF GPT-2 init: c_proj weights get std 0.02/sqrt(2*n_layer)
    pstd = std / math.sqrt(2 * L) if hf_init else std
    bias = (lambda n: torch.zeros(n)) if hf_init else init.bias
    ln_w = (lambda n: torch.ones(n)) if hf_init else init.ln_w
    p = {"transformer.wte.weight": init.mat(V, C, std=estd),
         "transformer.wpe.weight": init.mat(NP, C, std=estd)}
    for i in range(L):
        h = f"transformer.h.{i}."
        p[h + "ln_1.weight"] = ln_w(C)
        p[h + "ln_1.bias"] = bias(C)
        p[h + "attn.c_attn.weight"] = init.mat(C, 3 * C, std=std)   # Conv1D: [in, out]
        p[h + "attn.c_attn.bias"] = bias(3 * C)
        p[h + "attn.c_proj.weight"] = init.mat(C, C, std=pstd)
        p[h + "attn.c_proj.bias"] = bias(C)
        p[h + "ln_2.weight"] = ln_w(C)
        p[h + "ln_2.bias"] = bias(C)
        p[h + "mlp.c_fc.weight"] = init.mat(C, I, std=std)
        p[h + "mlp.c_fc.bias"] = bias(I)
        p[h + "mlp.c_proj.weight"] = init.mat(I, C, std=pstd)
        p[h + "mlp.c_proj.bias"] = bias(C)
    p["transformer.ln_f.weight"] = ln_w(C)
    p["transformer.ln_f.bias"] = bias(C)
    return sorted_dict(p)


def write_model(folder, cfg, params, dtype=torch.float32, extra_files=None):
    os.makedirs(folder, exist_ok=True)
    write_json(os.path.join(folder, "config.json"), cfg)
    hf.save_safetensors(os.path.join(folder, "model.safetensors"),
                        {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in params.items()},
                        {"format": "pt"})
    for name, obj in (extra_files or {}).items():
        write_json(os.path.join(folder, name), obj)


# --------------------------------------------------------------------------------------
# cases and reference outputs
# --------------------------------------------------------------------------------------

def pad_batch(seqs, pad_id, left=False):
    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), pad_id, dtype=torch.int64)
    mask = torch.zeros((len(seqs), T), dtype=torch.int64)
    for b, s in enumerate(seqs):
        if left:
            ids[b, T - len(s):] = torch.tensor(s)
            mask[b, T - len(s):] = 1
        else:
            ids[b, :len(s)] = torch.tensor(s)
            mask[b, :len(s)] = 1
    return ids, mask


def write_reference(folder, model_name, model, cases, notes, generator="tests/ref/make_reference.py"):
    """cases: list of dicts {description, input_ids, attention_mask, compare}"""
    tensors = {}
    meta_cases = []
    for k, c in enumerate(cases):
        ids, mask = c["input_ids"], c["attention_mask"]
        out = model.forward(ids, mask)
        n = f"case{k}."
        tensors[n + "input_ids"] = ids
        tensors[n + "attention_mask"] = mask
        if hasattr(model, "position_ids"):
            tensors[n + "position_ids"] = model.position_ids(ids).contiguous()
        else:
            tensors[n + "position_ids"] = torch.arange(ids.shape[1])[None, :].expand_as(ids).contiguous()
        tensors[n + "logits"] = out.logits.contiguous()
        for l, h in enumerate(out.hidden_states):
            tensors[n + f"hidden.{l}"] = h.contiguous()
        B, T = ids.shape
        meta_cases.append({
            "name": f"case{k}",
            "description": c["description"],
            "batch": B, "seq_len": T,
            "lengths": mask.sum(1).tolist(),
            "padding": c.get("padding", "none"),
            "compare": c.get("compare", "all"),
            "num_hidden": len(out.hidden_states),
            "max_abs_logit": float(out.logits.abs().max()),
        })
    hf.save_safetensors(os.path.join(folder, "reference.safetensors"), tensors,
                        {"format": "pt", "generator": generator})
    cfg = model.cfg
    V = cfg["vocab_size"]
    C = cfg.get("hidden_size", cfg.get("n_embd"))
    write_json(os.path.join(folder, "reference.json"), {
        "model": model_name,
        "architecture": cfg["architectures"][0],
        "generator": f"{generator} (independent PyTorch implementation in tests/ref/hf_models.py)",
        "torch_version": torch.__version__,
        "file": "reference.safetensors",
        "tensors": {
            "caseK.input_ids": "I64 [B,T]",
            "caseK.attention_mask": "I64 [B,T], 1 = real token, 0 = padding",
            "caseK.position_ids": "I64 [B,T], the position ids the HF forward used (informational)",
            "caseK.logits": f"F32 [B,T,V] (V={V})",
            "caseK.hidden.l": f"F32 [B,T,C] (C={C}), l = 0..num_hidden-1, HF output_hidden_states[l]",
        },
        "hidden_states": notes["hidden_states"],
        "notes": notes.get("notes", []),
        "tolerance": TOL_NOTE,
        "compare_values": {
            "all": "every position (padding positions included: their values are well defined in HF)",
            "attention_mask==1": "only positions whose attention_mask is 1 (padded query rows are "
                                 "implementation-defined in HF itself for this case)",
        },
        "cases": meta_cases,
    })
    return tensors


def rand_ids(g, n, lo, hi):
    return torch.randint(lo, hi, (n,), generator=g).tolist()


def bertlike_cases(g, V, pad, bos, eos, max_len, lengths=(9, 5, 7)):
    lo = max(pad, bos, eos) + 1
    cases = []
    ids = [bos] + rand_ids(g, 5, lo, V) + [eos]
    cases.append({"description": "one sequence, batch 1, T=7: bos ... eos",
                  "input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, 7, dtype=torch.int64)})
    seqs = [[bos] + rand_ids(g, n - 2, lo, V) + [eos] for n in lengths]
    ids, mask = pad_batch(seqs, pad)
    cases.append({"description": f"batch of 3, lengths {list(lengths)}, right-padded with pad id {pad}, "
                                 "attention_mask 0 on padding",
                  "input_ids": ids, "attention_mask": mask, "padding": "right"})
    ids = [bos] + rand_ids(g, max_len - 2, lo, V) + [eos]
    cases.append({"description": f"one sequence at the maximum usable length T={max_len}",
                  "input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, max_len, dtype=torch.int64)})
    # a batch where a real token equals the pad id inside the sequence is not HF-meaningful; skipped
    return cases


BERT_NOTES = {
    "roberta": {
        "hidden_states": "hidden.0 = embeddings output (after embeddings LayerNorm); hidden.l = output "
                         "of encoder layer l (post-LN, so no extra norm); the last one feeds lm_head",
        "notes": [
            "position_ids = cumsum(input_ids != pad) * (input_ids != pad) + pad_token_id: the first real "
            "token gets pad+1 (=2); padding tokens get position pad (=1); right padding keeps the real "
            "tokens' positions equal to the unpadded run",
            "token_type_ids are all zero (token_type_embeddings row 0 is added)",
            "attention: scores/sqrt(head_dim) + (1-mask)*finfo(float32).min on masked keys "
            "(broadcast over heads and queries); padding query rows still attend to real keys",
            "lm_head: dense -> exact erf gelu -> layer_norm(eps=layer_norm_eps) -> "
            "x @ word_embeddings.weight^T + lm_head.bias (lm_head.decoder.weight is absent: tied)",
        ],
    },
    "bert": {
        "hidden_states": "hidden.0 = embeddings output (after embeddings LayerNorm); hidden.l = output "
                         "of encoder layer l (post-LN); the last one feeds cls.predictions",
        "notes": [
            "position_ids = 0..T-1 for every row (padding does not change them)",
            "token_type_ids are all zero",
            "layer_norm_eps = 1e-12 (BERT's value) everywhere, including cls.predictions.transform.LayerNorm",
            "attention mask as RoBERTa: + (1-mask)*finfo(float32).min on masked keys",
            "head: transform.dense -> hidden_act (gelu = erf) -> transform.LayerNorm -> "
            "x @ bert.embeddings.word_embeddings.weight^T + cls.predictions.bias (decoder tied, absent)",
        ],
    },
}

GPT2_NOTES = {
    "hidden_states": "hidden.l for l < n_layer = input of block l (hidden.0 = wte[ids] + wpe[pos]); "
                     "hidden.n_layer = ln_f(output of the last block) -- exactly what HF's "
                     "output_hidden_states returns (the raw last block output is not stored)",
    "notes": [
        "position_ids = arange(T) for every row, also for padded batches (plain HF forward; "
        "generate() would derive them from the mask instead)",
        "Conv1D weights are [in, out]: y = x @ W + b; c_attn output columns are q | k | v, "
        "each split into heads as view(B,T,NH,HD)",
        "attention: s = q k^T / sqrt(head_dim); s = where(j <= i, s, finfo(float32).min); "
        "s = s + (1-mask[key])*finfo(float32).min; softmax; (masked+causal entries become -inf)",
        "left padding: the padding query rows have no visible real key, their values depend on the "
        "masking convention (HF's eager and sdpa paths differ) -> compare only attention_mask==1",
        "lm_head.weight is absent: logits = ln_f(h) @ wte^T, no bias",
        "gelu_new = 0.5*x*(1+tanh(sqrt(2/pi)*(x+0.044715*x^3)))",
    ],
}


def gpt2_cases(g, V, eos, n_pos, lengths=(9, 4, 6)):
    cases = []
    ids = rand_ids(g, 7, 0, V)
    cases.append({"description": "one sequence, batch 1, T=7, random ids",
                  "input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, 7, dtype=torch.int64)})
    seqs = [rand_ids(g, n, 0, V) for n in lengths]
    ids, mask = pad_batch(seqs, eos)
    cases.append({"description": f"batch of 3, lengths {list(lengths)}, right-padded with eos id {eos} "
                                 "(GPT-2 has no pad token), attention_mask 0 on padding",
                  "input_ids": ids, "attention_mask": mask, "padding": "right"})
    ids, mask = pad_batch(seqs, eos, left=True)
    cases.append({"description": "the same 3 sequences left-padded with eos id, attention_mask 0 on "
                                 "padding; positions are still arange(T)",
                  "input_ids": ids, "attention_mask": mask, "padding": "left",
                  "compare": "attention_mask==1"})
    ids = rand_ids(g, n_pos, 0, V)
    cases.append({"description": f"one sequence at the maximum length T=n_positions={n_pos}",
                  "input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, n_pos, dtype=torch.int64)})
    return cases


# --------------------------------------------------------------------------------------
# the model fixtures
# --------------------------------------------------------------------------------------

def make_roberta():
    cfg = roberta_config(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=64, max_position_embeddings=40, torch_dtype="float32")
    params = bertlike_params(cfg, "roberta", "lm_head", Init(1001))
    g = torch.Generator().manual_seed(2001)
    max_len = cfg["max_position_embeddings"] - cfg["pad_token_id"] - 1  # 38
    cases = bertlike_cases(g, cfg["vocab_size"], pad=1, bos=0, eos=2, max_len=max_len)
    written = {}
    for name, dtype, tname in (("tiny-roberta", torch.float32, "float32"),
                               ("tiny-roberta-bf16", torch.bfloat16, "bfloat16"),
                               ("tiny-roberta-f16", torch.float16, "float16")):
        folder = os.path.join(MODELS, name)
        c = dict(cfg, torch_dtype=tname)
        write_model(folder, c, params, dtype)
        # reference from the weights as stored (rounded), converted to fp32
        model = hf.load_model(folder)
        notes = json.loads(json.dumps(BERT_NOTES["roberta"]))
        if dtype != torch.float32:
            notes["notes"].append(f"weights stored as {tname}; the reference uses exactly those rounded "
                                  "values converted to float32 and computes in float32")
        written[name] = write_reference(folder, name, model, cases, notes)
    return written


def make_bert():
    cfg = bert_config(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=64, max_position_embeddings=40)
    params = bertlike_params(cfg, "bert", "cls", Init(1002))
    folder = os.path.join(MODELS, "tiny-bert")
    write_model(folder, cfg, params)
    g = torch.Generator().manual_seed(2002)
    # bert-base-uncased ids: [CLS]=101, [SEP]=102, [PAD]=0
    cases = bertlike_cases(g, cfg["vocab_size"], pad=0, bos=101, eos=102,
                           max_len=cfg["max_position_embeddings"])
    return write_reference(folder, "tiny-bert", hf.load_model(folder), cases, BERT_NOTES["bert"])


def make_gpt2():
    V = 1000
    cfg = gpt2_config(vocab_size=V, n_embd=32, n_layer=2, n_head=4, n_positions=64, n_ctx=64,
                      bos_token_id=V - 1, eos_token_id=V - 1)
    params = gpt2_params(cfg, Init(1003))
    gen_cfg = {"_from_model_config": True, "bos_token_id": V - 1, "eos_token_id": V - 1}
    folder = os.path.join(MODELS, "tiny-gpt2")
    write_model(folder, cfg, params, extra_files={"generation_config.json": gen_cfg})
    g = torch.Generator().manual_seed(2003)
    cases = gpt2_cases(g, V, V - 1, cfg["n_positions"])
    out = {"tiny-gpt2": write_reference(folder, "tiny-gpt2", hf.load_model(folder), cases, GPT2_NOTES)}

    # hub-'gpt2'-style GPT2Model checkpoint: no 'transformer.' prefix, plus legacy buffers
    folder = os.path.join(MODELS, "tiny-gpt2-noprefix")
    NP = cfg["n_positions"]
    noprefix = {}
    for k, v in params.items():
        noprefix[k[len("transformer."):]] = v
    for i in range(cfg["n_layer"]):
        noprefix[f"h.{i}.attn.bias"] = torch.tril(torch.ones(NP, NP)).view(1, 1, NP, NP)
        noprefix[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4)  # 0-dim tensor, shape []
    noprefix = sorted_dict(noprefix)
    write_model(folder, cfg, noprefix, extra_files={"generation_config.json": gen_cfg})
    notes = json.loads(json.dumps(GPT2_NOTES))
    notes["notes"].append("model.safetensors has GPT2Model keys without the 'transformer.' prefix "
                          "(like the hub's gpt2) and the non-parameter buffers h.{i}.attn.bias "
                          "(F32 [1,1,n_positions,n_positions], lower-triangular ones) and "
                          "h.{i}.attn.masked_bias (F32 0-dim, -1e4): a loader must ignore both; "
                          "same weights and references as tiny-gpt2")
    out["tiny-gpt2-noprefix"] = write_reference(folder, "tiny-gpt2-noprefix", hf.load_model(folder),
                                                cases, notes)
    return out


def make_gpt2_random():
    folder = os.path.join(MODELS, "tiny-gpt2-random")
    os.makedirs(folder, exist_ok=True)
    for name in sorted(os.listdir(SHARED_GPT2)):
        dst = os.path.join(folder, name)
        shutil.copyfile(os.path.join(SHARED_GPT2, name), dst)
        os.chmod(dst, 0o644)
    model = hf.load_model(folder)
    # 'Hello world, the' in the GPT-2 vocabulary, after <|endoftext|>
    ids = torch.tensor([[50256, 15496, 995, 11, 262]])
    cases = [{"description": "one sequence, batch 1, T=5 (vocab 50257: kept short for size)",
              "input_ids": ids, "attention_mask": torch.ones_like(ids)}]
    notes = json.loads(json.dumps(GPT2_NOTES))
    notes["notes"].append("checkpoint copied byte-for-byte from shared/data/models/tiny-gpt2-random "
                          "(saved by transformers 4.52.1; n_embd 2, n_head 2 so head_dim 1)")
    return write_reference(folder, "tiny-gpt2-random", model, cases, notes)


# --------------------------------------------------------------------------------------
# kernel fixtures
# --------------------------------------------------------------------------------------

def make_kernels():
    g = torch.Generator().manual_seed(3001)
    rn = lambda *s, std=1.0: (torch.randn(*s, generator=g) * std)
    B, T, C, NH = 2, 5, 8, 2
    HD = C // NH
    t = {}
    doc = {}

    def grads(out, inputs, dout):
        return torch.autograd.grad(out, inputs, dout)

    # layernorm
    x, w, b = rn(B, T, C), 1 + 0.1 * rn(C), 0.1 * rn(C)
    x.requires_grad_(); w.requires_grad_(); b.requires_grad_()
    y = F.layer_norm(x, (C,), w, b, 1e-5)
    dy = rn(B, T, C)
    dx, dw, db = grads(y, (x, w, b), dy)
    t.update({"layernorm.x": x, "layernorm.weight": w, "layernorm.bias": b, "layernorm.y": y,
              "layernorm.dy": dy, "layernorm.dx": dx, "layernorm.dweight": dw, "layernorm.dbias": db})
    doc["layernorm"] = {
        "shapes": {"x": [B, T, C], "weight": [C], "bias": [C], "y": [B, T, C], "dy": [B, T, C],
                   "dx": [B, T, C], "dweight": [C], "dbias": [C]},
        "eps": 1e-5,
        "formula": "over the last dim: mean = sum(x)/C, var = sum((x-mean)^2)/C (biased), "
                   "y = (x-mean)/sqrt(var+eps)*weight + bias; dweight/dbias summed over B,T",
    }

    # gelu
    for name, fn, formula in (
            ("gelu_erf", lambda z: F.gelu(z), "y = 0.5*x*(1+erf(x/sqrt(2)))  (HF 'gelu')"),
            ("gelu_tanh", hf.gelu_tanh, "y = 0.5*x*(1+tanh(sqrt(2/pi)*(x+0.044715*x^3)))  (HF 'gelu_new')")):
        x = rn(B, T, C, std=2.0).requires_grad_()
        y = fn(x)
        dy = rn(B, T, C)
        (dx,) = grads(y, (x,), dy)
        t.update({f"{name}.x": x, f"{name}.y": y, f"{name}.dy": dy, f"{name}.dx": dx})
        doc[name] = {"shapes": {k: [B, T, C] for k in ("x", "y", "dy", "dx")}, "formula": formula}

    # softmax (one row offset by +100 to catch a missing max subtraction; one row with finfo.min)
    x = rn(B, T, C, std=3.0)
    x[0, 1] += 100.0
    x[1, 2, 5:] = hf.FMIN
    x.requires_grad_()
    y = torch.softmax(x, dim=-1)
    dy = rn(B, T, C)
    (dx,) = grads(y, (x,), dy)
    t.update({"softmax.x": x, "softmax.y": y, "softmax.dy": dy, "softmax.dx": dx})
    doc["softmax"] = {"shapes": {k: [B, T, C] for k in ("x", "y", "dy", "dx")},
                      "formula": "y = exp(x - max) / sum(exp(x - max)) over the last dim; "
                                 "dx = y * (dy - sum(dy*y)); row [0,1] is offset by +100, "
                                 "row [1,2] has finfo(float32).min in its last 3 entries (y = 0 there)"}

    # linear
    N, OC = B * T, 6
    x, w, b = rn(N, C), rn(OC, C, std=0.5), rn(OC, std=0.1)
    for z in (x, w, b):
        z.requires_grad_()
    y = F.linear(x, w, b)
    dy = rn(N, OC)
    dx, dw, db = grads(y, (x, w, b), dy)
    t.update({"linear.x": x, "linear.weight": w, "linear.bias": b, "linear.y": y,
              "linear.dy": dy, "linear.dx": dx, "linear.dweight": dw, "linear.dbias": db})
    doc["linear"] = {"shapes": {"x": [N, C], "weight": [OC, C], "bias": [OC], "y": [N, OC], "dy": [N, OC],
                                "dx": [N, C], "dweight": [OC, C], "dbias": [OC]},
                     "formula": "nn.Linear layout: y = x @ weight^T + bias; dx = dy @ weight; "
                                "dweight = dy^T @ x; dbias = sum_rows(dy)"}

    # embedding (with repeated ids so gradients accumulate)
    VV = 11
    ids = torch.tensor([[3, 7, 3, 0, 10], [7, 7, 1, 3, 5]], dtype=torch.int64)
    table = rn(VV, C).requires_grad_()
    y = F.embedding(ids, table)
    dy = rn(B, T, C)
    (dtable,) = grads(y, (table,), dy)
    t.update({"embedding.ids": ids, "embedding.table": table, "embedding.y": y, "embedding.dy": dy,
              "embedding.dtable": dtable})
    doc["embedding"] = {"shapes": {"ids": [B, T], "table": [VV, C], "y": [B, T, C], "dy": [B, T, C],
                                   "dtable": [VV, C]},
                        "dtypes": {"ids": "I64"},
                        "formula": "y[b,t] = table[ids[b,t]]; dtable[v] = sum of dy[b,t] over ids[b,t]==v "
                                   "(rows never used stay 0; ids repeat on purpose)"}

    # attention
    def attn_case(name, causal, mask):
        q, k, v = rn(B, T, C), rn(B, T, C), rn(B, T, C)
        for z in (q, k, v):
            z.requires_grad_()
        ext = None if mask is None else hf.extended_padding_mask(mask)
        out = hf.attention_core(q, k, v, NH, ext, causal=causal)
        dout = rn(B, T, C)
        dq, dk, dv = grads(out, (q, k, v), dout)
        t.update({f"{name}.q": q, f"{name}.k": k, f"{name}.v": v, f"{name}.out": out,
                  f"{name}.dout": dout, f"{name}.dq": dq, f"{name}.dk": dk, f"{name}.dv": dv})
        shapes = {z: [B, T, C] for z in ("q", "k", "v", "out", "dout", "dq", "dk", "dv")}
        if mask is not None:
            t[f"{name}.mask"] = mask
            shapes["mask"] = [B, T]
        return shapes

    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.int64)
    doc["attention_padded"] = {
        "shapes": attn_case("attention_padded", False, mask),
        "dtypes": {"mask": "I64"},
        "num_heads": NH, "head_dim": HD,
        "layout": "q,k,v,out: [B,T,NH*HD], heads split as view(B,T,NH,HD).permute(0,2,1,3); "
                  "out merged back the same way",
        "formula": "s[b,h,i,j] = q.k / sqrt(HD) + (1-mask[b,j])*finfo(float32).min; "
                   "p = softmax_j(s); out = p @ v. Bidirectional (no causal mask). Row b=1 has its "
                   "last 2 keys masked; its padded query rows still attend to the 3 real keys. "
                   "Gradients flow through every query row (dk, dv of masked keys are 0)",
    }
    doc["attention_causal"] = {
        "shapes": attn_case("attention_causal", True, None),
        "num_heads": NH, "head_dim": HD,
        "layout": "as attention_padded",
        "formula": "s = q.k / sqrt(HD); s = where(j <= i, s, finfo(float32).min); p = softmax_j(s); "
                   "out = p @ v (no padding mask)",
    }

    # cross-entropy with ignore_index -100
    N, V = 6, 11
    logits = rn(N, V, std=2.0).requires_grad_()
    labels = torch.tensor([3, -100, 0, 10, -100, 7], dtype=torch.int64)
    loss = F.cross_entropy(logits, labels, ignore_index=-100, reduction="mean")
    (dlogits,) = grads(loss, (logits,), torch.tensor(1.0))
    t.update({"cross_entropy.logits": logits, "cross_entropy.labels": labels,
              "cross_entropy.loss": loss.reshape(1), "cross_entropy.dlogits": dlogits})
    doc["cross_entropy"] = {
        "shapes": {"logits": [N, V], "labels": [N], "loss": [1], "dlogits": [N, V]},
        "dtypes": {"labels": "I64"},
        "formula": "rows with label -100 are ignored; loss = mean over the n kept rows of "
                   "logsumexp(logits[r]) - logits[r, label[r]]; dlogits[r] = (softmax(logits[r]) - "
                   "onehot(label[r])) / n for kept rows, 0 for ignored rows (dloss = 1)",
    }

    t = {k: v.detach().contiguous() for k, v in t.items()}
    os.makedirs(REFDIR, exist_ok=True)
    hf.save_safetensors(os.path.join(REFDIR, "kernels.safetensors"), t,
                        {"format": "pt", "generator": "tests/ref/make_reference.py"})
    write_json(os.path.join(REFDIR, "kernels.json"), {
        "file": "kernels.safetensors",
        "generator": "tests/ref/make_reference.py (torch autograd, fp32, seed 3001)",
        "torch_version": torch.__version__,
        "dims": {"B": B, "T": T, "C": C, "NH": NH, "HD": HD},
        "naming": "<kernel>.<tensor>; every tensor F32 unless 'dtypes' says otherwise; d<name> = "
                  "gradient of sum(y * dy) with respect to <name> (dy/dout given)",
        "tolerance": "fp32: max|got-ref| <= 1e-4 * max|ref| per tensor (cross_entropy.loss: 1e-5 relative)",
        "kernels": doc,
    })
    return t


def main():
    sizes = {}
    make_roberta()
    make_bert()
    make_gpt2()
    make_gpt2_random()
    make_kernels()
    total = 0
    for root in (MODELS, REFDIR):
        for dp, _, fns in os.walk(root):
            for fn in sorted(fns):
                p = os.path.join(dp, fn)
                s = os.path.getsize(p)
                total += s
                sizes[os.path.relpath(p, REPO)] = s
    for k in sorted(sizes):
        print(f"{sizes[k]:>10}  {k}")
    print(f"{total:>10}  total")


if __name__ == "__main__":
    main()
