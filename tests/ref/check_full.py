#!/usr/bin/python3
"""Full-size check of the dlm binary against the PyTorch reference (not run by CI).

Builds random checkpoints shaped like roberta-base (12 layers, 768, 12 heads, FFN 3072,
vocab 50265, max_pos 514) and gpt2 small (12 layers, 768, 12 heads, vocab 50257,
n_positions 1024) in HF layout with HF's own init (normal std 0.02, zero biases,
LayerNorm 1/0, GPT-2 c_proj std 0.02/sqrt(2*n_layer); or --init scaled) under a work
folder in /tmp, runs

    <dlm> logits -m DIR --ids "0 31414 232 2 ..." -o out.npy      (float32 [T, vocab])

and compares out.npy with tests/ref/hf_models.py. Prints max abs diff, max |ref| and
their ratio per model; exits 1 if any ratio > 1e-4 (or the binary fails), 2 on usage
errors.

    /usr/bin/python3 tests/ref/check_full.py [DLM]            # default /work/main/build/dlm
    /usr/bin/python3 tests/ref/check_full.py --only gpt2 --tiny build/dlm
    /usr/bin/python3 tests/ref/check_full.py --no-run          # only build + reference

--tiny also runs the committed tiny fixtures (tests/data/models/*, case0) through dlm.
The checkpoints are cached in the work folder (about 1 GB); delete it when done.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hf_models as hf  # noqa: E402
import make_reference as mr  # noqa: E402

REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
TOL = 1e-4

# "<s>Hello world, this is a <mask> test of the model.</s>"-like ids (roberta-base vocab)
ROBERTA_IDS = "0 31414 232 6 42 16 10 50264 1296 9 5 1421 4 2"
# "Hello world, I'm a language model." (gpt2 vocab)
GPT2_IDS = "15496 995 11 314 1101 257 3303 2746 13"


def build_roberta(folder, seed, init):
    cfg = mr.roberta_config(torch_dtype="float32")  # the real roberta-base config
    params = mr.bertlike_params(cfg, "roberta", "lm_head", mr.Init(seed), hf_init=(init == "hf"),
                                mat_std=cfg["hidden_size"] ** -0.5)
    mr.write_model(folder, cfg, params)


def build_gpt2(folder, seed, init):
    cfg = mr.gpt2_config()  # gpt2 small
    params = mr.gpt2_params(cfg, mr.Init(seed), hf_init=(init == "hf"), mat_std=cfg["n_embd"] ** -0.5)
    mr.write_model(folder, cfg, params,
                   extra_files={"generation_config.json": {"bos_token_id": 50256, "eos_token_id": 50256}})


def ensure(folder, builder, seed, init):
    stamp = os.path.join(folder, ".check_full.json")
    want = {"seed": seed, "builder": builder.__name__, "init": init, "version": 2}
    if os.path.exists(stamp):
        with open(stamp) as f:
            if json.load(f) == want:
                return False
    t0 = time.time()
    builder(folder, seed, init)
    with open(stamp, "w") as f:
        json.dump(want, f)
    print(f"  wrote {folder} in {time.time() - t0:.1f}s "
          f"({os.path.getsize(os.path.join(folder, 'model.safetensors')) / 1e6:.0f} MB)")
    return True


def reference_logits(folder, ids):
    model = hf.load_model(folder)
    out = model.forward(torch.tensor([ids], dtype=torch.int64))
    return out.logits[0].numpy()


def run_dlm(dlm, folder, ids, out_path):
    if os.path.exists(out_path):
        os.remove(out_path)
    cmd = [dlm, "logits", "-m", folder, "--ids", " ".join(str(i) for i in ids), "-o", out_path]
    print("  $ " + " ".join(f'"{c}"' if " " in c else c for c in cmd))
    t0 = time.time()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       env=dict(os.environ, DLM=dlm))
    dt = time.time() - t0
    if r.stdout.strip():
        print("    " + r.stdout.strip().replace("\n", "\n    "))
    if r.returncode != 0:
        print(f"  dlm exited with {r.returncode}")
        return None
    print(f"  dlm took {dt:.2f}s")
    return np.load(out_path)


def compare(name, got, ref):
    if got is None:
        print(f"FAIL {name}: no output")
        return False
    if got.shape != ref.shape or got.dtype != np.float32:
        print(f"FAIL {name}: got {got.dtype} {list(got.shape)}, want float32 {list(ref.shape)}")
        return False
    if not np.isfinite(got).all():
        print(f"FAIL {name}: non-finite values")
        return False
    diff = float(np.abs(got.astype(np.float64) - ref).max())
    mref = float(np.abs(ref).max())
    ratio = diff / max(mref, 1e-30)
    ok = ratio <= TOL
    print(f"{'ok  ' if ok else 'FAIL'} {name}: max abs diff {diff:.3e}, max |ref| {mref:.3e}, "
          f"ratio {ratio:.3e} (limit {TOL:g}); argmax agree "
          f"{float((got.argmax(-1) == ref.argmax(-1)).mean()) * 100:.0f}%")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dlm", nargs="?", default="/work/main/build/dlm", help="path to the dlm binary")
    ap.add_argument("--workdir", default="/tmp/dlm-check-full")
    ap.add_argument("--only", choices=["roberta", "gpt2"], action="append",
                    help="restrict to one model (repeatable)")
    ap.add_argument("--roberta-ids", default=ROBERTA_IDS)
    ap.add_argument("--gpt2-ids", default=GPT2_IDS)
    ap.add_argument("--seed", type=int, default=4242)
    ap.add_argument("--init", choices=["hf", "scaled"], default="hf",
                    help="hf: HF's init (std 0.02, zero biases, LayerNorm 1/0); scaled: matrices "
                         "std 1/sqrt(C), embeddings 0.5, random biases and LayerNorm weights "
                         "(larger activations, so that small semantic slips are not hidden)")
    ap.add_argument("--tiny", action="store_true", help="also check the committed tiny fixtures (case0)")
    ap.add_argument("--no-run", action="store_true", help="build checkpoints and references only")
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))

    run = not args.no_run
    if run and not os.access(args.dlm, os.X_OK):
        print(f"error: dlm binary not found or not executable: {args.dlm} "
              "(pass its path, or --no-run)", file=sys.stderr)
        return 2

    os.makedirs(args.workdir, exist_ok=True)
    jobs = []
    which = args.only or ["roberta", "gpt2"]
    if "roberta" in which:
        jobs.append(("roberta-base-random", build_roberta, [int(x) for x in args.roberta_ids.split()]))
    if "gpt2" in which:
        jobs.append(("gpt2-small-random", build_gpt2, [int(x) for x in args.gpt2_ids.split()]))

    ok = True
    for name, builder, ids in jobs:
        folder = os.path.join(args.workdir, name + ("" if args.init == "hf" else "-" + args.init))
        print(f"[{name}] {folder}")
        ensure(folder, builder, args.seed, args.init)
        t0 = time.time()
        ref = reference_logits(folder, ids).astype(np.float64)
        print(f"  reference logits {list(ref.shape)} in {time.time() - t0:.1f}s, max |ref| {np.abs(ref).max():.3e}")
        np.save(os.path.join(args.workdir, name + ".ref.npy"), ref.astype(np.float32))
        if run:
            got = run_dlm(args.dlm, folder, ids, os.path.join(args.workdir, name + ".out.npy"))
            ok &= compare(name, got, ref)

    if args.tiny and run:
        base = os.path.join(REPO, "tests", "data", "models")
        for name in sorted(os.listdir(base)):
            folder = os.path.join(base, name)
            refs = hf.load_safetensors(os.path.join(folder, "reference.safetensors"))
            ids = refs["case0.input_ids"][0].tolist()
            print(f"[{name}]")
            got = run_dlm(args.dlm, folder, ids, os.path.join(args.workdir, name + ".out.npy"))
            ok &= compare(name, got, refs["case0.logits"][0].double().numpy())

    if not run:
        print("built checkpoints and references only (--no-run)")
        return 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
