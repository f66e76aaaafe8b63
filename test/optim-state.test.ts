// Checkpoints: model, optimizer and scheduler saved to safetensors and loaded
// into fresh objects resume training bit-identically.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { tg } from './helpers.js';

const { SGD, Adam, AdamW, RMSprop, Adagrad, lrScheduler, stateDictToTensors, stateDictFromTensors } = tg.optim;
const { addPrefix, selectPrefix } = tg.nn.utils;

type Opt = tg.optim.Optimizer<{ lr: number }>;
type Sched = { step(metric?: number): void; stateDict(): object; loadStateDict(s: never): void };

interface Config {
  name: string;
  optimizer(m: tg.nn.Module, lr: number): Opt;
  scheduler(o: Opt): Sched;
  /** ReduceLROnPlateau steps with the loss. */
  metric?: boolean;
}

// Biases in their own group with their own options, to cover parameter groups.
const groups = (m: tg.nn.Module) => {
  const named = m.namedParameters();
  return [
    { params: named.filter(([n]) => n.endsWith('weight')).map(([, p]) => p) },
    { params: named.filter(([n]) => n.endsWith('bias')).map(([, p]) => p), lr: 0.02 },
  ];
};

const configs: Config[] = [
  { name: 'SGD', optimizer: (m, lr) => new SGD(m.parameters(), { lr }), scheduler: (o) => new lrScheduler.StepLR(o, { stepSize: 3, gamma: 0.5 }) },
  {
    name: 'SGD with momentum, dampening and weight decay',
    optimizer: (m, lr) => new SGD(m.parameters(), { lr, momentum: 0.9, dampening: 0.1, weightDecay: 1e-3 }),
    scheduler: (o) => new lrScheduler.LinearLR(o, { startFactor: 0.2, totalIters: 7 }),
  },
  {
    name: 'SGD Nesterov in two parameter groups',
    optimizer: (m, lr) => new SGD(groups(m), { lr, momentum: 0.8, nesterov: true }),
    scheduler: (o) => new lrScheduler.CosineAnnealingLR(o, { tMax: 10, etaMin: 1e-3 }),
  },
  {
    name: 'Adam with AMSGrad',
    optimizer: (m, lr) => new Adam(m.parameters(), { lr: lr / 10, amsgrad: true, weightDecay: 1e-4 }),
    scheduler: (o) => new lrScheduler.CosineAnnealingLR(o, { tMax: 10 }),
  },
  {
    name: 'AdamW in two parameter groups',
    optimizer: (m, lr) => new AdamW(groups(m), { lr: lr / 10, betas: [0.8, 0.99] }),
    scheduler: (o) => new lrScheduler.OneCycleLR(o, { maxLr: [0.05, 0.01], totalSteps: 11 }),
  },
  {
    name: 'RMSprop centered with momentum',
    optimizer: (m, lr) => new RMSprop(m.parameters(), { lr: lr / 10, centered: true, momentum: 0.5, weightDecay: 1e-4 }),
    scheduler: (o) => new lrScheduler.ReduceLROnPlateau(o, { patience: 0, factor: 0.7, threshold: 0.05 }),
    metric: true,
  },
  {
    name: 'Adagrad with lr decay and an initial accumulator',
    optimizer: (m, lr) => new Adagrad(m.parameters(), { lr, lrDecay: 0.01, initialAccumulatorValue: 0.1 }),
    scheduler: (o) => new lrScheduler.StepLR(o, { stepSize: 4 }),
  },
];

// Fixed data: step i uses batch i % 4.
tg.manualSeed(1234);
const xs = Array.from({ length: 4 }, () => tg.randn([8, 4]));
const ys = Array.from({ length: 4 }, () => tg.randint(0, 3, [8]));
const lossFn = new tg.nn.CrossEntropyLoss();

function makeModel(seed: number): tg.nn.Module {
  tg.manualSeed(seed);
  return new tg.nn.MLP([4, 16, 3], { activation: 'tanh' });
}

function train(m: tg.nn.Module, opt: Opt, sched: Sched, metric: boolean, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    tg.tidy(() => {
      opt.zeroGrad();
      const loss = lossFn.forward(m.forward(xs[i % 4]!), ys[i % 4]!);
      loss.backward();
      opt.step();
      if (metric) sched.step(loss.item());
      else sched.step();
    });
  }
}

const weights = (m: tg.nn.Module) => m.parameters().map((p) => Array.from(p.data()));

function checkpoint(m: tg.nn.Module, opt: Opt, sched: Sched): Record<string, tg.Tensor> {
  return {
    ...addPrefix('model.', m.stateDict()),
    ...addPrefix('optimizer.', stateDictToTensors(opt.stateDict())),
    ...addPrefix('scheduler.', stateDictToTensors(sched.stateDict())),
  };
}

