// The vectorised elementwise fast paths (same-shape, single-value, row and
// column broadcasts) against a float64 reference, on every ISA path this CPU
// runs and with the fast paths switched off, through child processes
// (TAPEGRAD_ISA and TAPEGRAD_ELEMENTWISE are read once per process).
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectClose, tg, runnableIsas, runCaseScript } from '../helpers.js';

const require = createRequire(import.meta.url);
const casesPath = path.join(__dirname, 'elementwise-cases.cjs');
const C = require(casesPath) as { runAll(t: typeof tg): { cases: number; failures: unknown[] } };

describe('elementwise fast paths', () => {
  for (const isa of runnableIsas()) {
    it(`${isa}: every layout and special value matches the reference exactly`, () => {
      const r = runCaseScript(casesPath, { TAPEGRAD_ISA: isa });
      expect(r.isa).toBe(isa);
      expect(r.cases).toBeGreaterThan(3000);
      expect(r.failures).toEqual([]);
    });
  }

  // Outputs written through an L1 block and streaming stores (large tensors'
  // path, forced here for every size): runs split across threads start at
  // any alignment, so the stores' unaligned heads and tails are covered.
  for (const isa of runnableIsas()) {
    it(`${isa}: outputs written with streaming stores match the reference exactly`, () => {
      const r = runCaseScript(casesPath, { TAPEGRAD_ISA: isa, TAPEGRAD_STREAM_STORES: 'always' });
      expect([r.isa, r.streaming]).toEqual([isa, 'always']);
      expect(r.cases).toBeGreaterThan(3000);
      expect(r.failures).toEqual([]);
    });
  }

  it('the generic loops (TAPEGRAD_ELEMENTWISE=generic) give the same results', () => {
    const r = runCaseScript(casesPath, { TAPEGRAD_ELEMENTWISE: 'generic' });
    expect(r.mode).toBe('generic');
    expect(r.failures).toEqual([]);
  });

  it('the in-process path passes the same checks', () => {
    const r = C.runAll(tg);
    expect(r.failures).toEqual([]);
  });

  it('a bias row broadcast over a batch, by hand', () => {
    const x = tg.tensor([[1, 2, 3], [4, 5, 6]]);
    const b = tg.tensor([10, 20, 30]);
    expect(x.add(b).toArray()).toEqual([[11, 22, 33], [14, 25, 36]]);
    expect(b.sub(x).toArray()).toEqual([[9, 18, 27], [6, 15, 24]]);
    expect(x.maximum(tg.tensor([[2], [5]])).toArray()).toEqual([[2, 2, 3], [5, 5, 6]]);
    expect(x.gt(2).toArray()).toEqual([[0, 0, 1], [1, 1, 1]]);
  });

  it('maximum and minimum propagate NaN; relu keeps NaN and blocks its gradient', () => {
    const a = tg.tensor([NaN, 1, 2, -Infinity]);
    const b = tg.tensor([0, NaN, 3, 0]);
    const max = a.maximum(b).toArray() as number[];
    expect(Number.isNaN(max[0]) && Number.isNaN(max[1])).toBe(true);
    expect(max.slice(2)).toEqual([3, 0]);
    const x = tg.tensor([NaN, -1, 2], { requiresGrad: true });
    const y = x.relu();
    expect(Number.isNaN((y.toArray() as number[])[0])).toBe(true);
    y.backward(tg.tensor([5, 6, 7]));
    expect(x.grad!.toArray()).toEqual([0, 0, 7]);
  });

  it('relu backward is differentiable: gradients of gradients through it', () => {
    const x = tg.tensor([-1, 2, 3], { dtype: 'float64', requiresGrad: true });
    const g = tg.tensor([1, 1, 1], { dtype: 'float64', requiresGrad: true });
    const [gx] = tg.grad([x.relu().mul(x)], [x], { gradOutputs: [g], createGraph: true });
    // d/dx (relu(x)·x) = 2x where x > 0, else 0.
    expectClose(gx!.toArray(), [0, 4, 6]);
    const [gg] = tg.grad([gx!.sum()], [g]);
    expectClose(gg!.toArray(), [0, 4, 6]);
  });

  // A strided input is copied and computed in place by the same kernels:
  // the results of its contiguous copy, bit for bit, and the input untouched.
  it('unary ops on transposed, sliced and broadcast views: the contiguous results, input unchanged', () => {
    const ops: [string, (t: tg.Tensor) => tg.Tensor][] = [
      ['exp', (t) => t.exp()], ['log', (t) => t.log()], ['tanh', (t) => t.tanh()],
      ['sigmoid', (t) => t.sigmoid()], ['gelu', (t) => t.gelu()], ['geluTanh', (t) => t.gelu({ approximate: 'tanh' })],
      ['silu', (t) => t.silu()], ['relu', (t) => t.relu()], ['neg', (t) => t.neg()], ['sqrt', (t) => t.sqrt()],
      ['clamp', (t) => t.clamp(-0.5, 0.75)], ['elu', (t) => t.elu(0.7)], ['softplus', (t) => t.softplus(1.5, 10)],
      ['leakyRelu', (t) => t.leakyRelu(0.2)], ['sin', (t) => t.sin()], ['cos', (t) => t.cos()],
      ['pow 3', (t) => t.pow(3)], ['pow 0.5', (t) => t.pow(0.5)], ['log1p', (t) => t.log1p()], ['expm1', (t) => t.expm1()],
    ];
    for (const dtype of ['float32', 'float64'] as const) {
      const base = tg.randn([6, 70, 90], { dtype }).mul(3);
      const before = Array.from(base.data());
      const views: [string, tg.Tensor][] = [
        ['transpose', base.transpose(1, 2)],
        ['permute', base.permute(2, 0, 1)],
        ['slice with step', base.slice(2, 1, 88, 3)],
        ['broadcast', base.narrow(0, 0, 1).expand(4, 70, 90)],
      ];
      for (const [view, v] of views) {
        expect(v.isContiguous(), view).toBe(false);
        for (const [name, op] of ops) {
          const got = op(v), want = op(v.contiguous());
          expect(got.shape, `${dtype} ${view} ${name}`).toEqual(want.shape);
          expect(Array.from(got.data()), `${dtype} ${view} ${name}`).toEqual(Array.from(want.data()));
        }
      }
      expect(Array.from(base.data())).toEqual(before);
    }
  });

  // Layouts without a kernel run the generic loop split across the pool by
  // rows: every thread count gives the reference, element for element.
  it('generic loops split across threads: transposed operands, int32, sliced copies', () => {
    const before = tg.getNumThreads();
    try {
      const a = tg.randn([300, 410]), bt = tg.randn([410, 300]);
      const ia = tg.randint(-1000, 1000, [70000]), ib = tg.randint(-1000, 1000, [70000]);
      const av = a.data(), btv = bt.data(), iav = ia.data(), ibv = ib.data();
      const wantSum = Float32Array.from(av, (v, i) => v + btv[(i % 410) * 300 + Math.floor(i / 410)]!);
      const wantInt = Int32Array.from(iav, (v, i) => v * ibv[i]!);
      const wantSlice = Float32Array.from({ length: 300 * 400 }, (_, i) => av[Math.floor(i / 400) * 410 + (i % 400) + 5]!);
      for (const threads of [1, 2, 3]) {
        tg.setNumThreads(threads);
        expect(Array.from(a.add(bt.transpose(0, 1)).data()), `${threads} threads`).toEqual(Array.from(wantSum));
        expect(Array.from(ia.mul(ib).data()), `${threads} threads`).toEqual(Array.from(wantInt));
        expect(Array.from(a.narrow(1, 5, 400).contiguous().data()), `${threads} threads`).toEqual(Array.from(wantSlice));
      }
    } finally {
      tg.setNumThreads(before);
    }
  });

  // rsqrt through the sqrt and reciprocal kernels (two roundings, as 1/√x in
  // C), leakyRelu and sign through selects: exact against JavaScript.
  it('rsqrt, leakyRelu (and its gradient) and sign: exact values, special values included', () => {
    const specials = [NaN, Infinity, -Infinity, 0, -0, 1e-45, -1e-45, 4, -4, 2, 1e30, 3.4e38];
    for (const dtype of ['float32', 'float64'] as const) {
      const r = dtype === 'float32' ? Math.fround : (v: number) => v;
      const x = tg.tensor([...specials, ...Array.from({ length: 70000 }, (_, i) => Math.sin(i) * 10 ** ((i % 9) - 4))], { dtype });
      const v = Array.from(x.data());
      const same = (got: tg.Tensor, want: (t: number) => number, what: string) => {
        const g = Array.from(got.data());
        for (let i = 0; i < v.length; i++) if (!Object.is(g[i], want(v[i]!))) expect([v[i], g[i]], `${dtype} ${what}`).toEqual([v[i], want(v[i]!)]);
      };
      same(x.rsqrt(), (t) => r(1 / r(Math.sqrt(t))), 'rsqrt');
      same(x.leakyRelu(0.2), (t) => (t > 0 ? t : r(t * r(0.2))), 'leakyRelu');
      same(x.sign(), (t) => (t > 0 ? 1 : t < 0 ? -1 : t), 'sign');
      // leakyRelu's gradient for an incoming gradient of 3: 3 or 3·0.2 (NaN
      // inputs take the slope, as where(x > 0, …) does).
      const leafX = x.detach().setRequiresGrad(true);
      leafX.leakyRelu(0.2).backward(tg.full(x.shape, 3, { dtype }));
      const grad = Array.from(leafX.grad!.data());
      for (let i = 0; i < v.length; i++) {
        const want = v[i]! > 0 ? 3 : r(3 * r(0.2));
        if (grad[i] !== want) expect([v[i], grad[i]], `${dtype} leakyRelu gradient`).toEqual([v[i], want]);
      }
    }
  });
});
