// Learning-rate schedules, as PyTorch 1.13's. StepLR, MultiStepLR,
// ExponentialLR, CosineAnnealingLR, LinearLR and ConstantLR are chainable: each step()
// scales the lr the group has now (PyTorch's recursive forms), so two
// schedulers on one optimizer compose (a LinearLR warm-up with a
// CosineAnnealingLR), and an lr set by hand or cut by ReduceLROnPlateau
// carries on (ChainedScheduler steps several together). LambdaLR,
// CosineAnnealingWarmRestarts and OneCycleLR set the lr from the step count alone.
// Every scheduler also has its closed form (the lr from the base lr and the
// step count), which SequentialLR uses to start one at its milestone.
import { checkBoolean, checkChoice, checkNumber, checkOptions, describe } from '../errors.js';
import { ownValue } from '../keys.js';
import { Optimizer } from './optimizer.js';

type AnyOptimizer = Optimizer<{ lr: number }>;

// The lr each parameter group had when the first scheduler was attached to it
// (PyTorch's group['initial_lr']): a second scheduler takes it as its base lr,
// not the lr the first one has already changed.
const initialLrs = new WeakMap<object, number>();

function initialLr(group: { lr: number }): number {
  if (!initialLrs.has(group)) initialLrs.set(group, group.lr);
  return initialLrs.get(group) as number;
}

/**
 * A schedule for the parameter groups the optimizer had when the scheduler
 * was made (one base lr each). A group added later (addParamGroup) keeps the
 * lr it was added with: the scheduler leaves it alone until loadStateDict
 * gives it a base lr (a state dict has one per group of the optimizer).
 */
export abstract class LRScheduler {
  readonly optimizer: AnyOptimizer;
  /**
   * The base lr of each group it schedules: the lr the group had when the
   * first scheduler was attached to it (PyTorch's initial_lr).
   */
  readonly baseLrs: number[];
  /** The number of step() calls since the scheduler was made (its constructor's own first step is step 0). */
  lastEpoch = -1;

  protected constructor(optimizer: AnyOptimizer) {
    checkOptimizer(new.target.name, optimizer);
    this.optimizer = optimizer;
    this.baseLrs = optimizer.paramGroups.map(initialLr);
  }

  /** The lr of group `i` at step `t` from its base lr alone (the closed form). */
  protected abstract lrAt(t: number, base: number, i: number): number;

  /**
   * The lr of group `i` at step `t` from its lr now (at step t - 1). This is
   * the closed form; a chainable scheduler overrides it with a form that
   * scales `lr`, so that other changes to the lr carry on.
   */
  protected nextLr(t: number, _lr: number, base: number, i: number): number {
    return this.lrAt(t, base, i);
  }

  /** Advances one step (call after optimizer.step()) and sets each group's lr. */
  step(): void {
    const t = this.lastEpoch + 1;
    this.setLrs(t, (lr, base, i) => this.nextLr(t, lr, base, i));
  }

  /** @internal Goes back to step 0, with the lrs of the closed form (SequentialLR at a milestone, as PyTorch's step(0)). */
  _restart(): void {
    this.setLrs(0, (_lr, base, i) => this.lrAt(0, base, i));
  }

  // Every lr is worked out before anything changes: OneCycleLR throws past
  // its last step, leaving the step count and the lrs as they were. Only the
  // groups with a base lr are set (see the class's comment).
  protected setLrs(t: number, lrOf: (lr: number, base: number, i: number) => number): void {
    const groups = this.optimizer.paramGroups.slice(0, this.baseLrs.length);
    const lrs = groups.map((g, i) => lrOf(g.lr, this.baseLrs[i] as number, i));
    this.lastEpoch = t;
    groups.forEach((g, i) => {
      g.lr = lrs[i] as number;
    });
  }

  /** The lr of each group after the last step. */
  getLastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  stateDict(): { lastEpoch: number; baseLrs: number[] } {
    return { lastEpoch: this.lastEpoch, baseLrs: [...this.baseLrs] };
  }

  /**
   * Restores lastEpoch and baseLrs, checked as the optimizer checks an lr.
   * The lrs themselves are not changed: they come back with the optimizer's
   * state dict (as in PyTorch), which chained schedulers need.
   */
  loadStateDict(state: { lastEpoch: number; baseLrs: number[] }): void {
    const op = `${this.constructor.name}.loadStateDict`;
    if (state === null || typeof state !== 'object') throw new TypeError(`${op}: expected an object with lastEpoch and baseLrs`);
    const stray = Object.keys(state).find((k) => k !== 'lastEpoch' && k !== 'baseLrs');
    if (stray !== undefined) throw new RangeError(`${op}: the state dict has a key '${stray}'; expected lastEpoch and baseLrs, as stateDict() returns`);
    const lastEpoch = ownValue(state, 'lastEpoch') as number;
    const baseLrs = ownValue(state, 'baseLrs');
    if (!Number.isInteger(lastEpoch) || lastEpoch < -1)
      throw new RangeError(`${op}: lastEpoch must be an integer >= -1, got ${String(lastEpoch)}`);
    const groups = this.optimizer.paramGroups;
    if (!Array.isArray(baseLrs) || baseLrs.length !== groups.length)
      throw new RangeError(
        `${op}: baseLrs must be ${groups.length} numbers, one per parameter group of the optimizer, got ` +
          (Array.isArray(baseLrs) ? `${baseLrs.length}` : String(baseLrs)),
      );
    // A negative lr would ascend the gradient, silently.
    baseLrs.forEach((v: unknown, i) => {
      if (typeof v !== 'number' || !(v >= 0)) throw new RangeError(`${op}: baseLrs[${i}] must be a non-negative number, got ${String(v)}`);
    });
    this.lastEpoch = lastEpoch;
    this.baseLrs.splice(0, this.baseLrs.length, ...(baseLrs as number[]));
    groups.forEach((g, i) => initialLrs.set(g, baseLrs[i] as number));
  }
}

