#!/usr/bin/env bash
# The short size sweep behind the shipped models: three RoBERTa diffusion models trained
# with the same compute (--max-flops) on wiki_00..11, scored on held-out wiki_12.
# Usage: scripts/recipe/sweep.sh [runs-folder] [flops]   (defaults: runs/sweep, 1e14)
# Prints a Markdown table; each run also leaves its train_log.jsonl.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-$repo/runs/sweep}
flops=${2:-1e14}
dlm=${DLM:-$repo/build/dlm}
"$repo/scripts/unpack-data.sh" >/dev/null
data=$repo/build/data/enwiki-2015-sample
mkdir -p "$runs"
sizes=("4 256 4" "6 384 6" "8 512 8")
for s in "${sizes[@]}"; do
  read -r layers hidden heads <<<"$s"
  name=roberta-${layers}L-${hidden}H
  out=$runs/$name
  if [[ -f $out/model.safetensors ]]; then continue; fi
  mkdir -p "$out"
  "$repo/scripts/recipe/config.sh" roberta "$layers" "$hidden" "$heads" >"$runs/$name.json"
  resume=(); compgen -G "$out/checkpoint-*" >/dev/null && resume=(--resume)
  "$dlm" train --config "$runs/$name.json" --tokenizer "$repo/tests/data/tokenizers/roberta-base" \
    --train "$data/train" --valid "$data/heldout" --format wikiextractor --unit-max-tokens 0 \
    --mask-mode continuous --random-prefix 0:64 --max-flops "$flops" --lr 6e-4 --warmup-ratio 0.1 \
    --weight-decay 0.01 --eval-steps 100000000 --eval-batches 16 --save-steps 50 --logging-steps 10 \
    -o "$out" -q "${resume[@]}"
done
echo "| model | parameters | steps | training FLOPs | held-out loss (wiki_12, NELBO/token) |"
echo "|---|---:|---:|---:|---:|"
for s in "${sizes[@]}"; do
  read -r layers hidden heads <<<"$s"
  name=roberta-${layers}L-${hidden}H
  log=$runs/$name/train_log.jsonl
  params=$("$dlm" inspect -m "$runs/$name" | sed -n 's/^parameters: *\([0-9]*\).*/\1/p')
  python3 - "$log" "$name" "$params" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
train = [r for r in rows if "loss" in r]
ev = [r for r in rows if "eval_loss" in r]
print(f"| {sys.argv[2]} | {int(sys.argv[3])/1e6:.1f} M | {train[-1]['step']} | {train[-1]['total_flos']:.3g} | {ev[-1]['eval_loss']:.3f} |")
PY
done
