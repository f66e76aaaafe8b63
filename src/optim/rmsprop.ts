import { handleOf, type Tensor } from '../tensor.js';
import { Optimizer, type NativeUpdate, type ParamGroup, type ParamState, type Params, type StepPlan } from './optimizer.js';

export interface RMSpropOptions {
  lr: number;
  alpha: number;
  eps: number;
  weightDecay: number;
  momentum: number;
  centered: boolean;
  maximize: boolean;
}

/** RMSprop (PyTorch's form: eps outside the square root; optional centering and momentum). */
export class RMSprop extends Optimizer<RMSpropOptions> {
  protected override readonly stateNames = ['square_avg', 'grad_avg', 'momentum_buffer'];

  constructor(params: Params<RMSpropOptions>, options: Partial<RMSpropOptions> = {}) {
    super('RMSprop', params, { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false }, options);
  }

  protected override validate(g: ParamGroup<RMSpropOptions>, i: number): void {
    super.validate(g, i);
    this.checkRange(g.alpha, 0, 1, 'alpha', i);
    this.checkRange(g.eps, 0, Infinity, 'eps', i);
    this.checkRange(g.momentum, 0, Infinity, 'momentum', i);
    this.checkRange(g.weightDecay, 0, Infinity, 'weightDecay', i);
  }

  override _plan(hasGrad: (p: Tensor) => boolean): StepPlan {
    const updates: NativeUpdate[] = [];
    const stepped: ParamState[] = [];
    for (const g of this.paramGroups) {
      const params = g.params.filter(hasGrad);
      if (params.length === 0) continue;
      const names = ['square_avg', ...(g.centered ? ['grad_avg'] : []), ...(g.momentum > 0 ? ['momentum_buffer'] : [])];
      const states = params.map((p) => this.stateOf(p, names));
      const tensors = (name: string) => states.map((s) => handleOf(s.tensors[name]!));
      updates.push(['rmsprop', [
        params.map((p) => handleOf(p)),
        tensors('square_avg'),
        g.centered ? tensors('grad_avg') : null,
        g.momentum > 0 ? tensors('momentum_buffer') : null,
        { ...g, params: undefined },
      ]]);
      stepped.push(...states);
    }
    return { updates, commit: () => stepped.forEach((s) => s.step++) };
  }
}
