// One optimizer step (SGD, SGD with momentum, Adam, AdamW) over two float32
// parameter sets: the 784→256→256→10 MLP (about 270,000 elements in six
// tensors) and ten 1000×1000 tensors (10M elements), on 1 and 2 threads,
// against PyTorch's optimizers on the same sizes when /usr/bin/python3 can
// import torch. Gradients are fixed random tensors; the step is all that is
// timed. Prints medians of wall-clock time and their ratio to PyTorch, the
// ratio of the best repetitions too (on a busy machine it moves less), and
// the bytes the best step moved per second (every tensor the update reads
// or writes, once); asserts nothing.
//
//   npm run bench:optim [-- --threads 1,2]
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, pythonEnv, torchAvailable } from './common.mjs';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tg = require(path.join(root, 'dist', 'index.js'));

const threadsArg = process.argv.indexOf('--threads');
const THREADS = threadsArg > 0 ? process.argv[threadsArg + 1].split(',').map(Number) : [1, 2];
const REPS = 11;
// Wall-clock time each repetition aims for, so small steps are timed over many calls.
const REP_SECONDS = 0.02;

const SETS = {
  'MLP 784-256-256-10': [[256, 784], [256], [256, 256], [256], [10, 256], [10]],
  '10M (10 × 1000×1000)': Array.from({ length: 10 }, () => [1000, 1000]),
};
// Name, tapegrad/PyTorch class, options, float32 tensors read or written per element
// (parameter read + write, gradient read, each state tensor read + write).
const OPTIMIZERS = [
  ['SGD', 'SGD', { lr: 1e-3 }, 3],
  ['SGD momentum 0.9', 'SGD', { lr: 1e-3, momentum: 0.9 }, 5],
  ['Adam', 'Adam', { lr: 1e-3 }, 7],
  ['AdamW', 'AdamW', { lr: 1e-3, weightDecay: 0.01 }, 7],
];

// Median and best over REPS of the mean wall-clock seconds of one call, calls batched to about REP_SECONDS.
function timeStep(fn) {
  for (let i = 0; i < 3; i++) fn();
  const t0 = process.hrtime.bigint();
  fn();
  const once = Number(process.hrtime.bigint() - t0) / 1e9;
  const calls = Math.max(1, Math.round(REP_SECONDS / Math.max(once, 1e-7)));
  const times = [];
  for (let r = 0; r < REPS; r++) {
    const s = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) fn();
    times.push(Number(process.hrtime.bigint() - s) / 1e9 / calls);
  }
  return { median: median(times), best: Math.min(...times) };
}

function ours(threads) {
  tg.setNumThreads(threads);
  tg.manualSeed(0);
  const out = {};
  for (const [setName, shapes] of Object.entries(SETS)) {
    const params = shapes.map((s) => {
      const p = tg.randn(s, { requiresGrad: true });
      p.grad = tg.randn(s);
      return p;
    });
    for (const [name, cls, options] of OPTIMIZERS) {
      const opt = new tg.optim[cls](params, options);
      out[`${setName}|${name}`] = timeStep(() => opt.step());
    }
  }
  return out;
}

const TORCH = `
import json, sys, time, torch
threads, sets, optimizers, reps, rep_seconds = json.loads(sys.argv[1])
torch.set_num_threads(threads); torch.manual_seed(0)
def time_step(f):
    for _ in range(3): f()
    s = time.perf_counter(); f(); once = time.perf_counter() - s
    calls = max(1, round(rep_seconds / max(once, 1e-7)))
    t = []
    for _ in range(reps):
        s = time.perf_counter()
        for _ in range(calls): f()
        t.append((time.perf_counter() - s) / calls)
    return {'median': sorted(t)[reps // 2], 'best': min(t)}
out = {'version': torch.__version__}
for set_name, shapes in sets.items():
    ps = []
    for s in shapes:
        p = torch.randn(*s, requires_grad=True)
        p.grad = torch.randn(*s)
        ps.append(p)
    for name, cls, o, _ in optimizers:
        kw = {'lr': o['lr'], 'momentum': o.get('momentum', 0)} if cls == 'SGD' else {'lr': o['lr'], 'weight_decay': o.get('weightDecay', 0)}
        opt = getattr(torch.optim, cls)(ps, **kw)
        out[set_name + '|' + name] = time_step(opt.step)
print(json.dumps(out))
`;

function torch(threads) {
  const arg = JSON.stringify([threads, SETS, OPTIMIZERS, REPS, REP_SECONDS]);
  return JSON.parse(execFileSync('/usr/bin/python3', ['-c', TORCH, arg], { encoding: 'utf8', env: pythonEnv(threads), stdio: ['ignore', 'pipe', 'inherit'] }));
}

const haveTorch = torchAvailable();
if (!haveTorch) console.log('PyTorch is not importable by /usr/bin/python3: no comparison columns.');
const elements = Object.fromEntries(Object.entries(SETS).map(([k, shapes]) => [k, shapes.reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0)]));

for (const threads of THREADS) {
  const t = ours(threads);
  const pt = haveTorch ? torch(threads) : null;
  console.log(`\nOne optimizer step, float32, ${threads} thread(s), ISA ${tg.backendInfo().isa}: median of ${REPS} (ms per step; GB/s = bytes the update must move / best time)`);
  const rows = [];
  for (const setName of Object.keys(SETS)) {
    for (const [name, , , tensors] of OPTIMIZERS) {
      const key = `${setName}|${name}`;
      const bytes = elements[setName] * 4 * tensors;
      rows.push({
        parameters: setName,
        optimizer: name,
        'tapegrad ms': (t[key].median * 1e3).toFixed(3),
        'tapegrad GB/s': (bytes / t[key].best / 1e9).toFixed(1),
        ...(pt ? {
          [`PyTorch ${pt.version} ms`]: (pt[key].median * 1e3).toFixed(3),
          'PyTorch GB/s': (bytes / pt[key].best / 1e9).toFixed(1),
          'tapegrad / PyTorch': (t[key].median / pt[key].median).toFixed(2),
          'best / best': (t[key].best / pt[key].best).toFixed(2),
        } : {}),
      });
    }
  }
  console.table(rows);
}
