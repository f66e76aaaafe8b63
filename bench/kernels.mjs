// GEMM benchmark: GFLOP/s of tapegrad's kernel against this CPU's measured
// FMA peak and, when /usr/bin/python3 has NumPy, against NumPy's matmul
// (OpenBLAS or whatever BLAS it links) on the same shapes in the same run.
// Prints tables; asserts nothing.
//
//   npm run bench:kernels                 # everything
//   npm run bench:kernels -- --quick      # N up to 1024, float32 only
//   npm run bench:kernels -- --elementwise   # only the elementwise/reduction GB/s table
//   npm run bench:kernels -- --rounds=5   # more alternations of NumPy and tapegrad
//   npm run bench:kernels -- --threads=1,4,16   # these thread counts (default: 1 and all)
//
// NumPy uses whatever BLAS its libblas.so.3 is (the bench prints which). On
// Debian that is the reference BLAS unless OpenBLAS is the selected
// alternative; TAPEGRAD_BENCH_BLAS_DIR=<dir with an OpenBLAS libblas.so.3>
// puts that directory first on the NumPy child's LD_LIBRARY_PATH, e.g. the
// openblas-pthread folder of an unpacked libopenblas0-pthread package.
//
// Times are the fastest of several calls on warm operands (C = A·B with
// beta = 0), measured inside the addon (no JS call overhead) and inside
// Python for NumPy (one matmul call with out=, so about a microsecond of
// interpreter overhead per call is included there). NumPy and tapegrad take
// turns over several rounds (the peak probe too) and each keeps its best:
// on a shared machine a slow spell of a few seconds would otherwise fall on
// one side of the ratio only.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runElementwise } from './elementwise.mjs';
import { benchThreadCounts, blasLooksOptimised, pythonEnv } from './common.mjs';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tg = require(path.join(root, 'dist', 'index.js'));
const { native } = require(path.join(root, 'dist', 'native.js'));

const quick = process.argv.includes('--quick');
const roundsArg = process.argv.find((a) => a.startsWith('--rounds='));
const rounds = roundsArg ? Number(roundsArg.slice('--rounds='.length)) : quick ? 2 : 3;
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`bench:kernels: --rounds must be a positive integer, got ${roundsArg}`);
// Seconds of repeated calls per shape and round.
const budget = 0.3 / rounds;
const allThreads = tg.getNumThreads();
const threadCounts = benchThreadCounts(allThreads);
const mostThreads = threadCounts.at(-1);
const dtypes = quick ? ['float32'] : ['float32', 'float64'];
const squares = quick ? [64, 128, 256, 512, 1024] : [64, 128, 256, 512, 1024, 2048];

// Shapes as [label, m, n, k, layout]: A is m×k, B k×n; layout t means that
// operand is stored transposed (row-major storage of Aᵀ or Bᵀ).
const shapes = [];
for (const n of squares) for (const layout of ['nn', 'tn', 'nt']) shapes.push([`${n}`, n, n, n, layout]);
// One training step of a 784→256 linear layer on a batch of 128.
shapes.push(['mlp Y=X·W', 128, 256, 784, 'nn']);
shapes.push(['mlp dW=Xᵀ·dY', 784, 256, 128, 'tn']);
shapes.push(['mlp dX=dY·Wᵀ', 128, 784, 256, 'nt']);
// A 10-class head stored [in, out] on a batch of 1024 (Y = X·W: dot
// products on a contiguous copy of W's columns) and its weight gradient Xᵀ·dY.
shapes.push(['head Y=X·W', 1024, 10, 1024, 'nn']);
shapes.push(['head dW=Xᵀ·dY', 1024, 10, 1024, 'tn']);
// Matrix-vector products: a 1024→1024 layer on one input row, a 1024→1
// layer on a batch of 256, and that layer's weight gradient.
shapes.push(['gemv y=x·Wᵀ', 1, 1024, 1024, 'nt']);
shapes.push(['gemv y=X·wᵀ', 256, 1, 1024, 'nt']);
shapes.push(['gemv dw=dyᵀ·X', 1, 1024, 256, 'tn']);

function cpuName() {
  try {
    const m = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/);
    if (m) return m[1];
  } catch {}
  return os.cpus()[0]?.model ?? 'unknown CPU';
}

// Calls `time(reps)` (returning the best seconds) with enough repetitions
// for about `budget` seconds of work.
function best(time) {
  const once = time(1);
  const reps = Math.max(3, Math.min(2000, Math.ceil(budget / Math.max(once, 1e-7))));
  return Math.min(once, time(reps));
}

