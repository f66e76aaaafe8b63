// Multithreaded backward: gradients are bitwise identical for every backward
// strategy (native._setBackwardStrategy, an internal switch), thread count
// and run; several worker threads may run backward at once; retainGraph,
// grad(), hooks and errors behave as on one thread.
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { tg, type Tensor } from './helpers.js';
import { native } from '../dist/native.js';

const require = createRequire(import.meta.url);
const graphsPath = path.resolve(__dirname, '../bench/backward-graphs.cjs');
type Graph = { params: Tensor[]; forward(): Tensor };
type Builder = (t: typeof tg, options?: Record<string, unknown>) => Graph;
const graphs = require(graphsPath) as Record<'mlp' | 'branches' | 'residual' | 'transformer' | 'heads', Builder>;

const defaultThreads = tg.getNumThreads();
afterEach(() => {
  tg.setNumThreads(defaultThreads);
  native._setBackwardStrategy('intra');
});

const strategies = ['hybrid', 'intra', 'inter'] as const;
const threadCounts = [1, 2, 3, 4];

// The most tile blocks a GEMM of loss()'s backward was split into on
// `threads` threads (the forward's splits do not count).
async function mostBackwardBlocks(threads: number, async: boolean, loss: () => Tensor): Promise<number> {
  tg.setNumThreads(threads);
  return tg.tidyAsync(async () => {
    const l = loss();
    native._gemmMostBlocks();
    if (async) await l.backwardAsync();
    else l.backward();
    return native._gemmMostBlocks();
  });
}

function bytes(t: Tensor | null): string {
  if (t === null) return 'null';
  const d = t.data();
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('base64');
}

// Gradients of every param after one fresh forward and backward, as bytes.
function backwardBytes(g: Graph): string[] {
  for (const p of g.params) p.zeroGrad();
  return tg.tidy(() => {
    g.forward().backward();
    return g.params.map((p) => bytes(p.grad));
  });
}

// Second-order gradients: d/dp of sum(dloss/dp ²) through createGraph.
function createGraphBytes(g: Graph): string[] {
  for (const p of g.params) p.zeroGrad();
  return tg.tidy(() => {
    const first = tg.grad(g.forward(), g.params, { createGraph: true });
    let penalty: Tensor | null = null;
    for (const d of first) if (d) penalty = penalty ? penalty.add(d.square().sum()) : d.square().sum();
    penalty!.backward();
    return g.params.map((p) => bytes(p.grad));
  });
}

const cases: [string, () => Graph, (g: Graph) => string[]][] = [
  ['MLP (float32)', () => graphs.mlp(tg), backwardBytes],
  ['4 branches sharing their input (float32)', () => graphs.branches(tg), backwardBytes],
  ['8 small branches (float64)', () => graphs.branches(tg, { dtype: 'float64', width: 48, batch: 16, count: 8 }), backwardBytes],
  ['8 branches below the GEMM parallel threshold (float32)', () => graphs.branches(tg, { width: 128, batch: 32, count: 8 }), backwardBytes],
  ['residual stack (float32)', () => graphs.residual(tg), backwardBytes],
  ['attention head by head, 8 heads (float32)', () => graphs.heads(tg), backwardBytes],
  ['transformer block (float32)', () => graphs.transformer(tg, { batch: 2, seq: 32, dim: 128 }), backwardBytes],
  ['createGraph through 3 branches (float64)', () => graphs.branches(tg, { dtype: 'float64', width: 64, batch: 32, count: 3 }), createGraphBytes],
];

