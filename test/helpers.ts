// Shared test utilities. Tests use the built package, as users do.
import { execFileSync } from 'node:child_process';
import { expect } from 'vitest';
import * as tg from '../dist/index.js';

export { tg };
export type Tensor = tg.Tensor;

/** Asserts `fn` throws an error of class `cls` whose message matches `message`. */
export function expectError(fn: () => unknown, cls: new (...args: never[]) => Error, message: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected ${cls.name}`).toBeInstanceOf(cls);
  expect((caught as Error).message).toMatch(message);
}

/** Asserts nested arrays / numbers are elementwise close. */
export function expectClose(actual: unknown, expected: unknown, tol = 1e-6, path = ''): void {
  if (typeof expected === 'number') {
    expect(typeof actual, `type at ${path || 'root'}`).toBe('number');
    const a = actual as number;
    if (Number.isNaN(expected)) expect(Number.isNaN(a), `NaN at ${path}`).toBe(true);
    else if (!Number.isFinite(expected)) expect(a, `at ${path}`).toBe(expected);
    else expect(Math.abs(a - expected), `at ${path || 'root'}: ${a} vs ${expected}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(expected)));
    return;
  }
  expect(Array.isArray(actual), `array at ${path || 'root'}`).toBe(true);
  const a = actual as unknown[];
  const e = expected as unknown[];
  expect(a.length, `length at ${path || 'root'}`).toBe(e.length);
  e.forEach((v, i) => expectClose(a[i], v, tol, `${path}[${i}]`));
}

/** A float64 leaf with deterministic values, for gradient checks. */
export function leaf(shape: number[], seed = 1, scale = 1): Tensor {
  let n = 1;
  for (const s of shape) n *= s;
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = scale * Math.sin(seed * 12.9898 + i * 78.233 + 0.5);
  return tg.tensor(values, { shape, dtype: 'float64', requiresGrad: true });
}

/**
 * A float64 tensor with deterministic values in [-1, 1] kept away from 0
 * (|v| >= 0.2; positive: in [0.5, 1.3]), so that kinks (abs, relu, max) and
 * ties are never under the finite differences of a gradient check.
 */
export function away(shape: number[], seed: number, positive = false, requiresGrad = true): Tensor {
  let n = 1;
  for (const s of shape) n *= s;
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const r = Math.sin(seed * 12.9898 + i * 78.233 + 0.5);
    const mag = 0.2 + 0.8 * Math.abs(Math.sin(seed * 3.1 + i * 1.7));
    v[i] = positive ? 0.3 + mag : (r < 0 ? -1 : 1) * mag;
  }
  return tg.tensor(v, { shape, dtype: 'float64', requiresGrad });
}

/** The ISA paths this CPU can run (TAPEGRAD_ISA only lowers the path). */
export function runnableIsas(): string[] {
  const detected = tg.backendInfo().detectedIsa;
  if (detected === 'avx512') return ['scalar', 'avx2', 'avx512'];
  if (detected === 'avx2') return ['scalar', 'avx2'];
  if (detected === 'neon') return ['scalar', 'neon'];
  return ['scalar'];
}

/**
 * Runs a case script in a fresh Node process with extra environment variables
 * (TAPEGRAD_ISA and similar are read once per process) and parses the JSON
 * report on its last line of output.
 */
export function runCaseScript<T = any>(script: string, env: Record<string, string>): T {
  const out = execFileSync(process.execPath, [script], { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 24 });
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}

/**
 * Runs a case script that reports a digest of its results on every ISA path
 * this CPU runs (or those in `isas`), once per entry of `threads`
 * (TAPEGRAD_TEST_THREADS; none: the default), checks that each run took its
 * path, found no failures and passes `check`, and that every run gave the
 * same digest.
 */
export function expectSameDigestOnEveryIsa(
  script: string,
  threads: string[] = [],
  check: (report: any) => void = () => {},
  isas: string[] = runnableIsas(),
): void {
  const digests = new Set<string>();
  for (const isa of isas)
    for (const t of threads.length > 0 ? threads : [undefined]) {
      const r = runCaseScript(script, t === undefined ? { TAPEGRAD_ISA: isa } : { TAPEGRAD_ISA: isa, TAPEGRAD_TEST_THREADS: t });
      expect(r.isa).toBe(isa);
      check(r);
      expect(r.failures).toEqual([]);
      digests.add(r.digest);
    }
  expect(digests.size).toBe(1);
}

/** Whether /usr/bin/python3 can import torch (tests against PyTorch run only then). */
export function torchAvailable(): boolean {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