function restore(saved: Record<string, tg.Tensor>, m: tg.nn.Module, opt: Opt, sched: Sched): void {
  m.loadStateDict(selectPrefix('model.', saved));
  opt.loadStateDict(stateDictFromTensors(selectPrefix('optimizer.', saved)));
  sched.loadStateDict(stateDictFromTensors(selectPrefix('scheduler.', saved)) as never);
}

describe('training resumes bit-identically from a safetensors checkpoint', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tapegrad-resume-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const c of configs) {
    it(`${c.name}: 10 steps equal 5 steps, save, load into fresh objects, 5 steps`, () => {
      const metric = c.metric ?? false;
      const a = makeModel(7);
      const optA = c.optimizer(a, 0.1);
      const schedA = c.scheduler(optA);
      train(a, optA, schedA, metric, 0, 10);

      const b = makeModel(7);
      const optB = c.optimizer(b, 0.1);
      const schedB = c.scheduler(optB);
      train(b, optB, schedB, metric, 0, 5);
      const bytes = tg.serialize(checkpoint(b, optB, schedB));

      // Fresh objects with other weights and other options: everything must come from the file.
      const fresh = () => {
        const m = makeModel(99);
        const o = c.optimizer(m, 0.37);
        return { m, o, s: c.scheduler(o) };
      };
      const r = fresh();
      restore(tg.deserialize(bytes).tensors, r.m, r.o, r.s);
      expect(r.o.paramGroups.map((g) => g.lr)).toEqual(optB.paramGroups.map((g) => g.lr));
      train(r.m, r.o, r.s, metric, 5, 10);
      expect(weights(r.m)).toEqual(weights(a));
      expect(r.o.paramGroups.map((g) => g.lr)).toEqual(optA.paramGroups.map((g) => g.lr));

      // The same through a file; and without the optimizer's state the run differs (the test can fail).
      const file = join(dir, 'ckpt.safetensors');
      tg.saveSync(checkpoint(b, optB, schedB), file);
      const f = fresh();
      restore(tg.loadSync(file), f.m, f.o, f.s);
      train(f.m, f.o, f.s, metric, 5, 10);
      expect(weights(f.m)).toEqual(weights(a));
      const w = fresh();
      w.m.loadStateDict(b.stateDict());
      train(w.m, w.o, w.s, metric, 5, 10);
      expect(weights(w.m)).not.toEqual(weights(a));
    });
  }

  it('works with the async tg.save / tg.load', async () => {
    const c = configs[3]!;
    const a = makeModel(7);
    const optA = c.optimizer(a, 0.1);
    const schedA = c.scheduler(optA);
    train(a, optA, schedA, false, 0, 6);
    const file = join(dir, 'async.safetensors');
    await tg.save(checkpoint(a, optA, schedA), file);
    const m = makeModel(5);
    const o = c.optimizer(m, 0.2);
    const s = c.scheduler(o);
    restore(await tg.load(file), m, o, s);
    train(a, optA, schedA, false, 6, 8);
    train(m, o, s, false, 6, 8);
    expect(weights(m)).toEqual(weights(a));
  });
});

