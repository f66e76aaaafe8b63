// nn.init: fill a tensor in place from the seeded generator (see manualSeed),
// with PyTorch's formulas for fan-in/fan-out based schemes.
import { noGrad } from '../autograd.js';
import { rand, randn } from '../creation.js';
import { tidy } from '../memory.js';
import type { Tensor } from '../tensor.js';

function fans(t: Tensor): [number, number] {
  if (t.ndim < 2) throw new RangeError(`nn.init: fan in and fan out need a tensor with at least 2 dims, got [${t.shape.join(', ')}]`);
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return [(t.shape[1] as number) * receptive, (t.shape[0] as number) * receptive];
}

export type Nonlinearity = 'linear' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';

/** The recommended gain for a nonlinearity (PyTorch's calculate_gain). */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
    default:
      throw new RangeError(`calculateGain: unknown nonlinearity '${nonlinearity as string}'`);
  }
}

/** Fills with U(a, b). */
export function uniform(t: Tensor, a = 0, b = 1): Tensor {
  noGrad(() => tidy(() => t.copyFrom(rand(t.shape, { dtype: t.dtype }).mul(b - a).add(a))));
  return t;
}

/** Fills with N(mean, std²). */
export function normal(t: Tensor, mean = 0, std = 1): Tensor {
  noGrad(() => tidy(() => t.copyFrom(randn(t.shape, { dtype: t.dtype }).mul(std).add(mean))));
  return t;
}

export function constant(t: Tensor, value: number): Tensor {
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
  const [fanIn, fanOut] = fans(t);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform(t, -bound, bound);
}

export function xavierNormal(t: Tensor, gain = 1): Tensor {
  const [fanIn, fanOut] = fans(t);
  return normal(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)));
}

export interface KaimingOptions {
  /** Negative slope of the rectifier after this layer (leaky_relu). */
  a?: number;
  mode?: 'fanIn' | 'fanOut';
  nonlinearity?: Nonlinearity;
}

export function kaimingUniform(t: Tensor, options: KaimingOptions = {}): Tensor {
  const [fanIn, fanOut] = fans(t);
  const gain = calculateGain(options.nonlinearity ?? 'leaky_relu', options.a ?? 0);
  const bound = gain * Math.sqrt(3 / (options.mode === 'fanOut' ? fanOut : fanIn));
  return uniform(t, -bound, bound);
}

export function kaimingNormal(t: Tensor, options: KaimingOptions = {}): Tensor {
  const [fanIn, fanOut] = fans(t);
  const gain = calculateGain(options.nonlinearity ?? 'leaky_relu', options.a ?? 0);
  return normal(t, 0, gain / Math.sqrt(options.mode === 'fanOut' ? fanOut : fanIn));
}

/** @internal fan in of a weight, for layer initialisation. */
export function fanIn(t: Tensor): number {
  return fans(t)[0];
}
