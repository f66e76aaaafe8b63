// nn.init: fill a tensor in place from the seeded generator (see manualSeed),
// with PyTorch's formulas for fan-in/fan-out based schemes.
import { noGrad } from '../autograd.js';
import { rand, randn } from '../creation.js';
import { checkChoice, checkNumber, checkOptions, describe } from '../errors.js';
import { tidy } from '../memory.js';
import { checkNotInUse, isTensor, type Tensor } from '../tensor.js';

// The tensor to fill, checked here so that errors name the init function
// rather than the op it calls (rand, copyFrom, fill), and so that an array,
// which has a fill method of its own, is refused rather than filled. The
// random fills need a float tensor, as PyTorch's uniform_ and normal_.
function target(t: unknown, op: string, floatOnly: boolean): Tensor {
  if (!isTensor(t)) throw new TypeError(`${op}: tensor must be a Tensor, got ${describe(t)}`);
  checkNotInUse(t, op, 'tensor');
  if (floatOnly && t.dtype === 'int32') throw new TypeError(`${op}: tensor must be float32 or float64, got int32`);
  return t;
}

function fans(t: Tensor, op: string): [number, number] {
  if (t.ndim < 2) throw new RangeError(`${op}: fan in and fan out need a tensor with at least 2 dims, got [${t.shape.join(', ')}]`);
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return [(t.shape[1] as number) * receptive, (t.shape[0] as number) * receptive];
}

export type Nonlinearity = 'linear' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';
const NONLINEARITIES: readonly Nonlinearity[] = ['linear', 'sigmoid', 'tanh', 'relu', 'leaky_relu', 'selu'];

const finite = (v: number) => Number.isFinite(v);

/** The recommended gain for a nonlinearity (PyTorch's calculate_gain). */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  return gain('nn.init.calculateGain', nonlinearity, param, 'param');
}

function gain(op: string, nonlinearity: unknown, param: unknown, paramName: string): number {
  checkChoice(nonlinearity, op, 'nonlinearity', NONLINEARITIES);
  if (param !== undefined) checkNumber(param, op, paramName, 'a finite number', finite);
  switch (nonlinearity) {
    case 'linear':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu': {
      const slope = (param as number | undefined) ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
    default: // 'selu'
      return 3 / 4;
  }
}

/** Fills with U(a, b); a <= b (as PyTorch's uniform_, which refuses from > to). */
export function uniform(tensor: Tensor, a = 0, b = 1): Tensor {
  const op = 'nn.init.uniform';
  const t = target(tensor, op, true);
  checkNumber(a, op, 'a', 'a finite number', finite);
  checkNumber(b, op, 'b', `a finite number >= a (${a})`, (v) => finite(v) && v >= a);
  return fillUniform(t, a, b);
}

// The bounds of xavier and kaiming are Infinity only for a tensor with no elements (a fan of 0), which stays as it is.
function fillUniform(t: Tensor, a: number, b: number): Tensor {
  noGrad(() => tidy(() => t.copyFrom(rand(t.shape, { dtype: t.dtype }).mul(b - a).add(a))));
  return t;
}

/** Fills with N(mean, std²); std >= 0. */
export function normal(tensor: Tensor, mean = 0, std = 1): Tensor {
  const op = 'nn.init.normal';
  const t = target(tensor, op, true);
  checkNumber(mean, op, 'mean', 'a finite number', finite);
  checkNumber(std, op, 'std', 'a non-negative finite number', (v) => finite(v) && v >= 0);
  return fillNormal(t, mean, std);
}

function fillNormal(t: Tensor, mean: number, std: number): Tensor {
  noGrad(() => tidy(() => t.copyFrom(randn(t.shape, { dtype: t.dtype }).mul(std).add(mean))));
  return t;
}

export function constant(tensor: Tensor, value: number): Tensor {
  return fillConstant(tensor, value, 'nn.init.constant');
}
export function zeros(tensor: Tensor): Tensor {
  return fillConstant(tensor, 0, 'nn.init.zeros');
}
export function ones(tensor: Tensor): Tensor {
  return fillConstant(tensor, 1, 'nn.init.ones');
}

function fillConstant(tensor: Tensor, value: number, op: string): Tensor {
  const t = target(tensor, op, false);
  checkNumber(value, op, 'value', 'a number');
  noGrad(() => t.fill(value));
  return t;
}

export function xavierUniform(tensor: Tensor, gain = 1): Tensor {
  const op = 'nn.init.xavierUniform';
  const t = target(tensor, op, true);
  checkNumber(gain, op, 'gain', 'a finite number', finite);
  const [fanIn, fanOut] = fans(t, op);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return fillUniform(t, -bound, bound);
}

export function xavierNormal(tensor: Tensor, gain = 1): Tensor {
  const op = 'nn.init.xavierNormal';
  const t = target(tensor, op, true);
  checkNumber(gain, op, 'gain', 'a finite number', finite);
  const [fanIn, fanOut] = fans(t, op);
  return fillNormal(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)));
}

export interface KaimingOptions {
  /** Negative slope of the rectifier after this layer (leaky_relu). */
  a?: number;
  mode?: 'fanIn' | 'fanOut';
  nonlinearity?: Nonlinearity;
}

// The tensor to fill, the gain and the fan kaiming* divide by, from checked arguments.
function kaiming(op: string, tensor: Tensor, options: KaimingOptions): [Tensor, number, number] {
  const t = target(tensor, op, true);
  checkOptions(options, op, "{ mode: 'fanOut', nonlinearity: 'relu' }", ['a', 'mode', 'nonlinearity']);
  const mode = checkChoice(options.mode ?? 'fanIn', op, 'mode', ['fanIn', 'fanOut']);
  const g = gain(op, options.nonlinearity ?? 'leaky_relu', options.a ?? 0, 'a');
  const [fanIn, fanOut] = fans(t, op);
  return [t, g, mode === 'fanOut' ? fanOut : fanIn];
}

export function kaimingUniform(tensor: Tensor, options: KaimingOptions = {}): Tensor {
  const [t, g, fan] = kaiming('nn.init.kaimingUniform', tensor, options);
  const bound = g * Math.sqrt(3 / fan);
  return fillUniform(t, -bound, bound);
}

export function kaimingNormal(tensor: Tensor, options: KaimingOptions = {}): Tensor {
  const [t, g, fan] = kaiming('nn.init.kaimingNormal', tensor, options);
  return fillNormal(t, 0, g / Math.sqrt(fan));
}

/** @internal fan in of a weight, for layer initialisation. */
export function fanIn(t: Tensor): number {
  return fans(target(t, 'nn.init.fanIn', false), 'nn.init.fanIn')[0];
}
