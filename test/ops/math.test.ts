// float32 exp, log, tanh, sigmoid and gelu (vectorised per ISA) within their
// documented error (1 ulp of the float64 reference) over the whole float
// range, with exact special values, on every ISA path this CPU runs.
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tg, runnableIsas, runCaseScript } from '../helpers.js';

const require = createRequire(import.meta.url);
const casesPath = path.join(__dirname, 'math-cases.cjs');
type Report = { count: number; result: Record<string, { maxUlp: number; mismatches: unknown[] }> };
const M = require(casesPath) as { runAll(t: typeof tg): Report };

function check(r: Report) {
  expect(r.count).toBeGreaterThan(400000);
  for (const op of ['exp', 'log', 'tanh', 'sigmoid', 'gelu']) {
    expect(r.result[op]!.mismatches, op).toEqual([]);
    expect(r.result[op]!.maxUlp, op).toBeLessThanOrEqual(1);
  }
}

describe('float32 transcendental kernels', () => {
  for (const isa of runnableIsas())
    it(`${isa}: within 1 ulp of float64 over the float range, special values exact`, () => {
      const r = runCaseScript<Report & { isa: string }>(casesPath, { TAPEGRAD_ISA: isa });
      expect(r.isa).toBe(isa);
      check(r);
    });

  it('special values by hand', () => {
    const x = tg.tensor([NaN, Infinity, -Infinity, 0, -0, 1e-45, 100, -200]);
    const list = (t: tg.Tensor) => Array.from(t.data());
    expect(list(x.exp())).toEqual([NaN, Infinity, 0, 1, 1, 1, Infinity, 0]);
    expect(list(x.log())).toEqual([NaN, Infinity, NaN, -Infinity, -Infinity, Math.fround(Math.log(Math.fround(1e-45))), Math.fround(Math.log(100)), NaN]);
    expect(list(x.tanh()).map((v) => Object.is(v, -0) ? '-0' : v)).toEqual([NaN, 1, -1, 0, '-0', Math.fround(1e-45), 1, -1]);
    expect(list(x.sigmoid())).toEqual([NaN, 1, 0, 0.5, 0.5, 0.5, 1, 0]);
    expect(list(x.gelu()).map((v) => (v === 0 ? 0 : v))).toEqual([NaN, Infinity, 0, 0, 0, 0, 100, 0]);
  });
});