function positiveInteger(name: string, option: string, v: unknown): number {
  return checkNumber(v, name, option, 'a positive integer', (x) => Number.isInteger(x) && x > 0);
}

// A scheduler reads and sets its optimizer's paramGroups: anything else would
// fail later on a property read, with an error naming no scheduler.
function checkOptimizer(name: string, optimizer: unknown): void {
  if (!(optimizer instanceof Optimizer)) throw new TypeError(`${name}: optimizer must be an Optimizer, got ${describe(optimizer)}`);
}

function nonNegativeInteger(name: string, option: string, v: unknown): number {
  return checkNumber(v, name, option, 'a non-negative integer', (x) => Number.isInteger(x) && x >= 0);
}

// A factor or an lr: a negative or NaN one would make a negative or NaN lr, which the optimizer would use silently.
function nonNegative(name: string, option: string, v: unknown): number {
  return checkNumber(v, name, option, 'a non-negative finite number', (x) => x >= 0 && Number.isFinite(x));
}

function positive(name: string, option: string, v: unknown): number {
  return checkNumber(v, name, option, 'a positive finite number', (x) => x > 0 && Number.isFinite(x));
}

// One value per parameter group: a number for all of them, or an array of one per group, each checked by `check`.
function perGroup(name: string, option: string, v: unknown, groups: number, check = nonNegative): number[] {
  if (!Array.isArray(v)) return new Array(groups).fill(check(name, option, v));
  if (v.length !== groups) throw new RangeError(`${name}: expected ${groups} ${option} values, one per parameter group, got ${v.length}`);
  return v.map((x: unknown, i) => check(name, `${option}[${i}]`, x));
}

// A momentum or beta1 of 1 or more would never forget a gradient (Adam refuses it).
function momentumRange(name: string, option: string, v: unknown): number {
  return checkNumber(v, name, option, 'in [0, 1)', (x) => x >= 0 && x < 1);
}

/** Multiplies the lr by gamma every stepSize steps: lr = base · gamma^floor(t / stepSize) alone. Chainable. */
export class StepLR extends LRScheduler {
  readonly stepSize: number;
  readonly gamma: number;
  constructor(optimizer: AnyOptimizer, options: { stepSize: number; gamma?: number }) {
    super(optimizer);
    checkOptions(options, 'StepLR', '{ stepSize: 30, gamma: 0.1 }', ['stepSize', 'gamma']);
    this.stepSize = positiveInteger('StepLR', 'stepSize', options.stepSize);
    this.gamma = nonNegative('StepLR', 'gamma', options.gamma ?? 0.1);
    this.step();
  }
  protected lrAt(t: number, base: number): number {
    return base * this.gamma ** Math.floor(t / this.stepSize);
  }
  protected override nextLr(t: number, lr: number): number {
    return t > 0 && t % this.stepSize === 0 ? lr * this.gamma : lr;
  }
}

/** Cosine from base to etaMin over tMax steps (and back up over the next tMax). Chainable. */
export class CosineAnnealingLR extends LRScheduler {
  readonly tMax: number;
  readonly etaMin: number;
  constructor(optimizer: AnyOptimizer, options: { tMax: number; etaMin?: number }) {
    super(optimizer);
    checkOptions(options, 'CosineAnnealingLR', '{ tMax: 100, etaMin: 0 }', ['tMax', 'etaMin']);
    this.tMax = positiveInteger('CosineAnnealingLR', 'tMax', options.tMax);
    this.etaMin = nonNegative('CosineAnnealingLR', 'etaMin', options.etaMin ?? 0);
    this.step();
  }
  protected lrAt(t: number, base: number): number {
    return this.etaMin + ((base - this.etaMin) * (1 + Math.cos((Math.PI * t) / this.tMax))) / 2;
  }
  protected override nextLr(t: number, lr: number, base: number): number {
    const { tMax, etaMin } = this;
    if (t === 0) return lr;
    // At the bottom of the cosine the ratio below is 0/0: step up by the first step's amount instead.
    if ((((t - 1 - tMax) % (2 * tMax)) + 2 * tMax) % (2 * tMax) === 0) return lr + ((base - etaMin) * (1 - Math.cos(Math.PI / tMax))) / 2;
    return ((1 + Math.cos((Math.PI * t) / tMax)) / (1 + Math.cos((Math.PI * (t - 1)) / tMax))) * (lr - etaMin) + etaMin;
  }
}

