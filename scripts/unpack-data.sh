#!/usr/bin/env bash
# Unpacks the compressed training/evaluation text in data/ into build/data/ and checks
# it against the checksums recorded in data/enwiki-2015-sample/README.md.
# Usage: scripts/unpack-data.sh [output-folder]   (default: build/data)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/build/data}
src=$repo/data/enwiki-2015-sample
dst=$out/enwiki-2015-sample
command -v xz >/dev/null || { echo "unpack-data: xz is missing (sudo scripts/install-deps.sh)" >&2; exit 1; }
mkdir -p "$dst"
for f in "$src"/wiki_*.xz; do
  name=$(basename "$f" .xz)
  if [[ ! -f $dst/$name || $f -nt $dst/$name ]]; then
    xz -dc "$f" > "$dst/$name.tmp.$$" && mv "$dst/$name.tmp.$$" "$dst/$name"
  fi
done
(cd "$dst" && grep -E '^    [0-9a-f]{64}  wiki_' "$src/README.md" | sed 's/^    //' | sha256sum --quiet -c -) ||
  { echo "unpack-data: checksum mismatch in $dst" >&2; exit 1; }
mkdir -p "$dst/train" "$dst/heldout"
for i in 00 01 02 03 04 05 06 07 08 09 10 11; do ln -sf ../wiki_$i "$dst/train/wiki_$i"; done
ln -sf ../wiki_12 "$dst/heldout/wiki_12"
echo "unpack-data: $dst (train/: wiki_00..wiki_11, heldout/: wiki_12)"
