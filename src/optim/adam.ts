import { handleOf, type Tensor } from '../tensor.js';
import { Optimizer, type NativeUpdate, type ParamGroup, type ParamState, type Params, type StepPlan } from './optimizer.js';

export interface AdamOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
}

// Adam and AdamW differ only in how weight decay is applied.
abstract class AdamFamily extends Optimizer<AdamOptions> {
  protected abstract readonly decoupled: boolean;
  protected override readonly stateNames = ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'];

  protected override validate(g: ParamGroup<AdamOptions>, i: number): void {
    super.validate(g, i);
    if (!Array.isArray(g.betas) || g.betas.length !== 2)
      throw new TypeError(`${this.constructor.name}: betas must be a pair of numbers (group ${i})`);
    this.checkRange(g.betas[0], 0, 1, 'betas[0]', i, true);
    this.checkRange(g.betas[1], 0, 1, 'betas[1]', i, true);
    this.checkRange(g.eps, 0, Infinity, 'eps', i);
    this.checkRange(g.weightDecay, 0, Infinity, 'weightDecay', i);
  }

  override _plan(hasGrad: (p: Tensor) => boolean): StepPlan {
    const updates: NativeUpdate[] = [];
    const stepped: ParamState[] = [];
    for (const g of this.paramGroups) {
      const params = g.params.filter(hasGrad);
      if (params.length === 0) continue;
      const names = g.amsgrad ? ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'] : ['exp_avg', 'exp_avg_sq'];
      const states = params.map((p) => this.stateOf(p, names));
      // One native call per distinct step count (a parameter that joined late keeps its own).
      const byStep = new Map<number, number[]>();
      states.forEach((s, i) => byStep.set(s.step + 1, [...(byStep.get(s.step + 1) ?? []), i]));
      for (const [step, idx] of byStep) {
        const tensors = (name: string) => idx.map((i) => handleOf(states[i]!.tensors[name]!));
        updates.push(['adam', [
          idx.map((i) => handleOf(params[i]!)),
          tensors('exp_avg'),
          tensors('exp_avg_sq'),
          g.amsgrad ? tensors('max_exp_avg_sq') : null,
          {
            lr: g.lr, beta1: g.betas[0], beta2: g.betas[1], eps: g.eps, weightDecay: g.weightDecay,
            decoupled: this.decoupled, amsgrad: g.amsgrad, maximize: g.maximize, step,
          },
        ]]);
      }
      stepped.push(...states);
    }
    return { updates, commit: () => stepped.forEach((s) => s.step++) };
  }
}

/** Adam (Kingma & Ba), with optional L2 weight decay and AMSGrad, as PyTorch computes it. */
export class Adam extends AdamFamily {
  protected readonly decoupled = false;
  constructor(params: Params<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super('Adam', params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false }, options);
  }
}

/** AdamW: Adam with decoupled weight decay (default 0.01, as PyTorch). */
export class AdamW extends AdamFamily {
  protected readonly decoupled = true;
  constructor(params: Params<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super('AdamW', params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, maximize: false }, options);
  }
}
