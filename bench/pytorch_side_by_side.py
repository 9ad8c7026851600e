#!/usr/bin/python3
"""The workloads of `dlm bench` in PyTorch and in dlm, in one run, with the ratios.

PyTorch side: Debian's python3-torch (scripts/install-deps.sh --dev), eager mode, the
same shapes and work as src/workloads/workloads.cpp:
  diffusion  roberta-base shape, 10 forward passes over a 256-token canvas, random
             re-masking (the remask sampler: the positions to re-mask drawn first, logits
             only at the (step + 1) / 10 of the 240 generated positions that keep their
             token), top-k 50 / top-p 0.95 sampling
  ar         gpt2-small shape, 16 prompt tokens then 240 tokens one at a time with a
             key/value cache, logits at the last position only, top-k/top-p sampling
  train      6-layer hidden-384 RoBERTa, batch 8 x 256, masked-LM loss at 55% of the
             positions, backward, clipping, AdamW
bf16 inference converts the module to bfloat16 (module.to(torch.bfloat16)), as a
PyTorch user would on CPU (torch 1.13's CPU autocast does not cover layer_norm).
Weights are random (speed does not depend on them).

Usage: /usr/bin/python3 bench/pytorch_side_by_side.py [--threads 1,2] [--dtype auto]
           [--workload diffusion,ar,train] [--reps 2] [--rounds 2] [--dlm build/dlm] [--quick]
           [--cpu avx2]
  --dtype  comma list of auto, bf16, f32; auto (the default) is what `dlm bench --dtype auto`
           resolves it to on this machine: bf16 where the CPU has native bf16 matrix
           products, f32 where dlm would emulate them. Both sides run the resolved dtypes.
  --rounds N  PyTorch then dlm, N times in turn; each side keeps its best time (shared
              machines change speed within minutes: a slow spell then hits both sides).
  --quick  tiny shapes, one repetition: checks that the script runs, measures nothing.
  --cpu avx2  both sides as on a CPU without AVX-512, on any CPU: oneDNN held to AVX2
              (DNNL_MAX_CPU_ISA, which also takes away its bf16 kernels), dlm's AVX2
              kernels (DLM_CPU; a portable build, cmake -DDLM_NATIVE=OFF, has them),
              PyTorch's AVX2 kernels (ATEN_CPU_CAPABILITY) and OpenBLAS's Haswell ones
              (OPENBLAS_CORETYPE). The script runs itself again with these set.
"""
import argparse
import ctypes
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shapes(quick):
    if quick:
        return {"mlm": dict(L=2, C=64, H=4, FF=256, V=50265), "gpt2": dict(L=2, C=64, H=4, FF=256, V=50257),
                "train": dict(L=2, C=64, H=4, FF=256, V=50265)}
    return {"mlm": dict(L=12, C=768, H=12, FF=3072, V=50265), "gpt2": dict(L=12, C=768, H=12, FF=3072, V=50257),
            "train": dict(L=6, C=384, H=6, FF=1536, V=50265)}


class Encoder(torch.nn.Module):
    """RoBERTa masked LM (post-LN), the HF layout, enough to time it."""

    def __init__(self, L, C, H, FF, V, positions=514):
        super().__init__()
        self.H = H
        self.word = torch.nn.Embedding(V, C)
        self.pos = torch.nn.Embedding(positions, C)
        self.emb_ln = torch.nn.LayerNorm(C, eps=1e-5)
        self.layers = torch.nn.ModuleList()
        for _ in range(L):
            self.layers.append(torch.nn.ModuleDict(dict(
                qkv=torch.nn.Linear(C, 3 * C), out=torch.nn.Linear(C, C), ln1=torch.nn.LayerNorm(C, eps=1e-5),
                up=torch.nn.Linear(C, FF), down=torch.nn.Linear(FF, C), ln2=torch.nn.LayerNorm(C, eps=1e-5))))
        self.dense = torch.nn.Linear(C, C)
        self.head_ln = torch.nn.LayerNorm(C, eps=1e-5)
        self.bias = torch.nn.Parameter(torch.zeros(V))
        for p in self.parameters():
            if p.dim() > 1:
                torch.nn.init.normal_(p, std=0.02)

    def forward(self, ids, rows, dropout=0.0):
        B, T = ids.shape
        pos = torch.arange(2, T + 2).unsqueeze(0)
        h = self.emb_ln(self.word(ids) + self.pos(pos))
        h = F.dropout(h, dropout, self.training)
        for l in self.layers:
            q, k, v = l["qkv"](h).view(B, T, 3, self.H, -1).permute(2, 0, 3, 1, 4)
            a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), -1)
            a = F.dropout(a, dropout, self.training)
            ctx = (a @ v).transpose(1, 2).reshape(B, T, -1)
            h = l["ln1"](h + F.dropout(l["out"](ctx), dropout, self.training))
            h = l["ln2"](h + F.dropout(l["down"](F.gelu(l["up"](h))), dropout, self.training))
        x = h.reshape(B * T, -1)[rows]  # the head only where it is read
        x = self.head_ln(F.gelu(self.dense(x)))
        return x @ self.word.weight.t() + self.bias


