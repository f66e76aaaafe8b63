# Sourced by check-arm64.sh and check-avx512.sh: runs each kernel case
# script on another build's path and on this machine's default build, and
# compares the two reports. The reports hold failures against the scripts'
# references (none expected) and digests of every result bit, so equal
# reports mean the other path gives this machine's bits.
#
# The caller defines other_node (runs node with the other build, arguments
# passed on) and sets OTHER_ISA (the path that build must report).

failed=0
# check <label> <script> [VAR=value ...]
check() {
  label=$1 script=$2
  shift 2
  other=$(other_node "$script" "$@")
  here=$(env "$@" node "$script")
  if node -e '
    const [isa, other, here] = [process.argv[1], ...process.argv.slice(2).map((s) => JSON.parse(s.trim().split("\n").pop()))];
    if (other.isa !== isa) throw new Error(`ran on ${other.isa}, not ${isa}`);
    // Which products the batched GEMM kernel takes (ran, declined) follows
    // the direct-path limits of each ISA; its results are checked in the run.
    for (const r of [other, here]) for (const k of ["isa", "detectedIsa", "ran", "declined"]) delete r[k];
    if (other.failures?.length) throw new Error("failures: " + JSON.stringify(other.failures).slice(0, 2000));
    if (JSON.stringify(other) !== JSON.stringify(here))
      throw new Error("reports differ:\n  " + isa + "  " + JSON.stringify(other).slice(0, 1500) + "\n  here " + JSON.stringify(here).slice(0, 1500));
  ' "$OTHER_ISA" "$other" "$here"; then
    echo "ok    $label"
  else
    echo "FAIL  $label"
    failed=1
  fi
}

check_all_cases() {
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
  check 'permuted copies' test/ops/permute-cases.cjs
  check 'softmax' test/ops/softmax-cases.cjs
  check 'layer norm' test/ops/layer-norm-cases.cjs
  check 'optimizers' test/optim-cases.cjs
}
