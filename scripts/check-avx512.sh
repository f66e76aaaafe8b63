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
# SANITIZE=1 builds it with AddressSanitizer and UBSan as well (as npm run
# test:asan): the emulated masked loads and stores touch only the lanes
# their masks select, as the hardware's, so every other access past a
# buffer is reported. About 30 minutes.
#
# Needs (Debian 12): libsimde-dev and cmake.
set -eu
cd "$(dirname "$0")/.."
SANITIZE=${SANITIZE:-0}
OUT=${TMPDIR:-/tmp}/tapegrad-avx512
[ "$SANITIZE" = 1 ] && OUT=$OUT-sanitize

sanitize=OFF
[ "$SANITIZE" = 1 ] && sanitize=ON
cmake -S . -B "$OUT/build" -DTAPEGRAD_EMULATE_AVX512=ON -DTAPEGRAD_SANITIZE=$sanitize -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$OUT/build" -j "$(nproc)" >/dev/null
[ -f dist/index.js ] || npm run build:ts >/dev/null

other_node() {
  script=$1
  shift
  if [ "$SANITIZE" = 1 ]; then
    env "$@" node scripts/asan-env.js "$OUT/build/tapegrad.node" node "$script"
  else
    env "$@" TAPEGRAD_NATIVE="$OUT/build/tapegrad.node" node "$script"
  fi
}
OTHER_ISA=avx512
. scripts/case-reports.sh
check_all_cases
exit $failed
