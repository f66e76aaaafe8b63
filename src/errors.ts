import { types } from 'node:util';

const { isProxy } = types;

/**
 * Misuse of tapegrad's state: autograd errors (backward twice through a freed
 * graph, a saved tensor modified in place), disposed tensors, tensors locked
 * by a running async job. Wrong argument types are TypeErrors and values out
 * of range are RangeErrors.
 */
export class TapegradError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TapegradError';
  }
}

// tensor.ts registers its brand check (errors.ts imports nothing, so there is no cycle).
let isTensor: (v: unknown) => boolean = () => true;

/** @internal Lets describe() tell a tensor from an object that only has Tensor.prototype. */
export function setTensorCheck(check: (v: unknown) => boolean): void {
  isTensor = check;
}

/**
 * @internal A value as error messages show what came, in the native layer's
 * words ('x', an array, a BigInt, null), so that errors raised in TS read
 * like those raised in C++.
 */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'string': return `'${v}'`;
    case 'bigint': return 'a BigInt';
    case 'function': return 'a function';
    case 'symbol': return 'a symbol';
    case 'object': {
      const name = (v as object).constructor?.name;
      if (!name || name === 'Object') return 'an object';
      if (name === 'Tensor' && !isTensor(v)) return 'an object made from Tensor.prototype, not a tensor made by tapegrad';
      return /^[AEIOU]/.test(name) ? `an ${name}` : `a ${name}`;
    }
    default: return String(v);
  }
}

/**
 * @internal Checks an options argument: an object (not null, not an array),
 * since null would fail on a property read with an error naming no op, and
 * a string or a number would be ignored. `example` shows one in the message.
 * With `accepted`, any other own key is a TypeError naming it and the
 * accepted ones, as PyTorch refuses an unexpected keyword argument: a
 * misspelt option would otherwise leave its default in place, silently.
 */
export function checkOptions<T>(options: T, op: string, example: string, accepted?: readonly string[]): T {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new TypeError(`${op}: options must be an object like ${example}, got ${describe(options)}`);
  if (accepted !== undefined)
    for (const key of Object.keys(options))
      if (!accepted.includes(key))
        throw new TypeError(`${op}: unknown option '${key}'; the options are ${accepted.join(', ')}`);
  return options;
}

/**
 * @internal Checks a number argument: a TypeError when `v` is not a number,
 * a RangeError when `ok` refuses it. `expected` completes "must be ..."
 * ('a positive integer', 'in (0, 1)').
 */
export function checkNumber(v: unknown, op: string, name: string, expected: string, ok: (v: number) => boolean = () => true): number {
  if (typeof v !== 'number') throw new TypeError(`${op}: ${name} must be ${expected}, got ${describe(v)}`);
  if (!ok(v)) throw new RangeError(`${op}: ${name} must be ${expected}, got ${describe(v)}`);
  return v;
}

/**
 * @internal Checks a boolean argument (a TypeError for anything else: 'false'
 * and 0 are not booleans); with `fallback`, undefined (left out) gives it.
 */
export function checkBoolean(v: unknown, op: string, name: string, fallback?: boolean): boolean {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'boolean') throw new TypeError(`${op}: ${name} must be a boolean, got ${describe(v)}`);
  return v;
}

/** @internal Checks a string argument that names one of `choices`: a TypeError for a non-string, a RangeError for another string. */
export function checkChoice<C extends string>(v: unknown, op: string, name: string, choices: readonly C[]): C {
  const quoted = choices.map((c) => `'${c}'`);
  const expected = quoted.length > 1 ? `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}` : quoted.join('');
  if (typeof v !== 'string') throw new TypeError(`${op}: ${name} must be ${expected}, got ${describe(v)}`);
  if (!(choices as readonly string[]).includes(v)) throw new RangeError(`${op}: ${name} must be ${expected}, got ${describe(v)}`);
  return v as C;
}

/**
 * @internal An array argument (a shape, dims, a list of tensors) as an array
 * the native layer reads: a Proxy of an array, which Array.isArray accepts
 * but the native layer would take for an object, is copied, reading its
 * length and each element once. Other values pass through as they are, for
 * the native layer to read or refuse.
 */
export function plainArray<T>(v: T): T {
  if (!Array.isArray(v) || !isProxy(v)) return v;
  const n = v.length;
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = v[i];
  return out as T;
}

/** @internal Whether e is memory that could not be had: a failed allocation or a shape past the element limit. */
export function isAllocationFailure(e: unknown): e is RangeError {
  return e instanceof RangeError && /out of memory|too many elements/.test(e.message);
}
