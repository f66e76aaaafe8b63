// Gradient clipping and an optimizer step on the gradients of the
// 784→256→256→10 MLP (about 270,000 float32 elements), one thread, against
// PyTorch's clip_grad_norm_ / clip_grad_value_ / optimizer steps when
// /usr/bin/python3 can import torch. Prints a table of medians; asserts
// nothing. Times are process CPU time (user + system), which a busy machine
// disturbs less than wall-clock time; both engines run on one thread.
//
//   node bench/clip-grad.mjs
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pythonEnv } from './common.mjs';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tg = require(path.join(root, 'dist', 'index.js'));

const REPS = 9;
const CALLS = 1000;

// Median over REPS of the mean time of CALLS calls, in microseconds.
function median(fn) {
  for (let i = 0; i < 100; i++) fn();
  const times = [];
  for (let r = 0; r < REPS; r++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < CALLS; i++) fn();
    const used = process.cpuUsage(t0);
    times.push((used.user + used.system) / CALLS);
  }
  times.sort((a, b) => a - b);
  return times[REPS >> 1];
}

tg.setNumThreads(1);
tg.manualSeed(0);
const model = new tg.nn.MLP([784, 256, 256, 10]);
new tg.nn.CrossEntropyLoss().forward(model.forward(tg.randn([128, 784])), tg.randint(0, 10, [128])).backward();
const params = model.parameters();
const sgd = new tg.optim.SGD(params, { lr: 0, momentum: 0.9 });
const adam = new tg.optim.Adam(params, { lr: 0 });

const ours = {
  'clipGradNorm (no clipping)': median(() => tg.nn.utils.clipGradNorm(params, 1e30)),
  'clipGradNorm (clipping)': median(() => tg.nn.utils.clipGradNorm(params, 1e-3)),
  'clipGradNorm (inf norm)': median(() => tg.nn.utils.clipGradNorm(params, 1e30, { normType: Infinity })),
  clipGradValue: median(() => tg.nn.utils.clipGradValue(params, 1)),
  'SGD step (momentum)': median(() => sgd.step()),
  'Adam step': median(() => adam.step()),
};

const TORCH = `
import json, sys, time, torch
torch.set_num_threads(1); torch.manual_seed(0)
m = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
torch.nn.functional.cross_entropy(m(torch.randn(128, 784)), torch.randint(0, 10, (128,))).backward()
ps = list(m.parameters())
sgd = torch.optim.SGD(ps, lr=0, momentum=0.9)
adam = torch.optim.Adam(ps, lr=0)
def median(f, reps=${REPS}, calls=${CALLS}):
    for _ in range(100): f()
    t = []
    for _ in range(reps):
        s = time.process_time()
        for _ in range(calls): f()
        t.append((time.process_time() - s) / calls * 1e6)
    return sorted(t)[reps // 2]
print(json.dumps({
    'clipGradNorm (no clipping)': median(lambda: torch.nn.utils.clip_grad_norm_(ps, 1e30)),
    'clipGradNorm (clipping)': median(lambda: torch.nn.utils.clip_grad_norm_(ps, 1e-3)),
    'clipGradNorm (inf norm)': median(lambda: torch.nn.utils.clip_grad_norm_(ps, 1e30, norm_type=float('inf'))),
    'clipGradValue': median(lambda: torch.nn.utils.clip_grad_value_(ps, 1)),
    'SGD step (momentum)': median(sgd.step),
    'Adam step': median(adam.step),
    'version': torch.__version__,
}))
`;

let torch = null;
try {
  const env = pythonEnv();
  torch = JSON.parse(execFileSync('/usr/bin/python3', ['-c', TORCH], { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'ignore'] }));
} catch {
  console.log('PyTorch is not importable by /usr/bin/python3: no comparison column.');
}

console.log(`MLP 784-256-256-10 gradients, 1 thread, median of ${REPS} × ${CALLS} calls (µs of CPU time per call)`);
const rows = Object.entries(ours).map(([name, us]) => ({
  operation: name,
  tapegrad: us.toFixed(1),
  ...(torch ? { [`PyTorch ${torch.version}`]: torch[name].toFixed(1), 'tapegrad / PyTorch': (us / torch[name]).toFixed(2) } : {}),
}));
console.table(rows);
