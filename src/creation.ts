// Factories: tensors from JS data, constants, ranges and seeded random numbers.
import { TapegradError, checkBoolean, checkOptions, describe, plainArray } from './errors.js';
import { native } from './native.js';
import { fromHandle, isTensor, type DType, type NestedArray, type Tensor, type TypedArray } from './tensor.js';

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

// The options argument ({} when left out), checked: a misspelt key (requires_grad) or
// requiresGrad: 'false' would otherwise be taken for something else.
function optionsArg<T extends TensorOptions>(options: T | undefined, op: string, accepted = ['dtype', 'requiresGrad']): T {
  if (options === undefined) return {} as T;
  checkOptions(options, op, "{ dtype: 'float64' }", accepted);
  if (options.requiresGrad !== undefined) checkBoolean(options.requiresGrad, op, 'requiresGrad');
  return options;
}

// The tensor a ...Like factory copies the shape and dtype of; the errors name
// that factory, not the shape getter that would fail first.
function likeArg(t: unknown, op: string): Tensor {
  if (!isTensor(t)) throw new TypeError(`${op}: input must be a Tensor, got ${describe(t)}`);
  if (t.isDisposed) throw new TapegradError(`${op}: input is a disposed tensor`);
  return t;
}

// The most dimensions a tensor may have (the native layer's limit).
const kMaxDims = 64;

// A level of nested data: an array, or (as a NumPy array row is to torch.tensor)
// a typed array such as a Float32Array row.
function isLevel(v: unknown): v is ArrayLike<unknown> {
  return Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView));
}

// Shape of nested arrays, read along their first elements (flatten checks
// that they are rectangular and hold numbers). Bounded by kMaxDims, so an
// array that contains itself throws instead of growing the shape until the
// process runs out of memory, and flatten's recursion stays shallow.

function nestedShape(data: NestedArray): number[] {
  const shape: number[] = [];
  let level: unknown = data;
  while (isLevel(level)) {
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
    if (!isLevel(v) || v.length !== shape[dim])
      throw new RangeError(
        `tensor: data is not rectangular: expected an array of ${shape[dim]} elements at ${where || 'the top level'}, got ${
          isLevel(v) ? `${v.length} elements` : describe(v)
        }`,
      );
    for (let i = 0; i < v.length; i++) walk(v[i], dim + 1, `${where}[${i}]`);
  };
  walk(data, 0, '');
}

/** Nested arrays whose innermost rows may be typed arrays ([Float32Array, Float32Array]). */
export type NestedRows = readonly (TypedArray | NestedRows | NestedArray)[];

/**
 * A tensor from a number, nested arrays (whose rows may be typed arrays), or a typed array (Float32Array,
 * Float64Array, Int32Array; 1-D unless `shape` is given). The dtype follows
 * the typed array, else float32, unless `dtype` says otherwise. Into int32,
 * floats are truncated toward zero, as torch.tensor does; NaN, ±Infinity and
 * values beyond int32's range are a RangeError naming the first and its index.
 */
