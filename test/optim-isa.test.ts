// The fused optimizer updates (per-ISA kernels) on every ISA path this CPU
// runs, float32 and float64, sizes that are not multiples of the vector
// width: bitwise equal to a reference that repeats the scalar arithmetic,
// and so to each other (through child processes: TAPEGRAD_ISA is read once
// per process).
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { native } from '../dist/native.js';
import { runnableIsas, runCaseScript, tg } from './helpers.js';

const casesPath = path.join(__dirname, 'optim-cases.cjs');
type Report = { isa: string; checked: number; hashes: Record<string, string>; failures: unknown[] };

describe('optimizer update kernels', () => {
  const reports = new Map<string, Report>();
  for (const isa of runnableIsas()) {
    it(`${isa}: every optimizer and option matches the scalar arithmetic bit for bit`, () => {
      const r = runCaseScript<Report>(casesPath, { TAPEGRAD_ISA: isa });
      expect(r.isa).toBe(isa);
      expect(r.checked).toBeGreaterThan(2_000_000);
      expect(r.failures).toEqual([]);
      reports.set(isa, r);
    }, 60_000);
  }

  it('every ISA path gives the same bits', () => {
    const [first, ...rest] = [...reports.values()];
    expect(first).toBeDefined();
    for (const r of rest) expect(r.hashes, r.isa).toEqual(first!.hashes);
  });
});

describe('fused updates check everything before writing anything', () => {
  it('a bad state tensor of a later parameter leaves the earlier ones unchanged', () => {
    const p0 = tg.tensor([1, 2, 3], { requiresGrad: true });
    const p1 = tg.tensor([4, 5], { requiresGrad: true });
    p0.grad = tg.tensor([1, 1, 1]);
    p1.grad = tg.tensor([1, 1]);
    const bufs = [tg.zeros([3]), tg.zeros([3])];  // the second has the wrong shape
    const options = { lr: 0.5, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, firstStep: false };
    expect(() => native.sgdStep([p0._handle, p1._handle], bufs.map((b) => b._handle), options)).toThrow(
      /SGD\.step: the momentum buffer for parameter 1 has shape \[3\] and dtype float32, expected \[2\] and float32/,
    );
    expect(p0.toArray()).toEqual([1, 2, 3]);
    expect(bufs[0]!.toArray()).toEqual([0, 0, 0]);
    expect(() => native.sgdStep([p0._handle, p1._handle], [bufs[0]!._handle], options)).toThrow(
      /SGD\.step: missing the momentum buffer for parameter 1/,
    );
    expect(p0.toArray()).toEqual([1, 2, 3]);
  });
});

describe('a step wraps no tensors', () => {
  it('checking which parameters have a gradient leaves no handles for the garbage collector', () => {
    const params = [tg.randn([300], { requiresGrad: true }), tg.randn([4], { requiresGrad: true })];
    params[0]!.grad = tg.randn([300]);
    for (const opt of [new tg.optim.SGD(params, { lr: 0.1, momentum: 0.9 }), new tg.optim.Adam(params, { lr: 0.1 })]) {
      opt.step(); // state tensors are made on the first step
      const before = tg.memory().liveTensors;
      for (let i = 0; i < 5; i++) opt.step();
      expect(tg.memory().liveTensors).toBe(before);
    }
    expect(params[1]!.grad).toBeNull();
  });
});