/** Linear change of the factor from startFactor to endFactor over totalIters steps (a warm-up). Chainable. */
export class LinearLR extends LRScheduler {
  readonly startFactor: number;
  readonly endFactor: number;
  readonly totalIters: number;
  constructor(optimizer: AnyOptimizer, options: { startFactor?: number; endFactor?: number; totalIters?: number } = {}) {
    super(optimizer);
    checkOptions(options, 'LinearLR', '{ startFactor: 0.1, totalIters: 5 }', ['startFactor', 'endFactor', 'totalIters']);
    this.startFactor = checkNumber(options.startFactor ?? 1 / 3, 'LinearLR', 'startFactor', 'in (0, 1]', (v) => v > 0 && v <= 1);
    this.endFactor = checkNumber(options.endFactor ?? 1, 'LinearLR', 'endFactor', 'in [0, 1]', (v) => v >= 0 && v <= 1);
    this.totalIters = positiveInteger('LinearLR', 'totalIters', options.totalIters ?? 5);
    this.step();
  }
  protected lrAt(t: number, base: number): number {
    const progress = Math.min(t, this.totalIters) / this.totalIters;
    return base * (this.startFactor + (this.endFactor - this.startFactor) * progress);
  }
  protected override nextLr(t: number, lr: number): number {
    const { startFactor: a, endFactor: b, totalIters: n } = this;
    if (t === 0) return lr * a;
    if (t > n) return lr;
    // The factor at step t over the factor at step t - 1.
    return lr * (1 + (b - a) / (n * a + (t - 1) * (b - a)));
  }
}

/** Multiplies the lr by gamma at each milestone (a step count; one listed twice multiplies twice). Chainable. */
export class MultiStepLR extends LRScheduler {
  readonly milestones: readonly number[];
  readonly gamma: number;
  constructor(optimizer: AnyOptimizer, options: { milestones: number[]; gamma?: number }) {
    super(optimizer);
    checkOptions(options, 'MultiStepLR', '{ milestones: [30, 80], gamma: 0.1 }', ['milestones', 'gamma']);
    const { milestones } = options;
    if (!Array.isArray(milestones)) throw new TypeError(`MultiStepLR: milestones must be an array of step counts, got ${describe(milestones)}`);
    this.milestones = Object.freeze(milestones.map((m: unknown, i) => nonNegativeInteger('MultiStepLR', `milestones[${i}]`, m)).sort((a, b) => a - b));
    this.gamma = nonNegative('MultiStepLR', 'gamma', options.gamma ?? 0.1);
    this.step();
  }
  protected lrAt(t: number, base: number): number {
    return base * this.gamma ** this.milestones.filter((m) => m <= t).length;
  }
  protected override nextLr(t: number, lr: number): number {
    const hits = this.milestones.filter((m) => m === t).length;
    return hits === 0 ? lr : lr * this.gamma ** hits;
  }
}

/** Multiplies the lr by gamma every step: lr = base · gamma^t alone. Chainable. */
export class ExponentialLR extends LRScheduler {
  readonly gamma: number;
  constructor(optimizer: AnyOptimizer, options: { gamma: number }) {
    super(optimizer);
    checkOptions(options, 'ExponentialLR', '{ gamma: 0.95 }', ['gamma']);
    this.gamma = nonNegative('ExponentialLR', 'gamma', options.gamma);
    this.step();
  }
  protected lrAt(t: number, base: number): number {
    return base * this.gamma ** t;
  }
  protected override nextLr(t: number, lr: number): number {
    return t === 0 ? lr : lr * this.gamma;
  }
}

/**
 * Multiplies the lr by factor for the first totalIters steps, then restores it
 * (a constant warm-up): lr = base · factor before step totalIters, base from
 * then on. Chainable.
 */
export class ConstantLR extends LRScheduler {
  readonly factor: number;
  readonly totalIters: number;
  constructor(optimizer: AnyOptimizer, options: { factor?: number; totalIters?: number } = {}) {
    super(optimizer);
    checkOptions(options, 'ConstantLR', '{ factor: 0.5, totalIters: 5 }', ['factor', 'totalIters']);
    // 0 is refused: the lr could never be restored from it (PyTorch's then becomes NaN).
    this.factor = checkNumber(options.factor ?? 1 / 3, 'ConstantLR', 'factor', 'in (0, 1]', (v) => v > 0 && v <= 1);
    this.totalIters = positiveInteger('ConstantLR', 'totalIters', options.totalIters ?? 5);
    this.step();
  }
  protected lrAt(t: number, base: number): number {
    return t < this.totalIters ? base * this.factor : base;
  }
  protected override nextLr(t: number, lr: number): number {
    if (t === 0) return lr * this.factor;
    return t === this.totalIters ? lr / this.factor : lr;
  }
}

/**
 * Cosine from base to etaMin over t0 steps, then again from base (a warm
 * restart), each cycle tMult times as long as the one before (SGDR). The lr
 * comes from the step count alone (not chainable, as PyTorch's).
 */
