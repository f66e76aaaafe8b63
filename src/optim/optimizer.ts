// The optimizer base: parameter groups with their own options, zeroGrad,
// per-parameter state, and state dicts for resuming training.
import { noGrad } from '../autograd.js';
import { zerosLike } from '../creation.js';
import { TapegradError, checkOptions, describe } from '../errors.js';
import { ownValue, setOwn } from '../keys.js';
import { native } from '../native.js';
import { untrack } from '../scope.js';
import { checkNotInUse, Tensor, isTensor, handleOf } from '../tensor.js';

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
  /**
   * The names of the per-parameter state tensors this optimizer can hold;
   * loadStateDict refuses others. Undefined (an optimizer that does not
   * declare them) accepts any name.
   */
  protected readonly stateNames?: readonly string[];
  private readonly name: string;

  /** `defaults` holds every option's default (its type is the option's type); `options` overrides them. */
  protected constructor(name: string, params: Params<O>, defaults: O, options: Partial<O> = {}) {
    this.name = name;
    // A misspelt option (momentun) would leave its default in place, silently.
    checkOptions(options, name, '{ lr: 0.01 }', Object.keys(defaults));
    for (const [key, value] of Object.entries(options))
      if (value !== undefined && (defaults as Record<string, unknown>)[key] !== undefined)
        checkOptionType(name, key, value, (defaults as Record<string, unknown>)[key], 0, 'options');
    defaults = { ...defaults, ...options };
    this.defaults = defaults;
    const iterable = params !== null && typeof params === 'object' && Symbol.iterator in params;
    if (!iterable)
      throw new TypeError(`${name}: params must be an array or iterable of tensors (model.parameters()) or of parameter groups, got ${describe(params)}`);
    const list = Array.isArray(params) ? params : [...(params as Iterable<Tensor>)];
    // Groups are objects with a params list; anything else is a list of tensors, checked as such.
    const first: unknown = list[0];
    const specs: ParamGroupSpec<O>[] =
      first !== null && typeof first === 'object' && !isTensor(first) && 'params' in first
        ? (list as ParamGroupSpec<O>[])
        : [{ params: list as Tensor[] } as unknown as ParamGroupSpec<O>];
    this.paramGroups = [];
    // One set across the groups: nothing can change them between these adds.
    const held = new Set<Tensor>();
    for (const spec of specs) this.addGroup(spec, held);
    if (this.paramGroups.every((g) => g.params.length === 0)) throw new RangeError(`${name}: got an empty parameter list`);
  }

  /**
   * Adds a group of parameters with its own options (the optimizer's
   * defaults fill the rest), e.g. layers unfrozen while fine-tuning.
   * Checked as the constructor checks groups; of the groups already held,
   * only that none holds a parameter of the new group (or one another holds)
   * is checked: the rest is checked at each step. A scheduler made before
   * this leaves the new group's lr alone (ReduceLROnPlateau reduces it too).
   */
  addParamGroup(spec: ParamGroupSpec<O>): void {
    // The groups' params lists may have changed since they were added, so the parameters they hold are gathered afresh.
    const held = new Set<Tensor>();
    this.paramGroups.forEach((group, gi) => paramsOf(group, gi, this.name).forEach((p, pi) => claim(p, pi, gi, this.name, held)));
    this.addGroup(spec, held);
  }

  // Checks `spec` as a new group, its parameters distinct from those in `held` (then added to it), and appends it.
  private addGroup(spec: ParamGroupSpec<O>, held: Set<Tensor>): void {
    const { name } = this;
    const g = this.paramGroups.length;
    if (spec === null || typeof spec !== 'object' || !('params' in spec) || typeof spec.params?.[Symbol.iterator] !== 'function')
      throw new TypeError(`${name}: parameter group ${g} must be an object with a params list`);
    const groupParams = [...spec.params];
    groupParams.forEach((p, i) => checkParam(p, i, g, name, held));
    const defaults = this.defaults as Record<string, unknown>;
    checkOptions(spec, `${name} (parameter group ${g})`, '{ params, lr: 0.01 }', ['params', ...Object.keys(defaults)]);
    for (const [key, value] of Object.entries(spec))
      if (key !== 'params' && value !== undefined && defaults[key] !== undefined) checkOptionType(name, key, value, defaults[key], g);
    const group = { ...this.defaults, ...spec, params: groupParams } as ParamGroup<O>;
    this.validate(group, g);
    this.paramGroups.push(group);
  }

  /** Checks a group's options; throws a RangeError naming the option (a TypeError for an lr that is not a number). */
  protected validate(group: ParamGroup<O>, index: number): void {
    // SGD has no default lr, so no default's type checked this one.
    if (typeof group.lr !== 'number' || !(group.lr >= 0))
      throw new (typeof group.lr === 'number' ? RangeError : TypeError)(
        `${this.name}: lr must be a non-negative number, got ${describe(group.lr)} (group ${index})`,
      );
  }

  protected checkRange(value: number, lo: number, hi: number, option: string, index: number, hiOpen = false): void {
    if (!(value >= lo && (hiOpen ? value < hi : value <= hi)))
      throw new RangeError(
        `${this.name}: ${option} must be in [${lo}, ${hi}${hiOpen ? ')' : ']'}, got ${describe(value)} (group ${index})`,
      );
  }

  /** Applies one update to every parameter that has a gradient. */
  step(): void {
    const plan = this._checkedPlan('step', (p) => native.hasGrad(handleOf(p)));
    if (plan === null) throw new TypeError(`${this.name}: step() is not implemented`);
    for (const u of plan.updates) runUpdate(u);
    plan.commit();
  }

  /**
   * @internal _plan after checking every group as addParamGroup checks a new one: the
   * groups and their params lists are the user's to change (a tensor pushed
   * onto params is optimized from the next step, as in PyTorch), so they
   * are checked at each step rather than trusted. Planning makes state group
   * by group, so everything is checked first: a parameter a running step
   * holds throws before any state is made. `method` names the caller.
   */
  _checkedPlan(method: string, hasGrad: (p: Tensor) => boolean): StepPlan | null {
    this.checkGroups(method);
    return this._plan(hasGrad);
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
    // All checked first: one a running step holds must not leave the others cleared.
    this.checkGroups('zeroGrad');
    for (const g of this.paramGroups) for (const p of g.params) p.zeroGrad();
  }

  // Checks every group as addParamGroup checks a new one, naming `method` and the
  // parameter; with `writes`, also that no parameter is held by a running step.
  private checkGroups(method: string, writes = true): void {
    const op = `${this.name}.${method}`;
    const seen = new Set<Tensor>();
    this.paramGroups.forEach((g, gi) => {
      this.checkGroup(g, gi, op, seen);
      if (writes) g.params.forEach((p, pi) => checkNotInUse(p, op, `parameter ${pi} of group ${gi}`));
    });
  }

  // A group as addParamGroup made it: an object with every option (valid)
  // and a params array of distinct float leaf tensors, none in `seen`.
  private checkGroup(group: unknown, gi: number, op: string, seen: Set<Tensor>): void {
    paramsOf(group, gi, op).forEach((p, pi) => checkParam(p, pi, gi, op, seen));
    for (const key of Object.keys(this.defaults))
      if (!(key in (group as object)))
        throw new TypeError(`${op}: parameter group ${gi} lacks option '${key}' (add groups with addParamGroup, which fills in the defaults)`);
    this.validate(group as ParamGroup<O>, gi);
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
    // A parameter listed twice would shift the indices of those after it.
    this.checkGroups('stateDict', false);
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

  /**
   * Restores options and state (copied) from stateDict() of an optimizer of
   * the same kind over parameters of the same shapes. Everything is checked
   * before anything changes: group and parameter counts, option names and
   * types, state names, shapes and step counts; a key it does not know is an error.
   */
  loadStateDict(dict: OptimizerStateDict<O>): void {
    const op = `${this.name}.loadStateDict`;
    this.checkGroups('loadStateDict', false);
    const groupsIn = dict !== null && typeof dict === 'object' ? ownValue(dict, 'paramGroups') : undefined;
    if (!Array.isArray(groupsIn))
      throw new TypeError(`${op}: expected an object with paramGroups (and state), as stateDict() returns`);
    const stray = Object.keys(dict).find((k) => k !== 'paramGroups' && k !== 'state');
    if (stray !== undefined) throw new RangeError(`${op}: the state dict has a key '${stray}'; expected paramGroups and state, as stateDict() returns`);
    // A state dict taken before the first step may have no state at all (stateDictFromTensors drops empty objects).
    const stateIn = ownValue(dict, 'state') ?? {};
    if (stateIn === null || typeof stateIn !== 'object') throw new TypeError(`${op}: state must be an object`);
    if (groupsIn.length !== this.paramGroups.length)
      throw new RangeError(
        `${op}: the state dict has ${groupsIn.length} parameter groups, this optimizer ${this.paramGroups.length}`,
      );
    const flat: Tensor[] = [];
    const groups = groupsIn.map((g: unknown, i) => {
      const mine = this.paramGroups[i] as ParamGroup<O>;
      const params = g !== null && typeof g === 'object' ? ownValue(g, 'params') : undefined;
      if (!Array.isArray(params))
        throw new TypeError(`${op}: group ${i} must be an object with a params list`);
      if (params.length !== mine.params.length)
        throw new RangeError(
          `${op}: group ${i} has ${params.length} parameters in the state dict and ${mine.params.length} here`,
        );
      flat.push(...mine.params);
      const { params: _ignored, ...options } = g as Record<string, unknown>;
      const merged = { ...mine } as Record<string, unknown>;
      const copied: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(options)) {
        if (!Object.hasOwn(mine, key))
          throw new RangeError(`${op}: group ${i} has option '${key}', which ${this.name} does not have (a state dict of another optimizer?)`);
        checkOptionType(op, key, value, (mine as Record<string, unknown>)[key], i);
        const kept = Array.isArray(value) ? [...value] : value;
        setOwn(merged, key, kept);
        setOwn(copied, key, kept);
      }
      for (const key of Object.keys(mine)) {
        if (key !== 'params' && !Object.hasOwn(options, key))
          throw new RangeError(`${op}: group ${i} lacks option '${key}' (a state dict of another optimizer?)`);
      }
      const group = merged as ParamGroup<O>;
      this.validate(group, i);
      return copied;
    });
    const entries: [string, ParamState][] = [];
    for (const [key, s] of Object.entries(stateIn as Record<string, ParamState>)) {
      // Only the keys stateDict() writes: '00', '0.0' or '0e0' would name parameter 0 a second time.
      if (!/^(?:0|[1-9]\d*)$/.test(key))
        throw new RangeError(`${op}: state key '${key}' is not a parameter index; expected one of '0' to '${flat.length - 1}', as String(i) writes them`);
      const p = flat[Number(key)];
      if (!p) throw new RangeError(`${op}: state for parameter ${key}, which does not exist (${flat.length} parameters)`);
      if (s === null || typeof s !== 'object') throw new TypeError(`${op}: state of parameter ${key} must be an object with step and tensors`);
      const strayField = Object.keys(s).find((k) => k !== 'step' && k !== 'tensors');
      if (strayField !== undefined) throw new RangeError(`${op}: state of parameter ${key} has a key '${strayField}'; expected step and tensors`);
      // An optimizer without state tensors (SGD without momentum) may come back with no tensors object.
      const tensors = (ownValue(s, 'tensors') ?? {}) as Record<string, Tensor>;
      if (tensors === null || typeof tensors !== 'object')
        throw new TypeError(`${op}: state of parameter ${key} must be an object with step and tensors`);
      const step = ownValue(s, 'step') as number;
      if (!Number.isInteger(step) || step < 0)
        throw new RangeError(`${op}: the step count of parameter ${key} must be a non-negative integer, got ${String(step)}`);
      entries.push([key, { step, tensors }]);
      for (const [name, t] of Object.entries(tensors)) {
        // An unknown name would leave the state it stands for at zero while the step count goes on.
        if (this.stateNames && !this.stateNames.includes(name))
          throw new RangeError(
            `${op}: state '${name}' of parameter ${key} is not a state tensor of ${this.name} (expected ${this.stateNames.join(', ')})`,
          );
        if (isTensor(t) && t.isDisposed) throw new TapegradError(`${op}: state '${name}' of parameter ${key} is a disposed tensor`);
        if (!isTensor(t) || t.shape.join() !== p.shape.join())
          throw new RangeError(
            `${op}: state '${name}' of parameter ${key} must be a tensor of shape [${p.shape.join(', ')}]` +
              (isTensor(t) ? `, got [${t.shape.join(', ')}]` : ''),
          );
      }
    }
    // The old state is freed below, which fails for a tensor a running step holds.
    flat.forEach((p, i) => {
      for (const [name, t] of Object.entries(this.state.get(p)?.tensors ?? {})) checkNotInUse(t, op, `state '${name}' of parameter ${i}`);
    });
    // Copy first, then free the old state: `dict` may hold this optimizer's own tensors.
    const next = new Map<Tensor, ParamState>();
    try {
      noGrad(() => {
        for (const [key, s] of entries) {
          const p = flat[Number(key)] as Tensor;
          const tensors: Record<string, Tensor> = {};
          next.set(p, { step: s.step, tensors });
          for (const [name, t] of Object.entries(s.tensors)) {
            setOwn(tensors, name, owned(t.dtype === p.dtype ? t.clone() : t.to(p.dtype)));
          }
        }
      });
    } catch (e) {
      for (const s of next.values()) for (const t of Object.values(s.tensors)) t.dispose();
      throw e;
    }
    groups.forEach((options, i) => Object.assign(this.paramGroups[i] as ParamGroup<O>, options));
    for (const s of this.state.values()) for (const t of Object.values(s.tensors)) t.dispose();
    this.state.clear();
    for (const [p, s] of next) this.state.set(p, s);
  }
}

