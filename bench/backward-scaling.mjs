// Backward-pass scaling: time of backward() alone (the forward is recorded
// fresh before each repetition, untimed) for several graphs, on 1 thread
// and on all threads, under each backward strategy:
//   intra   one node at a time, kernels split across the pool
//   inter   any ready nodes run side by side, one pool thread each
//   hybrid  nodes run side by side only when each is too small to split its
//           own kernels but large enough to pay for the hand-off
// intra is the default (see native/core/schedule.cpp for why).
// Medians of repetitions; prints a table; asserts nothing about speed. The
// last column says whether every configuration gave bitwise identical
// gradients (it should).
//
//   npm run bench:backward
//   npm run bench:backward -- --reps 41
//   npm run bench:backward -- --threads=1,2,4,8   # these thread counts (default: 1 and all)
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchThreadCounts, median } from './common.mjs';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const tg = require(path.join(root, 'dist', 'index.js'));
const { native } = require(path.join(root, 'dist', 'native.js'));
const graphs = require(path.join(here, 'backward-graphs.cjs'));

const repsArg = process.argv.indexOf('--reps');
const reps = repsArg > 0 ? Number(process.argv[repsArg + 1]) : 25;
const warmup = 5;
const allThreads = tg.getNumThreads();
const threadCounts = benchThreadCounts(allThreads);
const strategies = ['hybrid', 'intra', 'inter'];
const defaultStrategy = native._setBackwardStrategy('intra'); // returns the one it replaces

const cases = [
  ['MLP 784-256-256-10, batch 128', graphs.mlp(tg)],
  ['4 branches 512x512, batch 128', graphs.branches(tg)],
  ['4 residual blocks 256, batch 128', graphs.residual(tg)],
  ['transformer block 4x64x256, 4 heads', graphs.transformer(tg)],
  // GEMMs below the kernels' parallel threshold: where running nodes side by side should pay.
  ['8 small branches 128x128, batch 32', graphs.branches(tg, { width: 128, batch: 32, count: 8 })],
  ['attention head by head, 8 heads 64x32', graphs.heads(tg)],
];

// One timed sample per (threads, strategy) in turn inside each repetition,
// so slow phases of a noisy machine hit every configuration alike.
function gradBytes(params) {
  return params.map((p) => {
    const d = p.grad.data();
    return Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('base64');
  }).join('|');
}

function measure(graph) {
  const times = new Map();
  const grads = new Set();
  for (const t of threadCounts) for (const s of strategies) times.set(`${t}/${s}`, []);
  for (let rep = 0; rep < warmup + reps; rep++) {
    for (const t of threadCounts) {
      tg.setNumThreads(t);
      // Rotated each repetition: the first backward after a thread-count
      // switch runs on freshly started workers (cold caches and arenas).
      for (let j = 0; j < strategies.length; j++) {
        const s = strategies[(rep + j) % strategies.length];
        native._setBackwardStrategy(s);
        for (const p of graph.params) p.zeroGrad();
        tg.tidy(() => {
          const loss = graph.forward();
          const start = process.hrtime.bigint();
          loss.backward();
          const ms = Number(process.hrtime.bigint() - start) / 1e6;
          if (rep >= warmup) times.get(`${t}/${s}`).push(ms);
        });
        if (rep === 0) grads.add(gradBytes(graph.params));
      }
    }
  }
  const out = {};
  for (const [k, v] of times) out[k] = median(v);
  out.identical = grads.size === 1;
  return out;
}

const fmt = (x) => x.toFixed(2).padStart(7);
const ratio = (x) => `${x.toFixed(2)}x`.padStart(7);
console.log(`backward() time in ms, median of ${reps} reps (${allThreads} threads available)\n`);
const header = ['graph'.padEnd(38), 'thr'.padStart(3), ...strategies.map((s) => s.padStart(7)),
  'hyb/intra'.padStart(9), 'hyb/inter'.padStart(9), 'scale'.padStart(7), 'gradients'];
console.log(header.join(' '));
for (const [name, graph] of cases) {
  const r = measure(graph);
  for (const t of threadCounts) {
    const h = r[`${t}/hybrid`], i = r[`${t}/intra`], e = r[`${t}/inter`];
    // Speed-ups: how much faster hybrid is than each pure strategy, and
    // hybrid on t threads against hybrid on one.
    console.log([name.padEnd(38), String(t).padStart(3), fmt(h), fmt(i), fmt(e),
      ratio(i / h).padStart(9), ratio(e / h).padStart(9), ratio(r[`${threadCounts[0]}/hybrid`] / h), r.identical ? 'bitwise identical' : 'DIFFER'].join(' '));
  }
}
native._setBackwardStrategy(defaultStrategy);
tg.setNumThreads(allThreads);
