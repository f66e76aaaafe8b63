// `npm run bench`: the same workloads, shapes and seeded data on tapegrad,
// TensorFlow.js (cpu and wasm backends), js-pytorch, plain JavaScript and,
// where /usr/bin/python3 can import torch, PyTorch. Every engine runs in its
// own process; each cell is checked for agreement between engines before any
// time is taken; then warm-up and interleaved timed repetitions, medians.
// Writes bench/results/latest.json and latest.svg.
//
//   npm run bench                          # everything, a few minutes
//   npm run bench -- --quick               # fewer, shorter repetitions
//   npm run bench -- --only=mlp,matmul     # workloads: matmul mlp elementwise transformer conv
//   npm run bench -- --engines=tapegrad,tfjs-wasm,pytorch
//   --threads=N sets the thread count of tapegrad and PyTorch (default: each engine's own)
//   --reps=N --rep-ms=MS --out=DIR --size=tiny (small shapes, for the smoke test)
//   --corrupt=ENGINE perturbs that engine's check values (shows the check rejects them)
//
// PyTorch runs without OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE; TAPEGRAD_BENCH_BLAS_DIR,
// when set, goes first on its LD_LIBRARY_PATH (e.g. an OpenBLAS libblas.so.3 folder).
import { runBench } from './suite/runner.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const m = a.match(/^--([^=]+)(?:=(.*))?$/);
    if (!m) throw new Error(`bench: unknown argument ${a}; see the comment at the top of bench/run.mjs`);
    return [m[1], m[2] ?? true];
  }),
);
const known = new Set(['quick', 'only', 'engines', 'reps', 'rep-ms', 'out', 'size', 'corrupt', 'threads', 'help']);
for (const k of Object.keys(args)) if (!known.has(k)) throw new Error(`bench: unknown option --${k}`);
if (args.help) {
  console.log('npm run bench -- [--quick] [--only=matmul,mlp,elementwise,transformer,conv] [--engines=tapegrad,tfjs-cpu,tfjs-wasm,js-pytorch,plainjs,pytorch] [--threads=N] [--reps=N] [--rep-ms=MS] [--out=DIR] [--size=tiny]');
  process.exit(0);
}
const list = (v) => (typeof v === 'string' ? v.split(',').filter(Boolean) : undefined);
await runBench({
  quick: Boolean(args.quick),
  only: list(args.only),
  engines: list(args.engines),
  reps: args.reps ? Number(args.reps) : undefined,
  repMs: args['rep-ms'] ? Number(args['rep-ms']) : undefined,
  outDir: typeof args.out === 'string' ? args.out : undefined,
  size: args.size === 'tiny' ? 'tiny' : 'full',
  corrupt: list(args.corrupt) ?? [],
  threads: args.threads ? Number(args.threads) : undefined,
});