export class CosineAnnealingWarmRestarts extends LRScheduler {
  readonly t0: number;
  readonly tMult: number;
  readonly etaMin: number;
  constructor(optimizer: AnyOptimizer, options: { t0: number; tMult?: number; etaMin?: number }) {
    super(optimizer);
    const op = 'CosineAnnealingWarmRestarts';
    checkOptions(options, op, '{ t0: 10, tMult: 2, etaMin: 0 }', ['t0', 'tMult', 'etaMin']);
    this.t0 = positiveInteger(op, 't0', options.t0);
    this.tMult = positiveInteger(op, 'tMult', options.tMult ?? 1);
    this.etaMin = nonNegative(op, 'etaMin', options.etaMin ?? 0);
    this.step();
  }
  protected lrAt(t: number, base: number): number {
    // The step within the current cycle, and that cycle's length; in
    // integers, so that a restart falls exactly on its step.
    let cycle = this.t0;
    let inCycle = this.tMult === 1 ? t % cycle : t;
    while (inCycle >= cycle) {
      inCycle -= cycle;
      cycle *= this.tMult;
    }
    return this.etaMin + ((base - this.etaMin) * (1 + Math.cos((Math.PI * inCycle) / cycle))) / 2;
  }
}

type NestedState = { lastEpoch: number; baseLrs: number[]; schedulers: { lastEpoch: number; baseLrs: number[] }[] };

/**
 * A scheduler made of others on one optimizer (SequentialLR, ChainedScheduler):
 * no closed form of its own, and a state dict that holds each scheduler's.
 */
export abstract class ComposedScheduler extends LRScheduler {
  abstract readonly schedulers: readonly LRScheduler[];

  protected lrAt(): number {
    throw new TypeError(`${this.constructor.name}: has no closed form of its own`);
  }

  override stateDict(): NestedState {
    return { ...super.stateDict(), schedulers: this.schedulers.map((s) => s.stateDict()) };
  }

  /** Restores its step count and base lrs, then each scheduler's state (all or nothing). */
  override loadStateDict(state: NestedState): void {
    const op = `${this.constructor.name}.loadStateDict`;
    if (state === null || typeof state !== 'object') throw new TypeError(`${op}: expected an object with lastEpoch, baseLrs and schedulers`);
    const inner: unknown = ownValue(state, 'schedulers');
    if (!Array.isArray(inner) || inner.length !== this.schedulers.length)
      throw new RangeError(
        `${op}: schedulers must be ${this.schedulers.length} state dicts, one per scheduler, got ` +
          (Array.isArray(inner) ? `${inner.length}` : describe(inner)),
      );
    const before = this.stateDict();
    const { schedulers: _inner, ...own } = state;
    try {
      super.loadStateDict(own);
      this.schedulers.forEach((s, k) => s.loadStateDict(inner[k]));
    } catch (e) {
      super.loadStateDict({ lastEpoch: before.lastEpoch, baseLrs: before.baseLrs });
      this.schedulers.forEach((s, k) => s.loadStateDict(before.schedulers[k] as { lastEpoch: number; baseLrs: number[] }));
      throw e;
    }
  }
}

/**
 * Steps several schedulers of one optimizer together, in the order given (a
 * ConstantLR warm-up with an ExponentialLR decay), as PyTorch's
 * ChainedScheduler: only chainable schedulers compose this way.
 */
export class ChainedScheduler extends ComposedScheduler {
  readonly schedulers: readonly LRScheduler[];
  constructor(schedulers: LRScheduler[]) {
    super(chainedOptimizer(schedulers));
    this.schedulers = Object.freeze([...schedulers]);
    this.lastEpoch = 0;
  }

  override step(): void {
    for (const s of this.schedulers) s.step();
    this.lastEpoch += 1;
  }
}

// The optimizer of the schedulers ChainedScheduler is given, which must share one.
function chainedOptimizer(schedulers: unknown): AnyOptimizer {
  const op = 'ChainedScheduler';
  if (!Array.isArray(schedulers) || schedulers.length === 0)
    throw new TypeError(`${op}: schedulers must be a non-empty array of lr schedulers, got ${describe(schedulers)}`);
  schedulers.forEach((s: unknown, k) => {
    if (!(s instanceof LRScheduler))
      throw new TypeError(`${op}: schedulers[${k}] must be an lr scheduler such as ExponentialLR (not ReduceLROnPlateau), got ${describe(s)}`);
    if (s.optimizer !== (schedulers[0] as LRScheduler).optimizer)
      throw new RangeError(`${op}: schedulers[${k}] belongs to another optimizer than schedulers[0]`);
  });
  return (schedulers[0] as LRScheduler).optimizer;
}


/** A function of the step count (0 at construction) that gives the factor of the base lr. */
export type LrLambda = (step: number) => number;

/**
 * lr = base · lrLambda(t): one function for every group, or one per group.
 * Not chainable (as PyTorch's): it sets the lr from the base lr alone. Its
 * state dict holds the step count, not the functions.
 */
