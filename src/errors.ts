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
      return /^[AEIOU]/.test(name) ? `an ${name}` : `a ${name}`;
    }
    default: return String(v);
  }
}
