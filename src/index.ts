// tapegrad: tape-based reverse-mode automatic differentiation on CPU tensors.
import { TapegradError } from './errors.js';
import { native } from './native.js';

native.setErrorClass(TapegradError);

export { TapegradError } from './errors.js';
export { Tensor, isTensor } from './tensor.js';
export type { DType, Dims, NestedArray, TensorLike, TypedArray, BackwardOptions, RemovableHandle, VarOptions, GeluOptions, SortOptions, TopkOptions, SortResult } from './tensor.js';
export { add, sub, mul, div, pow, maximum, minimum, remainder, fmod, where, matmul, dot, outer, cat, stack } from './ops.js';
export {
  tensor, zeros, ones, full, zerosLike, onesLike, fullLike, arange, linspace, eye, rand, randn, randint, manualSeed,
} from './creation.js';
export type { TensorOptions, FromDataOptions, NestedRows } from './creation.js';
export { noGrad, enableGrad, isGradEnabled, grad, gradcheck, gradgradcheck } from './autograd.js';
export type { GradOptions, GradcheckOptions } from './autograd.js';
export { tidy, tidyAsync, memory, setCacheLimit, emptyCache } from './memory.js';
export type { MemoryInfo } from './memory.js';
export { backendInfo, setNumThreads, getNumThreads } from './backend.js';
export type { BackendInfo } from './backend.js';
export * as optim from './optim/index.js';
export { save, saveSync, load, loadSync, serialize, deserialize } from './io/safetensors.js';
export type { Metadata, SaveOptions, SafetensorsContents } from './io/safetensors.js';
export * as nn from './nn/index.js';
export * as data from './data/index.js';
export * as train from './train/index.js';