export class LambdaLR extends LRScheduler {
  private readonly lrLambda: LrLambda | readonly LrLambda[];
  constructor(optimizer: AnyOptimizer, options: { lrLambda: LrLambda | LrLambda[] }) {
    super(optimizer);
    checkOptions(options, 'LambdaLR', '{ lrLambda: (t) => 0.95 ** t }', ['lrLambda']);
    const { lrLambda } = options;
    const groups = optimizer.paramGroups.length;
    if (Array.isArray(lrLambda) && lrLambda.length !== groups)
      throw new RangeError(`LambdaLR: expected ${groups} lrLambda functions, one per parameter group, got ${lrLambda.length}`);
    (Array.isArray(lrLambda) ? lrLambda : [lrLambda]).forEach((f: unknown, i) => {
      if (typeof f !== 'function')
        throw new TypeError(`LambdaLR: lrLambda${Array.isArray(lrLambda) ? `[${i}]` : ''} must be a function of the step count, got ${describe(f)}`);
    });
    this.lrLambda = Array.isArray(lrLambda) ? Object.freeze([...lrLambda]) : lrLambda;
    this.step();
  }
  protected lrAt(t: number, base: number, i: number): number {
    const f = typeof this.lrLambda === 'function' ? this.lrLambda : this.lrLambda[i];
    // Only a group added after the scheduler was made (then given a base lr by loadStateDict) can lack one.
    if (f === undefined)
      throw new RangeError(`LambdaLR: group ${i} has no lrLambda (one was given per group, for ${(this.lrLambda as LrLambda[]).length} groups)`);
    const factor: unknown = f(t);
    // A NaN or negative factor would reach the optimizer, which would name neither this scheduler nor the function.
    if (typeof factor !== 'number' || !(factor >= 0) || !Number.isFinite(factor))
      throw new RangeError(`LambdaLR: lrLambda returned ${describe(factor)} at step ${t} for group ${i}; expected a non-negative finite number`);
    return base * factor;
  }
}

/**
 * Runs schedulers one after another on one optimizer: schedulers[k] from
 * milestones[k - 1] on, restarted at its step 0 there (e.g. a LinearLR
 * warm-up, then a CosineAnnealingLR from the base lr). The schedulers must
 * be made on this optimizer just before; SequentialLR puts the lrs back to
 * their base and takes over from their own first step.
 */
export class SequentialLR extends ComposedScheduler {
  readonly schedulers: readonly LRScheduler[];
  readonly milestones: readonly number[];
  constructor(optimizer: AnyOptimizer, options: { schedulers: LRScheduler[]; milestones: number[] }) {
    super(optimizer);
    const op = 'SequentialLR';
    checkOptions(options, op, '{ schedulers: [warmup, cosine], milestones: [5] }', ['schedulers', 'milestones']);
    const { schedulers, milestones } = options;
    if (!Array.isArray(schedulers) || schedulers.length === 0)
      throw new TypeError(`${op}: schedulers must be a non-empty array of lr schedulers, got ${describe(schedulers)}`);
    schedulers.forEach((s: unknown, k) => {
      // ReduceLROnPlateau steps with a metric, and a SequentialLR has no closed form to restart from.
      if (!(s instanceof LRScheduler) || s instanceof SequentialLR)
        throw new TypeError(`${op}: schedulers[${k}] must be an lr scheduler such as LinearLR (not ReduceLROnPlateau or SequentialLR), got ${describe(s)}`);
      if (s.optimizer !== optimizer) throw new RangeError(`${op}: schedulers[${k}] belongs to another optimizer than the one given`);
    });
    if (!Array.isArray(milestones) || milestones.length !== schedulers.length - 1)
      throw new RangeError(
        `${op}: milestones must be an array of ${schedulers.length - 1} step counts, one fewer than the schedulers, got ` +
          (Array.isArray(milestones) ? `${milestones.length}` : describe(milestones)),
      );
    milestones.forEach((m: unknown, k) => {
      const previous = k === 0 ? 0 : (milestones[k - 1] as number);
      checkNumber(m, op, `milestones[${k}]`, `an integer > ${previous} (milestones ascend)`, (v) => Number.isInteger(v) && v > previous);
    });
    this.schedulers = Object.freeze([...schedulers]);
    this.milestones = Object.freeze([...milestones]);
    // As PyTorch: undo what the schedulers' constructors did, then take the first one's first step again.
    optimizer.paramGroups.slice(0, this.baseLrs.length).forEach((g, i) => {
      g.lr = this.baseLrs[i] as number;
    });
    for (const s of this.schedulers) s.lastEpoch -= 1;
    (this.schedulers[0] as LRScheduler).step();
    this.lastEpoch = 0;
  }

  /** Steps the scheduler whose turn it is; at a milestone, restarts the next one at its step 0. */
  override step(): void {
    const t = this.lastEpoch + 1;
    const k = this.milestones.filter((m) => m <= t).length;
    const s = this.schedulers[k] as LRScheduler;
    if (k > 0 && this.milestones[k - 1] === t) s._restart();
    else s.step();
    this.lastEpoch = t;
  }
}

export interface OneCycleOptions {
  maxLr: number | number[];
  /** The number of steps in the cycle; or give epochs and stepsPerEpoch (their product). */
  totalSteps?: number;
  epochs?: number;
  stepsPerEpoch?: number;
  pctStart?: number;
  annealStrategy?: 'cos' | 'linear';
  divFactor?: number;
  finalDivFactor?: number;
  threePhase?: boolean;
  /**
   * Cycles the momentum (SGD, RMSprop) or betas[0] (Adam, AdamW) inversely to
   * the lr, from maxMomentum down to baseMomentum and back (default true, as
   * PyTorch; an optimizer with neither, such as Adagrad, needs false).
   */
  cycleMomentum?: boolean;
  /** The momentum at the peak of the lr (default 0.85). */
  baseMomentum?: number | number[];
  /** The momentum at the start and end of the cycle (default 0.95). */
  maxMomentum?: number | number[];
}