describe('stateDictToTensors / stateDictFromTensors', () => {
  it('encodes numbers as float64 scalars, booleans as int32 scalars, number arrays as float64 vectors', () => {
    const p = tg.tensor([1, 2], { requiresGrad: true });
    p.grad = tg.tensor([0.5, -0.5]);
    const opt = new Adam([p], { lr: 0.1, amsgrad: true });
    opt.step();
    const t = stateDictToTensors(opt.stateDict());
    expect(Object.keys(t).sort()).toEqual(
      [
        'paramGroups.0.amsgrad', 'paramGroups.0.betas', 'paramGroups.0.eps', 'paramGroups.0.lr', 'paramGroups.0.maximize',
        'paramGroups.0.params', 'paramGroups.0.weightDecay', 'state.0.step', 'state.0.tensors.exp_avg',
        'state.0.tensors.exp_avg_sq', 'state.0.tensors.max_exp_avg_sq',
      ].sort(),
    );
    expect(t['paramGroups.0.amsgrad']!.dtype).toBe('int32');
    expect(t['paramGroups.0.amsgrad']!.item()).toBe(1);
    expect(t['paramGroups.0.lr']!.dtype).toBe('float64');
    expect(t['paramGroups.0.lr']!.item()).toBe(0.1);
    expect(t['paramGroups.0.betas']!.toArray()).toEqual([0.9, 0.999]);
    expect(t['state.0.step']!.item()).toBe(1);
    const back = stateDictFromTensors(t);
    expect(back.paramGroups).toEqual([{ lr: 0.1, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: true, maximize: false, params: [0] }]);
    expect(back.state[0].step).toBe(1);
    expect(back.state[0].tensors.exp_avg).toBe(t['state.0.tensors.exp_avg']);
  });

  it('keeps Infinity exactly (ReduceLROnPlateau before any metric)', () => {
    const opt = new SGD([tg.zeros([1], { requiresGrad: true })], { lr: 1 });
    const s = new lrScheduler.ReduceLROnPlateau(opt);
    const back = stateDictFromTensors(stateDictToTensors(s.stateDict()));
    expect(back).toEqual({ best: Infinity, badEpochs: 0, cooldownCounter: 0, lastEpoch: 0 });
  });

  it('a state dict before the first step, and SGD without momentum, round trip', () => {
    const p = tg.tensor([1], { requiresGrad: true });
    const opt = new SGD([p], { lr: 0.5 });
    const other = new SGD([tg.tensor([1], { requiresGrad: true })], { lr: 0.1 });
    other.loadStateDict(stateDictFromTensors(stateDictToTensors(opt.stateDict())));
    expect(other.paramGroups[0]!.lr).toBe(0.5);
    p.grad = tg.tensor([1]);
    opt.step();
    other.loadStateDict(stateDictFromTensors(stateDictToTensors(opt.stateDict())));
    expect(other.stateDict().state[0]!.step).toBe(1);
  });

  it('rejects what it cannot encode or decode, naming the entry', () => {
    expect(() => stateDictToTensors({ a: { b: 'text' } })).toThrow(/stateDictToTensors: 'a.b' is a string/);
    expect(() => stateDictToTensors({ a: null })).toThrow(/'a' is null/);
    expect(() => stateDictToTensors({ w: tg.ones([1]) })).toThrow(/a tensor at 'w' outside a 'tensors' object/);
    expect(() => stateDictToTensors({ 'a.b': 1 })).toThrow(/cannot be part of a dotted name/);
    expect(() => stateDictToTensors(5 as unknown as object)).toThrow(TypeError);
    expect(() => stateDictFromTensors({ flag: tg.tensor(2, { dtype: 'int32' }) })).toThrow(/'flag' holds a boolean as 0 or 1, got 2/);
    expect(() => stateDictFromTensors({ m: tg.ones([2, 2]) })).toThrow(/'m' must be a float scalar, a float vector or an int32 scalar, got float32 of shape \[2, 2\]/);
    expect(() => stateDictFromTensors({ a: tg.ones([]), 'a.b': tg.ones([]) })).toThrow(/is below 'a', which is a value/);
    expect(() => stateDictFromTensors({ 'a..b': tg.ones([]) })).toThrow(/not a dotted name/);
  });

  it('a name from a file never writes through __proto__: such names are keys of ordinary objects', () => {
    const flag = () => tg.tensor(1, { dtype: 'int32' });
    try {
      const back = stateDictFromTensors({ '__proto__.isAdmin': flag(), 'a.__proto__.isAdmin': flag() });
      expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
      expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
      expect(Object.keys(back)).toEqual(['__proto__', 'a']);
      expect(Object.hasOwn(back, '__proto__')).toBe(true);
      expect(back['__proto__']).toEqual({ isAdmin: true });
      expect(Object.hasOwn(back.a, '__proto__')).toBe(true);
      const more = stateDictFromTensors({ 'constructor.isAdmin': flag(), 'prototype.isAdmin': flag(), toString: flag() });
      expect(Object.keys(more)).toEqual(['constructor', 'prototype', 'toString']);
      expect(more.constructor).toEqual({ isAdmin: true });
      expect(more.toString).toBe(true);
    } finally {
      delete (Object.prototype as Record<string, unknown>).isAdmin;
    }
  });

  it('keys that Object.prototype has round trip as own keys', () => {
    const dict = JSON.parse('{"__proto__":1,"constructor":{"x":2},"toString":[3,4],"valueOf":true}') as Record<string, unknown>;
    const t = stateDictToTensors(dict);
    expect(Object.keys(t).sort()).toEqual(['__proto__', 'constructor.x', 'toString', 'valueOf']);
    expect(Object.getPrototypeOf(t)).toBe(Object.prototype);
    const back = stateDictFromTensors(t);
    expect(Object.entries(back)).toEqual([['__proto__', 1], ['constructor', { x: 2 }], ['toString', [3, 4]], ['valueOf', true]]);
  });
});

