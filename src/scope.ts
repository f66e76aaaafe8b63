// Tracking of tensors created inside tidy() scopes. A tensor is owned either
// by the innermost scope open when it was made (which disposes it) or, once
// it escapes every scope, by the garbage collector through a native
// finalizer (`adopt`). Tensors inside a scope need no finalizer, which keeps
// small ops cheap.
import { native } from './native.js';
import type { Tensor } from './tensor.js';

const scopes: Set<Tensor>[] = [];

/** @internal Called for every new tensor: tracks it in the current scope, or hands it to the GC. */
export function track(t: Tensor): void {
  const top = scopes[scopes.length - 1];
  if (top !== undefined) top.add(t);
  else native.adopt(t, t._handle);
}

/** @internal Keeps `t` out of the current scopes (owned by a module or optimizer). */
export function untrack(t: Tensor): void {
  let tracked = false;
  for (const s of scopes) if (s.delete(t)) tracked = true;
  if (tracked && !t._disposed) native.adopt(t, t._handle);
}

/** @internal */
export function openScope(): Set<Tensor> {
  const s = new Set<Tensor>();
  scopes.push(s);
  return s;
}

/** @internal Closes `scope`, disposing what it tracked except `keep`; kept tensors move to the parent scope. */
export function closeScope(scope: Set<Tensor>, keep: Set<Tensor>): void {
  const i = scopes.lastIndexOf(scope);
  if (i >= 0) scopes.splice(i, 1);
  const parent = scopes[scopes.length - 1];
  let failure: unknown;
  for (const t of scope) {
    if (keep.has(t)) {
      if (parent !== undefined) parent.add(t);
      else if (!t._disposed) native.adopt(t, t._handle);
      continue;
    }
    try {
      t.dispose();
    } catch (e) {
      // In use by an async job: the GC frees it later; the rest are still disposed.
      native.adopt(t, t._handle);
      failure ??= e;
    }
  }
  if (failure !== undefined) throw failure;
}
