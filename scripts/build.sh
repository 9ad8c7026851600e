#!/usr/bin/env bash
# Configures and builds dlm into build/ (Release, tuned for this CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build -j"$(nproc)"