/** Checks that a loaded option has the type of the optimizer's own value (number, boolean, or array of numbers). */
function checkOptionType(op: string, key: string, value: unknown, current: unknown, group: number, where = `group ${group}`): void {
  const ok = Array.isArray(current)
    ? Array.isArray(value) && value.length === current.length && value.every((x) => typeof x === 'number')
    : typeof value === typeof current;
  if (!ok)
    throw new TypeError(
      `${op}: option '${key}' of ${where} must be ${Array.isArray(current) ? `an array of ${current.length} numbers` : `a ${typeof current}`}, got ${
        Array.isArray(value) ? `an array of length ${value.length}` : describe(value)
      }`,
    );
}

// Tensors found to be float leaves. Neither property changes (an op's output
// gets its graph node when it is made), so checking the parameters at each
// step asks the native layer nothing more for them.
const floatLeaves = new WeakSet<Tensor>();

// The params array of held group `gi`, which the user may have replaced or changed since it was added.
function paramsOf(group: unknown, gi: number, op: string): unknown[] {
  if (group === null || typeof group !== 'object')
    throw new TypeError(`${op}: parameter group ${gi} must be an object with a params list (add groups with addParamGroup), got ${describe(group)}`);
  const { params } = group as { params?: unknown };
  if (!Array.isArray(params)) throw new TypeError(`${op}: params of parameter group ${gi} must be an array of Tensors, got ${describe(params)}`);
  return params;
}

