#!/usr/bin/env bash
# The results of the shipped models, produced from the repository alone:
#   - likelihood: the diffusion model's NELBO bound and the AR model's exact perplexity
#     on held-out wiki_12 and on WikiText-2 test (dlm eval likelihood; the first 256 blocks
#     of 256 tokens of each), in bits per byte too;
#   - generation: 32 prompts from wiki_12, the diffusion samplers over step counts and
#     confidence thresholds, and the AR model (dlm eval generation; scored by dlm-ar,
#     the only causal model we have, so the AR row is scored by its own model);
#   - sample outputs of both models on the same prompts (fixed seeds, the commands shown);
#   - training curves of both runs against training FLOPs.
# Writes docs/results/ (JSON, Markdown, PNG) and docs/results.md, and copies
# docs/results.md into README.md between the "results" markers.
# Usage: scripts/recipe/results.sh [--quick]   (--quick: 8 prompts, 16 blocks; a smoke run)
# Environment: DLM (the binary), DIFFUSION_MODEL / AR_MODEL (other model folders).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
# Paths in the reports are relative to the repository (the commands run from its root).
rel() { local p; p=$(realpath -m "$1"); echo "${p#"$repo/"}"; }
dlm=$(realpath -m "${DLM:-$repo/build/dlm}")
diff=$(rel "${DIFFUSION_MODEL:-$repo/models/dlm-diffusion}") ar=$(rel "${AR_MODEL:-$repo/models/dlm-ar}")
cd "$repo"
quick=0; [[ ${1:-} == --quick ]] && quick=1
out=docs/results
mkdir -p "$out"
scripts/unpack-data.sh >/dev/null
for m in "$diff" "$ar"; do [[ -f $m/config.json ]] || { echo "results: $m is missing (scripts/recipe/train-models.sh)" >&2; exit 1; }; done
wiki12=build/data/enwiki-2015-sample/heldout/wiki_12
wt2=tests/data/wikitext-2/wiki.test.raw
prompts=32 blocks=256 samples=4   # 256 blocks: 65 k tokens per file, about two minutes each
# (the whole script: about 35 minutes on 2 cores, most of it the generation sweep)
((quick)) && { prompts=8; blocks=16; samples=1; }

md=$out/results.md.tmp
{
  echo "# Results of the shipped models"
  echo
  echo "Produced by \`scripts/recipe/results.sh\` on $(nproc) cores ($(date -u +%Y-%m-%d)); every number below comes from"
  echo "\`dlm eval\` (JSON next to this file in \`docs/results/\`), every sample from \`dlm generate\` (the command"
  echo "next to it). Generative perplexity is scored by dlm-ar, the only causal model here, so the"
  echo "AR row is scored by its own model (a flattering number)."
  echo
} >"$md"

for set in wiki12 wt2; do
  file=${!set}
  for kind in diffusion ar; do
    model=$diff; [[ $kind == ar ]] && model=$ar
    "$dlm" eval likelihood -m "$model" -f "$file" --max-blocks "$blocks" --samples "$samples" --dtype f32 -q \
      --json "$out/likelihood-$kind-$set.json" --markdown "$out/likelihood-$kind-$set.md" \
      $([[ $kind == diffusion ]] && echo --plot "$out/mask-rates-$set.png") >/dev/null
    cat "$out/likelihood-$kind-$set.md" >>"$md"
    echo >>"$md"
  done
done

"$dlm" eval generation -m "$diff" -f "$wiki12" --scorer "$ar" -n "$prompts" -q \
  --sampler remask,confidence,lowconf --steps 1,2,5,10,20,50,100 --threshold 0.5,0.9 \
  --json "$out/generation-diffusion.json" --markdown "$out/generation-diffusion.md" --plot "$out/tradeoff.png" >/dev/null
"$dlm" eval generation -m "$ar" -f "$wiki12" --scorer "$ar" -n "$prompts" -q \
  --json "$out/generation-ar.json" --markdown "$out/generation-ar.md" >/dev/null
cat "$out/generation-diffusion.md" "$out/generation-ar.md" >>"$md"

