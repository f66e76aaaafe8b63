import { handleOf, type Tensor } from '../tensor.js';
import { Optimizer, type NativeUpdate, type ParamGroup, type ParamState, type Params, type StepPlan } from './optimizer.js';

export interface SGDOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  maximize: boolean;
}

/** Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (PyTorch's formulas). */
export class SGD extends Optimizer<SGDOptions> {
  protected override readonly stateNames = ['momentum_buffer'];

  constructor(params: Params<SGDOptions>, options: Partial<SGDOptions> & { lr: number }) {
    super('SGD', params, { lr: undefined as unknown as number, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false }, options);
  }

  protected override validate(g: ParamGroup<SGDOptions>, i: number): void {
    super.validate(g, i);
    this.checkRange(g.momentum, 0, Infinity, 'momentum', i);
    this.checkRange(g.weightDecay, 0, Infinity, 'weightDecay', i);
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0))
      throw new RangeError(`SGD: nesterov needs momentum > 0 and dampening 0 (group ${i})`);
  }

  override _plan(hasGrad: (p: Tensor) => boolean): StepPlan {
    const updates: NativeUpdate[] = [];
    const stepped: ParamState[] = [];
    for (const g of this.paramGroups) {
      const params = g.params.filter(hasGrad);
      if (params.length === 0) continue;
      const names = g.momentum !== 0 ? ['momentum_buffer'] : [];
      // A momentum buffer starts as the first gradient itself (PyTorch's None buffer): parameters
      // whose buffer is new (e.g. one that had no gradient before) go in their own call.
      const fresh = params.map((p) => g.momentum !== 0 && !this.state.get(p)?.tensors.momentum_buffer);
      const states = params.map((p) => this.stateOf(p, names));
      for (const firstStep of [true, false]) {
        const idx = fresh.flatMap((f, i) => (f === firstStep ? [i] : []));
        if (idx.length === 0) continue;
        updates.push(['sgd', [
          idx.map((i) => handleOf(params[i]!)),
          g.momentum !== 0 ? idx.map((i) => handleOf(states[i]!.tensors.momentum_buffer!)) : null,
          { ...g, params: undefined, firstStep },
        ]]);
      }
      stepped.push(...states);
    }
    return { updates, commit: () => stepped.forEach((s) => s.step++) };
  }
}