describe('multithreaded backward', () => {
  it.each(cases)('gives bitwise identical gradients for every strategy, thread count and run: %s', (_, build, run) => {
    const g = build();
    tg.setNumThreads(1);
    native._setBackwardStrategy('intra');
    const reference = run(g);
    expect(reference.every((b) => b !== 'null')).toBe(true);
    for (const strategy of strategies) {
      native._setBackwardStrategy(strategy);
      for (const threads of threadCounts) {
        tg.setNumThreads(threads);
        for (let rep = 0; rep < 2; rep++) {
          const got = run(g);
          got.forEach((b, i) => expect(b, `${strategy}, ${threads} threads, rep ${rep}, param ${i}`).toBe(reference[i]));
        }
      }
    }
  });

  // backwardAsync runs under a thread cap (all but one): the splits it then
  // takes (GEMM blocks, grouped nodes, conv's per-image path) change no bit.
  const asyncCases: [string, () => Graph][] = [
    ['4 branches sharing their input (float32)', () => graphs.branches(tg)],
    ['transformer block (float32)', () => graphs.transformer(tg, { batch: 2, seq: 32, dim: 128 })],
    ['conv over 5 images (float32)', () => {
      tg.manualSeed(3);
      const x = tg.randn([5, 8, 20, 20]).setRequiresGrad(true);
      const w = tg.randn([16, 8, 3, 3]).mul(0.1).setRequiresGrad(true);
      const b = tg.randn([16]).setRequiresGrad(true);
      return { params: [x, w, b], forward: () => tg.nn.functional.conv2d(x, w, b, { padding: 1 }).tanh().square().mean() };
    }],
  ];
  it.each(asyncCases)('gives the one-thread gradients from backwardAsync on any thread count and strategy: %s', async (_, build) => {
    const g = build();
    tg.setNumThreads(1);
    native._setBackwardStrategy('intra');
    const reference = backwardBytes(g);
    for (const strategy of strategies) {
      native._setBackwardStrategy(strategy);
      for (const threads of [2, 3, 5]) {
        tg.setNumThreads(threads);
        for (const p of g.params) p.zeroGrad();
        const got = await tg.tidyAsync(async () => {
          await g.forward().backwardAsync();
          return g.params.map((p) => bytes(p.grad));
        });
        got.forEach((b, i) => expect(b, `${strategy}, ${threads} threads, param ${i}`).toBe(reference[i]));
      }
    }
  });

  it('runs independent nodes side by side only under the strategies and sizes that allow it', () => {
    const grouped = (strategy: 'hybrid' | 'intra' | 'inter', threads: number, g: Graph) => {
      native._setBackwardStrategy(strategy);
      tg.setNumThreads(threads);
      const before = native._backwardGroupedNodes();
      backwardBytes(g);
      return native._backwardGroupedNodes() - before;
    };
    const large = graphs.branches(tg);
    const medium = graphs.branches(tg, { width: 128, batch: 32, count: 8 });
    const small = graphs.branches(tg, { dtype: 'float64', width: 48, batch: 16, count: 8 });
    expect(grouped('inter', 2, large)).toBeGreaterThanOrEqual(4);
    expect(grouped('hybrid', 2, large)).toBe(0); // 512×512 GEMMs split across the pool themselves
    // GEMMs below the kernels' parallel threshold: both linears of all 8 branches, 8 at a time.
    expect(grouped('hybrid', 2, medium)).toBeGreaterThanOrEqual(16);
    expect(grouped('inter', 2, small)).toBeGreaterThanOrEqual(8);
    expect(grouped('hybrid', 2, small)).toBe(0); // too small to be worth a hand-off
    expect(grouped('hybrid', 2, graphs.heads(tg))).toBeGreaterThanOrEqual(24); // q, k, v projections of 8 heads
    expect(grouped('intra', 2, large)).toBe(0);
    expect(grouped('inter', 1, large)).toBe(0);
    // createGraph rules record new nodes and share leaves' accumulators: one at a time.
    native._setBackwardStrategy('inter');
    tg.setNumThreads(2);
    const before = native._backwardGroupedNodes();
    tg.tidy(() => tg.grad(large.forward(), large.params, { createGraph: true }));
    expect(native._backwardGroupedNodes() - before).toBe(0);
  });

  it('runs nodes of an async backward side by side only on the threads its cap leaves (all but one)', async () => {
    native._setBackwardStrategy('inter');
    const large = graphs.branches(tg);
    const groupedAsync = async (threads: number) => {
      tg.setNumThreads(threads);
      for (const p of large.params) p.zeroGrad();
      const before = native._backwardGroupedNodes();
      await tg.tidyAsync(async () => {
        await large.forward().backwardAsync();
      });
      return native._backwardGroupedNodes() - before;
    };
    expect(await groupedAsync(2)).toBe(0); // one thread left to the job: no hand-offs
    expect(await groupedAsync(3)).toBeGreaterThanOrEqual(4);
  });

  it('runs the two GEMMs of a matmul backward side by side on two or three threads, each split across all on more', async () => {
    native._setBackwardStrategy('intra');
    const large = graphs.branches(tg); // 8 linears of 128×512·512×512, x requiring grad too
    const sideBySide = async (threads: number, async: boolean) => {
      tg.setNumThreads(threads);
      for (const p of large.params) p.zeroGrad();
      const before = native._backwardSideBySide();
      await tg.tidyAsync(async () => {
        const loss = large.forward();
        if (async) await loss.backwardAsync();
        else loss.backward();
      });
      return native._backwardSideBySide() - before;
    };
    expect(await sideBySide(1, false)).toBe(0);
    expect(await sideBySide(2, false)).toBe(8);
    expect(await sideBySide(3, false)).toBe(8);
    expect(await sideBySide(4, false)).toBe(0);
    // backwardAsync leaves one thread to the JS thread.
    expect(await sideBySide(2, true)).toBe(0);
    expect(await sideBySide(3, true)).toBe(8);
    expect(await sideBySide(5, true)).toBe(0);
  });

  it("splits an async backward's GEMMs into at most the threads its cap leaves (all but one)", async () => {
    native._setBackwardStrategy('intra');
    const x = tg.randn([512, 512]).setRequiresGrad(true);
    const w = tg.randn([512, 512]).setRequiresGrad(true);
    const mostBlocks = (threads: number, async: boolean) => mostBackwardBlocks(threads, async, () => tg.matmul(x, w).sum());
    expect(await mostBlocks(1, false)).toBe(0);
    // Large enough to take every thread: 5 blocks of rows on 5 threads.
    expect(await mostBlocks(5, false)).toBe(5);
    expect(await mostBlocks(2, true)).toBe(0); // one thread left to the job: no split
    expect(await mostBlocks(5, true)).toBe(4);
    x.dispose();
    w.dispose();
  });

  it("splits an async conv backward by images where the threads its cap leaves have an image each", async () => {
    native._setBackwardStrategy('intra');
    const x = tg.randn([4, 8, 32, 32]).setRequiresGrad(true);
    const w = tg.randn([16, 8, 3, 3]).setRequiresGrad(true);
    const mostBlocks = (threads: number, async: boolean) =>
      mostBackwardBlocks(threads, async, () => tg.nn.functional.conv2d(x, w, null, { padding: 1 }).sum());
    // 4 images on 5 threads: the batched products, each split across the pool.
    expect(await mostBlocks(5, false)).toBeGreaterThan(1);
    // An image per thread: per-image products, each on its thread.
    expect(await mostBlocks(4, false)).toBe(0);
    expect(await mostBlocks(5, true)).toBe(0); // capped to 4 threads
    x.dispose();
    w.dispose();
  });

  it('matches the gradients computed by hand-written chains (values, not only agreement)', () => {
    // y = sum over 4 branches of (x·Wbᵀ); dL/dx for L = sum(y) is the sum of each Wb's column sums.
    tg.setNumThreads(2);
    native._setBackwardStrategy('inter');
    const n = 64;
    const x = tg.randn([32, n], { dtype: 'float64' }).setRequiresGrad(true);
    const ws = [0, 1, 2, 3].map(() => tg.randn([n, n], { dtype: 'float64' }).setRequiresGrad(true));
    ws.map((w) => tg.matmul(x, w.transpose(0, 1))).reduce((a, b) => a.add(b)).sum().backward();
    const expected = new Float64Array(n);
    for (const w of ws) {
      const d = w.data();
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expected[j] += d[i * n + j];
    }
    const gx = x.grad!.data();
    for (let r = 0; r < 32; r++) for (let j = 0; j < n; j++) expect(gx[r * n + j]).toBeCloseTo(expected[j], 9);
    const xsum = new Float64Array(n);
    const xd = x.data();
    for (let r = 0; r < 32; r++) for (let j = 0; j < n; j++) xsum[j] += xd[r * n + j];
    for (const w of ws) {
      const gw = w.grad!.data();
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(gw[i * n + j]).toBeCloseTo(xsum[j], 9);
    }
  });

  for (const strategy of strategies) {
    it(`keeps retainGraph, grad() and hooks working (${strategy})`, () => {
      native._setBackwardStrategy(strategy);
      tg.setNumThreads(2);
      const g = graphs.branches(tg);
      const loss = g.forward();
      loss.backward(null, { retainGraph: true });
      const once = g.params.map((p) => p.grad!.data().slice());
      loss.backward();
      g.params.forEach((p, i) => {
        const twice = p.grad!.data();
        for (let j = 0; j < twice.length; j += 97) expect(twice[j]).toBe(2 * once[i][j]);
      });
      expect(() => loss.backward()).toThrow(/a second time/);

      const viaGrad = tg.grad(g.forward(), g.params);
      viaGrad.forEach((d, i) => expect(bytes(d)).toBe(bytes(tg.tensor(once[i], { shape: g.params[i].shape }))));

      // Hooks run once each (on the calling thread: they are JS) and their replacements are used.
      const x = g.params[0];
      let leafCalls = 0, innerCalls = 0;
      for (const p of g.params) p.zeroGrad();
      const y = g.forward();
      x.registerHook((grad) => {
        leafCalls++;
        return grad.mul(2);
      });
      const inner = tg.nn.functional.linear(x, g.params[1], g.params[2]);
      inner.registerHook(() => {
        innerCalls++;
      });
      y.add(inner.sum().mul(0)).backward();
      expect([leafCalls, innerCalls]).toEqual([1, 1]);
      const gx = x.grad!.data();
      const base = once[0];
      // The extra branch adds 0 · W1's column sums (exactly 0), so x's grad is twice the first one.
      for (let j = 0; j < gx.length; j += 31) expect(gx[j]).toBe(2 * base[j]);
    });
  }

  it('surfaces an error thrown inside a node run on a pool thread as a JS error', () => {
    native._setBackwardStrategy('inter');
    tg.setNumThreads(2);
    const F = tg.nn.functional;
    const xs = [0, 1, 2, 3].map(() => tg.randn([64, 256]));
    const ws = [0, 1, 2, 3].map(() => tg.randn([256, 256]).setRequiresGrad(true));
    const forward = () => ws.map((w, i) => F.linear(xs[i], w).tanh()).reduce((a, b) => a.add(b)).sum();
    for (let bad = 0; bad < 4; bad++) {
      const loss = forward();
      xs[bad].mulInPlace(1); // linear saved it for the weight's gradient
      expect(() => loss.backward()).toThrow(tg.TapegradError);
      expect(() => forward().backward()).not.toThrow();
      const loss2 = forward();
      xs[bad].mulInPlace(1);
      expect(() => loss2.backward()).toThrow(/modified by an in-place operation/);
    }
    // The pool and the engine still work afterwards.
    for (const w of ws) w.zeroGrad();
    forward().backward();
    for (const w of ws) expect(w.grad).not.toBeNull();
  });

  it('rejects an unknown strategy', () => {
    expect(() => native._setBackwardStrategy('fast' as 'hybrid')).toThrow(RangeError);
    expect(() => native._setBackwardStrategy('fast' as 'hybrid')).toThrow(/'hybrid', 'intra' or 'inter', got 'fast'/);
    expect(native._setBackwardStrategy('inter')).toBe('intra'); // the default
    expect(native._setBackwardStrategy('intra')).toBe('inter');
  });

  it('runs backward in several worker threads at once, each getting the one-thread result', async () => {
    const distIndex = path.resolve(__dirname, '../dist/index.js');
    const source = `
      const { parentPort, workerData } = require('node:worker_threads');
      const tg = require(${JSON.stringify(distIndex)});
      const graphs = require(${JSON.stringify(graphsPath)});
      const { kind, seed, options } = workerData;
      const g = graphs[kind](tg, { ...options, seed });
      const out = [];
      for (let rep = 0; rep < 3; rep++) {
        for (const p of g.params) p.zeroGrad();
        g.forward().backward();
        out.push(g.params.map((p) => { const d = p.grad.data(); return Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('base64'); }));
      }
      parentPort.postMessage(out);
    `;
    const jobs = [
      { kind: 'branches', seed: 1 },
      { kind: 'mlp', seed: 2 },
      { kind: 'branches', seed: 3 },
      { kind: 'residual', seed: 4 },
      { kind: 'branches', seed: 5, options: { width: 128, batch: 32, count: 8 } },
    ];
    for (const strategy of strategies) {
      native._setBackwardStrategy(strategy); // process-wide: the workers see it too
      tg.setNumThreads(2);
      const results = await Promise.all(
        jobs.map(
          (data) =>
            new Promise<string[][]>((resolve, reject) => {
              const w = new Worker(source, { eval: true, workerData: data });
              w.once('message', resolve);
              w.once('error', reject);
            }),
        ),
      );
      tg.setNumThreads(1);
      jobs.forEach((job, j) => {
        const g = graphs[job.kind as 'mlp'](tg, { ...job.options, seed: job.seed });
        const expected = backwardBytes(g);
        for (const rep of results[j]) rep.forEach((b, i) => expect(b, `${strategy} ${job.kind} param ${i}`).toBe(expected[i]));
      });
    }
    // Five workers loading the addon and running three strategies took 60-70 s
    // under the sanitizers on a busy 2-core machine: a correctness test, not a timed one.
  }, 300_000);
});