# Block decoding (the choice of dlm-diffusion's default, README "Block decoding"): the
# one-token-per-pass whole-canvas setting with the AR twin on the same prompts, the dual
# cache's sweep over commit rules and step caps, and no cache / prefix cache at two points.
gen=("$dlm" eval generation -m "$diff" -f "$wiki12" --scorer "$ar" -n "$prompts" -q --sampler confidence --threshold 0.9)
"${gen[@]}" --block 0 --cache none --ar "$ar" --json "$out/block-sweep-base.json" --markdown "$out/block-sweep-base.md" >/dev/null
"${gen[@]}" --block 32 --cache dual --commit threshold,factor,entropy --factor 1,2,4,8 --entropy-bound 1,2,4 \
  --steps 16,8,4 --json "$out/block-sweep-dual.json" --markdown "$out/block-sweep-dual.md" >/dev/null
"${gen[@]}" --block 32 --cache none,prefix --steps 8 --json "$out/block-sweep-none.json" \
  --markdown "$out/block-sweep-none.md" >/dev/null

# Samples: the same prompts and seed for both models, each under the command that made it.
sample() {  # title, then the arguments of dlm generate
  local title=$1; shift
  local text report
  text=$("$dlm" generate "$@" 2>"$out/sample.err") || { cat "$out/sample.err" >&2; exit 1; }
  report=$(grep '^dlm: ' "$out/sample.err" | tail -1 | sed 's/^dlm: //')
  local shown=() a
  for a in "$@"; do [[ $a == *' '* ]] && a="\"$a\""; shown+=("$a"); done
  echo "**$title** (\`dlm generate ${shown[*]}\`; $report):"
  echo
  printf '%s\n' "$text" | sed 's/^/> /'
  echo
}
{
  echo "## Samples"
  echo
  echo "Both models on the same prompts, 128 new tokens, seed 1; \`dlm-diffusion\` with its default sampler"
  echo "(its \`generation_config.json\`) and with the original recipe's sampler (remask, 10 steps)."
  echo
  for p in "The history of the city" "In 1905, the French government" "The album was released"; do
    echo "### \"$p\""
    echo
    sample dlm-diffusion -m "$diff" -p "$p" -n 128 -s 1
    sample "dlm-diffusion, remask" -m "$diff" -p "$p" -n 128 -s 1 --sampler remask
    sample dlm-ar -m "$ar" -p "$p" -n 128 -s 1
  done
} >"$out/samples.md"
rm -f "$out/sample.err"
cat "$out/samples.md" >>"$md"
echo >>"$md"

"$repo/scripts/recipe/train-log-dat.sh" "$diff/train_log.jsonl" >"$out/curve-diffusion.dat"
"$repo/scripts/recipe/train-log-dat.sh" "$ar/train_log.jsonl" >"$out/curve-ar.dat"
gnuplot -e "files='$out/curve-diffusion.dat $out/curve-ar.dat'; titles='dlm-diffusion dlm-ar'; out='$out/training.png'; term='pngcairo'; name='Training at equal compute (wiki\\_00..11)'" \
  "$repo/scripts/plot-training.gp"
{
  echo "![training curves](results/training.png)"
  echo
  echo "![quality against cost](results/tradeoff.png)"
} >>"$md"
mv "$md" "$repo/docs/results.md"

# README: the section between the markers is this file, its headings one level down (it
# sits inside the README's "shipped models" section), links made relative to the root.
readme=$repo/README.md
if grep -q '<!-- results begin -->' "$readme"; then
  awk -v f="$repo/docs/results.md" '
    /<!-- results begin -->/ { print; while ((getline l < f) > 0) { if (l ~ /^# /) continue; if (l ~ /^##+ /) l = "#" l; gsub(/\(results\//, "(docs/results/", l); print l }; skip = 1; next }
    /<!-- results end -->/ { skip = 0 }
    !skip { print }' "$readme" >"$readme.tmp" && mv "$readme.tmp" "$readme"
fi
echo "results: docs/results.md"
