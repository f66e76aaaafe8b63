// The GEMM kernels and the thread pool, tested below the ops through internal
// hooks (native._testGemm, native._testGemmBatch, native._testParallelFor).
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { tg, runCaseScript, runnableIsas, type Tensor } from '../helpers.js';
import { native } from '../../dist/native.js';

const require = createRequire(import.meta.url);
const casesPath = path.join(__dirname, 'gemm-cases.cjs');
const batchCasesPath = path.join(__dirname, 'gemm-batch-cases.cjs');
const G = require(casesPath) as {
  runAll(t: typeof tg, n: typeof native): { cases: number; checked: number; failures: unknown[]; threadMismatches: number };
};

const defaultThreads = tg.getNumThreads();
afterEach(() => tg.setNumThreads(defaultThreads));

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// One run of the cases per ISA and path, shared by the tests that read it.
const reports = new Map<string, any>();
function casesReport(isa: string, gemmPath: string) {
  const key = `${isa} ${gemmPath}`;
  if (!reports.has(key)) reports.set(key, runCaseScript(casesPath, { TAPEGRAD_ISA: isa, TAPEGRAD_GEMM_PATH: gemmPath }));
  return reports.get(key);
}

describe('gemm kernel on every ISA path', () => {
  // Each ISA with its automatic path choice, and with the packed and the
  // direct path forced for every shape (small shapes otherwise never pack).
  for (const isa of runnableIsas()) for (const gemmPath of ['auto', 'packed', 'direct']) {
    it(`${isa}, ${gemmPath} path: random shapes, blocking edges, all layouts, 1/2/5 threads`, () => {
      const r = casesReport(isa, gemmPath);
      expect(r.isa).toBe(isa);
      expect(r.path).toBe(gemmPath);
      expect(r.cases).toBeGreaterThan(1000);
      expect(r.checked).toBe(r.cases);
      expect(r.failures).toEqual([]);
      expect(r.threadMismatches).toBe(0);
    }, 240_000);  // every case at 1, 2 and 5 threads: over a minute on the scalar path under the sanitizers
  }

  // Matrix-vector and narrow products taken as dot products or row sweeps
  // add with a multiply then an add (no FMA): the same bits on every path,
  // scalar included.
  it('matrix-vector products give the same bits on every ISA path', () => {
    const digests = runnableIsas().map((isa) => casesReport(isa, 'auto').gemvDigest as string);
    expect(digests[0]).toMatch(/^[0-9a-f]{40}$/);
    expect(new Set(digests).size).toBe(1);
  });

  it('the in-process path passes the same checks', () => {
    const r = G.runAll(tg, native);
    expect(r.failures).toEqual([]);
    expect(r.threadMismatches).toBe(0);
  }, 240_000);  // the cases above, in this process
});

