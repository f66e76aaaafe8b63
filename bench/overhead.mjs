// Per-op overhead, end to end from JavaScript: a chain of 1000 elementwise
// ops on [16]-element float32 tensors, forward only and forward + backward,
// in microseconds per op (medians of several repetitions). At this size the
// arithmetic is a few nanoseconds, so the figure is the cost of a JS call,
// argument checks, a tensor and its graph node, and freeing them again.
// When /usr/bin/python3 has torch, PyTorch runs the same chains in the same
// run and the ratio is printed. Asserts nothing.
//
// Two figures per case: wall-clock time and CPU time of the process (user +
// system, all threads), each the median over the repetitions. On a machine
// shared with other work the CPU figure is the steadier one.
//
//   npm run bench:overhead                # 1000-op chains, 15 reps
//   npm run bench:overhead -- --quick     # fewer reps
//   npm run bench:overhead -- --no-torch  # skip PyTorch
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, pythonEnv } from './common.mjs';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tg = require(path.join(root, 'dist', 'index.js'));

const quick = process.argv.includes('--quick');
const withTorch = !process.argv.includes('--no-torch');
const CHAIN = 1000;
// One repetition runs PER_REP chains back to back, so that the garbage
// collection their handles cause is paid inside the timed region.
const PER_REP = 20;
const REPS = quick ? 5 : 11;
const WARMUP = quick ? 10 : 40;

// Each case builds a chain of CHAIN ops from leaf x (and constant c); `ops`
// counts the ops timed (the final sum is one more).
const cases = [
  {
    name: 'mul fwd',
    backward: false,
    step: (y, c) => y.mul(c),
  },
  {
    name: 'mul fwd+bwd',
    backward: true,
    step: (y, c) => y.mul(c),
  },
  {
    name: 'add/mul/tanh/exp fwd+bwd',
    backward: true,
    // Bounded whatever the length: tanh and exp alternate.
    step: (y, c, i) => {
      switch (i & 3) {
        case 0: return y.add(c);
        case 1: return y.mul(c);
        case 2: return y.tanh();
        default: return y.exp();
      }
    },
  },
];

function runChain(x, c, kase) {
  tg.tidy(() => {
    let y = x;
    for (let i = 0; i < CHAIN; i++) y = kase.step(y, c, i);
    if (kase.backward) {
      y.sum().backward();
    }
  });
  if (kase.backward) x.zeroGrad();
}

function measureTapegrad(kase) {
  const x = tg.randn([16]).setRequiresGrad(kase.backward);
  const c = tg.full([16], 0.999);
  for (let i = 0; i < WARMUP; i++) runChain(x, c, kase);
  const wall = [], cpu = [];
  for (let r = 0; r < REPS; r++) {
    const u0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < PER_REP; k++) runChain(x, c, kase);
    wall.push(Number(process.hrtime.bigint() - t0) / 1e3 / CHAIN / PER_REP);
    const u = process.cpuUsage(u0);
    cpu.push((u.user + u.system) / CHAIN / PER_REP);
  }
  x.dispose();
  c.dispose();
  return { wall: median(wall), cpu: median(cpu) };
}

const torchScript = `
import sys, time, statistics, torch
torch.set_num_threads(1)
CHAIN, REPS, WARMUP, PER_REP = ${CHAIN}, ${REPS}, ${WARMUP}, ${PER_REP}
def mixed(y, c, i):
    k = i & 3
    if k == 0: return y + c
    if k == 1: return y * c
    if k == 2: return torch.tanh(y)
    return torch.exp(y)
cases = [('mul fwd', False, lambda y, c, i: y * c), ('mul fwd+bwd', True, lambda y, c, i: y * c),
         ('add/mul/tanh/exp fwd+bwd', True, mixed)]
for name, bwd, step in cases:
    x = torch.randn(16, requires_grad=bwd)
    c = torch.full((16,), 0.999)
    def run():
        y = x
        for i in range(CHAIN): y = step(y, c, i)
        if bwd:
            y.sum().backward()
            x.grad = None
    for _ in range(WARMUP): run()
    wall, cpu = [], []
    for _ in range(REPS):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(PER_REP): run()
        wall.append((time.perf_counter() - t0) * 1e6 / CHAIN / PER_REP)
        cpu.append((time.process_time() - c0) * 1e6 / CHAIN / PER_REP)
    print(name + '\\t' + repr(statistics.median(wall)) + '\\t' + repr(statistics.median(cpu)))
`;

function measureTorch() {
  if (!withTorch) return null;
  try {
    const env = pythonEnv();
    const out = execFileSync('/usr/bin/python3', ['-c', torchScript], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const result = new Map();
    for (const line of out.trim().split('\n')) {
      const [name, wall, cpu] = line.split('\t');
      result.set(name, { wall: Number(wall), cpu: Number(cpu) });
    }
    return result;
  } catch {
    return null;
  }
}

tg.setNumThreads(1);
console.log(`per-op overhead: chains of ${CHAIN} ops on [16] float32 tensors, median of ${REPS} reps of ${PER_REP} chains (1 thread)`);
const ours = cases.map((k) => [k.name, measureTapegrad(k)]);
const torch = measureTorch();
const header = ['case', 'tapegrad µs/op', 'cpu µs/op', ...(torch ? ['PyTorch µs/op', 'cpu µs/op', 'PyTorch / tapegrad (wall, cpu)'] : [])];
const rows = ours.map(([name, us]) => {
  const row = [name, us.wall.toFixed(3), us.cpu.toFixed(3)];
  if (torch) {
    const t = torch.get(name);
    if (t === undefined) row.push('-', '-', '-');
    else row.push(t.wall.toFixed(3), t.cpu.toFixed(3), `${(t.wall / us.wall).toFixed(2)}×, ${(t.cpu / us.cpu).toFixed(2)}×`);
  }
  return row;
});
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
console.log(line(header));
for (const r of rows) console.log(line(r));
if (!torch && withTorch) console.log('(PyTorch not available: /usr/bin/python3 -c "import torch" failed)');
const m = tg.memory();
console.log(`after: liveTensors=${m.liveTensors} liveBytes=${m.liveBytes}` + (m.cachedBytes !== undefined ? ` cachedBytes=${m.cachedBytes}` : ''));
