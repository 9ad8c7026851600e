#!/usr/bin/env bash
# Installs the Debian packages dlm needs if any is missing (scripts/install-deps.sh:
# through sudo unless run as root), then configures and builds dlm into build/
# (Release, tuned for this CPU; any other arguments go to cmake, e.g. -DDLM_NATIVE=OFF
# for a portable build).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build -j"$(nproc)"
