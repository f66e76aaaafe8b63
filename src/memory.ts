// Deterministic freeing: tidy scopes and memory statistics.
import { native } from './native.js';
import { closeScope, openScope } from './scope.js';
import { Tensor, isTensor } from './tensor.js';

function collectTensors(value: unknown, into: Set<Tensor>, depth = 0): void {
  if (isTensor(value)) into.add(value);
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

/** What tg.memory() reports. */
export interface MemoryInfo {
  /** Tensor objects not yet disposed (or collected). */
  liveTensors: number;
  /** Bytes of tensor buffers in use (as requested, before size-class rounding). */
  liveBytes: number;
  /** The most liveBytes reached since the process started. */
  peakBytes: number;
  /** Tensor buffers in use (views share one). */
  liveBuffers: number;
  /**
   * Bytes of freed buffers the allocator keeps for reuse, so that a training
   * step does not go back to the system for memory each op. Not counted in
   * liveBytes, and not reported to V8 as external memory (garbage collection
   * cannot free them); bounded by cacheLimitBytes. emptyCache() frees them.
   */
  cachedBytes: number;
  /**
   * The most cachedBytes may reach: by default peakBytes, at least 256 MiB
   * (so a training step's buffers are all reused by the next step); the
   * value given to setCacheLimit once called; 0 when the cache is off,
   * Infinity when unlimited.
   */
  cacheLimitBytes: number;
}

/** Live tensors, native bytes, and the allocator's cache. */
export function memory(): MemoryInfo {
  const m = native.memory();
  if (m.cacheLimitBytes >= 2 ** 63) m.cacheLimitBytes = Infinity; // setCacheLimit(Infinity)
  return m;
}

/**
 * Sets the most bytes the buffer cache may keep (default: the most bytes
 * ever live at once, at least 256 MiB; 0 turns caching off, Infinity removes
 * the limit) and frees what is above it.
 * Process-wide. A thread's own small cache (at most 1 MiB) is trimmed when
 * that thread next allocates or frees.
 */
export function setCacheLimit(bytes: number): void {
  native.setCacheLimit(bytes);
}

/**
 * Returns every cached buffer to the system (for example before a long idle
 * period). Live tensors are untouched.
 */
export function emptyCache(): void {
  native.emptyCache();
}
