// The optimizer base: parameter groups with their own options, zeroGrad,
// per-parameter state, and state dicts for resuming training.
import { zerosLike } from '../creation.js';
import { native } from '../native.js';
import { untrack } from '../scope.js';
import { Tensor } from '../tensor.js';

/** A group of parameters with options that override the optimizer's defaults. */
export type ParamGroupSpec<O> = { params: Iterable<Tensor> } & Partial<O>;
/** A group as the optimizer holds it: every option filled in (schedulers change `lr` here). */
export type ParamGroup<O> = O & { params: Tensor[] };
export type Params<O> = Iterable<Tensor> | ParamGroupSpec<O>[];

/** Per-parameter state: a step count and named tensors (exp_avg, momentum_buffer, ...). */
export interface ParamState {
  step: number;
  tensors: Record<string, Tensor>;
}

/** @internal One fused native update: the kernel's name and its arguments. */
export type NativeUpdate = ['sgd' | 'adam' | 'rmsprop' | 'adagrad', unknown[]];

/** @internal What one step does: its native updates, then the bookkeeping once they ran. */
export interface StepPlan {
  updates: NativeUpdate[];
  commit(): void;
}

/** @internal Runs one planned update on the calling thread. */
export function runUpdate([kind, args]: NativeUpdate): void {
  (native[`${kind}Step`] as (...a: unknown[]) => void)(...args);
}

export interface OptimizerStateDict<O> {
  /** Keyed by the parameter's position across all groups, as PyTorch does. */
  state: Record<number, ParamState>;
  paramGroups: (O & { params: number[] })[];
}

export abstract class Optimizer<O extends { lr: number }> {
  readonly paramGroups: ParamGroup<O>[];
  protected readonly state = new Map<Tensor, ParamState>();
  protected readonly defaults: O;
  private readonly name: string;

  protected constructor(name: string, params: Params<O>, defaults: O) {
    this.name = name;
    this.defaults = defaults;
    const list = Array.isArray(params) ? params : [...(params as Iterable<Tensor>)];
    const specs: ParamGroupSpec<O>[] =
      list.length > 0 && !(list[0] instanceof Tensor) ? (list as ParamGroupSpec<O>[]) : [{ params: list as Tensor[] } as unknown as ParamGroupSpec<O>];
    const seen = new Set<Tensor>();
    this.paramGroups = specs.map((spec, g) => {
      if (spec === null || typeof spec !== 'object' || !('params' in spec))
        throw new TypeError(`${name}: parameter group ${g} must be an object with a params list`);
      const groupParams = [...spec.params];
      groupParams.forEach((p, i) => {
        if (!(p instanceof Tensor)) throw new TypeError(`${name}: parameter ${i} of group ${g} is not a Tensor`);
        if (!p.isLeaf) throw new TypeError(`${name}: parameter ${i} of group ${g} is not a leaf tensor`);
        if (p.dtype === 'int32') throw new TypeError(`${name}: parameter ${i} of group ${g} must be float32 or float64`);
        if (seen.has(p)) throw new RangeError(`${name}: parameter ${i} of group ${g} appears in more than one place`);
        seen.add(p);
      });
      const group = { ...defaults, ...spec, params: groupParams } as ParamGroup<O>;
      this.validate(group, g);
      return group;
    });
    if (seen.size === 0) throw new RangeError(`${name}: got an empty parameter list`);
  }

  /** Checks a group's options; throws RangeError naming the option. */
  protected validate(group: ParamGroup<O>, index: number): void {
    if (!(group.lr >= 0)) throw new RangeError(`${this.name}: lr must be a non-negative number, got ${group.lr} (group ${index})`);
  }

  protected checkRange(value: number, lo: number, hi: number, option: string, index: number, hiOpen = false): void {
    if (!(value >= lo && (hiOpen ? value < hi : value <= hi)))
      throw new RangeError(
        `${this.name}: ${option} must be in [${lo}, ${hi}${hiOpen ? ')' : ']'}, got ${value} (group ${index})`,
      );
  }