// Checks parameter `i` of group `g` as the constructor and addParamGroup do:
// a float leaf tensor made by tapegrad, not already in `seen` (then added).
function checkParam(p: unknown, i: number, g: number, op: string, seen: Set<Tensor>): void {
  if (!isTensor(p)) throw new TypeError(`${op}: parameter ${i} of group ${g} is not a Tensor, got ${describe(p)}`);
  if (p.isDisposed) throw new TapegradError(`${op}: parameter ${i} of group ${g} is a disposed tensor`);
  if (!floatLeaves.has(p)) {
    if (!p.isLeaf) throw new TypeError(`${op}: parameter ${i} of group ${g} is not a leaf tensor`);
    if (p.dtype === 'int32') throw new TypeError(`${op}: parameter ${i} of group ${g} must be float32 or float64, got int32`);
    floatLeaves.add(p);
  }
  claim(p, i, g, op, seen);
}

// Adds parameter `i` of group `g` to `seen`: a parameter in two places would
// be updated twice a step (PyTorch: "some parameters appear in more than one
// parameter group").
function claim(p: unknown, i: number, g: number, op: string, seen: Set<unknown>): void {
  if (seen.has(p)) throw new RangeError(`${op}: parameter ${i} of group ${g} appears in more than one place`);
  seen.add(p);
}

/** Keeps an optimizer-owned tensor out of any tidy scope. */
function owned(t: Tensor): Tensor {
  untrack(t);
  return t;
}
