// Soak test: a training loop written the obvious way, run for 100,000 steps,
// printing the process's RSS (and tapegrad's own counters) every 10,000
// steps. Memory must stay flat: the buffer cache reuses the same buffers
// every step, tidy() frees each step's tensors, and tensors nobody disposed
// are freed by their finalizers. Two loops:
//   tidy   MLP + Adam, each step inside tg.tidy (a fresh random batch per
//          step), in one synchronous loop
//   manual MLP + SGD with momentum, disposing the batch, output and loss by
//          hand; the layers' intermediate tensors are left to the GC. Steps
//          run as a server would run them, yielding to the event loop
//          between steps: Node runs finalizers only between event-loop
//          turns, so a synchronous loop that leaves tensors to the GC grows
//          until it yields (use tidy there).
//   trainer MLP + Adam through train.Trainer: the forward pass replayed
//          from a trace, backward and the update on the background thread,
//          a fresh batch per step disposed after it.
// Asserts nothing; prints the RSS growth between the first report and the end.
//
//   npm run bench:soak                    # 100,000 steps per loop (tidy, manual)
//   npm run bench:soak -- --loop trainer  # the Trainer loop
//   npm run bench:soak -- --quick         # 20,000 steps per loop
//   npm run bench:soak -- --steps 50000 --loop tidy
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tg = require(path.join(root, 'dist', 'index.js'));

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const quick = process.argv.includes('--quick');
const steps = Number(option('--steps', quick ? 20_000 : 100_000));
const every = Math.max(1, Math.round(steps / 10));
const loops = option('--loop', 'tidy,manual').split(',');
const BATCH = 64, IN = 32, HIDDEN = 64, CLASSES = 10;

const mb = (bytes) => (bytes / 1024 / 1024).toFixed(1);

function model() {
  return new tg.nn.Sequential(
    new tg.nn.Linear(IN, HIDDEN), new tg.nn.ReLU(),
    new tg.nn.Linear(HIDDEN, HIDDEN), new tg.nn.ReLU(),
    new tg.nn.Linear(HIDDEN, CLASSES),
  );
}

// Labels follow a fixed random linear rule of the inputs, so the loss falls.
const teacher = tg.randn([IN, CLASSES]);
function batch() {
  const x = tg.randn([BATCH, IN]);
  const y = tg.noGrad(() => tg.tidy(() => x.matmul(teacher).argmax(1)));
  return { x, y };
}

function report(name, step, loss, t0, rows) {
  const m = tg.memory();
  const rss = process.memoryUsage.rss();
  rows.push(rss);
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `${name.padEnd(7)} step ${String(step).padStart(7)}  rss ${mb(rss).padStart(7)} MB  heap ${mb(process.memoryUsage().heapUsed).padStart(6)} MB  ` +
      `live ${String(m.liveTensors).padStart(4)} tensors ${mb(m.liveBytes).padStart(6)} MB  cached ${mb(m.cachedBytes).padStart(6)} MB  ` +
      `loss ${loss.toFixed(4)}  ${(secs * 1e6 / step).toFixed(0)} µs/step`,
  );
}

function runTidy() {
  const net = model();
  const opt = new tg.optim.Adam(net.parameters(), { lr: 1e-3 });
  const lossFn = new tg.nn.CrossEntropyLoss();
  const rows = [];
  let loss = NaN;
  const t0 = performance.now();
  for (let step = 1; step <= steps; step++) {
    const record = step % every === 0;
    loss = tg.tidy(() => {
      const { x, y } = batch();
      opt.zeroGrad();
      const l = lossFn.forward(net.forward(x), y);
      l.backward();
      opt.step();
      return record ? l.item() : loss;
    });
    if (record) report('tidy', step, loss, t0, rows);
  }
  return rows;
}

const yieldToEventLoop = () => new Promise((resolve) => setImmediate(resolve));

async function runManual() {
  const net = model();
  const opt = new tg.optim.SGD(net.parameters(), { lr: 0.05, momentum: 0.9 });
  const lossFn = new tg.nn.CrossEntropyLoss();
  const rows = [];
  let loss = NaN;
  const t0 = performance.now();
  for (let step = 1; step <= steps; step++) {
    const { x, y } = batch();
    opt.zeroGrad();
    const out = net.forward(x);
    const l = lossFn.forward(out, y);
    l.backward();
    opt.step();
    if (step % every === 0) loss = l.item();
    x.dispose();
    y.dispose();
    out.dispose();
    l.dispose();
    if (step % every === 0) report('manual', step, loss, t0, rows);
    await yieldToEventLoop();
  }
  return rows;
}

async function runTrainer() {
  const net = model();
  const optimizer = new tg.optim.Adam(net.parameters(), { lr: 1e-3 });
  const trainer = new tg.train.Trainer(net, { loss: new tg.nn.CrossEntropyLoss(), optimizer, threads: 1 });
  const rows = [];
  let loss = NaN;
  const t0 = performance.now();
  for (let step = 1; step <= steps; step++) {
    const { x, y } = batch();
    loss = await trainer.step([x, y]);
    x.dispose();
    y.dispose();
    if (step % every === 0) report('trainer', step, loss, t0, rows);
  }
  if (trainer.forwardInJsReason !== null) throw new Error(`the forward pass was not traced: ${trainer.forwardInJsReason}`);
  return rows;
}

const runs = { tidy: runTidy, manual: runManual, trainer: runTrainer };

tg.setNumThreads(1);
console.log(`soak: ${steps} steps per loop, MLP ${IN}→${HIDDEN}→${HIDDEN}→${CLASSES}, batch ${BATCH}, 1 thread`);
const summary = [];
for (const name of loops) {
  if (!(name in runs)) throw new Error(`unknown loop '${name}' (tidy, manual or trainer)`);
  const rows = await runs[name]();
  const growth = rows[rows.length - 1] - rows[0];
  const max = Math.max(...rows), min = Math.min(...rows);
  // The GC lets untidied tensors pile up to its external-memory threshold
  // before collecting them: the second half shows the plateau.
  const half = rows[Math.floor(rows.length / 2) - 1];
  const sign = (x) => (x >= 0 ? '+' : '') + mb(x);
  summary.push(`${name}: RSS ${mb(rows[0])} MB at step ${every}, ${mb(rows[rows.length - 1])} MB at step ${steps} ` +
    `(${sign(growth)} MB; ${sign(rows[rows.length - 1] - half)} MB over the second half; range ${mb(min)}–${mb(max)} MB)`);
}
for (const line of summary) console.log(line);
