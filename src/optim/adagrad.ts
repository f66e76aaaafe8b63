import { handleOf, type Tensor } from '../tensor.js';
import { Optimizer, type NativeUpdate, type ParamGroup, type ParamState, type Params, type StepPlan } from './optimizer.js';

export interface AdagradOptions {
  lr: number;
  lrDecay: number;
  weightDecay: number;
  initialAccumulatorValue: number;
  eps: number;
  maximize: boolean;
}

/** Adagrad, as PyTorch computes it. */
export class Adagrad extends Optimizer<AdagradOptions> {
  protected override readonly stateNames = ['sum'];

  constructor(params: Params<AdagradOptions>, options: Partial<AdagradOptions> = {}) {
    super('Adagrad', params, { lr: 1e-2, lrDecay: 0, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-10, maximize: false }, options);
  }

  protected override validate(g: ParamGroup<AdagradOptions>, i: number): void {
    super.validate(g, i);
    this.checkRange(g.lrDecay, 0, Infinity, 'lrDecay', i);
    this.checkRange(g.weightDecay, 0, Infinity, 'weightDecay', i);
    this.checkRange(g.initialAccumulatorValue, 0, Infinity, 'initialAccumulatorValue', i);
    this.checkRange(g.eps, 0, Infinity, 'eps', i);
  }

  override _plan(hasGrad: (p: Tensor) => boolean): StepPlan {
    const updates: NativeUpdate[] = [];
    const stepped: ParamState[] = [];
    for (const g of this.paramGroups) {
      const params = g.params.filter(hasGrad);
      if (params.length === 0) continue;
      const states = params.map((p) => {
        const fresh = !this.state.has(p);
        const s = this.stateOf(p, ['sum']);
        if (fresh && g.initialAccumulatorValue !== 0) s.tensors.sum!.fill(g.initialAccumulatorValue);
        return s;
      });
      const byStep = new Map<number, number[]>();
      states.forEach((s, i) => byStep.set(s.step + 1, [...(byStep.get(s.step + 1) ?? []), i]));
      for (const [step, idx] of byStep)
        updates.push(['adagrad', [
          idx.map((i) => handleOf(params[i]!)),
          idx.map((i) => handleOf(states[i]!.tensors.sum!)),
          { lr: g.lr, lrDecay: g.lrDecay, weightDecay: g.weightDecay, eps: g.eps, maximize: g.maximize, step },
        ]]);
      stepped.push(...states);
    }
    return { updates, commit: () => stepped.forEach((s) => s.step++) };
  }
}
