// The fused optimizer updates (per-ISA kernels) on every ISA path this CPU
// runs, float32 and float64, sizes that are not multiples of the vector
// width: bitwise equal to a reference that repeats the scalar arithmetic,
// and so to each other (through child processes: TAPEGRAD_ISA is read once
// per process).
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runnableIsas, runCaseScript } from './helpers.js';

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