describe('gemm kernel values', () => {
  it('computes a hand-worked product with alpha and beta', () => {
    // [[1,2],[3,4]]·[[5,6],[7,8]] = [[19,22],[43,50]]; C = 2·AB − 1·[[1,1],[1,1]]
    for (const dtype of ['float32', 'float64'] as const) {
      const Arr = dtype === 'float32' ? Float32Array : Float64Array;
      const a = Arr.from([1, 2, 3, 4]), b = Arr.from([5, 6, 7, 8]), c = Arr.from([1, 1, 1, 1]);
      native._testGemm(dtype, 2, 2, 2, 2, a, 0, 2, 1, b, 0, 2, 1, -1, c, 0, 2, 1);
      expect(Array.from(c)).toEqual([37, 43, 85, 99]);
      // Aᵀ·B through strides: Aᵀ = [[1,3],[2,4]], Aᵀ·B = [[26,30],[38,44]]
      const d = new Arr(4).fill(NaN);
      native._testGemm(dtype, 2, 2, 2, 1, a, 0, 1, 2, b, 0, 2, 1, 0, d, 0, 2, 1);
      expect(Array.from(d)).toEqual([26, 30, 38, 44]);
    }
  });

  it('beta = 0 overwrites NaN and Infinity in C; k = 0 scales C by beta', () => {
    const a = Float32Array.from([1, 2]), b = Float32Array.from([3, 4]);
    const c = Float32Array.from([NaN, Infinity, -Infinity, NaN]);
    native._testGemm('float32', 2, 2, 1, 1, a, 0, 1, 1, b, 0, 2, 1, 0, c, 0, 2, 1);
    expect(Array.from(c)).toEqual([3, 4, 6, 8]);
    const z = Float64Array.from([1, 2, 3]);
    native._testGemm('float64', 1, 3, 0, 1, new Float64Array(0), 0, 1, 1, new Float64Array(0), 0, 1, 1, 3, z, 0, 3, 1);
    expect(Array.from(z)).toEqual([3, 6, 9]);
  });

  it('a large product is bitwise identical on 1, 2 and 7 threads', () => {
    const m = 301, n = 517, k = 389;
    const a = new Float32Array(m * k).map((_, i) => Math.sin(i));
    const b = new Float32Array(k * n).map((_, i) => Math.cos(i));
    const results = [1, 2, 7].map((t) => {
      tg.setNumThreads(t);
      return native._testGemm('float32', m, n, k, 1, a, 0, k, 1, b, 0, n, 1, 0, new Float32Array(m * n), 0, n, 1);
    });
    expect(Buffer.from(results[1].buffer).equals(Buffer.from(results[0].buffer))).toBe(true);
    expect(Buffer.from(results[2].buffer).equals(Buffer.from(results[0].buffer))).toBe(true);
    let s = 0;
    for (let p = 0; p < k; p++) s += a[5 * k + p] * b[p * n + 7];
    expect(Math.abs(results[0][5 * n + 7] - s)).toBeLessThan(1e-3);
  });

  it('deep products on the dot and sweep paths add up in blocks: the float32 error is bounded by the block, not k', () => {
    // 2^20 terms of fround(0.1) times 1: added in one run per output, float32
    // rounding drifted by 1e-2 (6e-4 in the dots' 16 lanes); in blocks whose
    // sums are added up in double, by 2.4e-6.
    const k = 2 ** 20;
    const exact = k * Math.fround(0.1);
    const tenth = tg.full([k], 0.1), ones = tg.ones([k]);
    const products: Array<[string, () => Tensor]> = [
      ['dot', () => tg.dot(tenth, ones)],
      ['row times column (dots)', () => tg.matmul(tenth.reshape([1, k]), ones.reshape([k, 1]))],
      ['narrow, B copied (dots)', () => tg.matmul(tg.full([3, k], 0.1), tg.ones([3, k]).transpose(0, 1))],
      ['row times a matrix (sweeps over B)', () => tg.matmul(tenth.reshape([1, k]), tg.ones([k, 3]))],
      ['Aᵀ·B (sweeps over the columns of A)', () => tg.matmul(tg.full([k, 2], 0.1).transpose(0, 1), tg.ones([k, 3]))],
      ['an expanded row (sweeps over B)', () => tg.matmul(tg.full([1, 1], 0.1).expand([1, k]), tg.ones([k, 2]))],
    ];
    for (const [name, product] of products) {
      const values = tg.tidy(() => Array.from(product().data() as Float32Array));
      for (const v of values) expect(Math.abs(v / exact - 1), name).toBeLessThan(2e-5);
    }
    tenth.dispose();
    ones.dispose();
  });

  it('rejects bad arguments of the hook with JS errors', () => {
    const a = new Float32Array(4), b = new Float32Array(4), c = new Float32Array(4);
    expect(() => native._testGemm('float32', 2, 2, 2, 1, a, 0, 2, 1, b, 0, 2, 1, 0, c, 0, 3, 1)).toThrow(RangeError);
    expect(() => native._testGemm('float32', 2, 2, 2, 1, a, 0, 2, 1, b, 0, 2, 1, 0, c, 0, 3, 1)).toThrow(
      /_testGemm: c: a 2x2 view with offset 0 and strides \(3, 1\) does not fit in 4 elements/,
    );
    expect(() => native._testGemm('float32', 2, 2, 2, 1, a, -1, 2, 1, b, 0, 2, 1, 0, c, 0, 2, 1)).toThrow(RangeError);
    expect(() =>
      native._testGemm('float64', 2, 2, 2, 1, a as unknown as Float64Array, 0, 2, 1, b as unknown as Float64Array, 0,
        2, 1, 0, c as unknown as Float64Array, 0, 2, 1),
    ).toThrow(/_testGemm: a must be a Float64Array/);
    expect(() =>
      native._testGemm('int32' as 'float32', 2, 2, 2, 1, a, 0, 2, 1, b, 0, 2, 1, 0, c, 0, 2, 1),
    ).toThrow(TypeError);
  });
});

