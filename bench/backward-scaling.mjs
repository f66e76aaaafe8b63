// Backward-pass scaling: the time of loss.backward() alone (the forward pass
// is rebuilt, untimed, before each repetition) for four graph shapes on 1 and
// on 2 threads, medians of several repetitions, with the speed-up. Each graph
// has the same seeded weights and data on both thread counts, and the bench
// checks that the gradients are bitwise identical across them before it
// prints a time. Asserts nothing about speed.
//
//   npm run bench:backward             # 25 reps per cell
//   npm run bench:backward -- --quick  # fewer reps
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tg = require(path.join(root, 'dist', 'index.js'));
const { nn } = tg;
const F = nn.functional;

const quick = process.argv.includes('--quick');
const REPS = quick ? 7 : 25;
const WARMUP = quick ? 3 : 8;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// Each graph: build() returns { params, forward() -> scalar loss }.
const graphs = [
  {
    name: 'MLP 784-256-256-10, batch 128',
    build() {
      const model = new nn.Sequential(new nn.Linear(784, 256), new nn.ReLU(), new nn.Linear(256, 256), new nn.ReLU(), new nn.Linear(256, 10));
      const x = tg.randn([128, 784]);
      const y = tg.randint(0, 10, [128]);
      return { params: model.parameters(), forward: () => F.crossEntropy(model.forward(x), y) };
    },
  },
  {
    name: '4 independent branches 512→512, batch 256',
    build() {
      const branches = Array.from({ length: 4 }, () => new nn.Linear(512, 512));
      const x = tg.randn([256, 512]);
      return {
        params: branches.flatMap((b) => b.parameters()),
        forward: () => branches.map((b) => b.forward(x).tanh()).reduce((a, b) => a.add(b)).square().mean(),
      };
    },
  },
  {
    name: '4 residual MLP blocks, width 256, batch 256',
    build() {
      const blocks = Array.from({ length: 4 }, () => new nn.Sequential(new nn.LayerNorm(256), new nn.Linear(256, 512), new nn.GELU(), new nn.Linear(512, 256)));
      const x = tg.randn([256, 256]);
      return {
        params: blocks.flatMap((b) => b.parameters()),
        forward: () => blocks.reduce((h, b) => h.add(b.forward(h)), x).square().mean(),
      };
    },
  },
  {
    name: 'pre-LN transformer block, batch 16, seq 64, width 128, 4 heads',
    build() {
      const layer = new nn.TransformerEncoderLayer(128, 4, { dimFeedforward: 512, dropout: 0, activation: 'gelu', normFirst: true, batchFirst: true });
      const x = tg.randn([16, 64, 128]);
      return { params: layer.parameters(), forward: () => layer.forward(x).square().mean() };
    },
  },
];

function gradsOf(params) {
  return params.map((p) => p.grad.data());
}

function sameBits(a, b) {
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = b[i];
    if (x.length !== y.length) return false;
    const bx = new Uint8Array(x.buffer, x.byteOffset, x.byteLength), by = new Uint8Array(y.buffer, y.byteOffset, y.byteLength);
    for (let j = 0; j < bx.length; j++) if (bx[j] !== by[j]) return false;
  }
  return true;
}

function measure(graph, threads) {
  tg.setNumThreads(threads);
  tg.manualSeed(7);
  const { params, forward } = graph.build();
  const times = [];
  let grads = null;
  for (let r = 0; r < WARMUP + REPS; r++) {
    for (const p of params) p.grad = null;
    const loss = forward();
    const t0 = performance.now();
    loss.backward();
    const dt = performance.now() - t0;
    if (r >= WARMUP) times.push(dt);
    if (r === 0) grads = gradsOf(params);
    loss.dispose();
  }
  return { ms: median(times), grads };
}

const initialThreads = tg.getNumThreads();
const maxThreads = Math.min(2, initialThreads);
console.log(`backward pass only, median of ${REPS} reps; ${tg.backendInfo().isa}, ${tg.getNumThreads()} threads available`);
console.log(`${'graph'.padEnd(64)} ${'1 thread ms'.padStart(12)} ${'2 threads ms'.padStart(13)} ${'speed-up'.padStart(9)}  gradients`);
for (const graph of graphs) {
  tg.tidy(() => {
    const one = measure(graph, 1);
    const two = maxThreads > 1 ? measure(graph, 2) : null;
    const identical = two ? sameBits(one.grads, two.grads) : true;
    console.log(
      `${graph.name.padEnd(64)} ${one.ms.toFixed(2).padStart(12)} ${(two ? two.ms.toFixed(2) : 'n/a').padStart(13)} ` +
        `${(two ? `${(one.ms / two.ms).toFixed(2)}×` : 'n/a').padStart(9)}  ${identical ? 'bitwise identical' : 'DIFFER'}`,
    );
  });
}
tg.setNumThreads(initialThreads);
