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
 */
export function checkOptions<T>(options: T, op: string, example: string): T {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new TypeError(`${op}: options must be an object like ${example}, got ${describe(options)}`);
  return options;
}