describe('batched gemm kernel on every ISA path', () => {
  // gemm_batch_f32/f64 straight through the kernel table: A or B shared,
  // counts 1 to 16, blocking edges, strided operands, alpha/beta, k = 0, on
  // 1/2/3 threads, each C_e bitwise the plain GEMM of its element; and the
  // products it must decline (direct path, column-major C, not exactly one
  // shared operand) left unwritten.
  for (const isa of runnableIsas()) for (const gemmPath of ['auto', 'packed', 'direct']) {
    it(`${isa}, ${gemmPath} path: bitwise equal to the plain GEMM per element, declines left to it`, () => {
      const r = runCaseScript(batchCasesPath, { TAPEGRAD_ISA: isa, TAPEGRAD_GEMM_PATH: gemmPath });
      expect(r.isa).toBe(isa);
      expect(r.path).toBe(gemmPath);
      expect(r.cases).toBeGreaterThan(500);
      expect(r.checked).toBe(3 * r.cases);
      expect(r.failures).toEqual([]);
      expect(r.ran).toBeGreaterThan(100);
      expect(r.declined).toBeGreaterThan(0);
    });
  }

  it('computes hand-worked products with A shared and with B shared', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const Arr = dtype === 'float32' ? Float32Array : Float64Array;
      // Packed-path sized, so the kernel takes them (direct products it
      // declines): wider than every ISA's micro-tile (AVX-512 float32: 32).
      const m = 120, n = 40, k = 1200;
      const a = new Arr(2 * m * k), b = new Arr(2 * k * n);
      // A_0 = all ones, A_1 = all twos; B_0 = all threes, B_1 = all fours.
      a.fill(1, 0, m * k).fill(2, m * k);
      b.fill(3, 0, k * n).fill(4, k * n);
      const c = new Arr(2 * m * n).fill(NaN);
      // A_1 shared: C_e = A_1·B_e.
      expect(native._testGemmBatch(dtype, 2, m, n, k, 1, a, m * k, k, 1, b, [0, k * n], n, 1, 0, c, [0, m * n], n, 1))
        .toBe(true);
      expect([c[0], c[m * n - 1], c[m * n], c[2 * m * n - 1]]).toEqual([6 * k, 6 * k, 8 * k, 8 * k]);
      // B_0 shared, C_e = 0.5·A_e·B_0 + 2·C_e.
      expect(native._testGemmBatch(dtype, 2, m, n, k, 0.5, a, [m * k, 0], k, 1, b, 0, n, 1, 2, c, [0, m * n], n, 1))
        .toBe(true);
      expect([c[0], c[m * n - 1], c[m * n], c[2 * m * n - 1]]).toEqual([15 * k, 15 * k, 17.5 * k, 17.5 * k]);
    }
  });

  it('with count 0 computes nothing and answers as it would for any count', () => {
    const m = 120, n = 40, k = 1200;
    const a = new Float64Array(m * k), b = new Float64Array(k * n), c = new Float64Array(m * n).fill(7);
    // Packed-sized with row-major C: taken; column-major C or a direct-sized product: declined.
    expect(native._testGemmBatch('float64', 0, m, n, k, 1, a, 0, k, 1, b, [], n, 1, 0, c, [], n, 1)).toBe(true);
    expect(native._testGemmBatch('float64', 0, m, n, k, 1, a, 0, k, 1, b, [], n, 1, 0, c, [], 1, m)).toBe(false);
    expect(native._testGemmBatch('float64', 1, m, n, k, 1, a, 0, k, 1, b, [0], n, 1, 0, c, [0], 1, m)).toBe(false);
    expect(native._testGemmBatch('float64', 0, 4, 4, 4, 1, a, 0, 4, 1, b, [], 4, 1, 0, c, [], 4, 1)).toBe(false);
    expect(native._testGemmBatch('float64', 1, 4, 4, 4, 1, a, 0, 4, 1, b, [0], 4, 1, 0, c, [0], 4, 1)).toBe(false);
    expect(c.every((x) => x === 7)).toBe(true);
  });

  it('rejects bad arguments of the hook with JS errors', () => {
    const a = new Float32Array(8), b = new Float32Array(8), c = new Float32Array(8);
    expect(() => native._testGemmBatch('float32', 2, 2, 2, 2, 1, a, 0, 2, 1, b, [0, 4], 2, 1, 0, c, [0, 5], 2, 1))
      .toThrow(/_testGemmBatch: c: a 2x2 view with offset 5 and strides \(2, 1\) does not fit in 8 elements/);
    expect(() => native._testGemmBatch('float32', 2, 2, 2, 2, 1, a, 0, 2, 1, b, [0], 2, 1, 0, c, [0, 4], 2, 1))
      .toThrow(/_testGemmBatch: b: offsets must be one integer or an array of 2 integers/);
    expect(() => native._testGemmBatch('float32', 2, 2, 2, 2, 1, a, 0, 2, 1, b, [0, 0.5], 2, 1, 0, c, [0, 4], 2, 1))
      .toThrow(RangeError);
    const cShared = 0 as unknown as number[];
    expect(() => native._testGemmBatch('float32', 2, 2, 2, 2, 1, a, 0, 2, 1, b, [0, 4], 2, 1, 0, c, cShared, 2, 1))
      .toThrow(/_testGemmBatch: c: offsets must be an array of 2 integers/);
    expect(() => native._testGemmBatch('float32', -1, 2, 2, 2, 1, a, 0, 2, 1, b, [], 2, 1, 0, c, [], 2, 1))
      .toThrow(RangeError);
    expect(() =>
      native._testGemmBatch('float64', 1, 2, 2, 2, 1, a as unknown as Float64Array, 0, 2, 1,
        b as unknown as Float64Array, [0], 2, 1, 0, c as unknown as Float64Array, [0], 2, 1),
    ).toThrow(/_testGemmBatch: a must be a Float64Array/);
  });

  it('checks every matrix against its array after reading all offsets (a getter may detach an array)', () => {
    const a = new Float32Array(8), b = new Float32Array(8), c = new Float32Array(8);
    const offsets = [0, 4];
    Object.defineProperty(offsets, 1, { get: () => (structuredClone(a.buffer, { transfer: [a.buffer] }), 4) });
    expect(() => native._testGemmBatch('float32', 2, 2, 2, 2, 1, a, 0, 2, 1, b, offsets, 2, 1, 0, c, [0, 4], 2, 1))
      .toThrow(/_testGemmBatch: a: a 2x2 view with offset 0 and strides \(2, 1\) does not fit in 0 elements/);
  });
});

