// The only file that loads the addon. It types the addon's exports; every
// other module calls the native layer through `native`.
import * as path from 'node:path';

/** An opaque reference to a native tensor. */
export type Handle = { readonly __tapegradHandle: unique symbol };
export type DTypeName = 'float32' | 'float64' | 'int32';
type Dims = number | readonly number[] | undefined;
type Operand = Handle | number;

export interface NativeAddon {
  setErrorClass(ctor: new (message: string) => Error): void;
  // tensor
  fromData(data: Float32Array | Float64Array | Int32Array, shape: readonly number[], dtype: DTypeName, op: string): Handle;
  full(shape: readonly number[], value: number, dtype: DTypeName, op: string): Handle;
  arange(start: number, end: number, step: number, dtype: DTypeName): Handle;
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
  backendInfo(): { isa: string; detectedIsa: string; version: string; buildType: string };
  memory(): { liveTensors: number; liveBytes: number; peakBytes: number; liveBuffers: number };
  sumKernel(data: Float32Array | Float64Array): number;
  // autograd
  requiresGrad(h: Handle): boolean;
  setRequiresGrad(h: Handle, value: boolean): void;
  isLeaf(h: Handle): boolean;
  gradFn(h: Handle): string | null;
  getGrad(h: Handle): Handle | null;
  setGrad(h: Handle, g: Handle | null): void;
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
  registerHook(h: Handle, fn: (grad: Handle) => Handle | undefined): void;
  // elementwise
  add(a: Operand, b: Operand): Handle;
  sub(a: Operand, b: Operand): Handle;
  mul(a: Operand, b: Operand): Handle;
  div(a: Operand, b: Operand): Handle;
  addInPlace(a: Handle, b: Operand): Handle;
  subInPlace(a: Handle, b: Operand): Handle;
  mulInPlace(a: Handle, b: Operand): Handle;
  copyFrom(a: Handle, b: Operand): Handle;
  cast(a: Handle, dtype: DTypeName): Handle;
  // unary (elementwise helper: add unary ops here)
  // reduce
  sum(a: Handle, dims: Dims, keepDim: boolean): Handle;
  // shape
  reshape(a: Handle, shape: readonly number[]): Handle;
  expand(a: Handle, shape: readonly number[]): Handle;
  transpose(a: Handle, dim0: number, dim1: number): Handle;
  permute(a: Handle, dims: readonly number[]): Handle;
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
  indexSelect(a: Handle, dim: number, index: Operand): Handle;
  gather(a: Handle, dim: number, index: Operand): Handle;
  scatterAdd(a: Handle, dim: number, index: Operand, src: Operand): Handle;
  // linalg
  // nn
  // optim (gradients are read from each parameter's .grad)
  sgdStep(params: Handle[], momentumBuffers: Handle[] | null, options: object): void;
  adamStep(params: Handle[], expAvg: Handle[], expAvgSq: Handle[], maxExpAvgSq: Handle[] | null, options: object): void;
  rmspropStep(params: Handle[], squareAvg: Handle[], gradAvg: Handle[] | null, momentumBuffers: Handle[] | null, options: object): void;
  adagradStep(params: Handle[], sums: Handle[], options: object): void;
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