class Decoder(torch.nn.Module):
    """GPT-2 (pre-LN) with a key/value cache."""

    def __init__(self, L, C, H, FF, V, positions=1024):
        super().__init__()
        self.H = H
        self.wte = torch.nn.Embedding(V, C)
        self.wpe = torch.nn.Embedding(positions, C)
        self.layers = torch.nn.ModuleList()
        for _ in range(L):
            self.layers.append(torch.nn.ModuleDict(dict(
                ln1=torch.nn.LayerNorm(C), qkv=torch.nn.Linear(C, 3 * C), out=torch.nn.Linear(C, C),
                ln2=torch.nn.LayerNorm(C), up=torch.nn.Linear(C, FF), down=torch.nn.Linear(FF, C))))
        self.ln_f = torch.nn.LayerNorm(C)
        for p in self.parameters():
            if p.dim() > 1:
                torch.nn.init.normal_(p, std=0.02)

    def forward(self, ids, start, cache):
        B, T = ids.shape
        h = self.wte(ids) + self.wpe(torch.arange(start, start + T).unsqueeze(0))
        for i, l in enumerate(self.layers):
            q, k, v = l["qkv"](l["ln1"](h)).view(B, T, 3, self.H, -1).permute(2, 0, 3, 1, 4)
            if cache[i] is not None:
                k = torch.cat([cache[i][0], k], 2)
                v = torch.cat([cache[i][1], v], 2)
            cache[i] = (k, v)
            s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
            if T > 1:
                s = s + torch.full((T, T), -1e9, dtype=s.dtype).triu(1)
            ctx = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, T, -1)
            h = h + l["out"](ctx)
            h = h + l["down"](F.gelu(l["up"](l["ln2"](h)), approximate="tanh"))
        return self.ln_f(h[:, -1]) @ self.wte.weight.t()


def sample(logits, top_k=50, top_p=0.95):
    v, i = torch.topk(logits.float(), top_k, -1)
    p = torch.softmax(v, -1)
    keep = (p.cumsum(-1) - p) < top_p
    p = p * keep
    return i.gather(-1, torch.multinomial(p / p.sum(-1, keepdim=True), 1)).squeeze(-1)


def make_diffusion(s, dtype):
    m = Encoder(**s).eval().to(torch.bfloat16 if dtype == "bf16" else torch.float32)
    T, prompt, steps, mask = 256, 16, 10, 50264

    def run():
        ids = torch.full((1, T), mask)
        ids[0, :prompt] = torch.arange(100, 100 + prompt)
        rows = torch.arange(prompt, T)
        with torch.no_grad():
            for step in range(steps):
                # The re-masked positions are drawn first: the head runs only where a
                # token stays (as dlm does).
                remask = round((1 - (step + 1) / steps) * len(rows))
                order = torch.randperm(len(rows))
                again, keep = rows[order[:remask]], rows[order[remask:]].sort().values
                ids[0, keep] = sample(m(ids, keep))
                ids[0, again] = mask
        return (T - prompt, "tokens")
    return run


def make_ar(s, dtype):
    m = Decoder(**s).eval().to(torch.bfloat16 if dtype == "bf16" else torch.float32)

    def run():
        ids = torch.arange(100, 116).unsqueeze(0)
        cache = [None] * len(m.layers)
        with torch.no_grad():
            nxt = sample(m(ids, 0, cache))
            pos = ids.shape[1]
            for _ in range(239):
                nxt = sample(m(nxt.view(1, 1), pos, cache))
                pos += 1
        return (240, "tokens")
    return run


