/// <reference lib="esnext.disposable" preserve="true" />
// The Tensor class: a JS handle on a native tensor. Methods call the native
// layer; the native layer checks every argument and throws errors naming
// the op.
import { TapegradError, checkBoolean, checkOptions, describe, plainArray, setTensorCheck } from './errors.js';
import { EDGE_ITEMS, formatTensor, summarizedDim } from './format.js';
import { native, type Handle } from './native.js';
import { track, type Scope } from './scope.js';

export type DType = 'float32' | 'float64' | 'int32';
export type TypedArray = Float32Array | Float64Array | Int32Array;
/** The most elements toArray() converts (2^25). */
const MAX_TO_ARRAY = 2 ** 25;

/** Nested arrays of numbers, as returned by toArray(). */
export type NestedArray = number | NestedArray[];
/** A tensor, or a number used as a 0-d tensor of a suitable dtype. */
export type TensorLike = Tensor | number;
/** A dim, or several dims; negative dims count from the end. */
export type Dims = number | readonly number[];

/** Options of Tensor.gelu. */
export interface GeluOptions {
  /** 'none' (default): x·Φ(x) with the exact erf; 'tanh': PyTorch's tanh approximation. */
  approximate?: 'none' | 'tanh';
}

/** What registerHook returns: `remove()` takes the hook off (removing it twice does nothing). */
export interface RemovableHandle {
  remove(): void;
}

export interface BackwardOptions {
  /** Keep the graph's saved tensors so backward can run through it again. */
  retainGraph?: boolean;
  /** Record the backward pass itself, for gradients of gradients. */
  createGraph?: boolean;
}

/**
 * Whether `x` is a tensor made by tapegrad. An object that merely has
 * Tensor.prototype in its prototype chain (Object.create(Tensor.prototype),
 * Object.setPrototypeOf) is not one, though `instanceof Tensor` says it is:
 * the library checks tensors with this, never with instanceof, so such an
 * object cannot pass a handle it copied from another tensor (which would
 * let it free or write that tensor's memory).
 */
export function isTensor(x: unknown): x is Tensor {
  return Tensor.isTensor(x);
}

/**
 * @internal The native handle of `t`, a tensor made by tapegrad (anything
 * else throws a TypeError). How the library reads a handle, besides
 * operand(): a `_handle` property defined on an object is never read.
 */
export function handleOf(t: Tensor): Handle {
  const h = Tensor._handleOf(t);
  if (h === undefined) throw new TypeError(`expected a Tensor made by tapegrad, got ${describe(t)}`);
  return h;
}

// The handle of `this` in a method. A method called on an object that is
// not a tensor (Tensor.prototype.exp.call({}), an object made from
// Tensor.prototype) gets undefined, which the native layer refuses naming
// the op ("exp: input must be a Tensor, got undefined").
function own(t: Tensor): Handle {
  return Tensor._handleOf(t) as Handle;
}

/** @internal Passes a tensor's handle, or a number (or anything else, for the native layer to reject). */
export function operand(x: unknown): Handle | number {
  const h = Tensor._handleOf(x);
  if (h !== undefined) return h;
  // Handles are BigInts, so a user's BigInt could name another live tensor.
  // No negative BigInt is a handle: the native layer rejects -1n as it
  // rejects any other BigInt ("add: other must be a Tensor, got a BigInt").
  if (typeof x === 'bigint') return -1n as unknown as Handle;
  return x as Handle | number;
}

// A shape or dims given as separate numbers or as one array (a Proxy of an array too).
function shapeArgs(args: number[] | [readonly number[]]): readonly number[] {
  return Array.isArray(args[0]) ? plainArray(args[0] as readonly number[]) : (args as number[]);
}

/**
 * @internal The handle of a gradient argument, or null (undefined too) for
 * the default. Checked here: the native layer takes a missing handle as the
 * default, so a number or a look-alike object must not reach it as one.
 */
export function gradientHandle(g: unknown, op: string, arg: string): Handle | null {
  if (g === undefined || g === null) return null;
  const h = Tensor._handleOf(g);
  if (h !== undefined) return h;
  throw new TypeError(`${op}: ${arg} must be a Tensor or null, got ${describe(g)}`);
}


/**
 * @internal Throws, naming `op` and `what`, when `t` is disposed or held by
 * a running async job (backwardAsync, a Trainer step), as writing it,
 * freeing it or setting its .grad would. A change to several tensors checks
 * them all first, so that an error leaves every one of them as it was.
 */
export function checkNotInUse(t: Tensor, op: string, what: string): void {
  if (t._disposed) throw new TapegradError(`${op}: ${what} is a disposed tensor`);
  if (native.inUse(handleOf(t)))
    throw new TapegradError(`${op}: ${what} is in use by a running backwardAsync or train step; await it first`);
}

// Only the library makes tensors: a second Tensor on a handle another one
// owns would free its memory when disposed. The constructor refuses a call
// without this token, which only this module holds; other modules of the
// library make tensors with fromHandle (the package exports neither).
const madeByTapegrad = Symbol('made by tapegrad');

// Assigned in the class's static block, the one place that may call its private constructor.
let construct: (handle: Handle) => Tensor;

/**
 * @internal Wraps a handle the native layer just returned in a new Tensor,
 * which owns it: the one way the library makes tensors.
 */
