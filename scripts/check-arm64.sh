#!/bin/sh
# The arm64 build on its NEON path, run for real: cross-compiles the addon,
# runs the kernel case scripts under qemu-aarch64 with Debian's arm64 Node
# and compares each report with this machine's run of the same script. The
# reports hold failures against the scripts' references (none expected) and
# digests of every result bit, so equal reports mean NEON gives the bits of
# this machine's default path (AVX-512 or AVX2: with FMA, as NEON). Takes
# about 10 minutes on 2 cores.
#
# Needs (Debian 12): g++-aarch64-linux-gnu, qemu-user, cmake, and arm64
# enabled for apt (dpkg --add-architecture arm64 && apt-get update). Node's
# arm64 packages are fetched with apt-get download and unpacked under
# $OUT/root; nothing is installed.
set -eu
cd "$(dirname "$0")/.."
OUT=${TMPDIR:-/tmp}/tapegrad-arm64
ROOT=$OUT/root

if [ ! -x "$ROOT/usr/bin/node" ]; then
  mkdir -p "$OUT/debs"
  (
    cd "$OUT/debs"
    apt-get download nodejs:arm64 libnode108:arm64 libc6:arm64 libgcc-s1:arm64 libstdc++6:arm64 libbrotli1:arm64 \
      libc-ares2:arm64 libicu72:arm64 libnghttp2-14:arm64 libssl3:arm64 libuv1:arm64 zlib1g:arm64 \
      node-acorn node-cjs-module-lexer node-undici node-busboy
    for deb in *.deb; do dpkg -x "$deb" "$ROOT"; done
  )
fi

cmake -S . -B "$OUT/build" -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64 \
  -DCMAKE_CXX_COMPILER=aarch64-linux-gnu-g++ -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$OUT/build" -j "$(nproc)" >/dev/null
[ -f dist/index.js ] || npm run build:ts >/dev/null

failed=0
# check <label> <script> [VAR=value ...]
check() {
  label=$1 script=$2
  shift 2
  arm=$(env "$@" TAPEGRAD_NATIVE="$OUT/build/tapegrad.node" qemu-aarch64 -L "$ROOT" "$ROOT/usr/bin/node" "$script")
  x86=$(env "$@" node "$script")
  if node -e '
    const [arm, x86] = process.argv.slice(1).map((s) => JSON.parse(s.trim().split("\n").pop()));
    if (arm.isa !== "neon") throw new Error(`ran on ${arm.isa}, not neon`);
    // Which products the batched GEMM kernel takes (ran, declined) follows
    // the direct-path limits of each ISA; its results are checked in the run.
    for (const r of [arm, x86]) for (const k of ["isa", "detectedIsa", "ran", "declined"]) delete r[k];
    if (arm.failures?.length) throw new Error("failures: " + JSON.stringify(arm.failures).slice(0, 2000));
    if (JSON.stringify(arm) !== JSON.stringify(x86))
      throw new Error("reports differ:\n  arm64  " + JSON.stringify(arm).slice(0, 1500) + "\n  x86-64 " + JSON.stringify(x86).slice(0, 1500));
  ' "$arm" "$x86"; then
    echo "ok    $label"
  else
    echo "FAIL  $label"
    failed=1
  fi
}

check 'gemm' test/kernels/gemm-cases.cjs
check 'gemm, packed path' test/kernels/gemm-cases.cjs TAPEGRAD_GEMM_PATH=packed
check 'gemm, direct path' test/kernels/gemm-cases.cjs TAPEGRAD_GEMM_PATH=direct
check 'batched gemm kernel' test/kernels/gemm-batch-cases.cjs
check 'batched gemm kernel, packed path' test/kernels/gemm-batch-cases.cjs TAPEGRAD_GEMM_PATH=packed
check 'batched matmul' test/ops/matmul-batch-cases.cjs
check 'batched matmul, packed path' test/ops/matmul-batch-cases.cjs TAPEGRAD_GEMM_PATH=packed
check 'elementwise' test/ops/elementwise-cases.cjs
check 'elementwise, streamed outputs' test/ops/elementwise-cases.cjs TAPEGRAD_STREAM_STORES=always
check 'float32 math' test/ops/math-cases.cjs
check 'float64 math' test/ops/math64-cases.cjs
check 'reductions' test/ops/reduce-cases.cjs
check 'softmax' test/ops/softmax-cases.cjs
check 'layer norm' test/ops/layer-norm-cases.cjs
check 'optimizers' test/optim-cases.cjs
exit $failed