describe('thread pool', () => {
  it('defaults to the cores available and reports them in backendInfo', () => {
    expect(defaultThreads).toBeGreaterThanOrEqual(1);
    expect(Number.isInteger(defaultThreads)).toBe(true);
    expect(tg.backendInfo().threads).toBe(defaultThreads);
    tg.setNumThreads(3);
    expect(tg.getNumThreads()).toBe(3);
    expect(tg.backendInfo().threads).toBe(3);
  });

  it.skipIf(!hasTaskset())('counts only the CPUs in the affinity mask', () => {
    const index = path.resolve(__dirname, '../../dist/index.js');
    const out = execFileSync('taskset', ['-c', '0', process.execPath, '-e',
      `console.log(require(${JSON.stringify(index)}).getNumThreads())`], { encoding: 'utf8' });
    expect(out.trim()).toBe('1');
  });

  it('rejects bad thread counts', () => {
    expect(() => tg.setNumThreads(0)).toThrow(RangeError);
    expect(() => tg.setNumThreads(0)).toThrow('setNumThreads: n must be an integer from 1 to 1024, got 0');
    expect(() => tg.setNumThreads(-2)).toThrow(RangeError);
    expect(() => tg.setNumThreads(1.5)).toThrow(RangeError);
    expect(() => tg.setNumThreads(5000)).toThrow(RangeError);
    expect(() => tg.setNumThreads('2' as unknown as number)).toThrow(TypeError);
    expect(tg.getNumThreads()).toBe(defaultThreads);
  });

  it('splits large ranges, runs nested regions inline, and keeps small ranges on one chunk', () => {
    const expected = (n: number, inner: number) => inner * (n * (n - 1)) / 2 + n * (inner * (inner - 1)) / 2;
    for (const threads of [1, 2, 4]) {
      tg.setNumThreads(threads);
      const [sum, chunks, ids] = native._testParallelFor(1000, 1, 10, -1);
      expect(sum).toBe(expected(1000, 10));
      expect(chunks).toBe(threads);
      expect(ids).toBeLessThanOrEqual(threads);
      expect(ids).toBeGreaterThanOrEqual(1);
    }
    tg.setNumThreads(4);
    // grain: at most n / grain chunks.
    expect(native._testParallelFor(1000, 400, 3, -1)).toEqual([expected(1000, 3), 2, expect.any(Number)]);
    expect(native._testParallelFor(1000, 5000, 3, -1)).toEqual([expected(1000, 3), 1, 1]);
    expect(native._testParallelFor(0, 1, 3, -1)).toEqual([0, 0, 0]);
  });

  it('rethrows an exception from a chunk and keeps working', () => {
    tg.setNumThreads(2);
    expect(() => native._testParallelFor(1000, 1, 2, 700)).toThrow(RangeError);
    expect(() => native._testParallelFor(1000, 1, 2, 3)).toThrow('_testParallelFor: thrown at index 3');
    expect(native._testParallelFor(100, 1, 2, -1)[0]).toBe(2 * 4950 + 100);
  });

  it('serves several worker threads that load the addon at once', async () => {
    const distIndex = path.resolve(__dirname, '../../dist/index.js');
    const distNative = path.resolve(__dirname, '../../dist/native.js');
    const source = `
      const { parentPort, workerData } = require('node:worker_threads');
      const tg = require(${JSON.stringify(distIndex)});
      const { native } = require(${JSON.stringify(distNative)});
      const { m, n, k, seed, setter } = workerData;
      const a = new Float64Array(m * k).map((_, i) => Math.sin(i + seed));
      const b = new Float64Array(k * n).map((_, i) => Math.cos(i * 0.5 + seed));
      let worst = 0;
      for (let rep = 0; rep < 4; rep++) {
        if (setter) tg.setNumThreads(1 + (rep % 3));
        const c = native._testGemm('float64', m, n, k, 1, a, 0, k, 1, b, 0, n, 1, 0, new Float64Array(m * n), 0, n, 1);
        for (const [i, j] of [[0, 0], [m - 1, n - 1], [m >> 1, n >> 2]]) {
          let s = 0;
          for (let p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
          worst = Math.max(worst, Math.abs(c[i * n + j] - s));
        }
      }
      parentPort.postMessage(worst);
    `;
    const run = (data: object) =>
      new Promise<number>((resolve, reject) => {
        const w = new Worker(source, { eval: true, workerData: data });
        w.once('message', resolve);
        w.once('error', reject);
      });
    const errors = await Promise.all([
      run({ m: 220, n: 310, k: 170, seed: 1, setter: false }),
      run({ m: 180, n: 200, k: 260, seed: 2, setter: true }),
      run({ m: 300, n: 150, k: 150, seed: 3, setter: false }),
    ]);
    for (const e of errors) expect(e).toBeLessThan(1e-10);
  });
});