export function tensor(data: NestedArray | TypedArray | NestedRows, options?: FromDataOptions): Tensor {
  options = optionsArg(options, 'tensor', ['dtype', 'requiresGrad', 'shape']);
  if (data instanceof Float32Array || data instanceof Float64Array || data instanceof Int32Array) {
    const dtype: DType =
      options.dtype ?? (data instanceof Float64Array ? 'float64' : data instanceof Int32Array ? 'int32' : 'float32');
    return finish(fromHandle(native.fromData(data, plainArray(options.shape) ?? [data.length], dtype, 'tensor')), options);
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
  const target = plainArray(options.shape) ?? shape;
  return finish(fromHandle(native.fromData(flat, target, options.dtype ?? 'float32', 'tensor')), options);
}

// Anything but an array goes on for the native layer to reject, naming the op.
function shapeArg(shape: readonly number[] | [readonly number[]] | number[]): readonly number[] {
  const s = plainArray(shape);
  return Array.isArray(s) && Array.isArray(s[0]) ? plainArray(s[0] as readonly number[]) : (s as readonly number[]);
}

/**
 * The shape and options of zeros, ones, rand and randn: an array and options
 * (zeros([2, 3], { dtype })), or the sizes as separate numbers with the
 * options last (zeros(2, 3, { dtype })), as torch.zeros(2, 3) and as
 * Tensor.reshape takes them.
 */
type SizesAndOptions = [shape: readonly number[], options?: TensorOptions] | [...sizes: number[], options: TensorOptions] | number[];

function sizesArg(op: string, args: readonly unknown[]): [readonly number[], TensorOptions | undefined] {
  if (typeof args[0] !== 'number') return [args[0] as readonly number[], args[1] as TensorOptions | undefined];
  let k = 0;
  while (k < args.length && typeof args[k] === 'number') k++;
  if (k < args.length - 1)
    throw new TypeError(`${op}: sizes must be numbers followed by at most an options object, got ${describe(args[k])} before the end`);
  return [args.slice(0, k) as number[], args[k] as TensorOptions | undefined];
}

/** A tensor of zeros: zeros([2, 3]), zeros(2, 3), zeros([2, 3], { dtype }) or zeros(2, 3, { dtype }). */
export function zeros(...args: SizesAndOptions): Tensor {
  const [shape, options] = sizesArg('zeros', args);
  return filled('zeros', shape, 0, options);
}

/** A tensor of ones; the shape as for zeros. */
export function ones(...args: SizesAndOptions): Tensor {
  const [shape, options] = sizesArg('ones', args);
  return filled('ones', shape, 1, options);
}

export function full(shape: readonly number[], value: number, options?: TensorOptions): Tensor {
  return filled('full', shape, value, options);
}

export function zerosLike(t: Tensor, options?: TensorOptions): Tensor {
  return filledLike('zerosLike', t, 0, options);
}

export function onesLike(t: Tensor, options?: TensorOptions): Tensor {
  return filledLike('onesLike', t, 1, options);
}

export function fullLike(t: Tensor, value: number, options?: TensorOptions): Tensor {
  return filledLike('fullLike', t, value, options);
}

function filled(op: string, shape: readonly number[], value: number, options: TensorOptions | undefined): Tensor {
  const o = optionsArg(options, op);
  return finish(fromHandle(native.full(shapeArg(shape), value, o.dtype ?? 'float32', op)), o);
}

function filledLike(op: string, t: Tensor, value: number, options: TensorOptions | undefined): Tensor {
  const like = likeArg(t, op);
  const o = optionsArg(options, op);
  return finish(fromHandle(native.full(like.shape, value, o.dtype ?? like.dtype, op)), o);
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
  let options: TensorOptions;
  if (typeof b === 'number') {
    start = a;
    end = b;
    if (typeof c === 'number' || c === undefined) {
      if (c !== undefined) step = c;
      options = optionsArg(d, 'arange');
    } else {
      // arange(start, end, options): nothing may follow the options.
      if (d !== undefined) throw new TypeError(`arange: step must be a number, got ${describe(c)}`);
      options = optionsArg(c, 'arange');
    }
  } else {
    if (c !== undefined || d !== undefined) throw new TypeError(`arange: end must be a number, got ${describe(b)}`);
    options = optionsArg(b, 'arange');
  }
  // Without a dtype, the native layer chooses int32 or float32 (and says when int32 cannot hold the values).
  return finish(fromHandle(native.arange(start, end, step, options.dtype)), options);
}

/**
 * `steps` values evenly spaced from start to end, both included, as torch.linspace:
 * linspace(0, 1, 5) is [0, 0.25, 0.5, 0.75, 1]. Both ends are exact (the first half of the
 * values counts up from start, the rest down from end). float32 unless `dtype` says
 * otherwise; int32 truncates start, end and each value toward zero. steps 0 gives an empty
 * tensor, 1 gives [start].
 */
export function linspace(start: number, end: number, steps: number, options?: TensorOptions): Tensor {
  const o = optionsArg(options, 'linspace');
  return finish(fromHandle(native.linspace(start, end, steps, o.dtype ?? 'float32')), o);
}

/** An n×m identity matrix (m defaults to n): eye(3), eye(2, 3), eye(3, { dtype }) or eye(2, 3, { dtype }). */
export function eye(n: number, options?: TensorOptions): Tensor;
export function eye(n: number, m?: number, options?: TensorOptions): Tensor;
export function eye(n: number, m?: number | TensorOptions, options?: TensorOptions): Tensor {
  // eye(n, options), as PyTorch's torch.eye(n, dtype=...): nothing may follow the options.
  if (typeof m === 'object' && m !== null && !Array.isArray(m)) {
    if (options !== undefined) throw new TypeError(`eye: m must be an integer, got ${describe(m)}`);
    options = m;
    m = undefined;
  }
  const o = optionsArg(options, 'eye');
  return finish(fromHandle(native.eye(n, (m as number | undefined) ?? n, o.dtype ?? 'float32')), o);
}

/** Uniform random numbers in [0, 1), from the seeded generator (see manualSeed); the shape as for zeros. */
export function rand(...args: SizesAndOptions): Tensor {
  const [shape, options] = sizesArg('rand', args);
  const o = optionsArg(options, 'rand');
  return finish(fromHandle(native.rand(shapeArg(shape), o.dtype ?? 'float32')), o);
}

/** Standard normal random numbers, from the seeded generator; the shape as for zeros. */
export function randn(...args: SizesAndOptions): Tensor {
  const [shape, options] = sizesArg('randn', args);
  const o = optionsArg(options, 'randn');
  return finish(fromHandle(native.randn(shapeArg(shape), o.dtype ?? 'float32')), o);
}

/**
 * Random integers in [low, high), int32 unless `dtype` says otherwise:
 * randint(low, high, shape) or, as torch.randint(high, size), randint(high, shape) with low 0.
 */
export function randint(high: number, shape: readonly number[], options?: TensorOptions): Tensor;
export function randint(low: number, high: number, shape: readonly number[], options?: TensorOptions): Tensor;
export function randint(
  a: number,
  b: number | readonly number[],
  c?: readonly number[] | TensorOptions,
  d?: TensorOptions,
): Tensor {
  // randint(high, shape[, options]): the shape comes second.
  if (Array.isArray(b)) {
    if (d !== undefined) throw new TypeError(`randint: high must be a number, got ${describe(b)}`);
    return randint(0, a, b as readonly number[], c as TensorOptions | undefined);
  }
  const o = optionsArg(d, 'randint');
  return finish(fromHandle(native.randint(a, b as number, shapeArg(c as readonly number[]), o.dtype ?? 'int32')), o);
}

/**
 * Seeds the generator behind rand, randn, randint and dropout: same seed, same numbers on every platform.
 * Each thread (the main thread and every worker) has its own generator.
 */
export function manualSeed(seed: number): void {
  native.manualSeed(seed);
}
