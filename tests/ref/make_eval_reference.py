#!/usr/bin/python3
"""Writes the evaluation reference fixture (deterministic, seeded, one thread):

    tests/data/ref/eval-reference.json

  * "causal": exact NLL of tests/data/models/tiny-gpt2 on 2 fixed blocks of ids, as
    src/eval/likelihood.h defines it: per block, -sum_{t=prefix..T-1} log p(x_t | x_<t)
    (natural log), from one forward pass of the whole block (HF GPT2LMHeadModel with
    labels: logits[:, :-1] against ids[:, 1:]).
  * "masked": tests/data/models/tiny-roberta on 2 blocks with fixed masked positions
    (input id 999 stands in for <mask>): the cross-entropy of the original token at
    each masked position, and the argmax there.

The forward pass is the one in hf_models.py (fp32, eval mode); log-softmax is taken in
float64 of the fp32 logits. Tolerance for dlm (fp32): 1e-5 relative on each block's sum.

Run from anywhere:  /usr/bin/python3 tests/ref/make_eval_reference.py
Needs torch + numpy (Debian python3-torch); CI does not run it.
"""

from __future__ import annotations

import json
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hf_models as hf  # noqa: E402

REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
MODELS = os.path.join(REPO, "tests", "data", "models")
OUT = os.path.join(REPO, "tests", "data", "ref", "eval-reference.json")
GENERATOR = "tests/ref/make_eval_reference.py"

torch.set_num_threads(1)


def causal_case(gen: torch.Generator) -> dict:
    model = hf.load_model(os.path.join(MODELS, "tiny-gpt2"))
    T, prefix = 48, 5
    ids = torch.randint(0, 999, (2, T), generator=gen)
    ids[1, 20] = 999  # <|endoftext|> inside a block: scored like any token
    logits = model.forward(ids).logits.double()          # [B, T, V]
    logp = F.log_softmax(logits[:, :-1], dim=-1)          # row t predicts token t + 1
    tok_nll = -logp.gather(-1, ids[:, 1:, None])[..., 0]  # [B, T-1]; entry t-1 is token t
    per_block = tok_nll[:, prefix - 1:].sum(dim=1)
    return {
        "model": "tests/data/models/tiny-gpt2",
        "block_size": T,
        "prefix": prefix,
        "ids": ids.tolist(),
        "nll_per_block": per_block.tolist(),
        "nll_total": float(per_block.sum()),
        "tokens_scored": 2 * (T - prefix),
    }


def masked_case(gen: torch.Generator) -> dict:
    model = hf.load_model(os.path.join(MODELS, "tiny-roberta"))
    T, mask_id = 24, 999
    ids = torch.randint(4, 999, (2, T), generator=gen)
    ids[:, 0], ids[:, -1] = 0, 2  # <s> ... </s>
    masked = [[3, 4, 9, 15, 16, 22], [1, 2, 5, 6, 7, 8, 11, 12, 13, 20]]
    inp = ids.clone()
    for b, pos in enumerate(masked):
        inp[b, pos] = mask_id
    logits = model.forward(inp).logits.double()
    ce, argmax = [], []
    for b, pos in enumerate(masked):
        lp = F.log_softmax(logits[b, pos], dim=-1)
        ce.append((-lp.gather(-1, ids[b, pos][:, None])[:, 0]).tolist())
        argmax.append(lp.argmax(dim=-1).tolist())
    return {
        "model": "tests/data/models/tiny-roberta",
        "block_size": T,
        "mask_id": mask_id,
        "ids": ids.tolist(),
        "masked": masked,
        "ce": ce,
        "argmax": argmax,
    }


def main() -> None:
    gen = torch.Generator().manual_seed(20240611)
    out = {
        "generator": GENERATOR,
        "tolerance": "per block sum (causal) and per row (masked): 1e-5 relative, fp32",
        "causal": causal_case(gen),
        "masked": masked_case(gen),
    }
    text = json.dumps(out, indent=1) + "\n"
    tmp = OUT + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, OUT)
    print(f"wrote {os.path.relpath(OUT, REPO)}: causal total NLL {out['causal']['nll_total']:.6f}")


if __name__ == "__main__":
    main()
