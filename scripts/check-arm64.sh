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

# The other build: the arm64 addon under qemu with Debian's arm64 Node.
other_node() {
  script=$1
  shift
  env "$@" TAPEGRAD_NATIVE="$OUT/build/tapegrad.node" qemu-aarch64 -L "$ROOT" "$ROOT/usr/bin/node" "$script"
}
OTHER_ISA=neon
. scripts/case-reports.sh
check_all_cases
exit $failed
