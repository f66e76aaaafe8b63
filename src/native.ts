// The only file that loads the addon. It types the addon's exports; every
// other module calls the native layer through `native`.
import * as path from 'node:path';

/** An opaque reference to a native tensor. */
export type Handle = { readonly __tapegradHandle: unique symbol };
/** A recorded forward pass (traceEnd). */
export type TraceHandle = { readonly __tapegradTrace: unique symbol };
export type DTypeName = 'float32' | 'float64' | 'int32';
type Dims = number | readonly number[] | undefined;
type Operand = Handle | number;

export interface NativeAddon {
  setErrorClass(ctor: new (message: string) => Error): void;
  // tensor
  fromData(data: Float32Array | Float64Array | Int32Array, shape: readonly number[], dtype: DTypeName, op: string): Handle;
  full(shape: readonly number[], value: number, dtype: DTypeName, op: string): Handle;
  /** Without a dtype: int32 for whole-number arguments, else float32. */
  arange(start: number, end: number, step: number, dtype: DTypeName | undefined): Handle;
  linspace(start: number, end: number, steps: number, dtype: DTypeName): Handle;
  eye(n: number, m: number, dtype: DTypeName): Handle;
  rand(shape: readonly number[], dtype: DTypeName): Handle;
  randn(shape: readonly number[], dtype: DTypeName): Handle;
  randint(low: number, high: number, shape: readonly number[], dtype: DTypeName): Handle;
  manualSeed(seed: number): void;
  shape(h: Handle): number[];
  dtype(h: Handle): DTypeName;
  strides(h: Handle): number[];
  isContiguous(h: Handle): boolean;
  data(h: Handle): Float32Array | Float64Array | Int32Array;
  dispose(h: Handle): void;
  /** Frees the handle's tensor when `owner` is garbage-collected (handles have no finalizer of their own). */
  adopt(owner: object, h: Handle): void;
  setCacheLimit(bytes: number): void;
  emptyCache(): void;
  backendInfo(): { isa: string; detectedIsa: string; version: string; buildType: string };
  memory(): {
    liveTensors: number; liveBytes: number; peakBytes: number; liveBuffers: number; cachedBytes: number; cacheLimitBytes: number;
    scratchBytes: number;
  };
  sumKernel(data: Float32Array | Float64Array): number;
  // autograd
  requiresGrad(h: Handle): boolean;
  setRequiresGrad(h: Handle, value: boolean): void;
  isLeaf(h: Handle): boolean;
  gradFn(h: Handle): string | null;
  getGrad(h: Handle): Handle | null;
  hasGrad(h: Handle): boolean;
  setGrad(h: Handle, g: Handle | null): void;
  /** Whether a running async job holds the tensor's memory (writes, dispose and setGrad would throw). */
  inUse(h: Handle): boolean;
  detach(h: Handle): Handle;
  version(h: Handle): number;
  backward(roots: Handle[], grads: (Handle | null)[] | null, retainGraph: boolean, createGraph: boolean): void;
  backwardAsync(roots: Handle[], grads: (Handle | null)[] | null, retainGraph: boolean): Promise<void>;
  grad(
    outputs: Handle[], inputs: Handle[], grads: (Handle | null)[] | null,
    retainGraph: boolean, createGraph: boolean, allowUnused: boolean,
  ): (Handle | null)[];
  isGradEnabled(): boolean;
  setGradEnabled(enabled: boolean): void;
  /** Returns the function that removes the hook. */
  registerHook(h: Handle, fn: (grad: Handle) => Handle | undefined): () => void;
  retainGrad(h: Handle): void;
  retainsGrad(h: Handle): boolean;
  // elementwise
  add(a: Operand, b: Operand): Handle;
  sub(a: Operand, b: Operand): Handle;
  mul(a: Operand, b: Operand): Handle;
  div(a: Operand, b: Operand): Handle;
  addInPlace(a: Handle, b: Operand): void;
  subInPlace(a: Handle, b: Operand): void;
  mulInPlace(a: Handle, b: Operand): void;
  copyFrom(a: Handle, b: Operand): void;
  fill(a: Handle, value: Operand): void;
  cast(a: Handle, dtype: DTypeName): Handle;
  pow(a: Operand, b: Operand): Handle;
  maximum(a: Operand, b: Operand): Handle;
  minimum(a: Operand, b: Operand): Handle;
  remainder(a: Operand, b: Operand): Handle;
  fmod(a: Operand, b: Operand): Handle;
  eq(a: Operand, b: Operand): Handle;
  ne(a: Operand, b: Operand): Handle;
  lt(a: Operand, b: Operand): Handle;
  le(a: Operand, b: Operand): Handle;
  gt(a: Operand, b: Operand): Handle;
  ge(a: Operand, b: Operand): Handle;
  where(cond: Handle, a: Operand, b: Operand): Handle;
  maskedFill(a: Handle, mask: Handle, value: Operand): Handle;
  // unary (elementwise helper: add unary ops here)
  neg(a: Handle): Handle;
  abs(a: Handle): Handle;
  sign(a: Handle): Handle;
  floor(a: Handle): Handle;
  ceil(a: Handle): Handle;
  round(a: Handle, decimals?: number): Handle;
  trunc(a: Handle): Handle;
  square(a: Handle): Handle;
  relu(a: Handle): Handle;
  exp(a: Handle): Handle;
  log(a: Handle): Handle;
  log1p(a: Handle): Handle;
  expm1(a: Handle): Handle;
  sqrt(a: Handle): Handle;
  rsqrt(a: Handle): Handle;
  sin(a: Handle): Handle;
  cos(a: Handle): Handle;
  tanh(a: Handle): Handle;
  sigmoid(a: Handle): Handle;
  reciprocal(a: Handle): Handle;
  silu(a: Handle): Handle;
  leakyRelu(a: Handle, negativeSlope: number): Handle;
  elu(a: Handle, alpha: number): Handle;
  gelu(a: Handle, approximate: 'none' | 'tanh'): Handle;
  softplus(a: Handle, beta: number, threshold: number): Handle;
  clamp(a: Handle, min: number | null | undefined, max: number | null | undefined): Handle;
  // reduce
  sum(a: Handle, dims: Dims, keepDim: boolean): Handle;
  mean(a: Handle, dims: Dims, keepDim: boolean): Handle;
  prod(a: Handle, dims: Dims, keepDim: boolean): Handle;
  max(a: Handle, dims: Dims, keepDim: boolean): Handle;
  min(a: Handle, dims: Dims, keepDim: boolean): Handle;
  argmax(a: Handle, dim: number | undefined, keepDim: boolean): Handle;
  argmin(a: Handle, dim: number | undefined, keepDim: boolean): Handle;
  var(a: Handle, dims: Dims, correction: number, keepDim: boolean): Handle;
  std(a: Handle, dims: Dims, correction: number, keepDim: boolean): Handle;
  logsumexp(a: Handle, dims: Dims, keepDim: boolean): Handle;
  norm(a: Handle, p: number | 'fro', dims: Dims, keepDim: boolean): Handle;
  cumsum(a: Handle, dim: number): Handle;
  cumprod(a: Handle, dim: number): Handle;
  /** [values, indices] */
  sort(a: Handle, dim: number, descending: boolean): [Handle, Handle];
  argsort(a: Handle, dim: number, descending: boolean): Handle;
  /** [values, indices] */
  topk(a: Handle, k: number, dim: number, largest: boolean): [Handle, Handle];
  // shape
  reshape(a: Handle, shape: readonly number[]): Handle;
  expand(a: Handle, shape: readonly number[]): Handle;
  transpose(a: Handle, dim0: number, dim1: number): Handle;
  permute(a: Handle, dims: readonly number[]): Handle;
  repeat(a: Handle, sizes: readonly number[]): Handle;
  contiguous(a: Handle): Handle;
  clone(a: Handle): Handle;
  view(a: Handle, shape: readonly number[]): Handle;
  flatten(a: Handle, startDim: number, endDim: number): Handle;
  squeeze(a: Handle, dims: Dims): Handle;
  unsqueeze(a: Handle, dim: number): Handle;
  broadcastTo(a: Handle, shape: readonly number[]): Handle;
  slice(a: Handle, dim: number, start: number | null | undefined, end: number | null | undefined, step: number): Handle;
  narrow(a: Handle, dim: number, start: number, length: number): Handle;
  split(a: Handle, splitSizeOrSections: number | readonly number[], dim: number): Handle[];
  chunk(a: Handle, chunks: number, dim: number): Handle[];
  cat(tensors: readonly Operand[], dim: number): Handle;
  stack(tensors: readonly Operand[], dim: number): Handle;
  tril(a: Handle, diagonal: number): Handle;
  triu(a: Handle, diagonal: number): Handle;
  indexSelect(a: Handle, dim: number, index: Operand): Handle;
  gather(a: Handle, dim: number, index: Operand): Handle;
  scatterAdd(a: Handle, dim: number, index: Operand, src: Operand): Handle;
  // linalg
  matmul(a: Handle, b: Handle): Handle;
  dot(a: Handle, b: Handle): Handle;
  outer(a: Handle, b: Handle): Handle;
  // reluAfter: ReLU applied to the result in the same op, one node 'linearRelu' (nn.Sequential's Linear then ReLU).
  linear(x: Handle, weight: Handle, bias: Handle | null, reluAfter?: boolean): Handle;
  // nn
  softmax(x: Handle, dim: number): Handle;
  logSoftmax(x: Handle, dim: number): Handle;
  crossEntropy(
    input: Handle, target: Handle, weight: Handle | null, ignoreIndex: number, labelSmoothing: number, reduction: string,
  ): Handle;
  nllLoss(input: Handle, target: Handle, weight: Handle | null, ignoreIndex: number, reduction: string): Handle;
  mseLoss(input: Handle, target: Handle, reduction: string): Handle;
  l1Loss(input: Handle, target: Handle, reduction: string): Handle;
  huberLoss(input: Handle, target: Handle, delta: number, reduction: string): Handle;
  binaryCrossEntropy(input: Handle, target: Handle, weight: Handle | null, reduction: string): Handle;
  binaryCrossEntropyWithLogits(
    input: Handle, target: Handle, weight: Handle | null, posWeight: Handle | null, reduction: string,
  ): Handle;
  layerNorm(x: Handle, normalizedShape: readonly number[], weight: Handle | null, bias: Handle | null, eps: number): Handle;
  batchNorm(x: Handle, weight: Handle | null, bias: Handle | null, eps: number): [Handle, Handle, Handle];
  dropout(x: Handle, p: number, training: boolean): Handle;
  embedding(indices: Handle, weight: Handle, paddingIdx: number | null | undefined, maxNorm?: number | null,
    normType?: number): Handle;
  maxPool2d(input: Handle, kH: number, kW: number, strideH: number, strideW: number, padH: number, padW: number,
    dilationH: number, dilationW: number, ceilMode: boolean): [Handle, Handle];
  avgPool2d(input: Handle, kH: number, kW: number, strideH: number, strideW: number, padH: number, padW: number,
    ceilMode: boolean, countIncludePad: boolean, divisorOverride: number | null | undefined): Handle;
  adaptiveAvgPool2d(input: Handle, outH: number, outW: number): Handle;
  pad(input: Handle, widths: number[], value: number): Handle;
  oneHot(indices: Handle, numClasses: number): Handle;
  // Pairs are spread as (height, width).
  unfold(x: Handle, kH: number, kW: number, dilationH: number, dilationW: number, padH: number, padW: number,
    strideH: number, strideW: number): Handle;
  fold(x: Handle, outH: number, outW: number, kH: number, kW: number, dilationH: number, dilationW: number,
    padH: number, padW: number, strideH: number, strideW: number): Handle;
  conv2d(x: Handle, weight: Handle, bias: Handle | null, strideH: number, strideW: number,
    paddingMode: 'explicit' | 'same' | 'valid', padH: number, padW: number, dilationH: number, dilationW: number,
    groups: number): Handle;
  scaledDotProductAttention(
    query: Handle, key: Handle, value: Handle, attnMask: Handle | null, isCausal: boolean, scale: number | null,
  ): Handle;
  // optim (gradients are read from each parameter's .grad)
  sgdStep(params: Handle[], momentumBuffers: Handle[] | null, options: object): void;
  adamStep(params: Handle[], expAvg: Handle[], expAvgSq: Handle[], maxExpAvgSq: Handle[] | null, options: object): void;
  rmspropStep(params: Handle[], squareAvg: Handle[], gradAvg: Handle[] | null, momentumBuffers: Handle[] | null, options: object): void;
  adagradStep(params: Handle[], sums: Handle[], options: object): void;
  leavesReached(loss: Handle, tensors: Handle[]): boolean[];
  trainStepAsync(loss: Handle, updates: [string, unknown[]][], threads: number, alsoLock: Handle[]): Promise<void>;
  // Traced forward passes (native/binding/trace.h): the op calls between
  // traceBegin and traceEnd, replayable off the JS thread.
  traceBegin(inputs: Handle[]): void;
  traceEnd(outputs: Handle[]): { trace: TraceHandle; reason: null } | { trace: null; reason: string };
  traceAbort(): void;
  _traceRun(trace: TraceHandle, inputs: Handle[]): Handle[];
  tracedStepAsync(trace: TraceHandle, inputs: Handle[], updates: [string, unknown[]][], threads: number): Promise<Handle[]>;
  gradNorm(params: Handle[], normType: number): number;
  gradScale(params: Handle[], coef: number): void;
  gradClamp(params: Handle[], clipValue: number): void;
  // runtime (names starting with `_` are internal hooks for tests and benchmarks, not exported by the package)
  setNumThreads(n: number): void;
  getNumThreads(): number;
  /**
   * Internal test hook, not part of the package API: C = alpha·A·B + beta·C
   * through the active GEMM kernel on views of typed arrays (offset, row
   * stride, column stride each), in place on `c`, which it returns.
   */
  _testGemm<T extends Float32Array | Float64Array>(
    dtype: 'float32' | 'float64', m: number, n: number, k: number,
    alpha: number, a: T, aOffset: number, aRowStride: number, aColStride: number,
    b: T, bOffset: number, bRowStride: number, bColStride: number,
    beta: number, c: T, cOffset: number, cRowStride: number, cColStride: number,
  ): T;
  /**
   * Internal test hook, not part of the package API: C_e = alpha·A_e·B_e + beta·C_e for e < count
   * through the active batched GEMM kernel, in place on `c`. Each operand's offsets are one number
   * (one matrix shared by every element) or an array of `count` (one matrix per element); exactly
   * one of A and B is meant to be shared. Returns whether the kernel ran the products (false: it
   * wrote nothing and leaves them to one GEMM each).
   */
  _testGemmBatch<T extends Float32Array | Float64Array>(
    dtype: 'float32' | 'float64', count: number, m: number, n: number, k: number,
    alpha: number, a: T, aOffsets: number | readonly number[], aRowStride: number, aColStride: number,
    b: T, bOffsets: number | readonly number[], bRowStride: number, bColStride: number,
    beta: number, c: T, cOffsets: readonly number[], cRowStride: number, cColStride: number,
  ): boolean;
  /** Internal benchmark hook: GFLOP/s of independent FMA chains on `threads` threads. */
  _fmaPeak(dtype: 'float32' | 'float64', threads: number, seconds: number): number;
  /**
   * Internal test hook: sums i + j over i in [0, n) split across the pool and j in a nested region over
   * [0, inner); index `throwAt` throws. Returns [sum, chunks, distinct threads].
   */
  _testParallelFor(n: number, grain: number, inner: number, throwAt: number): [number, number, number];
  /** Internal switch for benchmarks and tests: how backward uses the pool. Returns the previous strategy. */
  _setBackwardStrategy(strategy: 'hybrid' | 'intra' | 'inter'): 'hybrid' | 'intra' | 'inter';
  /** Internal test hook: how many backward nodes have run side by side with others so far, process-wide. */
  _backwardGroupedNodes(): number;
  /** Internal test hook: how many matmul backwards have handed their two GEMMs to two pool threads so far, process-wide. */
  _backwardSideBySide(): number;
  /** Internal test hook: the most tile blocks a GEMM (packed or direct path) was split into for the pool since the last call (0: none); starts again from 0. */
  _gemmMostBlocks(): number;
  /** Internal benchmark hook: seconds of the fastest of `reps` GEMM calls (row-major operands). */
  _timeGemm(dtype: 'float32' | 'float64', m: number, n: number, k: number, layout: 'nn' | 'tn' | 'nt' | 'tt', reps: number): number;
}

function load(): NativeAddon {
  // TAPEGRAD_NATIVE points at another build (the sanitizer build in tests).
  const override = process.env.TAPEGRAD_NATIVE;
  if (override) return require(path.resolve(override)) as NativeAddon;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => NativeAddon;
  return nodeGypBuild(path.join(__dirname, '..'));
}

export const native: NativeAddon = load();
