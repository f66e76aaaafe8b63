// Factories: tensors from JS data, constants, ranges and seeded random numbers.
import { native } from './native.js';
import { Tensor, type DType, type NestedArray, type TypedArray } from './tensor.js';

export interface TensorOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

export interface FromDataOptions extends TensorOptions {
  /** The shape of a flat typed array (1-D by default). */
  shape?: readonly number[];
}

function finish(t: Tensor, options: TensorOptions | undefined): Tensor {
  if (options?.requiresGrad) t.setRequiresGrad(true);
  return t;
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'object') return `${(v as object).constructor?.name ?? 'an object'}`;
  return String(v);
}

// The most dimensions a tensor may have (the native layer's limit).
const kMaxDims = 64;

// Shape of nested arrays, read along their first elements (flatten checks
// that they are rectangular and hold numbers). Bounded by kMaxDims, so an
// array that contains itself throws instead of growing the shape until the
// process runs out of memory, and flatten's recursion stays shallow.
function nestedShape(data: NestedArray): number[] {
  const shape: number[] = [];
  let level: unknown = data;
  while (Array.isArray(level)) {
    if (shape.length === kMaxDims)
      throw new RangeError(
        `tensor: data nests arrays more than ${kMaxDims} deep (or an array contains itself); at most ${kMaxDims} dimensions are supported`,
      );
    shape.push(level.length);
    level = level[0];
  }
  return shape;
}

function flatten(data: NestedArray, shape: number[], out: Float64Array): void {
  let pos = 0;
  const walk = (v: unknown, dim: number, where: string): void => {
    if (dim === shape.length) {
      if (typeof v !== 'number')
        throw new TypeError(`tensor: data must hold numbers, got ${describe(v)} at ${where || 'the top level'}`);
      out[pos++] = v;
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[dim])
      throw new RangeError(
        `tensor: data is not rectangular: expected an array of ${shape[dim]} elements at ${where || 'the top level'}, got ${
          Array.isArray(v) ? `${v.length} elements` : describe(v)
        }`,
      );
    for (let i = 0; i < v.length; i++) walk(v[i], dim + 1, `${where}[${i}]`);
  };
  walk(data, 0, '');
}

/**
 * A tensor from a number, nested arrays, or a typed array (Float32Array,
 * Float64Array, Int32Array; 1-D unless `shape` is given). The dtype follows
 * the typed array, else float32, unless `dtype` says otherwise.
 */
export function tensor(data: NestedArray | TypedArray, options: FromDataOptions = {}): Tensor {
  if (data instanceof Float32Array || data instanceof Float64Array || data instanceof Int32Array) {
    const dtype: DType =
      options.dtype ?? (data instanceof Float64Array ? 'float64' : data instanceof Int32Array ? 'int32' : 'float32');
    return finish(new Tensor(native.fromData(data, options.shape ?? [data.length], dtype, 'tensor')), options);
  }
  if (typeof data !== 'number' && !Array.isArray(data))
    throw new TypeError(
      `tensor: data must be a number, nested arrays of numbers, or a Float32Array/Float64Array/Int32Array, got ${describe(data)}`,
    );
  const shape = nestedShape(data);
  let size = 1;
  for (const s of shape) size *= s;
  let flat: Float64Array;
  try {
    flat = new Float64Array(size);
  } catch {
    throw new RangeError(`tensor: data of shape [${shape.join(', ')}] has ${size} elements, more than can be allocated`);
  }
  flatten(data, shape, flat);
  const target = options.shape ?? shape;
  return finish(new Tensor(native.fromData(flat, target, options.dtype ?? 'float32', 'tensor')), options);
}

function shapeArg(shape: readonly number[] | [readonly number[]] | number[]): readonly number[] {
  return Array.isArray(shape[0]) ? (shape[0] as readonly number[]) : (shape as readonly number[]);
}

/** A tensor of zeros: zeros([2, 3]) or zeros([2, 3], { dtype }). */
export function zeros(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return finish(new Tensor(native.full(shapeArg(shape), 0, options.dtype ?? 'float32', 'zeros')), options);
}

export function ones(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return finish(new Tensor(native.full(shapeArg(shape), 1, options.dtype ?? 'float32', 'ones')), options);
}

export function full(shape: readonly number[], value: number, options: TensorOptions = {}): Tensor {
  return finish(new Tensor(native.full(shapeArg(shape), value, options.dtype ?? 'float32', 'full')), options);
}

export function zerosLike(t: Tensor, options: TensorOptions = {}): Tensor {
  return zeros(t.shape, { dtype: t.dtype, ...options });
}

export function onesLike(t: Tensor, options: TensorOptions = {}): Tensor {
  return ones(t.shape, { dtype: t.dtype, ...options });
}

export function fullLike(t: Tensor, value: number, options: TensorOptions = {}): Tensor {
  return full(t.shape, value, { dtype: t.dtype, ...options });
}

/**
 * Values from start (inclusive) to end (exclusive) by step: arange(5),
 * arange(2, 8), arange(0, 1, 0.25). int32 when every argument is an integer,
 * else float32, unless `dtype` is given.
 */
export function arange(end: number, options?: TensorOptions): Tensor;
export function arange(start: number, end: number, step?: number, options?: TensorOptions): Tensor;
export function arange(a: number, b?: number | TensorOptions, c?: number | TensorOptions, d?: TensorOptions): Tensor {
  let start = 0;
  let end = a;
  let step = 1;
  let options: TensorOptions = {};
  if (typeof b === 'number') {
    start = a;
    end = b;
    if (typeof c === 'number') step = c;
    else if (c) options = c;
    if (d) options = d;
  } else if (b) {
    options = b;
  }
  const dtype = options.dtype ?? ([start, end, step].every(Number.isInteger) ? 'int32' : 'float32');
  return finish(new Tensor(native.arange(start, end, step, dtype)), options);
}

/** An n×m identity matrix (m defaults to n). */
export function eye(n: number, m: number = n, options: TensorOptions = {}): Tensor {
  return finish(new Tensor(native.eye(n, m, options.dtype ?? 'float32')), options);
}

/** Uniform random numbers in [0, 1), from the seeded generator (see manualSeed). */
export function rand(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return finish(new Tensor(native.rand(shapeArg(shape), options.dtype ?? 'float32')), options);
}

/** Standard normal random numbers, from the seeded generator. */
export function randn(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return finish(new Tensor(native.randn(shapeArg(shape), options.dtype ?? 'float32')), options);
}

/** Random integers in [low, high), int32 unless `dtype` says otherwise. */
export function randint(low: number, high: number, shape: readonly number[], options: TensorOptions = {}): Tensor {
  return finish(new Tensor(native.randint(low, high, shapeArg(shape), options.dtype ?? 'int32')), options);
}

/**
 * Seeds the generator behind rand, randn, randint and dropout: same seed, same numbers on every platform.
 * Each thread (the main thread and every worker) has its own generator.
 */
export function manualSeed(seed: number): void {
  native.manualSeed(seed);
}
