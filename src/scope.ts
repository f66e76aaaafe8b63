// Tracking of tensors created inside tidy() scopes.
import type { Tensor } from './tensor.js';

const scopes: Set<Tensor>[] = [];

/** @internal Called for every new tensor. */
export function track(t: Tensor): void {
  const top = scopes[scopes.length - 1];
  if (top !== undefined) top.add(t);
}

/** @internal Keeps `t` out of the current scopes (owned by a module or optimizer). */
export function untrack(t: Tensor): void {
  for (const s of scopes) s.delete(t);
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
  for (const t of scope) {
    if (keep.has(t)) parent?.add(t);
    else t.dispose();
  }
}
