#!/usr/bin/env bash
# Fails if an object file compiled for one x86-64 level (a portable build's kernel
# variants, see src/kernels/isa.h) defines a weak or unique symbol: the linker keeps one
# copy of such a symbol for the whole program, which may be another level's code.
# Usage: scripts/check-level-objects.sh OBJECT...
set -euo pipefail
bad=0
for o in "$@"; do
  # W/V: weak (V: weak object); u: unique global. DW.ref.* are the exception-handling
  # personality pointers, data identical in every object.
  syms=$(nm -C "$o" | awk '$2 ~ /^[WVu]$/ && $3 !~ /^DW\.ref\./ {$1=""; print}')
  if [[ -n $syms ]]; then
    echo "check-level-objects: $o defines symbols the linker would share across levels:" >&2
    echo "$syms" | sed 's/^/    /' >&2
    bad=1
  fi
done
exit $bad
