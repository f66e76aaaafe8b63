// Gradient clipping, as torch.nn.utils computes it, in fused native loops
// over every gradient (nothing per element in JS, no temporary tensors).
import { TapegradError, checkBoolean, checkNumber, checkOptions, describe } from '../errors.js';
import { native, type Handle } from '../native.js';
import { Tensor, isTensor, handleOf } from '../tensor.js';

export interface ClipGradNormOptions {
  /** The p of the p-norm: any positive number, or Infinity for the largest |g| (default 2). */
  normType?: number;
  /** Throw instead of clipping when the total norm is NaN or infinite (default false, as PyTorch). */
  errorIfNonfinite?: boolean;
}

/** The native handles of `params`, checked. */
function handlesOf(op: string, params: Tensor | Iterable<Tensor>): Handle[] {
  if (isTensor(params)) params = [params];
  if (params === null || typeof params !== 'object' || typeof (params as Iterable<Tensor>)[Symbol.iterator] !== 'function')
    throw new TypeError(`${op}: params must be a Tensor or an iterable of Tensors, got ${describe(params)}`);
  const handles: Handle[] = [];
  for (const p of params) {
    if (!isTensor(p)) throw new TypeError(`${op}: parameter ${handles.length} is not a Tensor`);
    handles.push(handleOf(p));
  }
  return handles;
}

/**
 * Scales the gradients of `params` in place so that their total norm (the
 * norm of the vector of every gradient element, accumulated in double) is
 * at most `maxNorm`, and returns the total norm before clipping. The scale
 * is min(1, maxNorm / (total + 1e-6)). Parameters without a gradient are
 * skipped; with none, the total is 0.
 */
export function clipGradNorm(params: Tensor | Iterable<Tensor>, maxNorm: number, options: ClipGradNormOptions = {}): number {
  const op = 'clipGradNorm';
  checkNumber(maxNorm, op, 'maxNorm', 'a non-negative number', (v) => v >= 0);
  // clipGradNorm(params, 1, Infinity), PyTorch's positional norm_type, would clip by the 2-norm.
  checkOptions(options, op, '{ normType: Infinity }', ['normType', 'errorIfNonfinite']);
  const normType = checkNumber(options.normType ?? 2, op, 'normType', 'a positive number or Infinity', (v) => v > 0);
  const errorIfNonfinite = checkBoolean(options.errorIfNonfinite, op, 'errorIfNonfinite', false);
  const handles = handlesOf(op, params);
  const total = native.gradNorm(handles, normType);
  if (errorIfNonfinite && !Number.isFinite(total))
    throw new TapegradError(
      `${op}: the total norm of order ${normType} of the gradients is ${total}, so they cannot be clipped; ` +
        'pass errorIfNonfinite: false to clip anyway',
    );
  const coef = maxNorm / (total + 1e-6);
  // With coef >= 1 the gradients would be multiplied by 1: leave them as they are.
  if (!(coef >= 1)) native.gradScale(handles, coef);
  return total;
}

/** Clamps every gradient element of `params` to [-clipValue, clipValue], in place (NaN stays NaN). */
export function clipGradValue(params: Tensor | Iterable<Tensor>, clipValue: number): void {
  const op = 'clipGradValue';
  checkNumber(clipValue, op, 'clipValue', 'a non-negative number', (v) => v >= 0);
  native.gradClamp(handlesOf(op, params), clipValue);
}

/** The same named tensors with `prefix` put before each name, to keep several state dicts in one file. */
export function addPrefix(prefix: string, tensors: Record<string, Tensor>): Record<string, Tensor> {
  if (typeof prefix !== 'string') throw new TypeError(`addPrefix: prefix must be a string, got ${describe(prefix)}`);
  if (tensors === null || typeof tensors !== 'object') throw new TypeError(`addPrefix: expected an object of named tensors, got ${describe(tensors)}`);
  return Object.fromEntries(Object.entries(tensors).map(([k, t]) => [prefix + k, t]));
}

/** The tensors whose names start with `prefix`, with the prefix removed (the inverse of addPrefix). */
export function selectPrefix(prefix: string, tensors: Record<string, Tensor>): Record<string, Tensor> {
  if (typeof prefix !== 'string') throw new TypeError(`selectPrefix: prefix must be a string, got ${describe(prefix)}`);
  if (tensors === null || typeof tensors !== 'object') throw new TypeError(`selectPrefix: expected an object of named tensors, got ${describe(tensors)}`);
  return Object.fromEntries(Object.entries(tensors).flatMap(([k, t]) => (k.startsWith(prefix) ? [[k.slice(prefix.length), t]] : [])));
}
