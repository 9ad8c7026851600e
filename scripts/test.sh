#!/usr/bin/env bash
# Runs the test suite (a few minutes on 2 cores). Builds first if needed.
# Usage: scripts/test.sh [--cpu native|emulated-bf16|avx2] [ctest arguments...]
#   --cpu emulated-bf16  the build/ tests with bf16 products emulated in fp32, as on
#                        a CPU without AVX-512 bf16 (DLM_BF16_EMULATE=1)
#   --cpu avx2           the suite as an AVX2-only CPU (Zen 3) runs it: build-avx2/
#                        compiled for x86-64-v3, oneDNN held to AVX2, bf16 emulated
# e.g. scripts/test.sh --cpu avx2 -R shipped_models
set -euo pipefail
cd "$(dirname "$0")/.."

cpu=native
args=()
while (($#)); do
  case $1 in
    --cpu) [[ $# -ge 2 ]] || { echo "test.sh: --cpu needs native, emulated-bf16 or avx2" >&2; exit 2; }
           cpu=$2; shift 2 ;;
    --cpu=*) cpu=${1#--cpu=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

# ctest -j runs several test processes at once, each with OpenMP threads for every
# core; with libgomp's default (spinning) wait policy the idle threads of one process
# burn the cores the others need (an AR generation: 5.9 s instead of 0.67 s on a
# loaded 2-core machine). Passive threads sleep instead.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

case $cpu in
  native | emulated-bf16)
    dir=build
    [[ -f build/build.ninja ]] || bash scripts/build.sh
    if [[ $cpu == emulated-bf16 ]]; then export DLM_BF16_EMULATE=1; fi
    ;;
  avx2)
    dir=build-avx2
    # Configured here (not by scripts/build.sh): AVX2 code only, whatever this CPU has.
    if ! grep -qs '^CMAKE_CXX_FLAGS:STRING=-march=x86-64-v3$' build-avx2/CMakeCache.txt ||
       ! grep -qs '^DLM_NATIVE:BOOL=OFF$' build-avx2/CMakeCache.txt; then
      cmake -S . -B build-avx2 -G Ninja -DCMAKE_BUILD_TYPE=Release -DDLM_NATIVE=OFF -DCMAKE_CXX_FLAGS=-march=x86-64-v3
    fi
    # oneDNN's AVX2 kernels, dlm's AVX2 kernels, and no native bf16: the three ways an
    # AVX2-only CPU computes differently from an AVX-512 one.
    export DNNL_MAX_CPU_ISA=AVX2 DLM_CPU=avx2 DLM_BF16_EMULATE=1
    ;;
  *) echo "test.sh: --cpu must be native, emulated-bf16 or avx2, not '$cpu'" >&2; exit 2 ;;
esac

cmake --build "$dir" -j"$(nproc)"
ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" "${args[@]}"
