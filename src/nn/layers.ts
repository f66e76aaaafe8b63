// Layers: each holds its parameters and calls nn.functional in forward().
import { zeros } from '../creation.js';
import type { DType, Tensor } from '../tensor.js';
import * as F from './functional.js';
import * as init from './init.js';
import { Module, parameter } from './module.js';

export interface LayerOptions {
  /** Dtype of the layer's parameters (default float32). */
  dtype?: DType;
}

/** @internal */
export function positiveInt(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
    throw new RangeError(`${op}: ${name} must be a positive integer, got ${String(v)}`);
  return v;
}

/** y = x·Wᵀ + b, with W of shape [outFeatures, inFeatures]; PyTorch's default initialisation. */
export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  weight: Tensor;
  bias: Tensor | null;

  constructor(inFeatures: number, outFeatures: number, options: LayerOptions & { bias?: boolean } = {}) {
    super();
    this.inFeatures = positiveInt('Linear', 'inFeatures', inFeatures);
    this.outFeatures = positiveInt('Linear', 'outFeatures', outFeatures);
    const dtype = options.dtype ?? 'float32';
    // kaiming_uniform(a=√5) gives U(±1/√inFeatures), as torch.nn.Linear.
    this.weight = parameter(init.kaimingUniform(zeros([outFeatures, inFeatures], { dtype }), { a: Math.sqrt(5) }));
    const bound = 1 / Math.sqrt(inFeatures);
    this.bias = options.bias === false ? null : parameter(init.uniform(zeros([outFeatures], { dtype }), -bound, bound));
  }

  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }

  protected override extraRepr(): string {
    return `inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, bias=${this.bias !== null}`;
  }
}