  /** Applies one update to every parameter that has a gradient. */
  step(): void {
    const plan = this._plan((p) => p.grad !== null);
    if (plan === null) throw new TypeError(`${this.name}: step() is not implemented`);
    for (const u of plan.updates) runUpdate(u);
    plan.commit();
  }

  /**
   * @internal The native updates of one step, for the parameters `hasGrad`
   * accepts, so that a train step can run them after an async backward
   * (before the gradients exist). Null for optimizers that only define step().
   */
  _plan(_hasGrad: (p: Tensor) => boolean): StepPlan | null {
    return null;
  }

  /** Sets every parameter's gradient to null. */
  zeroGrad(): void {
    for (const g of this.paramGroups) for (const p of g.params) p.zeroGrad();
  }

  /** The state of `p`, with its tensors created (zeros, owned by the optimizer) on first use. */
  protected stateOf(p: Tensor, names: readonly string[]): ParamState {
    let s = this.state.get(p);
    if (!s) {
      s = { step: 0, tensors: {} };
      this.state.set(p, s);
    }
    for (const n of names) if (!s.tensors[n]) s.tensors[n] = owned(zerosLike(p));
    return s;
  }

  /** Options and state, enough to resume exactly with loadStateDict. */
  stateDict(): OptimizerStateDict<O> {
    const index = new Map<Tensor, number>();
    const paramGroups = this.paramGroups.map((g) => {
      const { params, ...options } = g;
      return { ...(options as unknown as O), params: params.map((p) => index.set(p, index.size).get(p) as number) };
    });
    const state: Record<number, ParamState> = {};
    for (const [p, s] of this.state) {
      const i = index.get(p);
      if (i !== undefined) state[i] = { step: s.step, tensors: { ...s.tensors } };
    }
    return { state, paramGroups };
  }

  /** Restores options and state (copied) from stateDict() of an optimizer over the same parameters. */
  loadStateDict(dict: OptimizerStateDict<O>): void {
    if (!dict || !Array.isArray(dict.paramGroups) || typeof dict.state !== 'object')
      throw new TypeError(`${this.name}.loadStateDict: expected an object with state and paramGroups`);
    if (dict.paramGroups.length !== this.paramGroups.length)
      throw new RangeError(
        `${this.name}.loadStateDict: the state dict has ${dict.paramGroups.length} parameter groups, this optimizer ${this.paramGroups.length}`,
      );
    const flat: Tensor[] = [];
    dict.paramGroups.forEach((g, i) => {
      const mine = this.paramGroups[i] as ParamGroup<O>;
      if (g.params.length !== mine.params.length)
        throw new RangeError(
          `${this.name}.loadStateDict: group ${i} has ${g.params.length} parameters in the state dict and ${mine.params.length} here`,
        );
      flat.push(...mine.params);
    });
    for (const [key, s] of Object.entries(dict.state)) {
      const p = flat[Number(key)];
      if (!p) throw new RangeError(`${this.name}.loadStateDict: state for parameter ${key}, which does not exist`);
      for (const [name, t] of Object.entries(s.tensors)) {
        if (!(t instanceof Tensor) || t.shape.join() !== p.shape.join())
          throw new RangeError(
            `${this.name}.loadStateDict: state '${name}' of parameter ${key} must be a tensor of shape [${p.shape.join(', ')}]`,
          );
      }
    }
    dict.paramGroups.forEach((g, i) => {
      const { params: _ignored, ...options } = g;
      Object.assign(this.paramGroups[i] as ParamGroup<O>, options);
    });
    for (const s of this.state.values()) for (const t of Object.values(s.tensors)) t.dispose();
    this.state.clear();
    for (const [key, s] of Object.entries(dict.state)) {
      const p = flat[Number(key)] as Tensor;
      const tensors: Record<string, Tensor> = {};
      for (const [name, t] of Object.entries(s.tensors)) tensors[name] = owned(t.detach().to(p.dtype).clone());
      this.state.set(p, { step: s.step, tensors });
    }
  }
}

/** Keeps an optimizer-owned tensor out of any tidy scope. */
function owned(t: Tensor): Tensor {
  untrack(t);
  return t;
}
