#!/usr/bin/env bash
# Installs every Debian package dlm needs to build and test.
# Usage: scripts/install-deps.sh [--dev] [--browser] [--node]   (as root, or through sudo when it is needed)
#   --dev      also installs what the reference-fixture scripts and benchmarks use
#              (PyTorch, NumPy, matplotlib); the build and the tests never need them.
#   --browser  also installs headless Chromium for scripts/check-html.sh (the compare
#              page's replay test, skipped without it); large (~150 MB download).
#   --node     also installs Node.js (apt, unless a node is already there) and, from npm,
#              the official OpenAI client pinned in tests/openai-client (the server's
#              client test, skipped without it).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libdnnl-dev            # GEMM (oneDNN)
  nlohmann-json3-dev     # config.json, safetensors headers
  libcli11-dev           # command line
  libfmt-dev             # formatting
  libpcre2-dev           # GPT-2 pre-tokenizer regex with Unicode properties
  libutf8proc-dev        # Unicode categories
  libgtest-dev libgmock-dev
  libbenchmark-dev
  openmpi-bin libopenmpi-dev   # multi-process training (mpirun -np N dlm train)
  libcpp-httplib-dev     # dlm serve (HTTP)
  gnuplot-nox            # plots from dlm eval
  xz-utils               # the compressed training text in data/ (scripts/unpack-data.sh)
  python3                # scripts: the playground's browser check, recipe tables
)
# libopenblas0-pthread: Debian's torch does its fp32 matrix products through the system BLAS
# (libblas.so.3); without OpenBLAS that is the reference BLAS, 30x slower, which would
# make the PyTorch side of bench/pytorch_side_by_side.py unfairly slow.
dev_packages=(python3-torch python3-numpy python3-matplotlib libopenblas0-pthread)
# Optional, only with --browser.
browser_packages=(chromium)

node=0
# The OpenAI client for the server test, into tests/openai-client/node_modules.
node_modules_install() {
  ((node)) || return 0
  local dir
  dir="$(cd "$(dirname "$0")/.." && pwd)/tests/openai-client"
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error
}

for arg in "$@"; do
  case "$arg" in
    --dev) packages+=("${dev_packages[@]}") ;;
    --browser) packages+=("${browser_packages[@]}") ;;
    --node)
      node=1
      # A node installed otherwise (e.g. NodeSource's, which carries its own npm) would
      # conflict with Debian's npm package.
      command -v npm >/dev/null || packages+=(nodejs npm)
      ;;
    *) echo "install-deps: unknown option '$arg' (--dev, --browser, --node)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all packages present"
  node_modules_install
  exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null; then
    echo "install-deps: missing ${missing[*]}; run this script as root (sudo is not installed)" >&2
    exit 1
  fi
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
node_modules_install