describe('Optimizer.loadStateDict validates before changing anything', () => {
  const param = (n: number) => {
    const p = tg.zeros([n], { requiresGrad: true });
    p.grad = tg.ones([n]);
    return p;
  };
  const trained = () => {
    const opt = new Adam([param(2), param(3)], { lr: 0.1 });
    opt.step();
    return opt.stateDict();
  };

  it('names the mismatch', () => {
    const dict = trained();
    expect(() => new SGD([param(2), param(3)], { lr: 0.1 }).loadStateDict(dict as never)).toThrow(
      /SGD.loadStateDict: group 0 has option 'betas', which SGD does not have/,
    );
    expect(() => new Adam([param(2)]).loadStateDict(dict)).toThrow(/group 0 has 2 parameters in the state dict and 1 here/);
    expect(() => new Adam([{ params: [param(2)] }, { params: [param(3)] }]).loadStateDict(dict)).toThrow(
      /the state dict has 1 parameter groups, this optimizer 2/,
    );
    expect(() => new Adam([param(2), param(4)]).loadStateDict(dict)).toThrow(
      /state 'exp_avg' of parameter 1 must be a tensor of shape \[4\], got \[3\]/,
    );
    const gone = trained();
    gone.state[1]!.tensors['exp_avg']!.dispose();
    expect(() => new Adam([param(2), param(3)]).loadStateDict(gone)).toThrow(
      /^Adam.loadStateDict: state 'exp_avg' of parameter 1 is a disposed tensor$/,
    );
    const badType = { ...dict, paramGroups: [{ ...dict.paramGroups[0]!, lr: '0.1' as unknown as number }] };
    expect(() => new Adam([param(2), param(3)]).loadStateDict(badType)).toThrow(/option 'lr' of group 0 must be a number, got '0.1'/);
    const badBetas = { ...dict, paramGroups: [{ ...dict.paramGroups[0]!, betas: [0.9] as unknown as [number, number] }] };
    expect(() => new Adam([param(2), param(3)]).loadStateDict(badBetas)).toThrow(/option 'betas' of group 0 must be an array of 2 numbers/);
    const badRange = { ...dict, paramGroups: [{ ...dict.paramGroups[0]!, lr: -1 }] };
    expect(() => new Adam([param(2), param(3)]).loadStateDict(badRange)).toThrow(/Adam: lr must be a non-negative number, got -1/);
    const { amsgrad: _a, ...lacking } = dict.paramGroups[0]!;
    expect(() => new Adam([param(2), param(3)]).loadStateDict({ ...dict, paramGroups: [lacking as never] })).toThrow(/group 0 lacks option 'amsgrad'/);
    const badStep = { ...dict, state: { 0: { ...dict.state[0]!, step: 1.5 } } };
    expect(() => new Adam([param(2), param(3)]).loadStateDict(badStep)).toThrow(/step count of parameter 0 must be a non-negative integer, got 1.5/);
    expect(() => new Adam([param(2), param(3)]).loadStateDict({ ...dict, state: { 7: dict.state[0]! } })).toThrow(/state for parameter 7, which does not exist/);
    expect(() => new Adam([param(2)]).loadStateDict(null as never)).toThrow(TypeError);
  });

  it('refuses state tensors of names it does not hold, listing those it does', () => {
    const dict = trained();
    const { exp_avg: m, ...rest } = dict.state[0]!.tensors;
    const renamed = { ...dict, state: { ...dict.state, 0: { ...dict.state[0]!, tensors: { ...rest, expAvg: m! } } } };
    // Accepted, exp_avg would restart at zero while the step count goes on.
    expect(() => new Adam([param(2), param(3)]).loadStateDict(renamed)).toThrow(
      /^Adam.loadStateDict: state 'expAvg' of parameter 0 is not a state tensor of Adam \(expected exp_avg, exp_avg_sq, max_exp_avg_sq\)$/,
    );
    const makers: [string, (ps: tg.Tensor[]) => Opt][] = [
      ['SGD', (ps) => new SGD(ps, { lr: 0.1, momentum: 0.9 })],
      ['AdamW', (ps) => new AdamW(ps)],
      ['RMSprop', (ps) => new RMSprop(ps, { centered: true, momentum: 0.5 })],
      ['Adagrad', (ps) => new Adagrad(ps)],
    ];
    for (const [name, make] of makers) {
      const opt = make([param(2)]);
      opt.step();
      const own = opt.stateDict();
      make([param(2)]).loadStateDict(own);
      const extra = { ...own, state: { 0: { ...own.state[0]!, tensors: { ...own.state[0]!.tensors, constructor: tg.zeros([2]) } } } };
      expect(() => make([param(2)]).loadStateDict(extra)).toThrow(new RegExp(`^${name}.loadStateDict: state 'constructor' of parameter 0 is not a state tensor of ${name}`));
    }
  });

  it('state keys are parameter indices as String(i) writes them: no second name for a parameter', () => {
    const dict = trained();
    for (const key of ['00', '0.0', '0e0', '-0', ' 0', '+0', '0x0', '1.'])
      expect(() => new Adam([param(2), param(3)]).loadStateDict({ ...dict, state: { [key]: dict.state[1]! } })).toThrow(
        `Adam.loadStateDict: state key '${key}' is not a parameter index; expected one of '0' to '1', as String(i) writes them`,
      );
    // Both would be parameter 0, the last silently winning.
    expect(() => new Adam([param(2), param(3)]).loadStateDict({ ...dict, state: { 0: dict.state[0]!, '00': dict.state[0]! } as never })).toThrow(/state key '00'/);
    const tensors = addPrefix('state.00.', stateDictToTensors(dict.state[0]!));
    const fromFile = stateDictFromTensors({ ...stateDictToTensors({ paramGroups: dict.paramGroups }), ...tensors });
    expect(() => new Adam([param(2), param(3)]).loadStateDict(fromFile)).toThrow(/state key '00' is not a parameter index/);
  });

  it('only own properties count: option names Object.prototype has are unknown options, inherited fields are absent', () => {
    const dict = trained();
    for (const key of ['constructor', 'toString']) {
      const group = { ...dict.paramGroups[0]!, [key]: 1 };
      expect(() => new Adam([param(2), param(3)]).loadStateDict({ ...dict, paramGroups: [group] })).toThrow(
        `Adam.loadStateDict: group 0 has option '${key}', which Adam does not have`,
      );
    }
    expect(() => new Adam([param(2), param(3)]).loadStateDict(Object.create(dict))).toThrow(/expected an object with paramGroups/);
    expect(() => new Adam([param(2), param(3)]).loadStateDict({ ...dict, extra: 1 } as never)).toThrow(
      /^Adam.loadStateDict: the state dict has a key 'extra'; expected paramGroups and state, as stateDict\(\) returns$/,
    );
    expect(() => new Adam([param(2), param(3)]).loadStateDict({ ...dict, state: { 0: { ...dict.state[0]!, stepCount: 1 } as never } })).toThrow(
      /^Adam.loadStateDict: state of parameter 0 has a key 'stepCount'; expected step and tensors$/,
    );
    const inheritedStep = { ...dict, state: { 0: Object.assign(Object.create({ step: 1 }), { tensors: dict.state[0]!.tensors }) } };
    expect(() => new Adam([param(2), param(3)]).loadStateDict(inheritedStep)).toThrow(/step count of parameter 0 must be a non-negative integer, got undefined/);
  });

  it('a failed load leaves the optimizer as it was', () => {
    const p = param(2);
    const opt = new Adam([p], { lr: 0.3 });
    opt.step();
    const before = opt.stateDict();
    const snapshot = before.state[0]!.tensors.exp_avg!.toArray();
    const bad = { ...before, paramGroups: [{ ...before.paramGroups[0]!, lr: 0.01, eps: -1 }] };
    expect(() => opt.loadStateDict(bad)).toThrow(/eps/);
    expect(opt.paramGroups[0]!.lr).toBe(0.3);
    expect(opt.stateDict().state[0]!.tensors.exp_avg!.toArray()).toEqual(snapshot);
  });

  it('loading its own state dict works (copies before freeing)', () => {
    const p = param(2);
    const opt = new Adam([p], { lr: 0.3 });
    opt.step();
    const m = opt.stateDict().state[0]!.tensors.exp_avg!.toArray();
    opt.loadStateDict(opt.stateDict());
    expect(opt.stateDict().state[0]!.tensors.exp_avg!.toArray()).toEqual(m);
  });

  it('loaded state is owned by the optimizer: a tidy around the load frees none of it', () => {
    const dict = trained();
    const opt = new Adam([param(2), param(3)]);
    tg.tidy(() => opt.loadStateDict(dict));
    opt.step();
    expect(opt.stateDict().state[1]!.step).toBe(2);
  });

  it('option types are checked when the optimizer is made', () => {
    expect(() => new SGD([param(1)], { lr: 0.1, momentum: '0.9' as unknown as number })).toThrow(
      /SGD: option 'momentum' of options must be a number, got '0.9'/,
    );
    expect(() => new Adam([param(1)], { amsgrad: 1 as unknown as boolean })).toThrow(/option 'amsgrad' of options must be a boolean/);
    expect(() => new Adam([{ params: [param(1)], betas: 0.9 as unknown as [number, number] }])).toThrow(/option 'betas' of group 0 must be an array of 2 numbers/);
  });
});