type OneCycleLrPoint = 'initial' | 'max' | 'min';
type OneCycleMomentumPoint = 'base' | 'max';
interface OneCyclePhase {
  /** The step the phase ends on (not necessarily an integer). */
  end: number;
  lr: [OneCycleLrPoint, OneCycleLrPoint];
  momentum: [OneCycleMomentumPoint, OneCycleMomentumPoint];
}

/**
 * The 1cycle policy: warm up from maxLr/divFactor to maxLr, then anneal to a
 * tiny lr, with the momentum moving the other way. The lr and momentum come
 * from the step count alone (not chainable, as in PyTorch). Momentum is
 * cycled for the groups the optimizer had when the scheduler was made.
 */
export class OneCycleLR extends LRScheduler {
  private readonly phases: OneCyclePhase[];
  private readonly maxLrs: number[];
  private readonly momentums: { key: 'momentum' | 'betas'; base: number[]; max: number[] } | null;
  private readonly options: Required<Omit<OneCycleOptions, 'maxLr' | 'epochs' | 'stepsPerEpoch' | 'baseMomentum' | 'maxMomentum'>>;
  constructor(optimizer: AnyOptimizer, options: OneCycleOptions) {
    super(optimizer);
    const op = 'OneCycleLR';
    checkOptions(options, op, '{ maxLr: 0.1, totalSteps: 1000 }', [
      'maxLr', 'totalSteps', 'epochs', 'stepsPerEpoch', 'pctStart', 'annealStrategy', 'divFactor', 'finalDivFactor',
      'threePhase', 'cycleMomentum', 'baseMomentum', 'maxMomentum',
    ]);
    this.options = {
      totalSteps: oneCycleSteps(options),
      pctStart: checkNumber(options.pctStart ?? 0.3, op, 'pctStart', 'in (0, 1)', (v) => v > 0 && v < 1),
      annealStrategy: checkChoice(options.annealStrategy ?? 'cos', op, 'annealStrategy', ['cos', 'linear']),
      // The lrs are maxLr / divFactor and that / finalDivFactor: 0 or Infinity would make them Infinity or 0.
      divFactor: positive(op, 'divFactor', options.divFactor ?? 25),
      finalDivFactor: positive(op, 'finalDivFactor', options.finalDivFactor ?? 1e4),
      threePhase: checkBoolean(options.threePhase, op, 'threePhase', false),
      cycleMomentum: checkBoolean(options.cycleMomentum, op, 'cycleMomentum', true),
    };
    const groups = optimizer.paramGroups;
    this.maxLrs = perGroup(op, 'maxLr', options.maxLr, groups.length);
    this.momentums = null;
    if (this.options.cycleMomentum) {
      // As PyTorch: betas[0] if the optimizer has betas, else momentum; neither is an error.
      const first = groups[0] as object;
      const key = 'betas' in first ? 'betas' : 'momentum' in first ? 'momentum' : null;
      if (key === null)
        throw new TypeError(
          `${op}: cycleMomentum (on by default) needs an optimizer with momentum or betas (SGD, RMSprop, Adam, AdamW), ` +
            `got ${optimizer.constructor.name}; pass cycleMomentum: false`,
        );
      this.momentums = {
        key,
        base: perGroup(op, 'baseMomentum', options.baseMomentum ?? 0.85, groups.length, momentumRange),
        max: perGroup(op, 'maxMomentum', options.maxMomentum ?? 0.95, groups.length, momentumRange),
      };
    } else if (options.baseMomentum !== undefined || options.maxMomentum !== undefined) {
      throw new RangeError(`${op}: baseMomentum and maxMomentum need cycleMomentum: true`);
    }
    const up = this.options.pctStart * this.options.totalSteps - 1;
    const last = this.options.totalSteps - 1;
    this.phases = this.options.threePhase
      ? [
          { end: up, lr: ['initial', 'max'], momentum: ['max', 'base'] },
          { end: 2 * up, lr: ['max', 'initial'], momentum: ['base', 'max'] },
          { end: last, lr: ['initial', 'min'], momentum: ['max', 'max'] },
        ]
      : [
          { end: up, lr: ['initial', 'max'], momentum: ['max', 'base'] },
          { end: last, lr: ['max', 'min'], momentum: ['base', 'max'] },
        ];
    // A phase that starts and ends on the same step divides by zero: the lr
    // would become NaN and the error come later, from the optimizer.
    this.phases.forEach((phase, k) => {
      const start = k === 0 ? 0 : (this.phases[k - 1] as OneCyclePhase).end;
      if (phase.end === start)
        throw new RangeError(
          `${op}: pctStart ${this.options.pctStart} with totalSteps ${this.options.totalSteps} makes phase ${k + 1} of ` +
            `${this.phases.length} zero steps long (from step ${start} to step ${phase.end}); ` +
            'expected pctStart·totalSteps - 1 to be non-zero' + (this.options.threePhase ? ' and totalSteps - 1 to differ from 2·(pctStart·totalSteps - 1)' : ''),
        );
    });
    // As PyTorch: the initial lr is maxLr / divFactor, whatever the optimizer had.
    groups.forEach((g, i) => {
      g.lr = (this.maxLrs[i] as number) / this.options.divFactor;
      this.baseLrs[i] = g.lr;
      initialLrs.set(g, g.lr);
    });
    this.step();
  }

