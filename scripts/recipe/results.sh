#!/usr/bin/env bash
# The results of the shipped models, produced from the repository alone:
#   - likelihood: the diffusion model's NELBO bound and the AR model's exact perplexity
#     on held-out wiki_12 and on WikiText-2 test (dlm eval likelihood), in bits per byte too;
#   - generation: 32 prompts from wiki_12, the diffusion samplers over step counts and
#     confidence thresholds, and the AR model (dlm eval generation; scored by dlm-ar,
#     the only causal model we have, so the AR row is scored by its own model);
#   - training curves of both runs against training FLOPs.
# Writes docs/results/ (JSON, Markdown, PNG) and docs/results.md, and copies
# docs/results.md into README.md between the "results" markers.
# Usage: scripts/recipe/results.sh [--quick]   (--quick: 8 prompts, 16 blocks; a smoke run)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dlm=${DLM:-$repo/build/dlm}
quick=0; [[ ${1:-} == --quick ]] && quick=1
out=$repo/docs/results
mkdir -p "$out"
"$repo/scripts/unpack-data.sh" >/dev/null
diff=$repo/models/dlm-diffusion ar=$repo/models/dlm-ar
for m in "$diff" "$ar"; do [[ -f $m/config.json ]] || { echo "results: $m is missing (scripts/recipe/train-models.sh)" >&2; exit 1; }; done
wiki12=$repo/build/data/enwiki-2015-sample/heldout/wiki_12
wt2=$repo/tests/data/wikitext-2/wiki.test.raw
prompts=32 blocks=0 samples=4
((quick)) && { prompts=8; blocks=16; samples=1; }

md=$out/results.md.tmp
{
  echo "# Results of the shipped models"
  echo
  echo "Produced by \`scripts/recipe/results.sh\` on $(nproc) cores ($(date -u +%Y-%m-%d)); every number below comes from"
  echo "\`dlm eval\` (JSON next to this file in \`docs/results/\`)."
  echo
} >"$md"

for set in wiki12 wt2; do
  file=${!set}
  for kind in diffusion ar; do
    model=$diff; [[ $kind == ar ]] && model=$ar
    "$dlm" eval likelihood -m "$model" -f "$file" --max-blocks "$blocks" --samples "$samples" -q \
      --json "$out/likelihood-$kind-$set.json" --markdown "$out/likelihood-$kind-$set.md" \
      $([[ $kind == diffusion ]] && echo --plot "$out/mask-rates-$set.png") >/dev/null
    cat "$out/likelihood-$kind-$set.md" >>"$md"
    echo >>"$md"
  done
done

"$dlm" eval generation -m "$diff" -f "$wiki12" --scorer "$ar" -n "$prompts" -q \
  --sampler remask,confidence,lowconf --steps 1,2,5,10,20,50,100 --threshold 0.5,0.7,0.9,0.99 \
  --json "$out/generation-diffusion.json" --markdown "$out/generation-diffusion.md" --plot "$out/tradeoff.png" >/dev/null
"$dlm" eval generation -m "$ar" -f "$wiki12" --scorer "$ar" -n "$prompts" -q \
  --json "$out/generation-ar.json" --markdown "$out/generation-ar.md" >/dev/null
cat "$out/generation-diffusion.md" "$out/generation-ar.md" >>"$md"

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

# README: the section between the markers is this file, links made relative to the root.
readme=$repo/README.md
if grep -q '<!-- results begin -->' "$readme"; then
  awk -v f="$repo/docs/results.md" '
    /<!-- results begin -->/ { print; while ((getline l < f) > 0) { if (l ~ /^# /) continue; gsub(/\(results\//, "(docs/results/", l); print l }; skip = 1; next }
    /<!-- results end -->/ { skip = 0 }
    !skip { print }' "$readme" >"$readme.tmp" && mv "$readme.tmp" "$readme"
fi
echo "results: docs/results.md"