def make_train(s):
    m = Encoder(**s).train()
    opt = torch.optim.AdamW(m.parameters(), lr=5e-5, weight_decay=0.0)
    B, T = 8, 256

    def step():
        ids = torch.randint(4, 50000, (B, T))
        rate = 0.55  # fixed, as dlm bench: the best time and the work it did match
        masked = (torch.rand(B, T) < rate).view(-1).nonzero().squeeze(-1)
        targets = ids.view(-1)[masked].clone()
        inp = ids.clone().view(-1)
        inp[masked] = 50264
        logits = m(inp.view(B, T), masked, dropout=0.1)
        loss = F.cross_entropy(logits.float(), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        return (B * T, "tokens")
    return step


def time_best(fn, reps):
    best, out = float("inf"), None
    fn()  # warm-up
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def dtypes_resolve(dlm, dtypes):
    """The --dtype list with auto replaced by what dlm chooses on this machine (asked of a
    short `dlm bench` run, whose JSON lists the dtypes it ran), each dtype once."""
    if "auto" in dtypes:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "dtype.json")
            subprocess.run([dlm, "bench", "-w", "tokenizer", "-t", "1", "--reps", "1", "--dtype", "auto",
                            "--json", out], check=True, stdout=subprocess.DEVNULL)
            auto = json.load(open(out))["dtypes"]
        dtypes = [r for d in dtypes for r in (auto if d == "auto" else [d])]
    return list(dict.fromkeys(dtypes))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--workload", default="diffusion,ar,train")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--dlm", default=os.path.join(REPO, "build", "dlm"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cpu", choices=["native", "avx2"], default="native")
    a = ap.parse_args()
    if a.cpu == "avx2" and os.environ.get("DNNL_MAX_CPU_ISA") != "AVX2":
        # Libraries read these when they load: set them, then start again.
        os.environ.update(DNNL_MAX_CPU_ISA="AVX2", DLM_CPU="avx2", ATEN_CPU_CAPABILITY="avx2",
                          OPENBLAS_CORETYPE="Haswell")
        os.execv(sys.executable, [sys.executable] + sys.argv)
    threads = [int(t) for t in a.threads.split(",")]
    dtypes = a.dtype.split(",")
    for d in dtypes:
        if d not in ("auto", "bf16", "f32"):
            ap.error(f"--dtype: unknown '{d}' (auto, bf16, f32)")
    workloads = a.workload.split(",")
    reps = 1 if a.quick else a.reps
    rounds = 1 if a.quick else max(1, a.rounds)
    sh = shapes(a.quick)
    dtypes = dtypes_resolve(a.dlm, dtypes)
    torch.manual_seed(0)
    blas = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
    print(f"PyTorch {torch.__version__}, fp32 matrix products through {blas}; CPU: {a.cpu}", flush=True)
    if "openblas" not in blas and "mkl" not in blas:
        print("warning: the system BLAS is not OpenBLAS: PyTorch fp32 will be far slower than it can be "
              "(scripts/install-deps.sh --dev installs libopenblas0-pthread)", file=sys.stderr, flush=True)

    # OpenBLAS runs its own threads (as many as cores) unless told: without this, "1
    # thread" fp32 ran on 2 and "2 threads" on 2 x 2, oversubscribed.
    openblas = ctypes.CDLL(blas) if "openblas" in blas else None

    def torch_round():
        times = {}
        for t in threads:
            torch.set_num_threads(t)
            if openblas is not None:
                openblas.openblas_set_num_threads(t)
            for w in workloads:
                for d in (dtypes if w != "train" else ["f32"]):
                    if w == "diffusion":
                        sec, _ = time_best(make_diffusion(sh["mlm"], d), reps)
                    elif w == "ar":
                        sec, _ = time_best(make_ar(sh["gpt2"], d), reps)
                    else:
                        sec, _ = time_best(make_train(sh["train"]), reps)
                    times[(w, d, t)] = sec
                    print(f"pytorch {w:<9} {d:<4} {t} threads: {sec:8.3f} s", flush=True)
        return times

    def dlm_round():
        times = {}
        if a.quick:
            return times
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "bench.json")
            subprocess.run([a.dlm, "bench", "-w", ",".join(workloads), "--dtype", ",".join(dtypes), "-t",
                            ",".join(map(str, threads)), "--reps", str(reps), "--json", out], check=True,
                           stdout=sys.stderr)
            for e in json.load(open(out))["results"]:
                key = (e["workload"], e["dtype"], e["threads"])
                times[key] = e["seconds"]
                roofline[key] = max(roofline.get(key, 0.0), e.get("roofline_fraction", 0.0))
        return times

    # Shared machines slow down and speed up by tens of percent within minutes, so the
    # two sides take turns and each keeps its best: a slow spell then hits both.
    torch_times, dlm_times = {}, {}
    roofline = {}  # dlm's best fraction of the roofline (GEMM; AR: the memory-read bound)
    for r in range(rounds):
        if rounds > 1:
            print(f"# round {r + 1} of {rounds}", flush=True)
        for best, new in ((torch_times, torch_round()), (dlm_times, dlm_round())):
            for key, sec in new.items():
                best[key] = min(sec, best.get(key, sec))

    def roof(key):
        f = roofline.get(key, 0.0)
        return f"{100 * f:.0f}%{' bw' if key[0] == 'ar' else ''}" if f > 0 else "-"

    print(f"\n| workload | dtype | threads | PyTorch {torch.__version__} (s) | dlm (s) | dlm speed-up | dlm vs roofline |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for key, sec in torch_times.items():
        w, d, t = key
        mine = dlm_times.get(key)
        print(f"| {w} | {d} | {t} | {sec:.3f} | {mine:.3f} | {sec / mine:.2f}x | {roof(key)} |" if mine else
              f"| {w} | {d} | {t} | {sec:.3f} | - | - | - |")
    for key, mine in dlm_times.items():  # dlm-only rows (mixed-precision training)
        if key not in torch_times:
            w, d, t = key
            f32 = torch_times.get((w, "f32", t))
            print(f"| {w} | {d} | {t} | - | {mine:.3f} | {f32 / mine:.2f}x (vs PyTorch f32) | {roof(key)} |" if f32 else
                  f"| {w} | {d} | {t} | - | {mine:.3f} | - | {roof(key)} |")
    print("\nTraining figures are per step of 8 x 256 tokens; generation per sample of 240 new tokens;"
          f" best of {rounds} round(s), the two sides in turn.")


if __name__ == "__main__":
    main()