describe('scheduler state dicts', () => {
  it('ReduceLROnPlateau resumes its counters', () => {
    const make = () => {
      const o = new SGD([tg.zeros([1], { requiresGrad: true })], { lr: 1 });
      return { o, s: new lrScheduler.ReduceLROnPlateau(o, { patience: 2, factor: 0.5, cooldown: 1 }) };
    };
    const metrics = [5, 4, 4, 4, 4, 4, 4, 3, 3, 3, 3];
    const a = make();
    for (const m of metrics) a.s.step(m);
    const b = make();
    for (const m of metrics.slice(0, 5)) b.s.step(m);
    const c = make();
    c.o.loadStateDict(b.o.stateDict());
    c.s.loadStateDict(b.s.stateDict());
    for (const m of metrics.slice(5)) c.s.step(m);
    expect(c.o.paramGroups[0]!.lr).toBe(a.o.paramGroups[0]!.lr);
    expect(c.s.stateDict()).toEqual(a.s.stateDict());
    expect(() => c.s.loadStateDict({ best: 1, badEpochs: -1, cooldownCounter: 0, lastEpoch: 0 })).toThrow(/badEpochs must be a non-negative integer/);
    expect(() => c.s.loadStateDict({ best: NaN, badEpochs: 0, cooldownCounter: 0, lastEpoch: 0 })).toThrow(
      /^ReduceLROnPlateau.loadStateDict: best must be a number, got NaN$/,
    );
    expect(() => c.s.loadStateDict({ ...a.s.stateDict(), patience: 3 } as never)).toThrow(
      /^ReduceLROnPlateau.loadStateDict: the state dict has a key 'patience'; expected best, badEpochs, cooldownCounter, lastEpoch/,
    );
    expect(c.s.stateDict()).toEqual(a.s.stateDict());
  });

  it('LRScheduler.loadStateDict checks its input', () => {
    const o = new SGD([tg.zeros([1], { requiresGrad: true })], { lr: 1 });
    const s = new lrScheduler.StepLR(o, { stepSize: 2 });
    expect(() => s.loadStateDict({ lastEpoch: 0.5, baseLrs: [1] })).toThrow(/StepLR.loadStateDict: lastEpoch must be an integer >= -1, got 0.5/);
    expect(() => s.loadStateDict({ lastEpoch: 3, baseLrs: [1, 2] })).toThrow(/baseLrs must be 1 numbers, one per parameter group/);
    // The lr is the optimizer's to restore (as in PyTorch); the next steps scale it.
    s.loadStateDict({ lastEpoch: 4, baseLrs: [2] });
    expect([s.lastEpoch, s.baseLrs, o.paramGroups[0]!.lr]).toEqual([4, [2], 1]);
    s.step();
    s.step();
    expect(o.paramGroups[0]!.lr).toBeCloseTo(0.1, 15);
  });

  it('LRScheduler.loadStateDict checks baseLrs as the optimizer checks an lr, one per group of the optimizer', () => {
    const o = new SGD([tg.zeros([1], { requiresGrad: true })], { lr: 1 });
    const s = new lrScheduler.StepLR(o, { stepSize: 2 });
    // A negative lr would be gradient ascent.
    for (const [bad, shown] of [[-1, '-1'], [NaN, 'NaN'], ['1', '1'], [null, 'null']] as const)
      expect(() => s.loadStateDict({ lastEpoch: 3, baseLrs: [bad as number] })).toThrow(
        new RegExp(`^StepLR.loadStateDict: baseLrs\\[0\\] must be a non-negative number, got ${shown}$`),
      );
    expect(() => s.loadStateDict(Object.create({ lastEpoch: 3, baseLrs: [1] }))).toThrow(/lastEpoch must be an integer >= -1, got undefined/);
    expect(() => s.loadStateDict({ lastEpoch: 3, baseLrs: [1], gamma: 2 } as never)).toThrow(
      /^StepLR.loadStateDict: the state dict has a key 'gamma'; expected lastEpoch and baseLrs, as stateDict\(\) returns$/,
    );
    expect([s.lastEpoch, s.baseLrs, o.paramGroups[0]!.lr]).toEqual([0, [1], 1]);
    // A group added after the scheduler was made: the state dict must cover it.
    o.addParamGroup({ params: [tg.zeros([1], { requiresGrad: true })], lr: 0.5 });
    expect(() => s.loadStateDict({ lastEpoch: 2, baseLrs: [1] })).toThrow(/^StepLR.loadStateDict: baseLrs must be 2 numbers, one per parameter group of the optimizer, got 1$/);
    s.loadStateDict({ lastEpoch: 2, baseLrs: [1, 0.5] });
    expect(s.baseLrs).toEqual([1, 0.5]);
    s.step();
    s.step();
    expect(o.paramGroups.map((g) => g.lr)).toEqual([0.1, 0.05]);
  });

  it('a step that throws leaves the scheduler and the lrs as they were', () => {
    const o = new SGD([tg.zeros([1], { requiresGrad: true })], { lr: 1 });
    const s = new lrScheduler.OneCycleLR(o, { maxLr: 1, totalSteps: 3 });
    // PyTorch allows totalSteps calls to step() (the last one after the last optimizer step).
    for (let i = 0; i < 3; i++) s.step();
    const lr = o.paramGroups[0]!.lr;
    const state = s.stateDict();
    expect(() => s.step()).toThrow(/^OneCycleLR: step\(\) called 4 times, more than totalSteps \(3\)$/);
    expect(() => s.step()).toThrow(/called 4 times/);
    expect(s.stateDict()).toEqual(state);
    expect(o.paramGroups[0]!.lr).toBe(lr);
  });
});

