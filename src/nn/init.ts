// nn.init: fill a tensor in place from the seeded generator (see manualSeed),
// with PyTorch's formulas for fan-in/fan-out based schemes.
import { noGrad } from '../autograd.js';
import { rand, randn } from '../creation.js';
import { checkChoice, checkNumber, checkOptions } from '../errors.js';
import { tidy } from '../memory.js';
import type { Tensor } from '../tensor.js';

function fans(t: Tensor): [number, number] {
  if (t.ndim < 2) throw new RangeError(`nn.init: fan in and fan out need a tensor with at least 2 dims, got [${t.shape.join(', ')}]`);
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
export function uniform(t: Tensor, a = 0, b = 1): Tensor {
  const op = 'nn.init.uniform';
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
export function normal(t: Tensor, mean = 0, std = 1): Tensor {
  const op = 'nn.init.normal';
  checkNumber(mean, op, 'mean', 'a finite number', finite);
  checkNumber(std, op, 'std', 'a non-negative finite number', (v) => finite(v) && v >= 0);
  return fillNormal(t, mean, std);
}

function fillNormal(t: Tensor, mean: number, std: number): Tensor {
  noGrad(() => tidy(() => t.copyFrom(randn(t.shape, { dtype: t.dtype }).mul(std).add(mean))));
  return t;
}

export function constant(t: Tensor, value: number): Tensor {
  checkNumber(value, 'nn.init.constant', 'value', 'a number');
  noGrad(() => t.fill(value));
  return t;
}
export function zeros(t: Tensor): Tensor {
  return constant(t, 0);
}
export function ones(t: Tensor): Tensor {
  return constant(t, 1);
}

export function xavierUniform(t: Tensor, gain = 1): Tensor {
  const op = 'nn.init.xavierUniform';
  checkNumber(gain, op, 'gain', 'a finite number', finite);
  const [fanIn, fanOut] = fans(t);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return fillUniform(t, -bound, bound);
}

export function xavierNormal(t: Tensor, gain = 1): Tensor {
  const op = 'nn.init.xavierNormal';
  checkNumber(gain, op, 'gain', 'a finite number', finite);
  const [fanIn, fanOut] = fans(t);
  return fillNormal(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)));
}

export interface KaimingOptions {
  /** Negative slope of the rectifier after this layer (leaky_relu). */
  a?: number;
  mode?: 'fanIn' | 'fanOut';
  nonlinearity?: Nonlinearity;
}

// The gain and the fan kaiming* divide by, from checked options.
function kaiming(op: string, t: Tensor, options: KaimingOptions): [number, number] {
  checkOptions(options, op, "{ mode: 'fanOut', nonlinearity: 'relu' }", ['a', 'mode', 'nonlinearity']);
  const mode = checkChoice(options.mode ?? 'fanIn', op, 'mode', ['fanIn', 'fanOut']);
  const g = gain(op, options.nonlinearity ?? 'leaky_relu', options.a ?? 0, 'a');
  const [fanIn, fanOut] = fans(t);
  return [g, mode === 'fanOut' ? fanOut : fanIn];
}

export function kaimingUniform(t: Tensor, options: KaimingOptions = {}): Tensor {
  const [g, fan] = kaiming('nn.init.kaimingUniform', t, options);
  const bound = g * Math.sqrt(3 / fan);
  return fillUniform(t, -bound, bound);
}

export function kaimingNormal(t: Tensor, options: KaimingOptions = {}): Tensor {
  const [g, fan] = kaiming('nn.init.kaimingNormal', t, options);
  return fillNormal(t, 0, g / Math.sqrt(fan));
}

/** @internal fan in of a weight, for layer initialisation. */
export function fanIn(t: Tensor): number {
  return fans(t)[0];
}
