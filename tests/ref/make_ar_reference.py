#!/usr/bin/python3
"""Writes the greedy-generation fixture of the autoregressive decoder:

    tests/data/ref/ar-greedy.safetensors + ar-greedy.json

Greedy decoding the slow, obviously right way: one full forward pass of
tests/ref/hf_models.py's GPT2LMHeadModel over the whole sequence per new token (no KV
cache), argmax of the last position's logits (first index on ties, like torch.argmax
and dlm's token_argmax). The left-padded batch follows HF generate: attention_mask 0 on
the padding, position_ids = cumsum(attention_mask) - 1 with 1 at padding
(GPT2LMHeadModel.prepare_inputs_for_generation).

Reads (never writes) tests/data/models/tiny-gpt2 and tiny-gpt2-random.
Run from anywhere:  /usr/bin/python3 tests/ref/make_ar_reference.py
Needs torch + numpy (Debian python3-torch 1.13); CI does not run it.
"""

from __future__ import annotations

import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hf_models as hf  # noqa: E402
from make_reference import write_json  # noqa: E402

REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
MODELS = os.path.join(REPO, "tests", "data", "models")
OUT = os.path.join(REPO, "tests", "data", "ref", "ar-greedy")
NEW_TOKENS = 20

torch.set_num_threads(1)


def generation_positions(mask):
    """HF prepare_inputs_for_generation: cumsum(attention_mask) - 1, 1 at padding."""
    pos = mask.cumsum(-1) - 1
    return pos.masked_fill(mask == 0, 1)


def greedy(model, ids, mask, steps):
    """ids, mask [B,T] (left-padded); returns (new ids [B,steps], margins [B,steps]):
    margin = (top1 - top2 logit) / max|logit| at each step, how far from a tie."""
    new, margins = [], []
    for _ in range(steps):
        out = model.forward(ids, mask, generation_positions(mask))
        last = out.logits[:, -1, :]
        top = torch.topk(last, 2, dim=-1).values
        margins.append((top[:, 0] - top[:, 1]) / last.abs().max(dim=-1).values)
        nxt = torch.argmax(last, dim=-1)
        new.append(nxt)
        ids = torch.cat([ids, nxt[:, None]], dim=1)
        mask = torch.cat([mask, torch.ones_like(nxt)[:, None]], dim=1)
    return torch.stack(new, 1), torch.stack(margins, 1).to(torch.float32)


def left_pad(seqs, pad_id):
    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), pad_id, dtype=torch.int64)
    mask = torch.zeros((len(seqs), T), dtype=torch.int64)
    for b, s in enumerate(seqs):
        ids[b, T - len(s):] = torch.tensor(s)
        mask[b, T - len(s):] = 1
    return ids, mask


def main():
    tensors, cases = {}, []
    g = torch.Generator().manual_seed(4001)
    prompts = {
        # random ids below the eos id 999
        "tiny-gpt2": torch.randint(0, 999, (6,), generator=g).tolist(),
        # '<|endoftext|>Hello world, the' in the GPT-2 vocabulary
        "tiny-gpt2-random": [50256, 15496, 995, 11, 262],
    }
    for name, prompt in prompts.items():
        model = hf.load_model(os.path.join(MODELS, name))
        ids = torch.tensor([prompt])
        new, margin = greedy(model, ids, torch.ones_like(ids), NEW_TOKENS)
        tensors[f"{name}.prompt"] = ids[0].contiguous()
        tensors[f"{name}.greedy"] = new[0].contiguous()
        tensors[f"{name}.margin"] = margin[0].contiguous()
        cases.append({"name": name, "prompt": prompt, "greedy": new[0].tolist(),
                      "distinct_tokens": len(set(new[0].tolist())),
                      "min_margin": float(margin.min())})

    # tiny-gpt2: a left-padded batch of 3 prompts of lengths 6 (the one above), 2, 9.
    name = "tiny-gpt2"
    model = hf.load_model(os.path.join(MODELS, name))
    seqs = [prompts[name], torch.randint(0, 999, (2,), generator=g).tolist(),
            torch.randint(0, 999, (9,), generator=g).tolist()]
    ids, mask = left_pad(seqs, 999)
    new, margin = greedy(model, ids, mask, NEW_TOKENS)
    tensors[f"{name}.batch.input_ids"] = ids
    tensors[f"{name}.batch.attention_mask"] = mask
    tensors[f"{name}.batch.greedy"] = new.contiguous()
    tensors[f"{name}.batch.margin"] = margin.contiguous()
    cases.append({"name": f"{name}.batch", "lengths": [len(s) for s in seqs],
                  "greedy": new.tolist(), "min_margin": float(margin.min())})

    hf.save_safetensors(OUT + ".safetensors", tensors,
                        {"format": "pt", "generator": "tests/ref/make_ar_reference.py"})
    write_json(OUT + ".json", {
        "generator": "tests/ref/make_ar_reference.py (full forward per token, tests/ref/hf_models.py)",
        "torch_version": torch.__version__,
        "file": "ar-greedy.safetensors",
        "new_tokens": NEW_TOKENS,
        "tensors": {
            "<model>.prompt": "I64 [T0], the prompt ids",
            "<model>.greedy": f"I64 [{NEW_TOKENS}], greedy continuation (argmax, no eos stop)",
            "<model>.margin": f"F32 [{NEW_TOKENS}], (top1 - top2 logit) / max|logit| at each step",
            "tiny-gpt2.batch.input_ids": "I64 [3,9], three prompts left-padded with 999 (lengths 6, 2, 9)",
            "tiny-gpt2.batch.attention_mask": "I64 [3,9], 1 = real token",
            "tiny-gpt2.batch.greedy": f"I64 [3,{NEW_TOKENS}], greedy continuation of each row",
            "tiny-gpt2.batch.margin": f"F32 [3,{NEW_TOKENS}]",
        },
        "positions": "cumsum(attention_mask) - 1, 1 at padding (HF prepare_inputs_for_generation)",
        "compare": "exact token equality; margins far above fp32 noise (~1e-6) make it well defined",
        "notes": ["tiny-gpt2-random (n_embd 2, HF init) collapses to one repeated token: a weak check of "
                  "generation, kept because it exercises vocab 50257 and head_dim 1 cheaply",
                  "row 0 of tiny-gpt2.batch is the tiny-gpt2 prompt: left padding must not change it"],
        "cases": cases,
    })
    for c in cases:
        print(c["name"], "min margin", c["min_margin"], "greedy", c["greedy"])


if __name__ == "__main__":
    main()