  // With cycleMomentum, each lr set comes with its momentum.
  protected override setLrs(t: number, lrOf: (lr: number, base: number, i: number) => number): void {
    super.setLrs(t, lrOf);
    const m = this.momentums;
    if (m === null) return;
    const { phase, pct } = this.phaseAt(t);
    this.optimizer.paramGroups.slice(0, m.max.length).forEach((g, i) => {
      const value = { base: m.base[i] as number, max: m.max[i] as number };
      const momentum = this.anneal(value[phase.momentum[0]], value[phase.momentum[1]], pct);
      const group = g as unknown as { momentum: number; betas: [number, number] };
      if (m.key === 'betas') group.betas = [momentum, group.betas[1]];
      else group.momentum = momentum;
    });
  }

  protected lrAt(t: number, base: number, i: number): number {
    // As PyTorch: the totalSteps-th step() (after the last optimizer step of
    // a loop of totalSteps iterations) is allowed; the one after it is not.
    if (t > this.options.totalSteps)
      throw new RangeError(`OneCycleLR: step() called ${t} times, more than totalSteps (${this.options.totalSteps})`);
    // A group added later has a base lr only once loadStateDict gave it one: maxLr is base·divFactor, as at the start.
    const max = this.maxLrs[i] ?? base * this.options.divFactor;
    const value = { initial: max / this.options.divFactor, max, min: max / this.options.divFactor / this.options.finalDivFactor };
    const { phase, pct } = this.phaseAt(t);
    return this.anneal(value[phase.lr[0]], value[phase.lr[1]], pct);
  }

  // The phase step t is in and how far through it (past 1 at step totalSteps, which carries the last phase on).
  private phaseAt(t: number): { phase: OneCyclePhase; pct: number } {
    let start = 0;
    for (const [k, phase] of this.phases.entries()) {
      if (t <= phase.end || k === this.phases.length - 1) return { phase, pct: (t - start) / (phase.end - start) };
      start = phase.end;
    }
    throw new Error('unreachable: the last phase takes every step');
  }

  private anneal(a: number, b: number, pct: number): number {
    return this.options.annealStrategy === 'cos' ? b + ((a - b) / 2) * (1 + Math.cos(Math.PI * pct)) : (b - a) * pct + a;
  }
}

// The cycle's length: totalSteps, or epochs · stepsPerEpoch, as PyTorch (which takes totalSteps when both are given;
// here that is refused, as one of them would be ignored).
function oneCycleSteps(options: OneCycleOptions): number {
  const op = 'OneCycleLR';
  const { totalSteps, epochs, stepsPerEpoch } = options;
  if (totalSteps !== undefined) {
    if (epochs !== undefined || stepsPerEpoch !== undefined)
      throw new RangeError(`${op}: give either totalSteps or epochs and stepsPerEpoch, not both`);
    return positiveInteger(op, 'totalSteps', totalSteps);
  }
  if (epochs === undefined || stepsPerEpoch === undefined)
    throw new RangeError(`${op}: expected totalSteps, or epochs and stepsPerEpoch (got ${epochs === undefined ? 'no epochs' : 'no stepsPerEpoch'})`);
  return positiveInteger(op, 'epochs', epochs) * positiveInteger(op, 'stepsPerEpoch', stepsPerEpoch);
}

export interface ReduceLROnPlateauOptions {
  mode?: 'min' | 'max';
  factor?: number;
  patience?: number;
  threshold?: number;
  thresholdMode?: 'rel' | 'abs';
  cooldown?: number;
  minLr?: number | number[];
  eps?: number;
}

/**
 * Multiplies the lr by `factor` when a metric stops improving for `patience`
 * steps. Groups added to the optimizer later are reduced too, with minLr
 * when it is one number (values set in `minLrs` by hand for the groups held
 * before stay); with one minLr per group, a step with another number of
 * groups throws a RangeError (as PyTorch), since no minLr is known for the
 * new group: set `minLrs` to one value per group.
 */
export class ReduceLROnPlateau {
  readonly optimizer: AnyOptimizer;
  private readonly o: Required<Omit<ReduceLROnPlateauOptions, 'minLr'>>;
  /** The least lr of each group (settable); one number given as minLr applies to groups added later too. */
  minLrs: number[];
  private readonly defaultMinLr: number | null;
  private best: number;
  private badEpochs = 0;
  private cooldownCounter = 0;
  lastEpoch = 0;

