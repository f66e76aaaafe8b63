#!/bin/sh
# Builds the NEON GEMM with an arm64 cross compiler and checks it under
# qemu-aarch64 (Debian: g++-aarch64-linux-gnu, qemu-user), on each path.
set -e
cd "$(dirname "$0")/.."
CXX=${CXX_AARCH64:-aarch64-linux-gnu-g++}
OUT=${TMPDIR:-/tmp}/tapegrad-neon-check
$CXX -std=c++20 -O2 -ffp-contract=off -Wall -Wextra -Wno-unused-parameter -Inative -DTAPEGRAD_HAVE_NEON -static -pthread \
  scripts/neon-gemm-check.cpp native/kernels/neon/gemm.cpp native/runtime/allocator.cpp \
  native/runtime/thread_pool.cpp native/runtime/cpu_features.cpp -o "$OUT"
for path in auto packed direct; do
  printf '%s path: ' "$path"
  TAPEGRAD_GEMM_PATH=$path qemu-aarch64 "$OUT"
done
