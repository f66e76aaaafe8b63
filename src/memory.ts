// Deterministic freeing: tidy scopes and memory statistics.
import { native } from './native.js';
import { closeScope, openScope } from './scope.js';
import { Tensor } from './tensor.js';

function collectTensors(value: unknown, into: Set<Tensor>, depth = 0): void {
  if (value instanceof Tensor) into.add(value);
  else if (depth < 8 && Array.isArray(value)) for (const v of value) collectTensors(v, into, depth + 1);
  else if (depth < 8 && value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype)
    for (const v of Object.values(value)) collectTensors(v, into, depth + 1);
}

/**
 * Runs `fn` and disposes every tensor created inside it, except the tensors
 * it returns (directly, or inside arrays and plain objects). Scopes nest.
 */
export function tidy<T>(fn: () => T): T {
  const scope = openScope();
  let result: T;
  try {
    result = fn();
  } catch (e) {
    closeScope(scope, new Set());
    throw e;
  }
  if (result instanceof Promise) {
    closeScope(scope, new Set());
    throw new TypeError('tidy: fn returned a Promise; use tidyAsync for async functions');
  }
  const keep = new Set<Tensor>();
  collectTensors(result, keep);
  closeScope(scope, keep);
  return result;
}

/**
 * tidy() for async functions: disposes every tensor created inside `fn`
 * (including after awaits) except those it resolves to. Tensors created by
 * unrelated code that runs while `fn` awaits are tracked too, so keep other
 * work out of the scope or return what it needs.
 */
export async function tidyAsync<T>(fn: () => Promise<T>): Promise<T> {
  const scope = openScope();
  let result: T;
  try {
    result = await fn();
  } catch (e) {
    closeScope(scope, new Set());
    throw e;
  }
  const keep = new Set<Tensor>();
  collectTensors(result, keep);
  closeScope(scope, keep);
  return result;
}

/** Live tensors and native bytes. */
export function memory(): { liveTensors: number; liveBytes: number; peakBytes: number; liveBuffers: number } {
  return native.memory();
}
