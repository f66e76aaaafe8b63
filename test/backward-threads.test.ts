// The backward pass on several threads: gradients are bitwise identical for
// any thread count and from run to run, and backward calls from several
// worker threads at once (sharing the one process-wide pool) are each right.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { tg, type Tensor } from './helpers.js';

const { nn } = tg;
const F = nn.functional;
const dist = path.resolve(__dirname, '..', 'dist', 'index.js');
const initialThreads = tg.getNumThreads();

afterEach(() => tg.setNumThreads(initialThreads));

/** The raw bytes of every gradient, so equality is bitwise (NaN payloads and -0 included). */
function gradientBytes(params: readonly Tensor[]): number[][] {
  return params.map((p) => {
    const d = p.grad!.data();
    return Array.from(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  });
}

const graphs: Record<string, () => Tensor[]> = {
  // Large enough that the GEMMs and reductions split across the pool.
  mlp: () => {
    tg.manualSeed(11);
    const model = new nn.Sequential(new nn.Linear(784, 256), new nn.ReLU(), new nn.Linear(256, 256), new nn.ReLU(), new nn.Linear(256, 10));
    const x = tg.randn([128, 784]);
    const y = tg.randint(0, 10, [128]);
    F.crossEntropy(model.forward(x), y).backward();
    return model.parameters();
  },
  branches: () => {
    tg.manualSeed(12);
    const x = tg.randn([96, 300], { requiresGrad: true });
    const ws = Array.from({ length: 4 }, () => tg.randn([300, 200], { requiresGrad: true }));
    // Independent branches of one shared input, joined at the end.
    ws.map((w, i) => x.matmul(w).tanh().mul(i + 1)).reduce((a, b) => a.add(b)).square().mean().backward();
    return [x, ...ws];
  },
  transformer: () => {
    tg.manualSeed(13);
    const layer = new nn.TransformerEncoderLayer(64, 4, { dimFeedforward: 128, dropout: 0, normFirst: true, batchFirst: true });
    const x = tg.randn([4, 24, 64], { requiresGrad: true });
    layer.forward(x).square().mean().backward();
    return [x, ...layer.parameters()];
  },
  float64SharedInputs: () => {
    tg.manualSeed(14);
    const a = tg.randn([200, 150], { dtype: 'float64', requiresGrad: true });
    const b = tg.randn([150, 120], { dtype: 'float64', requiresGrad: true });
    // a appears three times; its gradient sums contributions in a fixed order.
    a.matmul(b).mul(a.sum(1, true)).add(a.mean()).logsumexp(1).sum().backward();
    return [a, b];
  },
  createGraph: () => {
    tg.manualSeed(15);
    const w = tg.randn([256, 128], { requiresGrad: true });
    const x = tg.randn([64, 256]);
    const loss = x.matmul(w).tanh().square().sum();
    const [g] = tg.grad(loss, w, { createGraph: true });
    // A gradient penalty: backward through the first backward.
    g!.square().sum().backward();
    return [w];
  },
};

describe('backward on several threads', () => {
  for (const [name, build] of Object.entries(graphs)) {
    it(`${name}: gradients bitwise identical on 1, 2 and 4 threads and across runs`, () => {
      tg.setNumThreads(1);
      const reference = tg.tidy(() => gradientBytes(build()));
      for (const threads of [2, 4, 2, 1]) {
        tg.setNumThreads(threads);
        const again = tg.tidy(() => gradientBytes(build()));
        expect(again, `${name} on ${threads} threads`).toEqual(reference);
      }
    });
  }

  it('a hook that throws during backward surfaces as that JS error, and the next backward works', () => {
    tg.setNumThreads(2);
    const x = tg.randn([128, 128], { requiresGrad: true });
    const h = x.matmul(x);
    h.registerHook(() => {
      throw new Error('hook says no');
    });
    expect(() => h.sum().backward()).toThrow('hook says no');
    const y = tg.randn([64, 64], { requiresGrad: true });
    y.matmul(y).sum().backward();
    expect(y.grad!.shape).toEqual([64, 64]);
  });

  it('runs backward calls from several worker threads at once, each with its own seeded generator and the right gradients', async () => {
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const tg = require(${JSON.stringify(dist)});
      const results = [];
      for (let rep = 0; rep < 5; rep++) {
        tg.manualSeed(workerData.seed);
        const w = tg.randn([300, 200], { requiresGrad: true });
        const x = tg.randn([128, 300]);
        x.matmul(w).relu().square().mean().backward();
        results.push(Array.from(new Uint8Array(w.grad.data().buffer)).join(','));
      }
      parentPort.postMessage(results);`;
    const expected = (seed: number): string => {
      tg.manualSeed(seed);
      const w = tg.randn([300, 200], { requiresGrad: true });
      const x = tg.randn([128, 300]);
      x.matmul(w).relu().square().mean().backward();
      return Array.from(new Uint8Array(w.grad!.data().buffer)).join(',');
    };
    const seeds = [21, 22, 23];
    const outputs = await Promise.all(
      seeds.map(
        (seed) =>
          new Promise<string[]>((resolve, reject) => {
            const worker = new Worker(code, { eval: true, workerData: { seed } });
            worker.once('message', resolve);
            worker.once('error', reject);
          }),
      ),
    );
    seeds.forEach((seed, i) => {
      const want = expected(seed);
      for (const got of outputs[i]!) expect(got === want, `worker with seed ${seed}`).toBe(true);
    });
  }, 60_000);
});
