// One MLP training step (784→256→256→10, ReLU, batch 128, cross-entropy,
// SGD) timed in child processes: with the elementwise fast paths and with
// them switched off (TAPEGRAD_ELEMENTWISE=generic), alternating, so both
// figures come from one run on the same machine state. Prints medians and
// the ratio; asserts nothing.
//
//   node bench/mlp-step.mjs [--steps 200] [--rounds 5] [--threads N]
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './common.mjs';

const here = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(here), '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const steps = arg('--steps', 200);
const rounds = arg('--rounds', 5);
const threads = arg('--threads', 0);

function child() {
  const require = createRequire(import.meta.url);
  const tg = require(path.join(root, 'dist', 'index.js'));
  if (threads > 0) tg.setNumThreads(threads);
  tg.manualSeed(0);
  const model = new tg.nn.MLP([784, 256, 256, 10]);
  const lossFn = new tg.nn.CrossEntropyLoss();
  const opt = new tg.optim.SGD(model.parameters(), { lr: 0.01 });
  const x = tg.randn([128, 784]);
  const y = tg.tensor(Array.from({ length: 128 }, (_, i) => i % 10), { dtype: 'int32' });
  const step = () =>
    tg.tidy(() => {
      opt.zeroGrad();
      lossFn.forward(model.forward(x), y).backward();
      opt.step();
    });
  for (let i = 0; i < 20; i++) step();
  const times = [];
  for (let i = 0; i < steps; i++) {
    const t0 = process.hrtime.bigint();
    step();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  process.stdout.write(JSON.stringify({ median: times[times.length >> 1] }) + '\n');
}

if (process.env.TAPEGRAD_MLP_CHILD) {
  child();
} else {
  const modes = { fast: 'auto', generic: 'generic' };
  const results = { fast: [], generic: [] };
  for (let r = 0; r < rounds; r++)
    for (const [label, mode] of Object.entries(modes)) {
      const out = execFileSync(process.execPath, [here, ...process.argv.slice(2)], {
        env: { ...process.env, TAPEGRAD_MLP_CHILD: '1', TAPEGRAD_ELEMENTWISE: mode },
        encoding: 'utf8',
      });
      results[label].push(JSON.parse(out.trim().split('\n').pop()).median);
    }
  const fast = median(results.fast), generic = median(results.generic);
  console.log(`MLP step 784→256→256→10 ReLU, batch 128, SGD; ${steps} steps × ${rounds} rounds per mode`);
  console.log(`  elementwise fast paths off (generic): ${generic.toFixed(3)} ms/step (median)`);
  console.log(`  elementwise fast paths on:            ${fast.toFixed(3)} ms/step (median)`);
  console.log(`  speed-up: ${(generic / fast).toFixed(2)}×`);
}