describe('addParamGroup', () => {
  it('adds a group with its own options, checked like the constructor’s', () => {
    const a = tg.tensor([1], { dtype: 'float64', requiresGrad: true });
    const b = tg.tensor([1], { dtype: 'float64', requiresGrad: true });
    const opt = new SGD([a], { lr: 0.1, momentum: 0.9 });
    opt.addParamGroup({ params: [b], lr: 0.5 });
    expect(opt.paramGroups.map((g) => [g.lr, g.momentum])).toEqual([[0.1, 0.9], [0.5, 0.9]]);
    a.grad = tg.tensor([1], { dtype: 'float64' });
    b.grad = tg.tensor([1], { dtype: 'float64' });
    opt.step();
    expect([a.item(), b.item()]).toEqual([1 - 0.1, 1 - 0.5]);
    expect(() => opt.addParamGroup({ params: [a] })).toThrow(/SGD: parameter 0 of group 2 appears in more than one place/);
    expect(() => opt.addParamGroup({ params: [tg.zeros([1], { requiresGrad: true })], lr: -1 })).toThrow(/lr must be a non-negative number, got -1 \(group 2\)/);
    expect(() => opt.addParamGroup({ params: 3 } as never)).toThrow(/parameter group 2 must be an object with a params list/);
    expect(opt.paramGroups).toHaveLength(2);
  });

  it('refuses what the constructor refuses, naming what came', () => {
    const a = tg.zeros([1], { requiresGrad: true });
    const opt = new Adam([a], { lr: 0.1 });
    const nonLeaf = tg.zeros([1], { requiresGrad: true }).mul(2);
    const gone = tg.zeros([1], { requiresGrad: true });
    gone.dispose();
    const cases: [unknown, RegExp][] = [
      [5, /^Adam: parameter 0 of group 1 is not a Tensor, got 5$/],
      [Object.create(tg.Tensor.prototype), /^Adam: parameter 0 of group 1 is not a Tensor, got an object made from Tensor.prototype/],
      [nonLeaf, /^Adam: parameter 0 of group 1 is not a leaf tensor$/],
      [tg.zeros([1], { dtype: 'int32' }), /^Adam: parameter 0 of group 1 must be float32 or float64, got int32$/],
      [gone, /^Adam: parameter 0 of group 1 is a disposed tensor$/],
      [a, /^Adam: parameter 0 of group 1 appears in more than one place$/],
    ];
    for (const [p, message] of cases) expect(() => opt.addParamGroup({ params: [p as tg.Tensor] })).toThrow(message);
    expect(() => new SGD([5 as never], { lr: 1 })).toThrow(/^SGD: parameter 0 of group 0 is not a Tensor, got 5$/);
    expect(opt.paramGroups).toHaveLength(1);
  });

  it('checks only the new group, besides a parameter held twice: each parameter once in a constructor with many groups', () => {
    const groups = Array.from({ length: 40 }, () => ({ params: [tg.zeros([1], { requiresGrad: true })] }));
    // Every parameter check reads isDisposed once: the count is the number of parameters checked.
    const checks = vi.spyOn(tg.Tensor.prototype, 'isDisposed', 'get');
    try {
      const opt = new SGD(groups, { lr: 0.1 });
      expect(checks).toHaveBeenCalledTimes(40); // not 40·41/2: the groups before each one are not checked again
      checks.mockClear();
      opt.addParamGroup({ params: [tg.zeros([1], { requiresGrad: true }), tg.zeros([1], { requiresGrad: true })] });
      expect(checks).toHaveBeenCalledTimes(2);
      // A parameter of a held group is still refused in the new one.
      expect(() => opt.addParamGroup({ params: [groups[7]!.params[0]!] })).toThrow(/^SGD: parameter 0 of group 41 appears in more than one place$/);
    } finally {
      checks.mockRestore();
    }
    // A held group changed by hand no longer blocks adding a group; step refuses it, as before.
    const a = tg.tensor([1, 2], { requiresGrad: true });
    const opt = new SGD([a], { lr: 0.1 });
    opt.paramGroups[0]!.params.push(tg.tensor([1, 2], { requiresGrad: true }).mul(2));
    opt.addParamGroup({ params: [tg.tensor([3], { requiresGrad: true })] });
    expect(opt.paramGroups).toHaveLength(2);
    a.grad = tg.tensor([1, 1]);
    expect(() => opt.step()).toThrow(/^SGD.step: parameter 1 of group 0 is not a leaf tensor$/);
    expect(Array.from(a.data())).toEqual([1, 2]);
  });
});

