#!/usr/bin/env bash
# Turns a train_log.jsonl (dlm train) into columns for gnuplot:
#   total_flos step loss eval_loss   (NaN where a line has no such value)
# A held-out evaluation line takes the FLOPs of the training line before it.
# Usage: scripts/recipe/train-log-dat.sh train_log.jsonl > curve.dat
set -euo pipefail
awk '
function field(key,    m) {
  if (match($0, "\"" key "\":[-+0-9.eE]+")) return substr($0, RSTART + length(key) + 3, RLENGTH - length(key) - 3)
  return "NaN"
}
BEGIN { flos = 0; print "# total_flos step loss eval_loss" }
{
  f = field("total_flos"); if (f != "NaN") flos = f
  loss = field("loss"); ev = field("eval_loss")
  print flos, field("step"), loss, ev
}' "$1"