function numpyAvailable() {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import numpy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const NUMPY_SCRIPT = `
import json, sys, time
import numpy as np
shapes = json.loads(sys.argv[1])
budget = float(sys.argv[3])
out = {}
rng = np.random.default_rng(1)
for dtype in json.loads(sys.argv[2]):
    for label, m, n, k, layout in shapes:
        a = rng.random((k, m) if layout[0] == 't' else (m, k)).astype(dtype)
        b = rng.random((n, k) if layout[1] == 't' else (k, n)).astype(dtype)
        if layout[0] == 't': a = a.T
        if layout[1] == 't': b = b.T
        c = np.empty((m, n), dtype=dtype)
        np.matmul(a, b, out=c)
        t0 = time.perf_counter(); np.matmul(a, b, out=c); once = time.perf_counter() - t0
        reps = max(3, min(2000, int(budget / max(once, 1e-7)) + 1))
        bestt = once
        for _ in range(reps):
            t0 = time.perf_counter(); np.matmul(a, b, out=c); bestt = min(bestt, time.perf_counter() - t0)
        out[f"{dtype}|{label}|{layout}"] = bestt
with open('/proc/self/maps') as maps:
    out['blas'] = list(dict.fromkeys(l.split()[-1] for l in maps if 'blas' in l.lower() and '/' in l))
print(json.dumps(out))
`;

// NumPy on `threads` threads. OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are
// removed from this child's environment only, so OpenBLAS picks its own
// kernel for this CPU.
function runNumpy(threads) {
  const env = pythonEnv(threads);
  const out = execFileSync('/usr/bin/python3', ['-c', NUMPY_SCRIPT, JSON.stringify(shapes), JSON.stringify(dtypes), String(budget)], {
    env,
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  return JSON.parse(out);
}

function numpyConfig() {
  try {
    return execFileSync('/usr/bin/python3', ['-c', 'import numpy; print(numpy.__version__)'], { encoding: 'utf8' }).trim();
  } catch {
    return '?';
  }
}

const pad = (s, w) => String(s).padStart(w);
const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');

const info = tg.backendInfo();
console.log(`tapegrad ${info.version} kernels bench: ${cpuName()}, ${os.cpus().length} CPUs, isa ${info.isa}, ` +
  `${allThreads} threads by default`);

if (process.argv.includes('--elementwise')) {
  runElementwise(tg, { quick });
  process.exit(0);
}

const hasNumpy = numpyAvailable();
if (hasNumpy) console.log(`\nNumPy ${numpyConfig()} found: timing np.matmul on the same shapes, ${rounds} rounds taking turns...`);
else console.log('\nNumPy is not importable by /usr/bin/python3: no comparison column.');

// Keeps the smaller time (the larger rate for the peak) under each key.
const keepBest = (into, key, value, better = (a, b) => a < b) => {
  if (!(key in into) || better(value, into[key])) into[key] = value;
};
const peak = {};
const numpy = {};
const ours = {};
let blasLibs = [];
for (let round = 0; round < rounds; ++round) {
  // Peak: independent FMA chains on the active ISA, per thread count.
  for (const dtype of dtypes) {
    for (const t of threadCounts) {
      tg.setNumThreads(t);
      keepBest(peak, `${dtype}|${t}`, native._fmaPeak(dtype, t, 0.5 / rounds), (a, b) => a > b);
    }
  }
  if (hasNumpy) {
    for (const t of threadCounts) {
      const { blas, ...times } = runNumpy(t);
      blasLibs = blas ?? [];
      numpy[t] ??= {};
      for (const [key, seconds] of Object.entries(times)) keepBest(numpy[t], key, seconds);
    }
  }
  for (const t of threadCounts) {
    tg.setNumThreads(t);
    for (const dtype of dtypes) {
      for (const [label, m, n, k, layout] of shapes) {
        keepBest(ours, `${t}|${dtype}|${label}|${layout}`, best((reps) => native._timeGemm(dtype, m, n, k, layout, reps)));
      }
    }
  }
}
console.log('\nmeasured FMA peak (GFLOP/s):');
for (const dtype of dtypes)
  console.log(`  ${dtype}: ${threadCounts.map((t) => `${t} thread${t > 1 ? 's' : ''} ${fmt(peak[`${dtype}|${t}`])}`).join(', ')}`);
if (hasNumpy) {
  console.log(`NumPy's BLAS libraries: ${blasLibs.join(', ') || 'unknown'}`);
  if (!blasLooksOptimised(blasLibs))
    console.log('  (this looks like the reference BLAS, not an optimised one: see TAPEGRAD_BENCH_BLAS_DIR above)');
}
tg.setNumThreads(allThreads);

for (const dtype of dtypes) {
  console.log(`\n${dtype} GEMM, GFLOP/s (% of measured peak)${hasNumpy ? ', ratio = tapegrad / NumPy' : ''}:`);
  const head = ['shape', 'layout'];
  for (const t of threadCounts) {
    head.push(`${t}T GFLOP/s`, `${t}T %pk`);
    if (hasNumpy) head.push(`${t}T numpy`, `${t}T ratio`);
  }
  if (threadCounts.length > 1) head.push(`${mostThreads}T/${threadCounts[0]}T`);
  const widths = head.map((h, i) => (i === 0 ? 14 : Math.max(8, h.length)));
  console.log(head.map((h, i) => (i === 0 ? h.padEnd(widths[0]) : pad(h, widths[i]))).join(' '));
  for (const [label, m, n, k, layout] of shapes) {
    const flops = 2 * m * n * k;
    const row = [label.padEnd(widths[0]), pad(layout === 'nn' ? 'A·B' : layout === 'tn' ? 'Aᵀ·B' : 'A·Bᵀ', widths[1])];
    let c = 2;
    const rate = {};
    for (const t of threadCounts) {
      rate[t] = flops / ours[`${t}|${dtype}|${label}|${layout}`] * 1e-9;
      row.push(pad(fmt(rate[t]), widths[c++]), pad(fmt(100 * rate[t] / peak[`${dtype}|${t}`], 0) + '%', widths[c++]));
      if (hasNumpy) {
        const np = flops / numpy[t][`${dtype}|${label}|${layout}`] * 1e-9;
        row.push(pad(fmt(np), widths[c++]), pad(fmt(rate[t] / np, 2) + 'x', widths[c++]));
      }
    }
    if (threadCounts.length > 1) row.push(pad(fmt(rate[mostThreads] / rate[threadCounts[0]], 2) + 'x', widths[c++]));
    console.log(row.join(' '));
  }
}
console.log('\nShapes: A is m×k, B is k×n; Aᵀ·B and A·Bᵀ read row-major storage of the transposed operand.');

runElementwise(tg, { quick });