export function fromHandle(handle: Handle): Tensor {
  return construct(handle);
}

export class Tensor {
  // Private, so that only objects this constructor made carry one (see isTensor).
  readonly #handle: Handle;
  /** @internal */
  _disposed = false;
  /** @internal The tidy() scope that owns this tensor; null when the GC or a module/optimizer owns it. */
  _scope: Scope | null = null;
  private _shape: readonly number[] | undefined;

  /** Tensors are made with `tensor()`, `zeros()` and the other factories, and by ops; `new Tensor()` throws. */
  private constructor(token: symbol, handle: Handle) {
    if (token !== madeByTapegrad)
      throw new TypeError(
        'Tensor: tensors are made with tg.tensor(data), tg.zeros(shape), tg.randn(shape) and the other factories, ' +
          `or by ops on tensors, not with new Tensor(...); got new Tensor(${describe(token)})`,
      );
    this.#handle = handle;
    track(this, handle);
  }

  static {
    construct = (handle) => new Tensor(madeByTapegrad, handle);
  }

  /** Whether `x` is a tensor made by tapegrad (the same as `tg.isTensor(x)`). */
  static isTensor(x: unknown): x is Tensor {
    return typeof x === 'object' && x !== null && #handle in x;
  }

  /** @internal See handleOf. */
  static _handleOf(x: unknown): Handle | undefined {
    return Tensor.isTensor(x) ? x.#handle : undefined;
  }

  /** @internal The native handle (read-only; code that unwraps tensors it was given uses handleOf). */
  get _handle(): Handle {
    return own(this);
  }

  // ---- facts -----------------------------------------------------------

  /** The size of each dimension. */
  get shape(): readonly number[] {
    if (this._shape === undefined) this._shape = Object.freeze(native.shape(own(this)));
    else if (this._disposed) throw new TapegradError('shape: tensor is a disposed tensor');
    return this._shape;
  }
  get dtype(): DType {
    return native.dtype(own(this));
  }
  /** Number of dimensions. */
  get ndim(): number {
    if (this._disposed) throw new TapegradError('ndim: input is a disposed tensor');
    return this.shape.length;
  }
  /** Number of elements. */
  get size(): number {
    if (this._disposed) throw new TapegradError('size: input is a disposed tensor');
    let n = 1;
    for (const s of this.shape) n *= s;
    return n;
  }
  get isDisposed(): boolean {
    return this._disposed;
  }
  /** Element strides of the view into its storage. */
  strides(): number[] {
    return native.strides(own(this));
  }
  isContiguous(): boolean {
    return native.isContiguous(own(this));
  }

  // ---- reading back ----------------------------------------------------

