import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { tg } from './helpers.js';

const dist = path.resolve(__dirname, '..', 'dist', 'index.js');

// Runs `code` in a fresh Node process with `env` added; returns its JSON output.
function runChild(code: string, env: Record<string, string>): unknown {
  const r = spawnSync(process.execPath, ['-e', code], { env: { ...process.env, ...env }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe('ISA dispatch', () => {
  const probe = `
    const tg = require(${JSON.stringify(dist)});
    const { native } = require(${JSON.stringify(path.resolve(__dirname, '..', 'dist', 'native.js'))});
    const values = new Float32Array(1037).map((_, i) => Math.sin(i) * 1000);
    tg.manualSeed(5);
    const x = tg.randn([33, 17], { requiresGrad: true });
    x.mul(x).sum().backward();
    console.log(JSON.stringify({
      isa: tg.backendInfo().isa,
      kernelSum: native.sumKernel(values),
      kernelSum64: native.sumKernel(Float64Array.from(values)),
      grad: Array.from(x.grad.data()),
    }));`;

  it('TAPEGRAD_ISA forces each path this CPU has, and every path gives identical results', () => {
    const detected = tg.backendInfo().detectedIsa;
    const paths = ['scalar', ...(detected === 'avx2' || detected === 'avx512' ? ['avx2'] : []), ...(detected === 'avx512' ? ['avx512'] : [])];
    const results = paths.map((isa) => runChild(probe, { TAPEGRAD_ISA: isa }) as { isa: string });
    results.forEach((r, i) => expect(r.isa).toBe(paths[i]));
    for (const r of results.slice(1)) expect({ ...r, isa: '' }).toEqual({ ...results[0], isa: '' });
  });

  it('never raises the path above what the CPU has, and ignores unknown names', () => {
    const detected = tg.backendInfo().detectedIsa;
    expect((runChild(probe, { TAPEGRAD_ISA: 'bogus' }) as { isa: string }).isa).toBe(detected);
    if (detected === 'scalar') expect((runChild(probe, { TAPEGRAD_ISA: 'avx512' }) as { isa: string }).isa).toBe('scalar');
  });
});

describe('worker threads', () => {
  it('loads in two workers at once, and the main thread keeps working after they exit', async () => {
    const code = `
      const { parentPort } = require('node:worker_threads');
      const tg = require(${JSON.stringify(dist)});
      const x = tg.tensor([1, 2, 3], { requiresGrad: true });
      x.mul(x).sum().backward();
      let caught = '';
      try { x.add('bad'); } catch (e) { caught = e.constructor.name; }
      parentPort.postMessage({ grad: x.grad.toArray(), caught });`;
    const runWorker = () =>
      new Promise<unknown>((resolve, reject) => {
        const w = new Worker(code, { eval: true });
        w.once('message', resolve);
        w.once('error', reject);
      });
    const results = await Promise.all([runWorker(), runWorker()]);
    for (const r of results) expect(r).toEqual({ grad: [2, 4, 6], caught: 'TypeError' });
    const y = tg.tensor([4], { requiresGrad: true });
    y.mul(y).sum().backward();
    expect(y.grad!.item()).toBe(8);
    expect(() => y.add('bad' as unknown as number)).toThrow(TypeError);
    // The error class registered by this thread's instance of the addon is still in place.
    const z = tg.tensor([1]);
    z.dispose();
    expect(() => z.mul(2)).toThrow(tg.TapegradError);
  });
});
