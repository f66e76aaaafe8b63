// Event-loop delay while training: how long other work (an HTTP handler, a
// timer) waits while an MLP trains in the same process, with the
// synchronous API (each step runs on the JS thread; the loop yields between
// steps), with the async one (Trainer.step: the forward pass replayed from a
// trace, backward and the optimizer update, all on a background thread), and
// with Trainer({ traceForward: false }) (the forward pass on the JS thread,
// yielding between layers; the rest in the background).
//
//   npm run bench:event-loop                 # batch 128 and 1024, 3 repetitions
//   npm run bench:event-loop -- --quick      # 1 repetition, shorter runs
//
// The delay is perf_hooks.monitorEventLoopDelay at 1 ms resolution, sampled
// over a fixed wall time of training. Figures are medians over repetitions
// (sync and async interleaved). Prints a table; asserts nothing.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './common.mjs';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tg = require(path.join(root, 'dist', 'index.js'));

const quick = process.argv.includes('--quick');
const repetitions = quick ? 1 : 3;
const seconds = quick ? 1 : 2;
const batches = [128, 1024];
const sizes = [784, 256, 256, 10];

function setup(batch) {
  tg.manualSeed(1);
  const model = new tg.nn.MLP(sizes);
  const optimizer = new tg.optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const loss = new tg.nn.CrossEntropyLoss();
  const x = tg.randn([batch, sizes[0]]);
  const y = tg.randint(0, 10, [batch]);
  return {
    model, optimizer, loss, x, y,
    trainer: new tg.train.Trainer(model, { loss, optimizer }),
    jsForwardTrainer: new tg.train.Trainer(model, { loss, optimizer, traceForward: false }),
  };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

// One synchronous step, then a turn of the event loop: the obvious loop for a
// server that trains with backward() and optimizer.step().
async function syncStep(s) {
  tg.tidy(() => {
    s.optimizer.zeroGrad();
    const l = s.loss.forward(s.model.forward(s.x), s.y);
    l.backward();
    s.optimizer.step();
  });
  await nextTurn();
}

const apis = {
  sync: syncStep,
  async: (s) => s.trainer.step([s.x, s.y]),
  'async-js': (s) => s.jsForwardTrainer.step([s.x, s.y]),
};

// The same measurement with nothing running: what the machine itself adds.
async function idle() {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  h.disable();
  return { p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6, stepMs: NaN };
}

async function measure(batch, mode) {
  const s = setup(batch);
  const step = apis[mode];
  for (let i = 0; i < 10; i++) await step(s);
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const started = performance.now();
  let steps = 0;
  while (performance.now() - started < seconds * 1000) {
    await step(s);
    steps++;
  }
  const elapsed = (performance.now() - started) / 1000;
  h.disable();
  const ms = (ns) => ns / 1e6;
  return {
    p50: ms(h.percentile(50)),
    p99: ms(h.percentile(99)),
    max: ms(h.max),
    stepMs: (elapsed * 1000) / steps,
  };
}

const info = tg.backendInfo();
console.log(
  `Event-loop delay while training the MLP ${sizes.join('→')} (SGD, softmax cross-entropy); ` +
    `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${tg.getNumThreads()} threads, ${info.isa}, Node ${process.version}; ` +
    `${seconds} s per run, median of ${repetitions}; load average before: ${os.loadavg()[0].toFixed(2)}`,
);
console.log(
  'monitorEventLoopDelay at 1 ms resolution (an idle loop reads about 1 ms: the timer interval itself), in ms;\n' +
    'async: forward (replayed from a trace), backward and the update on a background thread that leaves the JS thread\n' +
    'a core and never preempts it; async, JS forward: traceForward false, the forward pass on the JS thread layer by\n' +
    'layer with yields in between\n',
);
const rows = [];
{
  const runs = [];
  for (let r = 0; r < repetitions; r++) runs.push(await idle());
  const m = (k) => median(runs.map((x) => x[k]));
  rows.push({ batch: '-', mode: 'idle', p50: m('p50'), p99: m('p99'), max: m('max'), stepMs: NaN });
}
for (const batch of batches) {
  const modes = Object.keys(apis);
  const runs = Object.fromEntries(modes.map((m) => [m, []]));
  for (let r = 0; r < repetitions; r++)
    for (const mode of r % 2 ? [...modes].reverse() : modes) runs[mode].push(await measure(batch, mode));
  for (const mode of modes) {
    const m = (k) => median(runs[mode].map((x) => x[k]));
    rows.push({ batch, mode, p50: m('p50'), p99: m('p99'), max: m('max'), stepMs: m('stepMs') });
  }
}

const header = ['batch', 'API', 'p50 ms', 'p99 ms', 'max ms', 'ms/step', 'p99 vs sync'];
const body = rows.map((r) => {
  const sync = rows.find((x) => x.batch === r.batch && x.mode === 'sync');
  return [
    String(r.batch),
    {
      idle: 'idle (no training)',
      sync: 'sync (backward + step)',
      async: 'async (Trainer.step)',
      'async-js': 'async, JS forward',
    }[r.mode],
    r.p50.toFixed(2),
    r.p99.toFixed(2),
    r.max.toFixed(2),
    Number.isNaN(r.stepMs) ? '-' : r.stepMs.toFixed(2),
    r.mode === 'idle' ? '-' : (r.p99 / sync.p99).toFixed(2),
  ];
});
const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
const line = (cells) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const row of body) console.log(line(row));
console.log(`\nload average after: ${os.loadavg()[0].toFixed(2)} (other processes competing for the cores raise every figure)`);