  /** A typed-array copy of the elements in row-major order. */
  data(): TypedArray {
    return native.data(own(this));
  }
  /** The elements as nested arrays (a number for a 0-d tensor). */
  toArray(): NestedArray {
    if (this._disposed) throw new TapegradError('toArray: input is a disposed tensor');
    // Past this, V8 builds a dictionary array for a long row and can abort the
    // process when it outgrows its table (2^28 elements did): a RangeError first.
    const handle = own(this);  // undefined for an object posing as a tensor: data reports it
    if (handle !== undefined && this.size > MAX_TO_ARRAY)
      throw new RangeError(`toArray: ${this.size} elements are too many for nested JS arrays (at most ${MAX_TO_ARRAY}); read data() as a typed array instead`);
    const values = native.data(handle);
    const shape = this.shape;
    if (shape.length === 0) return values[0] as number;
    let pos = 0;
    const build = (dim: number): NestedArray[] => {
      const n = shape[dim] as number;
      const out: NestedArray[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = dim === shape.length - 1 ? (values[pos++] as number) : build(dim + 1);
      return out;
    };
    return build(0);
  }
  /** The value of a one-element tensor. */
  item(): number {
    if (this._disposed) throw new TapegradError('item: input is a disposed tensor');
    // Checked before reading: a large tensor would be copied whole only to be refused.
    if (this.size !== 1)
      throw new RangeError(`item: the tensor must have exactly one element, got shape [${this.shape.join(', ')}]`);
    return this.data()[0] as number;
  }
  toString(): string {
    // Logging a disposed tensor (an error path, a debug line) must not throw.
    if (this._disposed) return 'tensor(<disposed>)';
    const parts: string[] = [];
    if (this.dtype !== 'float32') parts.push(`dtype=${this.dtype}`);
    const fn = native.gradFn(own(this));
    if (fn !== null) parts.push(`gradFn=<${fn}>`);
    else if (this.requiresGrad) parts.push('requiresGrad=true');
    const suffix = parts.length ? ', ' + parts.join(', ') : '';
    const shape = this.shape;
    return formatTensor(summarizedData(own(this), shape), shape, this.dtype, suffix);
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  // ---- memory ----------------------------------------------------------

  /** Frees the native memory now (unless a graph or a view still uses it). Idempotent. */
  dispose(): void {
    if (this._disposed) return;
    native.dispose(own(this));
    this._disposed = true;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  // ---- autograd --------------------------------------------------------

  get requiresGrad(): boolean {
    return native.requiresGrad(own(this));
  }
  /** Marks a leaf tensor as requiring grad (or not). Returns this tensor. */
  setRequiresGrad(value = true): this {
    native.setRequiresGrad(own(this), value);
    return this;
  }
  /** True for tensors created by the user rather than by an op that recorded a graph. */
  get isLeaf(): boolean {
    return native.isLeaf(own(this));
  }
  /** The name of the backward node that created this tensor, or null for a leaf. */
  get gradFn(): string | null {
    return native.gradFn(own(this));
  }
  /** The gradient accumulated by backward() into this leaf, or null. */
  get grad(): Tensor | null {
    const g = native.getGrad(own(this));
    return g === null ? null : fromHandle(g);
  }
  /**
   * Sets the gradient that backward() accumulates into (in place): a tensor
   * of this tensor's shape and dtype, or null to clear it. undefined clears
   * it too, as elsewhere where a gradient may be left out (PyTorch has only
   * None). An expanded view (a dim of size > 1 with stride 0) is refused:
   * its elements share memory, so accumulating would add into each several
   * times; assign `value.contiguous()` or `value.clone()`.
   */
  set grad(value: Tensor | null | undefined) {
    const g = gradientHandle(value, 'grad', 'value');
    if (g !== null && !(value as Tensor)._disposed) {
      const shape = native.shape(g);
      const strides = native.strides(g);
      if (shape.some((size, d) => size > 1 && strides[d] === 0))
        throw new RangeError(
          `grad: cannot assign an expanded view (shape [${shape.join(', ')}], strides [${strides.join(', ')}]) ` +
            'as a gradient: several of its elements share memory, and backward accumulates into .grad in place; ' +
            'assign value.contiguous() or value.clone() instead',
        );
    }
    native.setGrad(own(this), g);
  }
  /** Sets .grad to null. */
  zeroGrad(): void {
    native.setGrad(own(this), null);
  }
  /** The same data without autograd history (a leaf that does not require grad). */
  detach(): Tensor {
    return fromHandle(native.detach(own(this)));
  }
  /** Computes gradients of this tensor with respect to the leaves and accumulates them into their .grad. */
  backward(gradOutput?: Tensor | null, options: BackwardOptions = {}): void {
    const g = gradientHandle(gradOutput, 'backward', 'gradOutput');
    checkOptions(options, 'backward', '{ retainGraph: true }', ['retainGraph', 'createGraph']);
    native.backward([own(this)], g === null ? null : [g], options.retainGraph ?? false, options.createGraph ?? false);
  }
  /**
   * backward() on a background thread: the event loop keeps serving while it runs.
   * Until the promise settles, these throw: in-place writes to the leaves
   * (including optimizer steps), reading or setting their .grad, in-place
   * writes to every tensor the graph saved for backward, and disposing any of
   * them. Other jobs may read the leaves meanwhile. Graphs with JS hooks need
   * backward().
   */
  backwardAsync(gradOutput?: Tensor | null, options: { retainGraph?: boolean } = {}): Promise<void> {
    const g = gradientHandle(gradOutput, 'backwardAsync', 'gradOutput');
    checkOptions(options, 'backwardAsync', '{ retainGraph: true }', ['retainGraph']);
    return native.backwardAsync([own(this)], g === null ? null : [g], options.retainGraph ?? false);
  }
  /**
   * Calls `fn` with the gradient of this tensor during backward; a tensor it
   * returns replaces the gradient. Returns a handle whose `remove()` takes
   * the hook off again (as PyTorch's RemovableHandle). Hooks registered or
   * removed by a hook while backward runs take effect from the next backward.
   */
  registerHook(fn: (grad: Tensor) => Tensor | void): RemovableHandle {
    if (typeof fn !== 'function') throw new TypeError(`registerHook: hook must be a function, got ${describe(fn)}`);
    const remove = native.registerHook(own(this), (g) => {
      const result = fn(fromHandle(g));
      const h = Tensor._handleOf(result);
      if (h !== undefined) return h;
      if (result === undefined || result === null) return undefined;
      throw new TypeError(`registerHook: the hook must return a Tensor or nothing, got ${describe(result)}`);
    });
    return { remove: () => remove() };
  }
  /**
   * Makes backward() and grad() keep this non-leaf tensor's gradient in its
   * .grad (accumulated over calls, as a leaf's), as PyTorch's retain_grad.
   * The kept gradient is the one the tensor's hooks return, and after a
   * recorded in-place write it is the new value's. Does nothing on a leaf.
   * backwardAsync refuses a graph with such a tensor (it would write a .grad
   * that JS may be reading).
   */
  retainGrad(): void {
    native.retainGrad(own(this));
  }
  /** Whether backward() and grad() keep this non-leaf tensor's gradient (retainGrad). */
  get retainsGrad(): boolean {
    return native.retainsGrad(own(this));
  }
  /** The in-place version counter of the storage (bumped by every in-place write). */
  get version(): number {
    return native.version(own(this));
  }

  // ---- elementwise binary ----------------------------------------------

  add(other: TensorLike): Tensor {
    return fromHandle(native.add(own(this), operand(other)));
  }
  sub(other: TensorLike): Tensor {
    return fromHandle(native.sub(own(this), operand(other)));
  }
  mul(other: TensorLike): Tensor {
    return fromHandle(native.mul(own(this), operand(other)));
  }
  div(other: TensorLike): Tensor {
    return fromHandle(native.div(own(this), operand(other)));
  }
  /**
   * this ** exponent. Gradients flow to both sides as in PyTorch (0 for the
   * base where the exponent is 0; 0 for the exponent where the base is 0 and
   * the exponent >= 0). int32 ** negative gives 0 except for bases 1 and -1.
   */
  pow(exponent: TensorLike): Tensor {
    return fromHandle(native.pow(own(this), operand(exponent)));
  }
  /** Elementwise maximum; NaN wins; on ties the gradient is split half and half. */
  maximum(other: TensorLike): Tensor {
    return fromHandle(native.maximum(own(this), operand(other)));
  }
  /** Elementwise minimum; NaN wins; on ties the gradient is split half and half. */
  minimum(other: TensorLike): Tensor {
    return fromHandle(native.minimum(own(this), operand(other)));
  }
  /**
   * The remainder of this / other with the sign of other (the divisor), as Python's `%`
   * and torch.remainder: remainder(-5, 3) is 1. The gradient is 1 for this and
   * -floor(this / other) for other. A zero divisor gives NaN in floats; with int32
   * operands it throws a RangeError.
   */
  remainder(other: TensorLike): Tensor {
    return fromHandle(native.remainder(own(this), operand(other)));
  }
  /**
   * The remainder of this / other with the sign of this (the dividend), as C's fmod and
   * torch.fmod: fmod(-5, 3) is -2. The gradient is 1 for this and -trunc(this / other)
   * for other. A zero divisor gives NaN in floats; with int32 operands it throws a RangeError.
   */
  fmod(other: TensorLike): Tensor {
    return fromHandle(native.fmod(own(this), operand(other)));
  }
  /**
   * Elements of this tensor where `condition` is true, of `other` elsewhere (PyTorch's
   * `Tensor.where`); the same as `tg.where(condition, this, other)`.
   */
  where(condition: Tensor, other: TensorLike): Tensor {
    return fromHandle(native.where(operand(condition) as Handle, own(this), operand(other)));
  }
  /**
   * A copy with `value` where `mask` is nonzero (as torch.masked_fill, out of place). The
   * mask may have any dtype (comparisons give 1 and 0 in their operands' dtype); it and
   * this tensor broadcast together, as with PyTorch's masked_fill (the result has their
   * broadcast shape); `value` is a number or a 0-d tensor, converted to
   * this dtype (an int32 tensor truncates it toward zero). Gradients: to this tensor where
   * the mask is 0, and to a `value` tensor the sum of the gradient where it is nonzero.
   */
  maskedFill(mask: Tensor, value: number | Tensor): Tensor {
    return fromHandle(native.maskedFill(own(this), operand(mask) as Handle, operand(value)));
  }
  /**
   * Converts to another dtype (differentiable between float dtypes). Float to int32 truncates
   * toward zero; a value int32 cannot hold (NaN, ±Infinity, beyond ±2**31) throws a RangeError.
   */
  to(dtype: DType): Tensor {
    return fromHandle(native.cast(own(this), dtype));
  }

  // ---- elementwise unary ----------------------------------------------
  // neg, abs, sign, floor, ceil, round, trunc, square, relu and clamp keep
  // int32; the others compute an int32 tensor as float32 (as PyTorch).

  /** -x. */
  neg(): Tensor {
    return fromHandle(native.neg(own(this)));
  }
  /** |x|; the gradient at 0 is 0. */
  abs(): Tensor {
    return fromHandle(native.abs(own(this)));
  }
  /** -1, 0 or 1 (NaN and ±0 pass through, as Math.sign); the gradient is 0. */
  sign(): Tensor {
    return fromHandle(native.sign(own(this)));
  }
  /** The largest integer <= x. NaN, ±Infinity and ±0 pass through; int32 is returned as is (a copy); the gradient is 0. */
  floor(): Tensor {
    return fromHandle(native.floor(own(this)));
  }
  /** The smallest integer >= x; otherwise as floor. */
  ceil(): Tensor {
    return fromHandle(native.ceil(own(this)));
  }
  /**
   * The nearest integer, ties to even (as torch.round: 0.5 -> 0, 1.5 -> 2, -2.5 -> -2); otherwise as floor.
   * With `decimals` (an integer, negative for tens, hundreds...), as torch.round(x, decimals=d):
   * x·10^d rounded to an integer, then divided by 10^d, in the input's own precision (so
   * round(2.675, 2) of a float32 is 2.68 and of a float64 2.67). int32 takes only decimals 0.
   */
  round(decimals?: number): Tensor {
    return fromHandle(native.round(own(this), decimals));
  }
  /** x rounded toward zero (its integer part); otherwise as floor. */
  trunc(): Tensor {
    return fromHandle(native.trunc(own(this)));
  }
  /** x². */
  square(): Tensor {
    return fromHandle(native.square(own(this)));
  }
  /** max(x, 0); NaN passes through. */
  relu(): Tensor {
    return fromHandle(native.relu(own(this)));
  }
  /**
   * min(max(x, min), max). Either bound may be left out (undefined or null),
   * not both; min > max gives max everywhere; a NaN bound gives NaN
   * everywhere (gradient 0). The gradient is 1 inside [min, max] (inclusive)
   * and 0 outside. int32 stays int32 when the bounds are integers, else the
   * result is float32.
   */
  clamp(min?: number | null, max?: number | null): Tensor {
    return fromHandle(native.clamp(own(this), min, max));
  }
  /** e^x. */
  exp(): Tensor {
    return fromHandle(native.exp(own(this)));
  }
  /** Natural logarithm. */
  log(): Tensor {
    return fromHandle(native.log(own(this)));
  }
  /** log(1 + x), accurate near 0. */
  log1p(): Tensor {
    return fromHandle(native.log1p(own(this)));
  }
  /** e^x - 1, accurate near 0. */
  expm1(): Tensor {
    return fromHandle(native.expm1(own(this)));
  }
  sqrt(): Tensor {
    return fromHandle(native.sqrt(own(this)));
  }
  /** 1 / sqrt(x). */
  rsqrt(): Tensor {
    return fromHandle(native.rsqrt(own(this)));
  }
  sin(): Tensor {
    return fromHandle(native.sin(own(this)));
  }
  cos(): Tensor {
    return fromHandle(native.cos(own(this)));
  }
  tanh(): Tensor {
    return fromHandle(native.tanh(own(this)));
  }
  /** 1 / (1 + e^-x), computed without overflow for any x. */
  sigmoid(): Tensor {
    return fromHandle(native.sigmoid(own(this)));
  }
  /** 1 / x. */
  reciprocal(): Tensor {
    return fromHandle(native.reciprocal(own(this)));
  }
  /** x for x > 0, else negativeSlope·x. */
  leakyRelu(negativeSlope = 0.01): Tensor {
    return fromHandle(native.leakyRelu(own(this), negativeSlope));
  }
  /** x for x > 0, else alpha·(e^x - 1). */
  elu(alpha = 1): Tensor {
    return fromHandle(native.elu(own(this), alpha));
  }
  /** x·Φ(x) (Φ the standard normal CDF), or its tanh approximation. */
  gelu(options: GeluOptions = {}): Tensor {
    checkOptions(options, 'gelu', "{ approximate: 'tanh' }", ['approximate']);
    return fromHandle(native.gelu(own(this), options.approximate ?? 'none'));
  }
  /** x·sigmoid(x) (also called swish). */
  silu(): Tensor {
    return fromHandle(native.silu(own(this)));
  }
  /** log(1 + e^(beta·x)) / beta; x itself where beta·x > threshold (as PyTorch). */
  softplus(beta = 1, threshold = 20): Tensor {
    return fromHandle(native.softplus(own(this), beta, threshold));
  }

  // ---- in place --------------------------------------------------------
  // Recorded by autograd as PyTorch's add_, sub_, mul_ and copy_: with grad mode on and
  // this tensor or the operand requiring grad, this tensor's history becomes the write
  // (the gradient reaches both what it held and the operand). A write into a view also
  // rebuilds the histories of the tensor it views and of that tensor's other live views,
  // as PyTorch's CopySlices. Refused then: a leaf that requires grad or a view of one (write
  // it inside noGrad(), as an optimizer step does), and a view made inside noGrad() of a
  // tensor that requires grad.

  /** this += other (broadcast to this shape), in place. */
  addInPlace(other: TensorLike): this {
    native.addInPlace(own(this), operand(other));
    return this;
  }
  /** this -= other (broadcast to this shape), in place. */
  subInPlace(other: TensorLike): this {
    native.subInPlace(own(this), operand(other));
    return this;
  }
  /** this *= other (broadcast to this shape), in place. */
  mulInPlace(other: TensorLike): this {
    native.mulInPlace(own(this), operand(other));
    return this;
  }
  /**
   * Copies `source`'s elements (broadcast to this shape) into this tensor, converted to its
   * dtype: into int32, floats are truncated toward zero, as PyTorch's copy_.
   */
  copyFrom(source: TensorLike): this {
    native.copyFrom(own(this), operand(source));
    return this;
  }
  /**
   * Sets every element to `value`: a number or a 0-d tensor (as PyTorch's fill_). An int32
   * tensor takes a number truncated toward zero, as full() and PyTorch do; one int32
   * cannot hold (NaN, ±Infinity, beyond ±2**31) throws a RangeError.
   */
  fill(value: number | Tensor): this {
    if (typeof value !== 'number' && !isTensor(value))
      throw new TypeError(`fill: value must be a number or a 0-d tensor, got ${describe(value)}`);
    native.fill(own(this), operand(value));
    return this;
  }
  /** Sets every element to zero. */
  zero(): this {
    return this.fill(0);
  }

  // ---- comparisons and selection ---------------------------------------
  // Results hold 1 (true) and 0 (false) in the promoted dtype of the operands,
  // so a mask multiplies directly: x.mul(x.gt(0)). Not differentiable.

  /** 1 where this == other, else 0. */
  eq(other: TensorLike): Tensor {
    return fromHandle(native.eq(own(this), operand(other)));
  }
  /** 1 where this != other (NaN != NaN), else 0. */
  ne(other: TensorLike): Tensor {
    return fromHandle(native.ne(own(this), operand(other)));
  }
  /** 1 where this < other, else 0. */
  lt(other: TensorLike): Tensor {
    return fromHandle(native.lt(own(this), operand(other)));
  }
  /** 1 where this <= other, else 0. */
  le(other: TensorLike): Tensor {
    return fromHandle(native.le(own(this), operand(other)));
  }
  /** 1 where this > other, else 0. */
  gt(other: TensorLike): Tensor {
    return fromHandle(native.gt(own(this), operand(other)));
  }
  /** 1 where this >= other, else 0. */
  ge(other: TensorLike): Tensor {
    return fromHandle(native.ge(own(this), operand(other)));
  }

  // ---- reductions ------------------------------------------------------

  /**
   * Sum over all elements, or over `dim` (keepDim keeps reduced dims as size 1). An int32
   * tensor's sum is int32 (PyTorch widens to int64): one that int32 cannot hold throws.
   */
  sum(dim?: Dims, keepDim = false): Tensor {
    return fromHandle(native.sum(own(this), plainArray(dim), keepDim));
  }
  /** Mean over all elements or over `dim` (float dtypes only; NaN for an empty reduction). */
  mean(dim?: Dims, keepDim = false): Tensor {
    return fromHandle(native.mean(own(this), plainArray(dim), keepDim));
  }
  /**
   * Product over all elements or over `dim` (1 for an empty reduction). An int32 product that
   * int32 cannot hold throws, as sum's does.
   */
  prod(dim?: Dims, keepDim = false): Tensor {
    return fromHandle(native.prod(own(this), plainArray(dim), keepDim));
  }
  /**
   * Largest value over all elements or over `dim` (values only, like PyTorch's
   * amax; NaN propagates). The gradient is split evenly among tied maxima.
   */
  max(dim?: Dims, keepDim = false): Tensor {
    return fromHandle(native.max(own(this), plainArray(dim), keepDim));
  }
  /** Smallest value over all elements or over `dim` (like amin; ties share the gradient). */
  min(dim?: Dims, keepDim = false): Tensor {
    return fromHandle(native.min(own(this), plainArray(dim), keepDim));
  }
  /** int32 index of the first maximum along `dim`, or the flat index over all elements. */
  argmax(dim?: number, keepDim = false): Tensor {
    return fromHandle(native.argmax(own(this), dim, keepDim));
  }
  /** int32 index of the first minimum along `dim`, or the flat index over all elements. */
  argmin(dim?: number, keepDim = false): Tensor {
    return fromHandle(native.argmin(own(this), dim, keepDim));
  }
  /** Variance over all elements or over `dim`, divided by max(0, N - correction) (correction 1 by default). */
  var(dim?: Dims, options: VarOptions = {}): Tensor {
    varOptions(options, 'var');
    return fromHandle(native.var(own(this), plainArray(dim), options.correction ?? 1, options.keepDim ?? false));
  }
  /** Standard deviation: the square root of var() (gradient 0 where it is 0). */
  std(dim?: Dims, options: VarOptions = {}): Tensor {
    varOptions(options, 'std');
    return fromHandle(native.std(own(this), plainArray(dim), options.correction ?? 1, options.keepDim ?? false));
  }
  /** log(sum(exp(x))) over `dim`, computed stably (shifted by the maximum). */
  logsumexp(dim: Dims, keepDim = false): Tensor {
    return fromHandle(native.logsumexp(own(this), plainArray(dim), keepDim));
  }
  /**
   * Vector p-norm over all elements or over `dim`: p = 2 (default, also 'fro'),
   * 1, Infinity (max |x|), -Infinity (min |x|), 0 (count of nonzeros) or any other number.
   */
  norm(p: number | 'fro' = 2, dim?: Dims, keepDim = false): Tensor {
    return fromHandle(native.norm(own(this), p, plainArray(dim), keepDim));
  }

  /**
   * Running sums along `dim` (negative counts from the end), in the input's shape.
   * float32 accumulates in double, each output rounded once (PyTorch's CPU result, bit for bit).
   * An int32 tensor's cumsum is int32 (PyTorch widens to int64): a running sum int32 cannot hold throws.
   */
  cumsum(dim: number): Tensor {
    return fromHandle(native.cumsum(own(this), dim));
  }
  /**
   * Running products along `dim`, accumulated as cumsum's (double for float32; an int32 running
   * product int32 cannot hold throws). The gradient is exact where the input holds zeros, as PyTorch's.
   */
  cumprod(dim: number): Tensor {
    return fromHandle(native.cumprod(own(this), dim));
  }
  /**
   * The elements sorted along `dim` (default -1), ascending unless `descending`, and the int32
   * index along `dim` each came from. NaN sorts above Infinity (first when descending), -0 and
   * 0 are equal, and equal elements keep their order: every sort is stable (`stable` is
   * accepted for PyTorch's signature). The gradient of values goes back to those positions.
   */
  sort(options: SortOptions = {}): SortResult {
    const [dim, descending] = sortOptions(options, 'sort');
    const [values, indices] = native.sort(own(this), dim, descending);
    return { values: fromHandle(values), indices: fromHandle(indices) };
  }
  /** The int32 indices that sort this tensor along `dim`: sort(options).indices (stable, NaN last ascending). */
  argsort(options: SortOptions = {}): Tensor {
    const [dim, descending] = sortOptions(options, 'argsort');
    return fromHandle(native.argsort(own(this), dim, descending));
  }
  /**
   * The `k` largest elements along `dim` (default -1), or the smallest when `largest` is false,
   * in sorted order, and their int32 indices. NaN counts as the largest value. Equal elements
   * come in index order (PyTorch leaves their order unspecified). The result is sorted whatever
   * `sorted` says (PyTorch then leaves the order unspecified). k must be in [0, size of dim].
   */
  topk(k: number, options: TopkOptions = {}): SortResult {
    checkOptions(options, 'topk', '{ dim: -1, largest: false }', ['dim', 'largest', 'sorted']);
    const largest = checkBoolean(options.largest, 'topk', 'largest', true);
    checkBoolean(options.sorted, 'topk', 'sorted', true);
    const [values, indices] = native.topk(own(this), k, options.dim ?? -1, largest);
    return { values: fromHandle(values), indices: fromHandle(indices) };
  }

  // ---- shape -----------------------------------------------------------

  /** The same elements in a new shape (one entry may be -1); a view when the layout allows. */
  reshape(...shape: number[] | [readonly number[]]): Tensor {
    const s = shapeArgs(shape);
    return fromHandle(native.reshape(own(this), s));
  }
  /** A broadcast view with size-1 dims repeated (-1 keeps a dim). */
  expand(...shape: number[] | [readonly number[]]): Tensor {
    const s = shapeArgs(shape);
    return fromHandle(native.expand(own(this), s));
  }
  /** A view with dims `dim0` and `dim1` swapped. */
  transpose(dim0: number, dim1: number): Tensor {
    return fromHandle(native.transpose(own(this), dim0, dim1));
  }
  /** A view with the dims in the given order. */
  permute(...dims: number[] | [readonly number[]]): Tensor {
    const d = shapeArgs(dims);
    return fromHandle(native.permute(own(this), d));
  }
  /**
   * A copy tiled `sizes[k]` times along each dim k, as PyTorch's repeat: repeat(2, 3) of shape
   * [a, b] has shape [2a, 3b]. More sizes than dims add leading dims; sizes of 0 give an empty
   * tensor; fewer sizes than dims is a RangeError. The gradient sums over the tiles.
   */
  repeat(...sizes: number[] | [readonly number[]]): Tensor {
    return fromHandle(native.repeat(own(this), shapeArgs(sizes)));
  }
  /** This tensor if contiguous, else a contiguous copy. */
  contiguous(): Tensor {
    return fromHandle(native.contiguous(own(this)));
  }
  /** A copy with its own storage (differentiable). */
  clone(): Tensor {
    return fromHandle(native.clone(own(this)));
  }
  /** As reshape, but always a view sharing storage; a RangeError naming both shapes when the layout forbids it. */
  view(...shape: number[] | [readonly number[]]): Tensor {
    const s = shapeArgs(shape);
    return fromHandle(native.view(own(this), s));
  }
  /** Merges dims `startDim`..`endDim` into one (a view when the layout allows; a 0-d tensor becomes shape [1]). */
  flatten(startDim = 0, endDim = -1): Tensor {
    return fromHandle(native.flatten(own(this), startDim, endDim));
  }
  /** A view without size-1 dims: all of them, or those in `dim` (listed dims of other sizes stay). */
  squeeze(dim?: Dims): Tensor {
    return fromHandle(native.squeeze(own(this), plainArray(dim)));
  }
  /** A view with a size-1 dim inserted at `dim` (in [-ndim-1, ndim]). */
  unsqueeze(dim: number): Tensor {
    return fromHandle(native.unsqueeze(own(this), dim));
  }
  /**
   * A view with all dims reversed (as PyTorch's `.T`, which still allows any
   * number of dims; use `mT` to transpose batches of matrices).
   */
  get T(): Tensor {
    if (this._disposed) throw new TapegradError('T: input is a disposed tensor');
    const dims = Array.from({ length: this.ndim }, (_, i) => this.ndim - 1 - i);
    return fromHandle(native.permute(own(this), dims));
  }
  /** A view with the last two dims swapped (a batch of transposed matrices). */
  get mT(): Tensor {
    if (this._disposed) throw new TapegradError('mT: input is a disposed tensor');
    if (this.ndim < 2)
      throw new RangeError(`mT: the tensor must have at least 2 dims, got shape [${this.shape.join(', ')}]`);
    return fromHandle(native.transpose(own(this), -2, -1));
  }
  /**
   * The lower triangle of each matrix in the last two dims, other elements zeroed: element
   * (i, j) is kept where j - i <= diagonal (0: the main diagonal and below; positive: more
   * diagonals above it; negative: fewer). A copy; the gradient is tril of the gradient.
   */
  tril(diagonal = 0): Tensor {
    return fromHandle(native.tril(own(this), diagonal));
  }
  /** The upper triangle: element (i, j) is kept where j - i >= diagonal; otherwise as tril. */
  triu(diagonal = 0): Tensor {
    return fromHandle(native.triu(own(this), diagonal));
  }
  /** A broadcast view of this tensor as `shape` (the same as expand). */
  broadcastTo(...shape: number[] | [readonly number[]]): Tensor {
    const s = shapeArgs(shape);
    return fromHandle(native.broadcastTo(own(this), s));
  }
  /**
   * A view of `start:end:step` along `dim`, as Python slicing: negative bounds
   * count from the end, bounds past either end (±Infinity too) are clamped, `step` must be positive.
   */
  slice(dim: number, start?: number | null, end?: number | null, step = 1): Tensor {
    return fromHandle(native.slice(own(this), dim, start, end, step));
  }
  /** A view of `length` elements from `start` along `dim` (a negative start counts from the end; no clamping). */
  narrow(dim: number, start: number, length: number): Tensor {
    return fromHandle(native.narrow(own(this), dim, start, length));
  }
  /** Views of pieces along `dim`: of size `splitSizeOrSections` (the last may be smaller), or of the listed sizes. */
  split(splitSizeOrSections: number | readonly number[], dim = 0): Tensor[] {
    return native.split(own(this), plainArray(splitSizeOrSections), dim).map(fromHandle);
  }
  /** Views of at most `chunks` equal pieces along `dim` (the last may be smaller; there may be fewer). */
  chunk(chunks: number, dim = 0): Tensor[] {
    return native.chunk(own(this), chunks, dim).map(fromHandle);
  }
  /** The entries `index[i]` along `dim` (index: int32, 0-d or 1-D). */
  indexSelect(dim: number, index: Tensor): Tensor {
    return fromHandle(native.indexSelect(own(this), dim, operand(index)));
  }
  /** out[i][j] = this[i][index[i][j]] for dim 1 (index: int32 with this tensor's number of dims). */
  gather(dim: number, index: Tensor): Tensor {
    return fromHandle(native.gather(own(this), dim, operand(index)));
  }
  /** A copy with src[i][j] added at [index[i][j]][j] for dim 0 (out of place; differentiable in this and src). */
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return fromHandle(native.scatterAdd(own(this), dim, operand(index), operand(src)));
  }

  // ---- linear algebra --------------------------------------------------

  /**
   * Matrix product with PyTorch's rules: 1-D·1-D is a dot product, a 1-D
   * operand is a row (left) or a column (right) whose dim is then dropped,
   * and N-D operands are stacks of matrices with broadcast batch dims.
   * Both operands must have the same dtype (int32 works, without gradients).
   */
  matmul(other: Tensor): Tensor {
    return fromHandle(native.matmul(own(this), operand(other) as Handle));
  }
  /** Dot product of two 1-D tensors of the same size (a 0-d tensor). */
  dot(other: Tensor): Tensor {
    return fromHandle(native.dot(own(this), operand(other) as Handle));
  }
  /** Outer product of two 1-D tensors: out[i][j] = this[i] * other[j]. */
  outer(other: Tensor): Tensor {
    return fromHandle(native.outer(own(this), operand(other) as Handle));
  }
}

setTensorCheck(isTensor);

// The elements toString shows, as PyTorch's get_summarized_data picks them:
// the first and last EDGE_ITEMS along each summarizedDim, else all of them. Cut out natively (views and a small cat,
// without recording a graph), so that printing a large tensor, or an
// expanded view of more elements than memory holds, copies only those.
function summarizedData(h: Handle, shape: readonly number[]): TypedArray {
  let numel = 1;
  for (const s of shape) numel *= s;
  if (!shape.some((s) => summarizedDim(s, numel))) return native.data(h);
  const previous = native.isGradEnabled();
  native.setGradEnabled(false);
  const made: Handle[] = [];
  try {
    let cur = h;
    shape.forEach((size, d) => {
      if (!summarizedDim(size, numel)) return;
      const head = native.narrow(cur, d, 0, EDGE_ITEMS);
      made.push(head);
      const tail = native.narrow(cur, d, size - EDGE_ITEMS, EDGE_ITEMS);
      made.push(tail);
      cur = native.cat([head, tail], d);
      made.push(cur);
    });
    return native.data(cur);
  } finally {
    for (const m of made) native.dispose(m);
    native.setGradEnabled(previous);
  }
}

// var(0, 0) or var(0, { unbiased: false }) (PyTorch's spellings) would
// otherwise keep correction 1, silently.
function varOptions(options: VarOptions, op: string): void {
  checkOptions(options, op, '{ correction: 0, keepDim: true }', ['correction', 'keepDim']);
}

/** Options of sort() and argsort(). */
export interface SortOptions {
  /** The dim to sort along (default -1). */
  dim?: number;
  /** Largest first (default false). */
  descending?: boolean;
  /** Accepted for PyTorch's signature: every sort is stable. */
  stable?: boolean;
}

/** Options of topk(). */
export interface TopkOptions {
  /** The dim to pick along (default -1). */
  dim?: number;
  /** The k largest (default true), else the k smallest. */
  largest?: boolean;
  /** Accepted for PyTorch's signature: the result is always sorted. */
  sorted?: boolean;
}

/** What sort() and topk() return: the values, and the int32 index along the dim each came from. */
export interface SortResult {
  values: Tensor;
  indices: Tensor;
}

function sortOptions(options: SortOptions, op: string): [number, boolean] {
  checkOptions(options, op, '{ dim: -1, descending: true }', ['dim', 'descending', 'stable']);
  checkBoolean(options.stable, op, 'stable', false);
  return [options.dim ?? -1, checkBoolean(options.descending, op, 'descending', false)];
}

/** Options of var() and std(). */
export interface VarOptions {
  /** Subtracted from the element count in the divisor: 1 (default) is Bessel's correction, 0 the population value. */
  correction?: number;
  keepDim?: boolean;
}
