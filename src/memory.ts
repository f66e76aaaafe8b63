// Deterministic freeing: tidy scopes and memory statistics.
import { describe } from './errors.js';
import { native } from './native.js';
import { closeScope, inAsyncScope, openScope, type Scope } from './scope.js';
import { Tensor, isTensor } from './tensor.js';

// The tensors reachable from `value` (see tidy for what is looked into).
// Iterative, with a set of the objects seen: any depth, cycles included.
function collectTensors(value: unknown): Set<Tensor> {
  const found = new Set<Tensor>();
  const seen = new Set<object>();
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object' || seen.has(v)) continue;
    seen.add(v);
    if (isTensor(v)) found.add(v);
    else if (Array.isArray(v)) for (let i = 0; i < v.length; i++) stack.push(v[i]);
    else if (v instanceof Map) for (const [k, x] of v) stack.push(k, x);
    else if (v instanceof Set) for (const x of v) stack.push(x);
    else if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof Promise || v instanceof WeakMap || v instanceof WeakSet) continue;
    else {
      // Data properties only: a getter is code, which tidy does not run.
      const props = Object.getOwnPropertyDescriptors(v);
      for (const key of Reflect.ownKeys(props)) {
        const d = props[key as keyof typeof props] as PropertyDescriptor;
        if (d.enumerable && 'value' in d) stack.push(d.value);
      }
    }
  }
  return found;
}

// What closeScope(scope) keeps of `result`. A Proxy's trap may throw while
// the result is walked: the scope is closed (keeping nothing) before that
// error goes on, so no scope is left open.
function keptBy(result: unknown, scope: Scope): Set<Tensor> {
  try {
    return collectTensors(result);
  } catch (e) {
    closeScope(scope, new Set());
    throw e;
  }
}

/**
 * Runs `fn` and disposes every tensor created inside it, except the tensors
 * it returns. Scopes nest. A returned tensor is kept wherever it sits in the
 * returned value, at any depth (cycles are fine): in arrays, as a Map's key
 * or value, in a Set, or in an own enumerable data property of any other
 * object (a plain object or a class instance). Tensors that are reachable
 * only through a closure, a getter, a WeakMap or WeakSet, a Promise or an
 * inherited property are not kept (TensorFlow.js's tidy walks arrays and
 * objects alike, but not Maps or Sets); keep them by returning them.
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new TypeError(`tidy: fn must be a function, got ${describe(fn)}`);
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
  closeScope(scope, keptBy(result, scope));
  return result;
}

/**
 * tidy() for async functions: disposes every tensor created inside `fn`
 * (including after awaits) except those it resolves to (found as tidy
 * finds those fn returns), which move to the caller's scope. Its scope
 * follows fn's own async work (AsyncLocalStorage): tensors made by other
 * code that runs while fn awaits, another request's tidyAsync among them,
 * are not in it.
 */
export async function tidyAsync<T>(fn: () => Promise<T>): Promise<T> {
  if (typeof fn !== 'function') throw new TypeError(`tidyAsync: fn must be a function, got ${describe(fn)}`);
  const scope = openScope(false);
  let result: T;
  try {
    result = await inAsyncScope(scope, fn);
  } catch (e) {
    closeScope(scope, new Set());
    throw e;
  }
  closeScope(scope, keptBy(result, scope));
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
  /**
   * Bytes of the kernels' working buffers (the matrix products' packed
   * panels), one set per thread that ran a kernel needing one. Each thread
   * keeps its set for reuse, grown to the largest product it has run, and
   * frees it when it exits: a worker thread when it ends, the pool's threads
   * when setNumThreads restarts them. The threads that run async work
   * (backwardAsync, the trainer's steps) live as long as the process, and
   * so do their sets. Not tensor memory: not in liveBytes, not reported to
   * V8, not freed by emptyCache().
   */
  scratchBytes: number;
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
