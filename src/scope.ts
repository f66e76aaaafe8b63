// Tracking of tensors created inside tidy() scopes. A tensor is owned either
// by the innermost scope open when it was made (which disposes it) or, once
// it escapes every scope, by the garbage collector through a native
// finalizer (`adopt`). Tensors inside a scope need no finalizer, which keeps
// small ops cheap.
import { AsyncLocalStorage } from 'node:async_hooks';
import { native, type Handle } from './native.js';
import { handleOf, type Tensor } from './tensor.js';

/**
 * @internal The tensors made while a scope was open. It owns those whose
 * `_scope` is still this scope; iterating lists every tensor made in it
 * (also after it closed), and `has` tells whether it owns one.
 */
export class Scope implements Iterable<Tensor> {
  readonly tensors: Tensor[] = [];
  get size(): number {
    return this.tensors.length;
  }
  has(t: Tensor): boolean {
    return t._scope === this;
  }
  [Symbol.iterator](): Iterator<Tensor> {
    return this.tensors[Symbol.iterator]();
  }
}

/** @internal What closeScope keeps: a Set of tensors, or a scope (keeps all it owns). */
export interface KeepSet {
  readonly size: number;
  has(t: Tensor): boolean;
}

// The open scopes, innermost last. Synchronous code shares one stack; a
// tidyAsync call runs its function with a stack of its own (the caller's
// scopes and its scope), carried across awaits by AsyncLocalStorage, so
// tidyAsync calls that overlap in time do not see each other's scopes (one
// disposed the result the other had returned). While none runs, no lookup.
const scopes: Scope[] = [];
const asyncScopes = new AsyncLocalStorage<Scope[]>();
let asyncCalls = 0;

/** @internal The scope stack of the code running now. */
export function currentScopes(): Scope[] {
  return asyncCalls === 0 ? scopes : (asyncScopes.getStore() ?? scopes);
}

/**
 * @internal Runs async `fn` with `scope` open on top of the caller's scopes,
 * in a stack of its own; resolves with what fn does, the scope still open.
 */
export async function inAsyncScope<T>(scope: Scope, fn: () => Promise<T>): Promise<T> {
  asyncCalls++;
  try {
    return await asyncScopes.run([...currentScopes(), scope], fn);
  } finally {
    asyncCalls--;
  }
}

/**
 * @internal Called by the Tensor constructor for every new tensor, with its
 * handle: tracks it in the current scope, or hands it to the GC.
 */
export function track(t: Tensor, handle: Handle): void {
  const scopes = currentScopes();
  const top = scopes[scopes.length - 1];
  if (top !== undefined) {
    t._scope = top;
    top.tensors.push(t);
  } else {
    native.adopt(t, handle);
  }
}

/** @internal Keeps `t` out of the current scopes (owned by a module or optimizer). */
export function untrack(t: Tensor): void {
  if (t._scope === null) return;
  t._scope = null;
  if (!t._disposed) native.adopt(t, handleOf(t));
}

/** @internal Opens a scope in the current stack (tidyAsync passes `open` false: inAsyncScope opens it). */
export function openScope(open = true): Scope {
  const s = new Scope();
  if (open) currentScopes().push(s);
  return s;
}

/**
 * @internal Closes `scope`, disposing what it owns except `keep`; kept
 * tensors move to the scope below it in the current stack (for tidyAsync,
 * its caller's).
 */
export function closeScope(scope: Scope, keep: KeepSet): void {
  const scopes = currentScopes();
  const i = scopes.lastIndexOf(scope);
  if (i >= 0) scopes.splice(i, 1);
  const parent = scopes[scopes.length - 1];
  let failure: unknown;
  const owned = scope.tensors;
  for (let k = 0; k < owned.length; k++) {
    const t = owned[k]!;
    if (t._scope !== scope) continue; // untracked, or moved by an inner scope's keep
    if (keep.size !== 0 && keep.has(t)) {
      t._scope = parent ?? null;
      if (parent !== undefined) parent.tensors.push(t);
      else if (!t._disposed) native.adopt(t, handleOf(t));
      continue;
    }
    t._scope = null;
    try {
      t.dispose();
    } catch (e) {
      // In use by an async job: the GC frees it later; the rest are still disposed.
      native.adopt(t, handleOf(t));
      failure ??= e;
    }
  }
  if (failure !== undefined) throw failure;
}