describe('parameter groups changed after the optimizer was made', () => {
  // Each optimizer, with a parameter that has a gradient.
  const makers = {
    SGD: (p: tg.Tensor[]) => new SGD(p, { lr: 0.1, momentum: 0.9 }),
    Adam: (p: tg.Tensor[]) => new Adam(p, { lr: 0.1 }),
    AdamW: (p: tg.Tensor[]) => new AdamW(p, { lr: 0.1 }),
    RMSprop: (p: tg.Tensor[]) => new RMSprop(p, { lr: 0.1 }),
    Adagrad: (p: tg.Tensor[]) => new Adagrad(p, { lr: 0.1 }),
  };
  const param = () => {
    const p = tg.tensor([1, 2], { requiresGrad: true });
    p.grad = tg.tensor([1, 1]);
    return p;
  };

  for (const [name, make] of Object.entries(makers)) {
    it(`${name}: a tensor pushed onto params is checked at step, zeroGrad and stateDict, changing nothing`, () => {
      const gone = param();
      gone.dispose();
      const nonLeaf = tg.tensor([1, 2], { requiresGrad: true }).mul(2);
      const ints = tg.tensor([1, 2], { dtype: 'int32' });
      const cases: [(w: tg.Tensor) => unknown, RegExp][] = [
        [() => 5, /parameter 1 of group 0 is not a Tensor, got 5$/],
        [() => Object.create(tg.Tensor.prototype), /parameter 1 of group 0 is not a Tensor, got an object made from Tensor.prototype/],
        [() => nonLeaf, /parameter 1 of group 0 is not a leaf tensor$/],
        [() => ints, /parameter 1 of group 0 must be float32 or float64, got int32$/],
        [() => gone, /parameter 1 of group 0 is a disposed tensor$/],
        [(w) => w, /parameter 1 of group 0 appears in more than one place$/],
      ];
      for (const [extra, message] of cases) {
        const w = param();
        const opt = make([w]);
        opt.step();
        const before = [Array.from(w.data()), JSON.stringify(opt.stateDict().paramGroups)];
        opt.paramGroups[0]!.params.push(extra(w) as tg.Tensor);
        for (const method of ['step', 'zeroGrad', 'stateDict'] as const)
          expect(() => opt[method](), `${method} ${message}`).toThrow(new RegExp(`^${name}.${method}: ${message.source}`));
        expect(w.grad).not.toBeNull();
        opt.paramGroups[0]!.params.pop();
        expect([Array.from(w.data()), JSON.stringify(opt.stateDict().paramGroups)]).toEqual(before);
        w.dispose();
      }
    });
  }

  it('a parameter pushed into a second group that another group holds is refused', () => {
    const w = param();
    const opt = new SGD([w], { lr: 0.1 });
    opt.addParamGroup({ params: [param()] });
    opt.paramGroups[1]!.params.push(w);
    expect(() => opt.step()).toThrow(/^SGD.step: parameter 1 of group 1 appears in more than one place$/);
    expect(Array.from(w.data())).toEqual([1, 2]);
    // addParamGroup checks the groups it already holds too.
    expect(() => opt.addParamGroup({ params: [param()] })).toThrow(/^SGD: parameter 1 of group 1 appears in more than one place$/);
  });

  it('a valid tensor pushed onto params is optimized from the next step, as in PyTorch', () => {
    const a = param();
    const b = param();
    const opt = new SGD([a], { lr: 0.5 });
    opt.paramGroups[0]!.params.push(b);
    opt.step();
    expect([Array.from(a.data()), Array.from(b.data())]).toEqual([[0.5, 1.5], [0.5, 1.5]]);
    expect(opt.stateDict().paramGroups[0]!.params).toEqual([0, 1]);
  });

  it('groups pushed or changed by hand are checked at step', () => {
    const make = () => new Adam([param()], { lr: 0.1 });
    const cases: [(o: ReturnType<typeof make>) => void, RegExp][] = [
      [(o) => o.paramGroups.push(null as never), /^Adam.step: parameter group 1 must be an object with a params list \(add groups with addParamGroup\), got null$/],
      [(o) => o.paramGroups.push({ params: [param()] } as never), /^Adam.step: parameter group 1 lacks option 'lr' \(add groups with addParamGroup, which fills in the defaults\)$/],
      [(o) => { o.paramGroups[0]!.params = 'w' as never; }, /^Adam.step: params of parameter group 0 must be an array of Tensors, got 'w'$/],
      [(o) => { o.paramGroups[0]!.params = new Set([param()]) as never; }, /^Adam.step: params of parameter group 0 must be an array of Tensors, got a Set$/],
      [(o) => { o.paramGroups[0]!.lr = -1; }, /^Adam: lr must be a non-negative number, got -1 \(group 0\)$/],
      [(o) => { o.paramGroups[0]!.betas = [2, 0.999]; }, /^Adam: betas\[0\] must be in \[0, 1\), got 2 \(group 0\)$/],
    ];
    for (const [change, message] of cases) {
      const opt = make();
      const w = opt.paramGroups[0]!.params[0]!;
      change(opt);
      expect(() => opt.step()).toThrow(message);
      expect(Array.from(w.data())).toEqual([1, 2]);
    }
  });
});
