// Shared test utilities. Tests use the built package, as users do.
import { expect } from 'vitest';
import * as tg from '../dist/index.js';

export { tg };
export type Tensor = tg.Tensor;

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
