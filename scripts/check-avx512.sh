#!/bin/sh
# The AVX-512 path, run on a CPU without AVX-512: builds the addon with
# TAPEGRAD_EMULATE_AVX512 (the AVX-512 kernels' intrinsics from SIMDe,
# compiled for AVX2; CMakeLists.txt), runs the kernel case scripts on it and
# compares each report with this machine's default build (scripts/
# case-reports.sh): the same bits as AVX2 and no failures. What it checks is
# the path's own code (tiles, masks, permutes, tails, blockings); the
# compiler's AVX-512 code generation is not exercised. On a CPU with
# AVX-512 the default build already runs the path: npm test covers it.
# Takes about 10 minutes on 2 cores.
#
# Needs (Debian 12): libsimde-dev and cmake.
set -eu
cd "$(dirname "$0")/.."
OUT=${TMPDIR:-/tmp}/tapegrad-avx512

cmake -S . -B "$OUT/build" -DTAPEGRAD_EMULATE_AVX512=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$OUT/build" -j "$(nproc)" >/dev/null
[ -f dist/index.js ] || npm run build:ts >/dev/null

other_node() {
  script=$1
  shift
  env "$@" TAPEGRAD_NATIVE="$OUT/build/tapegrad.node" node "$script"
}
OTHER_ISA=avx512
. scripts/case-reports.sh
check_all_cases
exit $failed
