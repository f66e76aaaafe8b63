// sum and mean through the blocked fast path (one block of consecutive
// reduced dims, leading, middle or trailing; var's trailing) against
// compensated float64 references, and bitwise the same on every ISA path
// and thread count (child processes).
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tg, expectSameDigestOnEveryIsa, runCaseScript } from '../helpers.js';

const require = createRequire(import.meta.url);
const casesPath = path.join(__dirname, 'reduce-cases.cjs');
const R = require(casesPath) as { runAll(t: typeof tg): { cases: number; failures: unknown[]; digest: string } };

describe('sum and mean fast path', () => {
  it('accurate against the reference, and bitwise identical across ISA paths and thread counts', () => {
    expectSameDigestOnEveryIsa(casesPath, ['1', '2'], (r) => expect(r.cases).toBeGreaterThan(100));
  }, 240_000);  // every case on each ISA path at 1 and 2 threads: near a minute under the sanitizers

  it('the generic loops meet the looser bound', () => {
    expect(runCaseScript(casesPath, { TAPEGRAD_ELEMENTWISE: 'generic' }).failures).toEqual([]);
  });

  it('in process, and by hand', () => {
    expect(R.runAll(tg).failures).toEqual([]);
    const x = tg.tensor([[1, 2, 3], [4, 5, 6]]);
    expect(x.sum([0]).toArray()).toEqual([5, 7, 9]);
    expect(x.sum([1]).toArray()).toEqual([6, 15]);
    expect(x.mean().item()).toBe(3.5);
    expect(Number.isNaN(tg.tensor([1, NaN, 2]).sum().item())).toBe(true);
    expect(tg.tensor([1, Infinity]).sum().item()).toBe(Infinity);
  });

  it('short rows, summed many rows a call, add up as each row alone does, bit for bit', () => {
    // Rows of up to 64 elements take a kernel of their own; a row alone (a
    // single output) takes the one-row sum. Values of mixed magnitude, so
    // another order of additions would change low bits.
    for (const dtype of ['float32', 'float64'] as const)
      for (const n of [1, 2, 3, 4, 5, 8, 15, 16, 17, 31, 33, 48, 49, 63, 64, 65]) {
        const rows = 1 + (n * 7) % 23;
        const values = Array.from({ length: rows * n }, (_, i) => Math.sin(i * 1.7 + n) * (i % 5 === 0 ? 1e7 : 1));
        if (n === 3) values.fill(-0);  // a row of -0 sums to +0 either way
        const x = tg.tensor(values, { dtype, shape: [rows, n] });
        const alone = (op: 'sum' | 'mean') => Array.from({ length: rows }, (_, r) => x.narrow(0, r, 1)[op]().item());
        expect(Array.from(x.sum(1).data()), `${dtype} [${rows}, ${n}]`).toEqual(alone('sum'));
        expect(Array.from(x.mean(1).data()), `${dtype} [${rows}, ${n}] mean`).toEqual(alone('mean'));
      }
    // A row's last lanes are read on into the next rows and masked: NaN and
    // Infinity there stay out of it.
    const special = tg.tensor([[1, 2, 3], [NaN, 1, 2], [4, 5, 6], [Infinity, 1, 2], [7, 8, 9], [-Infinity, Infinity, 0],
      [1, 1, 1], [NaN, 0, 0], [2, 2, 2], [0, 0, 0]]);
    expect(special.sum(1).toArray()).toEqual([6, NaN, 15, Infinity, 24, NaN, 3, NaN, 6, 0]);
  });

  it('prod over leading or middle dims multiplies each column in order, in double, bit for bit', () => {
    // The column kernel (eight rows a pass, strips of at most 1024 columns)
    // against the in-order product in double; values of mixed magnitude, so
    // that another order would change low bits.
    for (const dtype of ['float32', 'float64'] as const)
      for (const [shape, dim] of [[[37, 1030], 0], [[3, 21, 5], 1], [[2, 9, 1500], 1], [[8, 3], 0], [[4096, 2], 0]] as const) {
        const [outer, group, inner] = dim === 0 ? [1, shape[0], shape[1]] : [shape[0], shape[1], shape[2]];
        const n = outer * group * inner;
        const round = dtype === 'float32' ? Math.fround : (v: number) => v;
        const values = Array.from({ length: n }, (_, i) => round(1 + Math.sin(i * 0.37) * (i % 3 === 0 ? 0.9 : 1e-3)));
        const got = tg.tensor(values, { dtype, shape: [...shape] }).prod(dim).data();
        const want: number[] = [];
        for (let o = 0; o < outer; o++)
          for (let j = 0; j < inner; j++) {
            let p = 1;
            for (let g = 0; g < group; g++) p *= values[(o * group + g) * inner + j];
            want.push(round(p));
          }
        expect(Array.from(got), `${dtype} [${shape}] dim ${dim}`).toEqual(want);
      }
  });

  it('var over leading or middle dims corrects for the rounding of the mean', () => {
    // float64 values 2^52 + (i % 4): the mean, 2^52 + 1.5, rounds to a whole
    // number, so Σ (x - mean) is far from 0 and its term (Σ (x - mean))² / n
    // is a fifth of the result; the variance is that of i % 4 (exact here).
    // Both column paths: many row blocks (partial totals per block) and
    // strips, one of them past 1024 columns.
    for (const [rows, cols] of [[1000, 3], [800, 1030], [300, 5], [500, 1030]]) {
      const values = Array.from({ length: rows * cols }, (_, i) => 2 ** 52 + (Math.floor(i / cols) % 4));
      const x = tg.tensor(values, { dtype: 'float64', shape: [rows, cols] });
      let s = 0, q = 0;
      for (let r = 0; r < rows; r++) { s += r % 4; q += (r % 4) ** 2; }
      const want = (q - (s * s) / rows) / (rows - 1);
      const got = Array.from(x.var(0).data());
      for (const v of got)
        expect(Math.abs(v - want), `[${rows}, ${cols}] var ${v} want ${want}`).toBeLessThanOrEqual(1e-12 * want);
      const viaMiddle = Array.from(x.reshape([1, rows, cols]).var(1).data());
      expect(viaMiddle).toEqual(got);
    }
  });

  it('a view repeating values along reduced dims counts each repeat', () => {
    // [[1], [2]] expanded to 2 x 3 x 4 along dims 1 (reduced below) and 2.
    const x = tg.tensor([[[1]], [[2]]]).expand([2, 3, 4]);
    expect(x.sum().item()).toBe(36);
    expect(x.sum([1]).toArray()).toEqual([[3, 3, 3, 3], [6, 6, 6, 6]]);
    expect(x.sum([0, 1], true).toArray()).toEqual([[[9, 9, 9, 9]]]);
    expect(x.mean([1, 2]).toArray()).toEqual([1, 2]);
    expect(tg.tensor([[7]], { dtype: 'int32' }).expand([5, 3]).sum([0]).toArray()).toEqual([35, 35, 35]);
    expect(tg.tensor([[0.1]], { dtype: 'float64' }).expand([3, 1000]).sum().item()).toBe(0.1 * 3000);
    expect(Number.isNaN(tg.tensor([NaN]).expand([4]).mean().item())).toBe(true);
    expect(tg.tensor([[1]]).expand([0, 3]).sum([0]).toArray()).toEqual([0, 0, 0]);
    // The gradient of sum() reaches a broadcast add as such a view.
    const w = tg.ones([3], { requiresGrad: true });
    tg.ones([5, 3]).add(w).sum().backward();
    expect(w.grad!.toArray()).toEqual([5, 5, 5]);
  });
});
