// Smoke test of the benchmark harness on tiny shapes (tapegrad and plain JS
// only): the results file has the documented shape, every engine passes the
// correctness check, and a deliberately wrong engine result is rejected.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain ES module without types
import { runBench, verify } from '../bench/suite/runner.mjs';
// @ts-expect-error plain ES module without types
import { blasLooksOptimised } from '../bench/common.mjs';

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

async function tinyRun(extra: Record<string, unknown> = {}) {
  const outDir = mkdtempSync(path.join(os.tmpdir(), 'tapegrad-bench-test-'));
  dirs.push(outDir);
  const lines: string[] = [];
  await runBench({ size: 'tiny', engines: ['tapegrad', 'plainjs'], reps: 2, repMs: 5, outDir, log: (s: string) => lines.push(s), ...extra });
  return { json: JSON.parse(readFileSync(path.join(outDir, 'latest.json'), 'utf8')), svg: readFileSync(path.join(outDir, 'latest.svg'), 'utf8'), text: lines.join('\n') };
}

describe('bench harness', () => {
  it('writes results of the documented shape, every cell checked before it is timed', async () => {
    const { json, svg, text } = await tinyRun();
    expect(json.options.leadMs).toBe(25);
    expect(json.machine).toMatchObject({ cpu: expect.any(String), cores: expect.any(Number), node: process.version });
    expect(Object.keys(json.engines).sort()).toEqual(['plainjs', 'tapegrad']);
    expect(json.cells.map((c: { workload: string }) => c.workload)).toEqual([
      'matmul', 'matmul', 'matmul', 'matmul', 'matmul', 'mlp', 'elementwise', 'transformer', 'conv',
    ]);
    for (const cell of json.cells) {
      expect(cell.tolerance).toBeGreaterThan(0);
      const tg = cell.results.tapegrad;
      expect(tg.status, cell.id).toBe('ok');
      expect(tg.maxError).toBeLessThanOrEqual(cell.tolerance);
      expect(tg.value).toBeGreaterThan(0);
      expect(tg.timeRatio).toBe(1);
      // Tiny cells' steps are short: each timed turn opens with 25 ms of untimed ones.
      expect(tg.leadMs).toBe(json.options.leadMs);
      const plain = cell.results.plainjs;
      if (cell.workload === 'transformer' || cell.workload === 'conv') expect(plain.status).toBe('n/a');
      else {
        expect(plain.status, cell.id).toBe('ok');
        expect(plain.maxError).toBeLessThanOrEqual(cell.tolerance);
        expect(plain.timeRatio).toBeCloseTo(plain.ms / tg.ms, 9);
      }
    }
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('mlp step');
    expect(text).toContain('conv step: tapegrad');
  });

  it('rejects an engine whose results disagree and reports no time for it', async () => {
    const { json, text } = await tinyRun({ corrupt: ['plainjs'], only: ['matmul', 'mlp'] });
    for (const cell of json.cells) {
      expect(cell.results.plainjs.status, cell.id).toBe('wrong');
      expect(cell.results.plainjs.ms).toBeUndefined();
      expect(cell.results.tapegrad.status).toBe('ok');
    }
    expect(text).toMatch(/disagrees with the reference/);
  });

  it('reports an engine that fails in the warm-up or a timed turn as an error, and times the others', async () => {
    for (const phase of ['warm-up', 'timed']) {
      const { json } = await tinyRun({ failTiming: { plainjs: phase }, only: ['matmul', 'mlp'] });
      for (const cell of json.cells) {
        expect(cell.results.plainjs.status, `${phase} ${cell.id}`).toBe('error');
        expect(cell.results.plainjs.reason).toBe(`${phase} turn failed (failTiming)`);
        expect(cell.results.plainjs.ms).toBeUndefined();
        expect(cell.results.tapegrad.status).toBe('ok');
        expect(cell.results.tapegrad.ms).toBeGreaterThan(0);
      }
    }
  });

  it('verify compares each value relative to max(1, |reference|)', () => {
    const v = verify([1, 100, -0.5], { good: [1.0005, 100.05, -0.5004], bad: [1, 100.5, -0.5], short: [1] }, 1e-3);
    expect(v.good.ok).toBe(true);
    expect(v.bad.ok).toBe(false);
    expect(v.bad.maxError).toBeCloseTo(0.005, 9);
    expect(v.short.ok).toBe(false);
    expect(verify([1], { nan: [NaN] }, 1e-3).nan.ok).toBe(false);
  });
});

describe("the peers' BLAS", () => {
  const dir = '/usr/lib/x86_64-linux-gnu';
  it('judges by the libblas.so.3 that answers sgemm, else by any optimised library loaded', () => {
    // Debian with OpenBLAS selected: its libblas.so.3 wrapper.
    expect(blasLooksOptimised([`${dir}/openblas-pthread/liblapack.so.3`, `${dir}/openblas-pthread/libopenblasp-r0.3.21.so`,
      `${dir}/openblas-pthread/libblas.so.3`])).toBe(true);
    // The reference libblas.so.3 first on the path: OpenBLAS is loaded through liblapack but not called.
    expect(blasLooksOptimised([`${dir}/openblas-pthread/libopenblasp-r0.3.21.so`, `${dir}/openblas-pthread/liblapack.so.3`,
      `${dir}/blas/libblas.so.3.11.0`])).toBe(false);
    expect(blasLooksOptimised([`${dir}/blas/libblas.so.3.11.0`])).toBe(false);
    // No libblas.so at all (a wheel linking MKL or OpenBLAS directly), or nothing found.
    expect(blasLooksOptimised(['/opt/lib/libmkl_rt.so.2'])).toBe(true);
    expect(blasLooksOptimised([])).toBe(false);
  });
});