  constructor(optimizer: AnyOptimizer, options: ReduceLROnPlateauOptions = {}) {
    const op = 'ReduceLROnPlateau';
    checkOptimizer(op, optimizer);
    this.optimizer = optimizer;
    checkOptions(options, op, "{ mode: 'max', patience: 5 }", [
      'mode', 'factor', 'patience', 'threshold', 'thresholdMode', 'cooldown', 'minLr', 'eps',
    ]);
    this.o = {
      mode: checkChoice(options.mode ?? 'min', op, 'mode', ['min', 'max']),
      factor: checkNumber(options.factor ?? 0.1, op, 'factor', 'in [0, 1)', (v) => v >= 0 && v < 1),
      patience: nonNegativeInteger(op, 'patience', options.patience ?? 10),
      threshold: nonNegative(op, 'threshold', options.threshold ?? 1e-4),
      thresholdMode: checkChoice(options.thresholdMode ?? 'rel', op, 'thresholdMode', ['rel', 'abs']),
      cooldown: nonNegativeInteger(op, 'cooldown', options.cooldown ?? 0),
      eps: nonNegative(op, 'eps', options.eps ?? 1e-8),
    };
    const minLr = options.minLr ?? 0;
    this.minLrs = perGroup(op, 'minLr', minLr, optimizer.paramGroups.length);
    this.defaultMinLr = Array.isArray(minLr) ? null : (minLr as number);
    this.best = this.o.mode === 'min' ? Infinity : -Infinity;
  }

  private isBetter(a: number): boolean {
    const { mode, thresholdMode, threshold } = this.o;
    if (mode === 'min') return thresholdMode === 'rel' ? a < this.best * (1 - threshold) : a < this.best - threshold;
    return thresholdMode === 'rel' ? a > this.best * (1 + threshold) : a > this.best + threshold;
  }

  /** Reports the metric of the epoch that just ended. */
  step(metric: number): void {
    checkNumber(metric, 'ReduceLROnPlateau.step', 'metric', 'a number (not NaN)', (v) => !Number.isNaN(v));
    const groups = this.optimizer.paramGroups.length;
    const held: unknown = this.minLrs;
    if (!Array.isArray(held))
      throw new TypeError(`ReduceLROnPlateau.step: minLrs must be an array of one number per parameter group, got ${describe(held)}`);
    if (held.length !== groups) {
      if (this.defaultMinLr === null)
        throw new RangeError(
          `ReduceLROnPlateau.step: the optimizer has ${groups} parameter groups but minLrs holds ${held.length} ` +
            '(a group added after the scheduler was made?); set minLrs to one value per group',
        );
      // Only a group without a minLr gets the default: values set per group
      // by hand stay (PyTorch refills them all with the default).
      const defaultMinLr = this.defaultMinLr;
      this.minLrs = Array.from({ length: groups }, (_, i) => (i < held.length ? (held[i] as number) : defaultMinLr));
    }
    this.lastEpoch++;
    if (this.isBetter(metric)) {
      this.best = metric;
      this.badEpochs = 0;
    } else {
      this.badEpochs++;
    }
    if (this.cooldownCounter > 0) {
      this.cooldownCounter--;
      this.badEpochs = 0;
    }
    if (this.badEpochs > this.o.patience) {
      this.optimizer.paramGroups.forEach((g, i) => {
        const next = Math.max(g.lr * this.o.factor, this.minLrs[i] as number);
        if (g.lr - next > this.o.eps) g.lr = next;
      });
      this.cooldownCounter = this.o.cooldown;
      this.badEpochs = 0;
    }
  }

  getLastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  /** The counters and best metric, enough to resume with loadStateDict (the lrs live in the optimizer's state dict). */
  stateDict(): { best: number; badEpochs: number; cooldownCounter: number; lastEpoch: number } {
    return { best: this.best, badEpochs: this.badEpochs, cooldownCounter: this.cooldownCounter, lastEpoch: this.lastEpoch };
  }

  loadStateDict(state: { best: number; badEpochs: number; cooldownCounter: number; lastEpoch: number }): void {
    if (state === null || typeof state !== 'object') throw new TypeError('ReduceLROnPlateau.loadStateDict: expected an object');
    const fields = ['best', 'badEpochs', 'cooldownCounter', 'lastEpoch'];
    const stray = Object.keys(state).find((k) => !fields.includes(k));
    if (stray !== undefined)
      throw new RangeError(`ReduceLROnPlateau.loadStateDict: the state dict has a key '${stray}'; expected ${fields.join(', ')}, as stateDict() returns`);
    const field = (key: string) => ownValue(state, key) as number;
    // step() refuses a NaN metric, so a NaN best (no metric would count as better) cannot come from a run.
    if (typeof field('best') !== 'number' || Number.isNaN(field('best')))
      throw new TypeError(`ReduceLROnPlateau.loadStateDict: best must be a number, got ${String(field('best'))}`);
    for (const key of ['badEpochs', 'cooldownCounter', 'lastEpoch'])
      if (!Number.isInteger(field(key)) || field(key) < 0)
        throw new RangeError(`ReduceLROnPlateau.loadStateDict: ${key} must be a non-negative integer, got ${String(field(key))}`);
    this.best = field('best');
    this.badEpochs = field('badEpochs');
    this.cooldownCounter = field('cooldownCounter');
    this.lastEpoch = field('lastEpoch');
  }
}
