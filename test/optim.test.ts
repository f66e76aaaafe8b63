import { describe, expect, it } from 'vitest';
import { expectClose, tg } from './helpers.js';

const { SGD, Adam, AdamW, RMSprop, Adagrad, lrScheduler } = tg.optim;

// A parameter with a fixed gradient, float64 so formulas can be checked exactly.
function paramWithGrad(values: number[], grad: number[]): tg.Tensor {
  const p = tg.tensor(values, { dtype: 'float64', requiresGrad: true });
  p.grad = tg.tensor(grad, { dtype: 'float64' });
  return p;
}

// Reference implementations in plain JS of PyTorch's update rules, one element at a time.
function refAdam(p: number, g: number, steps: number, o: { lr: number; b1: number; b2: number; eps: number; wd: number; decoupled: boolean; amsgrad?: boolean }) {
  let m = 0, v = 0, vmax = 0;
  for (let t = 1; t <= steps; t++) {
    let d = g;
    if (o.wd) {
      if (o.decoupled) p *= 1 - o.lr * o.wd;
      else d += o.wd * p;
    }
    m = o.b1 * m + (1 - o.b1) * d;
    v = o.b2 * v + (1 - o.b2) * d * d;
    vmax = Math.max(vmax, v);
    const denom = Math.sqrt(o.amsgrad ? vmax : v) / Math.sqrt(1 - o.b2 ** t) + o.eps;
    p -= (o.lr / (1 - o.b1 ** t)) * (m / denom);
  }
  return p;
}

describe('optimizers match PyTorch formulas', () => {
  it('one Adam step on a known gradient', () => {
    const p = paramWithGrad([1, -2], [0.5, 0.25]);
    new Adam([p], { lr: 0.1 }).step();
    // First step: m̂ = g, v̂ = g², so the update is lr · g / (|g| + eps) ≈ lr · sign(g).
    expectClose(p.toArray(), [1 - 0.1 * 0.5 / (0.5 + 1e-8), -2 - 0.1 * 0.25 / (0.25 + 1e-8)], 1e-12);
  });

  it('Adam with weight decay and AMSGrad over several steps, and AdamW', () => {
    for (const [Cls, decoupled] of [[Adam, false], [AdamW, true]] as const) {
      for (const amsgrad of [false, true]) {
        const p = paramWithGrad([1.5], [0.3]);
        const opt = new Cls([p], { lr: 0.01, betas: [0.8, 0.9], eps: 1e-6, weightDecay: 0.1, amsgrad });
        for (let i = 0; i < 5; i++) opt.step();
        expectClose(p.item(), refAdam(1.5, 0.3, 5, { lr: 0.01, b1: 0.8, b2: 0.9, eps: 1e-6, wd: 0.1, decoupled, amsgrad }), 1e-12);
      }
    }
  });

  it('SGD with momentum, dampening, weight decay and Nesterov', () => {
    const run = (o: { momentum: number; dampening: number; weightDecay: number; nesterov: boolean }) => {
      const p = paramWithGrad([1], [0.5]);
      const opt = new SGD([p], { lr: 0.1, ...o });
      opt.step();
      opt.step();
      return p.item();
    };
    // plain: p = 1 - 0.1·0.5·2
    expect(run({ momentum: 0, dampening: 0, weightDecay: 0, nesterov: false })).toBeCloseTo(0.9, 12);
    // momentum 0.9: buf1 = 0.5, p1 = 0.95; buf2 = 0.9·0.5 + 0.5 = 0.95, p2 = 0.95 - 0.095
    expect(run({ momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false })).toBeCloseTo(0.855, 12);
    // dampening 0.5: buf2 = 0.45 + 0.25 = 0.7, p2 = 0.95 - 0.07
    expect(run({ momentum: 0.9, dampening: 0.5, weightDecay: 0, nesterov: false })).toBeCloseTo(0.88, 12);
    // nesterov: d1 = 0.5 + 0.9·0.5 = 0.95 → p1 = 0.905; buf2 = 0.95, d2 = 0.5 + 0.855 = 1.355 → p2 = 0.7695
    expect(run({ momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: true })).toBeCloseTo(0.7695, 12);
    // weight decay 0.1: d1 = 0.6 → p1 = 0.94; d2 = 0.5 + 0.094 = 0.594 → p2 = 0.8806
    expect(run({ momentum: 0, dampening: 0, weightDecay: 0.1, nesterov: false })).toBeCloseTo(0.8806, 12);
  });

  it('RMSprop plain, centered and with momentum', () => {
    const p = paramWithGrad([1], [0.5]);
    new RMSprop([p], { lr: 0.01, alpha: 0.9 }).step();
    // sq = 0.1·0.25 = 0.025; p -= 0.01·0.5/(sqrt(0.025) + 1e-8)
    expect(p.item()).toBeCloseTo(1 - (0.01 * 0.5) / (Math.sqrt(0.025) + 1e-8), 12);
    const c = paramWithGrad([1], [0.5]);
    new RMSprop([c], { lr: 0.01, alpha: 0.9, centered: true, momentum: 0.5 }).step();
    // ga = 0.05; avg = sqrt(0.025 - 0.0025) + eps; buf = 0.5/avg
    expect(c.item()).toBeCloseTo(1 - (0.01 * 0.5) / (Math.sqrt(0.0225) + 1e-8), 12);
  });

  it('Adagrad with lr decay and an initial accumulator', () => {
    const p = paramWithGrad([1], [0.5]);
    const opt = new Adagrad([p], { lr: 0.1, lrDecay: 0.5, initialAccumulatorValue: 0.75 });
    opt.step();
    const p1 = 1 - (0.1 * 0.5) / (Math.sqrt(0.75 + 0.25) + 1e-10);
    expect(p.item()).toBeCloseTo(p1, 12);
    opt.step();
    expect(p.item()).toBeCloseTo(p1 - (0.1 / 1.5) * 0.5 / (Math.sqrt(1.25) + 1e-10), 12);
  });

  it('skips parameters without a gradient and bumps the version of updated ones', () => {
    const a = paramWithGrad([1], [1]);
    const b = tg.tensor([5], { requiresGrad: true });
    const v = a.version;
    new SGD([a, b], { lr: 0.5 }).step();
    expect(a.item()).toBe(0.5);
    expect(b.item()).toBe(5);
    expect(a.version).toBe(v + 1);
  });

  it('parameter groups have their own options', () => {
    const a = paramWithGrad([1], [1]);
    const b = paramWithGrad([1], [1]);
    const opt = new SGD([{ params: [a] }, { params: [b], lr: 0.5 }], { lr: 0.1 });
    opt.step();
    expect(a.item()).toBeCloseTo(0.9, 12);
    expect(b.item()).toBeCloseTo(0.5, 12);
    opt.zeroGrad();
    expect(a.grad).toBe(null);
  });

  it('rejects bad options and parameters', () => {
    const p = paramWithGrad([1], [1]);
    expect(() => new SGD([p], { lr: -1 })).toThrow(/SGD: lr must be a non-negative number, got -1/);
    expect(() => new Adam([p], { betas: [1.2, 0.9] })).toThrow(/Adam: betas\[0\] must be in \[0, 1\), got 1.2/);
    expect(() => new SGD([p], { lr: 0.1, nesterov: true })).toThrow(/nesterov needs momentum/);
    expect(() => new SGD([], { lr: 0.1 })).toThrow(/empty parameter list/);
    expect(() => new SGD([p, p], { lr: 0.1 })).toThrow(/appears in more than one place/);
    expect(() => new SGD([p.mul(2)], { lr: 0.1 })).toThrow(/not a leaf/);
  });

  it('refuses options it would ignore or misread: unknown keys (as PyTorch\'s unexpected keyword argument), strings for numbers', () => {
    const p = paramWithGrad([1], [1]);
    expect(() => new SGD([p], { lr: 0.1, momentun: 0.9 } as never)).toThrow(
      new TypeError("SGD: unknown option 'momentun'; the options are lr, momentum, dampening, weightDecay, nesterov, maximize"),
    );
    expect(() => new Adam([p], { lr: 0.1, weight_decay: 0.1 } as never)).toThrow(/^Adam: unknown option 'weight_decay'; the options are lr, betas, eps, weightDecay, amsgrad, maximize$/);
    expect(() => new RMSprop([p], { momentumm: 0.9 } as never)).toThrow(TypeError);
    expect(() => new Adagrad([p], { lr_decay: 0.1 } as never)).toThrow(TypeError);
    expect(() => new AdamW([p], { params: [p] } as never)).toThrow(/^AdamW: unknown option 'params'/);
    // In a parameter group too, where 'params' is the group's own key.
    const q = paramWithGrad([2], [1]);
    expect(() => new SGD([{ params: [p] }, { params: [q], lr: 0.01, momentun: 0.9 }] as never, { lr: 0.1 })).toThrow(
      new TypeError(
        "SGD (parameter group 1): unknown option 'momentun'; the options are params, lr, momentum, dampening, weightDecay, nesterov, maximize",
      ),
    );
    const opt = new SGD([p], { lr: 0.1 });
    expect(() => opt.addParamGroup({ params: [q], betas: [0.9, 0.99] } as never)).toThrow(/^SGD \(parameter group 1\): unknown option 'betas'/);
    expect(opt.paramGroups.length).toBe(1);
    // A string is a TypeError that shows it is a string, not a RangeError reading "got 0.1".
    expect(() => new SGD([p], { lr: '0.1' as never })).toThrow(new TypeError("SGD: lr must be a non-negative number, got '0.1' (group 0)"));
    expect(() => new SGD([p], {} as never)).toThrow(new TypeError('SGD: lr must be a non-negative number, got undefined (group 0)'));
    expect(() => new SGD([p], 0.1 as never)).toThrow(new TypeError('SGD: options must be an object like { lr: 0.01 }, got 0.1'));
    expect(() => new Adam([p], { eps: '1e-8' as never })).toThrow(new TypeError("Adam: option 'eps' of options must be a number, got '1e-8'"));
    expect(() => new Adam([p], { betas: [0.9] as never })).toThrow(
      new TypeError("Adam: option 'betas' of options must be an array of 2 numbers, got an array of length 1"),
    );
  });

  it('refuses a gradient that overlaps its parameter at another offset, leaving both unchanged', () => {
    const storage = tg.tensor([1, 2, 3, 4, 5]);
    const p = storage.narrow(0, 0, 4).detach().setRequiresGrad(true);
    p.grad = storage.narrow(0, 1, 4);
    for (const opt of [new SGD([p], { lr: 1 }), new Adam([p], { lr: 1 })])
      expect(() => opt.step()).toThrow(/^\w+\.step: the gradient for parameter 0 overlaps the parameter's memory/);
    expect(storage.toArray()).toEqual([1, 2, 3, 4, 5]);
    // The same memory at the same offset is the parameter itself: p -= lr * p.
    const q = tg.tensor([2, 4]).setRequiresGrad(true);
    q.grad = q.detach();
    new SGD([q], { lr: 0.5 }).step();
    expect(q.toArray()).toEqual([1, 2]);
  });
});

describe('state dicts resume bit-identically', () => {
  it('Adam: 10 steps equal 5 steps, save, load into fresh objects, 5 steps', () => {
    const grads = Array.from({ length: 10 }, (_, i) => [Math.sin(i), Math.cos(i)]);
    const make = () => tg.tensor([0.3, -0.7], { requiresGrad: true });
    const a = make();
    const optA = new Adam([a], { lr: 0.05, amsgrad: true });
    for (const g of grads) {
      a.grad = tg.tensor(g);
      optA.step();
    }
    const b = make();
    const optB = new Adam([b], { lr: 0.05, amsgrad: true });
    for (const g of grads.slice(0, 5)) {
      b.grad = tg.tensor(g);
      optB.step();
    }
    const saved = optB.stateDict();
    const c = tg.tensor(b.data(), { requiresGrad: true });
    const optC = new Adam([c], { lr: 0.999 });
    optC.loadStateDict(saved);
    expect(optC.paramGroups[0]!.lr).toBe(0.05);
    for (const g of grads.slice(5)) {
      c.grad = tg.tensor(g);
      optC.step();
    }
    expect(Array.from(c.data())).toEqual(Array.from(a.data()));
  });

  it('rejects a state dict for other parameters', () => {
    const p = paramWithGrad([1, 2], [1, 1]);
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9 });
    opt.step();
    const q = paramWithGrad([1, 2, 3], [1, 1, 1]);
    expect(() => new SGD([q], { lr: 0.1 }).loadStateDict(opt.stateDict())).toThrow(/must be a tensor of shape \[3\]/);
    expect(() => new SGD([q, paramWithGrad([1], [1])], { lr: 0.1 }).loadStateDict(opt.stateDict())).toThrow(RangeError);
  });
});

describe('learning-rate schedules', () => {
  const opt = () => new SGD([paramWithGrad([1], [1])], { lr: 1 });

  it('StepLR, CosineAnnealingLR and LinearLR follow their curves', () => {
    const o1 = opt();
    const s1 = new lrScheduler.StepLR(o1, { stepSize: 2, gamma: 0.5 });
    const l1 = [s1.getLastLr()[0]];
    for (let i = 0; i < 4; i++) {
      s1.step();
      l1.push(s1.getLastLr()[0]);
    }
    expect(l1).toEqual([1, 1, 0.5, 0.5, 0.25]);
    const o2 = opt();
    const s2 = new lrScheduler.CosineAnnealingLR(o2, { tMax: 4, etaMin: 0 });
    const l2 = [o2.paramGroups[0]!.lr];
    for (let i = 0; i < 4; i++) {
      s2.step();
      l2.push(o2.paramGroups[0]!.lr);
    }
    expectClose(l2, [1, (1 + Math.SQRT1_2) / 2, 0.5, (1 - Math.SQRT1_2) / 2, 0], 1e-12);
    const o3 = opt();
    const s3 = new lrScheduler.LinearLR(o3, { startFactor: 0.25, totalIters: 3 });
    const l3 = [o3.paramGroups[0]!.lr];
    for (let i = 0; i < 4; i++) {
      s3.step();
      l3.push(o3.paramGroups[0]!.lr);
    }
    expectClose(l3, [0.25, 0.5, 0.75, 1, 1], 1e-12);
  });

  it('OneCycleLR warms up to maxLr and anneals to maxLr / divFactor / finalDivFactor', () => {
    const o = opt();
    const s = new lrScheduler.OneCycleLR(o, { maxLr: 1, totalSteps: 10, pctStart: 0.3 });
    const lrs = [o.paramGroups[0]!.lr];
    for (let i = 0; i < 9; i++) {
      s.step();
      lrs.push(o.paramGroups[0]!.lr);
    }
    expect(lrs[0]).toBeCloseTo(0.04, 12);
    expect(lrs[2]).toBeCloseTo(1, 12);
    expect(lrs[9]).toBeCloseTo(0.04 / 1e4, 12);
    for (let i = 3; i < 10; i++) expect(lrs[i]!).toBeLessThan(lrs[i - 1]!);
    // The totalSteps-th step() ends a loop of totalSteps iterations (optimizer.step, then scheduler.step); as
    // PyTorch 1.13, its lr carries the last phase's curve one step on (0.04951936798652623 from torch's OneCycleLR
    // with max_lr=1, total_steps=10). Only the step after it throws.
    s.step();
    expect(o.paramGroups[0]!.lr).toBeCloseTo(0.04951936798652623, 15);
    expect(() => s.step()).toThrow(new RangeError('OneCycleLR: step() called 11 times, more than totalSteps (10)'));
  });

  it('OneCycleLR runs a loop of totalSteps iterations, as PyTorch does', () => {
    const p = paramWithGrad([1], [1]);
    const o = new SGD([p], { lr: 0.1, momentum: 0.9 });
    const s = new lrScheduler.OneCycleLR(o, { maxLr: 1, totalSteps: 10 });
    for (let i = 0; i < 10; i++) {
      o.step();
      s.step();
    }
    expect(s.lastEpoch).toBe(10);
  });

  it('every scheduler refuses options of the wrong type or value, and unknown options, leaving the lr as it was', () => {
    const o = opt();
    const { StepLR, CosineAnnealingLR, LinearLR, OneCycleLR, ReduceLROnPlateau } = lrScheduler;
    const cases: [() => unknown, ErrorConstructor, string][] = [
      [() => new StepLR(o, { stepSize: 2, gamma: '0.5' as never }), TypeError, "StepLR: gamma must be a non-negative finite number, got '0.5'"],
      [() => new StepLR(o, { stepSize: 2, gamma: -0.5 }), RangeError, 'StepLR: gamma must be a non-negative finite number, got -0.5'],
      [() => new StepLR(o, { stepSize: '2' as never }), TypeError, "StepLR: stepSize must be a positive integer, got '2'"],
      [() => new StepLR(o, { step_size: 2 } as never), TypeError, "StepLR: unknown option 'step_size'; the options are stepSize, gamma"],
      [() => new StepLR(o, 2 as never), TypeError, 'StepLR: options must be an object like { stepSize: 30, gamma: 0.1 }, got 2'],
      [() => new CosineAnnealingLR(o, { tMax: 4, etaMin: NaN }), RangeError, 'CosineAnnealingLR: etaMin must be a non-negative finite number, got NaN'],
      [() => new CosineAnnealingLR(o, { T_max: 4 } as never), TypeError, "CosineAnnealingLR: unknown option 'T_max'; the options are tMax, etaMin"],
      [() => new LinearLR(o, { startFactor: '0.5' as never }), TypeError, "LinearLR: startFactor must be in (0, 1], got '0.5'"],
      [() => new LinearLR(o, { totalIters: 2.5 }), RangeError, 'LinearLR: totalIters must be a positive integer, got 2.5'],
      [() => new OneCycleLR(o, { maxLr: 1, totalSteps: 10, divFactor: 0 }), RangeError, 'OneCycleLR: divFactor must be a positive finite number, got 0'],
      [() => new OneCycleLR(o, { maxLr: 1, totalSteps: 10, finalDivFactor: -1 }), RangeError, 'OneCycleLR: finalDivFactor must be a positive finite number, got -1'],
      [() => new OneCycleLR(o, { maxLr: 1, totalSteps: 10, pctStart: 1 }), RangeError, 'OneCycleLR: pctStart must be in (0, 1), got 1'],
      // pctStart·totalSteps = 1: a warm-up of zero steps made the lr NaN (PyTorch: ZeroDivisionError at construction).
      [() => new OneCycleLR(o, { maxLr: 1, totalSteps: 10, pctStart: 0.1 }), RangeError,
        'OneCycleLR: pctStart 0.1 with totalSteps 10 makes phase 1 of 2 zero steps long (from step 0 to step 0); expected pctStart·totalSteps - 1 to be non-zero'],
      [() => new OneCycleLR(o, { maxLr: 1, totalSteps: 10, pctStart: 0.1, threePhase: true }), RangeError,
        'OneCycleLR: pctStart 0.1 with totalSteps 10 makes phase 1 of 3 zero steps long (from step 0 to step 0); ' +
          'expected pctStart·totalSteps - 1 to be non-zero and totalSteps - 1 to differ from 2·(pctStart·totalSteps - 1)'],
      // Three phases, the last from step 2·(pctStart·totalSteps - 1) = 4 to totalSteps - 1 = 4.
      [() => new OneCycleLR(o, { maxLr: 1, totalSteps: 5, pctStart: 0.6, threePhase: true }), RangeError,
        'OneCycleLR: pctStart 0.6 with totalSteps 5 makes phase 3 of 3 zero steps long (from step 4 to step 4); ' +
          'expected pctStart·totalSteps - 1 to be non-zero and totalSteps - 1 to differ from 2·(pctStart·totalSteps - 1)'],
      [() => new OneCycleLR(o, { maxLr: 1, totalSteps: 10, pctStart: '0.3' as never }), TypeError, "OneCycleLR: pctStart must be in (0, 1), got '0.3'"],
      [() => new OneCycleLR(o, { maxLr: 1, totalSteps: 10, annealStrategy: 'cosine' as never }), RangeError, "OneCycleLR: annealStrategy must be 'cos' or 'linear', got 'cosine'"],
      [() => new OneCycleLR(o, { maxLr: 1, totalSteps: 10, threePhase: 'yes' as never }), TypeError, "OneCycleLR: threePhase must be a boolean, got 'yes'"],
      [() => new OneCycleLR(o, { maxLr: '1' as never, totalSteps: 10 }), TypeError, "OneCycleLR: maxLr must be a non-negative finite number, got '1'"],
      [() => new OneCycleLR(o, { maxLr: [1, 2], totalSteps: 10 }), RangeError, 'OneCycleLR: expected 1 maxLr values, one per parameter group, got 2'],
      [() => new OneCycleLR(o, { maxLr: 1, totalSteps: 10, max_lr: 1 } as never), TypeError, "OneCycleLR: unknown option 'max_lr'; the options are maxLr, totalSteps, epochs, stepsPerEpoch, pctStart, annealStrategy, divFactor, finalDivFactor, threePhase, cycleMomentum, baseMomentum, maxMomentum"],
      [() => new lrScheduler.ConstantLR(o, { factor: 1.5 }), RangeError, 'ConstantLR: factor must be in (0, 1], got 1.5'],
      [() => new lrScheduler.ConstantLR(o, { total_iters: 3 } as never), TypeError, "ConstantLR: unknown option 'total_iters'; the options are factor, totalIters"],
      [() => new lrScheduler.CosineAnnealingWarmRestarts(o, { t0: 0 }), RangeError, 'CosineAnnealingWarmRestarts: t0 must be a positive integer, got 0'],
      [() => new lrScheduler.CosineAnnealingWarmRestarts(o, { T_0: 3 } as never), TypeError, "CosineAnnealingWarmRestarts: unknown option 'T_0'; the options are t0, tMult, etaMin"],
      [() => new lrScheduler.CosineAnnealingWarmRestarts(o, { t0: 3, etaMin: -1 }), RangeError, 'CosineAnnealingWarmRestarts: etaMin must be a non-negative finite number, got -1'],
      [() => new lrScheduler.ChainedScheduler([o] as never), TypeError, 'ChainedScheduler: schedulers[0] must be an lr scheduler such as ExponentialLR (not ReduceLROnPlateau), got a SGD'],
      [() => new OneCycleLR(o, { maxLr: 1, epochs: 2, stepsPerEpoch: 0 }), RangeError, 'OneCycleLR: stepsPerEpoch must be a positive integer, got 0'],
      [() => new ReduceLROnPlateau(o, { mode: 'maxx' as never }), RangeError, "ReduceLROnPlateau: mode must be 'min' or 'max', got 'maxx'"],
      [() => new ReduceLROnPlateau(o, { patience: -1 }), RangeError, 'ReduceLROnPlateau: patience must be a non-negative integer, got -1'],
      [() => new ReduceLROnPlateau(o, { cooldown: NaN }), RangeError, 'ReduceLROnPlateau: cooldown must be a non-negative integer, got NaN'],
      [() => new ReduceLROnPlateau(o, { thresholdMode: 'relative' as never }), RangeError, "ReduceLROnPlateau: thresholdMode must be 'rel' or 'abs', got 'relative'"],
      [() => new ReduceLROnPlateau(o, { threshold: '0.1' as never }), TypeError, "ReduceLROnPlateau: threshold must be a non-negative finite number, got '0.1'"],
      [() => new ReduceLROnPlateau(o, { factor: 1 }), RangeError, 'ReduceLROnPlateau: factor must be in [0, 1), got 1'],
      [() => new ReduceLROnPlateau(o, { eps: -1 }), RangeError, 'ReduceLROnPlateau: eps must be a non-negative finite number, got -1'],
      [() => new ReduceLROnPlateau(o, { minLr: [0, 0] }), RangeError, 'ReduceLROnPlateau: expected 1 minLr values, one per parameter group, got 2'],
      [() => new ReduceLROnPlateau(o, { minLr: ['0'] as never }), TypeError, "ReduceLROnPlateau: minLr[0] must be a non-negative finite number, got '0'"],
      [() => new ReduceLROnPlateau(o, { min_lr: 0.1 } as never), TypeError, "ReduceLROnPlateau: unknown option 'min_lr'; the options are mode, factor, patience, threshold, thresholdMode, cooldown, minLr, eps"],
      [() => new ReduceLROnPlateau(o, 'min' as never), TypeError, "ReduceLROnPlateau: options must be an object like { mode: 'max', patience: 5 }, got 'min'"],
      // A look-alike optimizer failed later on a property read, naming no scheduler.
      [() => new StepLR({ paramGroups: [] } as never, { stepSize: 2 }), TypeError, 'StepLR: optimizer must be an Optimizer, got an object'],
      [() => new OneCycleLR(undefined as never, { maxLr: 1, totalSteps: 10 }), TypeError, 'OneCycleLR: optimizer must be an Optimizer, got undefined'],
      [() => new ReduceLROnPlateau([o] as never), TypeError, 'ReduceLROnPlateau: optimizer must be an Optimizer, got an array'],
    ];
    for (const [make, type, message] of cases) {
      expect(make, message).toThrow(new type(message));
      expect(make, message).toThrow(type);
    }
    expect(o.paramGroups[0]!.lr).toBe(1);
  });

  it('ReduceLROnPlateau cuts the lr after patience bad epochs', () => {
    const o = opt();
    const s = new lrScheduler.ReduceLROnPlateau(o, { patience: 1, factor: 0.5 });
    for (const m of [1, 0.5, 0.6, 0.6]) s.step(m);
    expect(o.paramGroups[0]!.lr).toBe(0.5);
    s.step(0.1);
    expect(o.paramGroups[0]!.lr).toBe(0.5);
  });

  // Each schedule with the lr of its first group after each of 3 steps.
  const schedules: [string, (o: InstanceType<typeof SGD>) => { step(): void; getLastLr(): number[]; loadStateDict(s: { lastEpoch: number; baseLrs: number[] }): void }][] = [
    ['StepLR', (o) => new lrScheduler.StepLR(o, { stepSize: 1, gamma: 0.5 })],
    ['CosineAnnealingLR', (o) => new lrScheduler.CosineAnnealingLR(o, { tMax: 4 })],
    ['LinearLR', (o) => new lrScheduler.LinearLR(o, { startFactor: 0.25, totalIters: 3 })],
    ['OneCycleLR', (o) => new lrScheduler.OneCycleLR(o, { maxLr: 1, totalSteps: 10 })],
  ];
  for (const [name, make] of schedules) {
    it(`${name} leaves the lr of a group added after it was made alone, until a state dict gives it a base lr`, () => {
      const o = opt();
      const reference = make(opt());
      const s = make(o);
      o.addParamGroup({ params: [paramWithGrad([1], [1])], lr: 0.3 });
      for (let i = 0; i < 3; i++) {
        s.step();
        reference.step();
        expect(s.getLastLr()).toEqual([reference.getLastLr()[0], 0.3]);
      }
      // A state dict with a base lr per group schedules the new one too. The load leaves the lrs alone: they come
      // with the optimizer's state dict, here set by hand.
      const base = name === 'OneCycleLR' ? 0.04 : 1;
      s.loadStateDict({ lastEpoch: 3, baseLrs: [base, base / 2] });
      expect(s.getLastLr()[1]).toBe(0.3);
      o.paramGroups[1]!.lr = o.paramGroups[0]!.lr / 2;
      for (let i = 0; i < 2; i++) {
        s.step();
        expect(s.getLastLr()[1]).toBeCloseTo(s.getLastLr()[0]! / 2, 12);
      }
    });
  }

  it('ReduceLROnPlateau reduces a group added later with a single minLr, and refuses to guess one from a list', () => {
    const o = opt();
    const s = new lrScheduler.ReduceLROnPlateau(o, { patience: 0, factor: 0.5, minLr: 0.2 });
    o.addParamGroup({ params: [paramWithGrad([1], [1])], lr: 0.3 });
    for (const m of [1, 1, 1]) s.step(m);
    expect(s.getLastLr()).toEqual([0.25, 0.2]);
    expect(s.minLrs).toEqual([0.2, 0.2]);

    const o2 = opt();
    const s2 = new lrScheduler.ReduceLROnPlateau(o2, { patience: 0, factor: 0.5, minLr: [0.1] });
    s2.step(1);
    o2.addParamGroup({ params: [paramWithGrad([1], [1])], lr: 0.3 });
    const before = s2.stateDict();
    expect(() => s2.step(1)).toThrow(
      new RangeError(
        'ReduceLROnPlateau.step: the optimizer has 2 parameter groups but minLrs holds 1 ' +
          '(a group added after the scheduler was made?); set minLrs to one value per group',
      ),
    );
    expect([s2.stateDict(), s2.getLastLr()]).toEqual([before, [1, 0.3]]);
    s2.minLrs = [0.1, 0.2];
    s2.step(1);
    expect(s2.getLastLr()).toEqual([0.5, 0.2]);
  });

  it('ReduceLROnPlateau keeps the minLrs set by hand when a group is added: only the new group gets the single minLr', () => {
    const o = opt();
    const s = new lrScheduler.ReduceLROnPlateau(o, { patience: 0, factor: 0.5, minLr: 0.05 });
    s.minLrs = [0.4];
    o.addParamGroup({ params: [paramWithGrad([1], [1])], lr: 0.3 });
    for (const m of [1, 1, 1]) s.step(m);
    expect(s.minLrs).toEqual([0.4, 0.05]);
    // 1 → 0.5 → 0.4 (not 0.25: the first group's own minLr holds); 0.3 → 0.15 → 0.075.
    expect(s.getLastLr()).toEqual([0.4, 0.075]);
    // Removing a group keeps the values of those left.
    s.minLrs = [0.3, 0.06];
    o.paramGroups.pop();
    s.step(1);
    expect(s.minLrs).toEqual([0.3]);
    expect(s.getLastLr()).toEqual([0.3]);
    // minLrs that is not an array is refused, whether minLr was one number or a list.
    for (const minLr of [0.05, [0.05]]) {
      const s3 = new lrScheduler.ReduceLROnPlateau(opt(), { minLr });
      s3.minLrs = 0.1 as never;
      expect(() => s3.step(1)).toThrow(new TypeError('ReduceLROnPlateau.step: minLrs must be an array of one number per parameter group, got 0.1'));
      expect(s3.stateDict().lastEpoch).toBe(0);
    }
  });
});

describe('more hand-computed updates', () => {
  it('SGD: a parameter whose first gradient comes late starts its momentum buffer from it', () => {
    const a = paramWithGrad([1], [0.5]);
    const b = tg.tensor([1], { dtype: 'float64', requiresGrad: true });
    const opt = new SGD([a, b], { lr: 0.1, momentum: 0.9, dampening: 0.5 });
    opt.step(); // only a: buf_a = 0.5, a = 0.95
    b.grad = tg.tensor([0.5], { dtype: 'float64' });
    opt.step();
    // a: buf = 0.9·0.5 + 0.5·0.5 = 0.7 → 0.95 - 0.07; b: buf = 0.5 (not 0.5·0.5) → 1 - 0.05
    expect(a.item()).toBeCloseTo(0.88, 14);
    expect(b.item()).toBeCloseTo(0.95, 14);
  });

  it('maximize ascends: SGD and Adam', () => {
    const p = paramWithGrad([1], [0.5]);
    new SGD([p], { lr: 0.1, maximize: true }).step();
    expect(p.item()).toBeCloseTo(1.05, 14);
    const q = paramWithGrad([1], [0.5]);
    new Adam([q], { lr: 0.1, maximize: true }).step();
    expect(q.item()).toBeCloseTo(1 + (0.1 * 0.5) / (0.5 + 1e-8), 14);
  });

  it('one AdamW step: decay the weight by lr·wd, then the Adam step', () => {
    const p = paramWithGrad([1, -2], [0.5, -0.25]);
    new AdamW([p], { lr: 0.1, weightDecay: 0.1 }).step();
    expectClose(p.toArray(), [0.99 - (0.1 * 0.5) / (0.5 + 1e-8), -1.98 + (0.1 * 0.25) / (0.25 + 1e-8)], 1e-14);
  });

  it('weight decay in RMSprop and Adagrad adds wd·p to the gradient', () => {
    const r = paramWithGrad([1], [0.5]);
    new RMSprop([r], { lr: 0.01, alpha: 0.9, weightDecay: 0.1 }).step();
    // d = 0.6, sq = 0.1·0.36
    expect(r.item()).toBeCloseTo(1 - (0.01 * 0.6) / (Math.sqrt(0.036) + 1e-8), 14);
    const a = paramWithGrad([1], [0.5]);
    new Adagrad([a], { lr: 0.1, weightDecay: 0.1 }).step();
    // d = 0.6, sum = 0.36
    expect(a.item()).toBeCloseTo(1 - (0.1 * 0.6) / (0.6 + 1e-10), 14);
  });

  it('float32 parameters get the same update rounded to float32', () => {
    const p = tg.tensor([1, -2], { requiresGrad: true });
    p.grad = tg.tensor([0.5, 0.25]);
    new SGD([p], { lr: 0.1, momentum: 0.9 }).step();
    expect(p.toArray()).toEqual([Math.fround(1 - Math.fround(0.1) * 0.5), Math.fround(-2 - Math.fround(Math.fround(0.1) * 0.25))]);
  });
});

describe('scheduler curves at given steps', () => {
  const opt = (lr = 1) => new SGD([paramWithGrad([1], [1])], { lr });
  const curve = (o: tg.optim.Optimizer<{ lr: number }>, s: { step(): void }, n: number) => {
    const lrs = [o.paramGroups[0]!.lr];
    for (let i = 0; i < n; i++) {
      s.step();
      lrs.push(o.paramGroups[0]!.lr);
    }
    return lrs;
  };

  it('OneCycleLR: cosine up over pctStart·totalSteps - 1 steps, cosine down to the end', () => {
    const o = opt();
    const lrs = curve(o, new lrScheduler.OneCycleLR(o, { maxLr: 1, totalSteps: 10, pctStart: 0.3 }), 9);
    const initial = 0.04;
    const min = initial / 1e4;
    const down = (t: number) => min + ((1 - min) / 2) * (1 + Math.cos((Math.PI * (t - 2)) / 7));
    expectClose(lrs, [initial, 1 + (initial - 1) / 2, 1, down(3), down(4), down(5), down(6), down(7), down(8), min], 1e-14);
  });

  it('OneCycleLR linear and three-phase', () => {
    const o = opt();
    const lrs = curve(o, new lrScheduler.OneCycleLR(o, { maxLr: 1, totalSteps: 9, pctStart: 0.25, annealStrategy: 'linear', threePhase: true, divFactor: 4, finalDivFactor: 10 }), 8);
    // up to 1 at step 1.25, back to 0.25 at step 2.5, down to 0.025 at step 8
    const min = 0.025;
    expectClose(
      lrs,
      [0.25, 0.25 + 0.75 * 0.8, 1 - 0.75 * 0.6, 0.25 - ((0.25 - min) * 0.5) / 5.5, 0.25 - ((0.25 - min) * 1.5) / 5.5, 0.25 - ((0.25 - min) * 2.5) / 5.5,
        0.25 - ((0.25 - min) * 3.5) / 5.5, 0.25 - ((0.25 - min) * 4.5) / 5.5, min],
      1e-14,
    );
  });

  it('StepLR and LinearLR with two groups follow each group’s base lr', () => {
    const a = paramWithGrad([1], [1]);
    const b = paramWithGrad([1], [1]);
    const o = new SGD([{ params: [a] }, { params: [b], lr: 0.5 }], { lr: 2 });
    const s = new lrScheduler.LinearLR(o, { startFactor: 0.5, endFactor: 1, totalIters: 2 });
    expect(s.getLastLr()).toEqual([1, 0.25]);
    s.step();
    expect(s.getLastLr()).toEqual([1.5, 0.375]);
    s.step();
    s.step();
    expect(s.getLastLr()).toEqual([2, 0.5]);
  });

  it('ReduceLROnPlateau: mode max, absolute threshold, cooldown and minLr', () => {
    const o = opt();
    const s = new lrScheduler.ReduceLROnPlateau(o, { mode: 'max', thresholdMode: 'abs', threshold: 0.1, patience: 1, factor: 0.5, cooldown: 1, minLr: 0.3 });
    const lrs = [1, 1.05, 1.2, 1.2, 1, 1, 1, 1, 1, 1, 1].map((m) => {
      s.step(m);
      return o.paramGroups[0]!.lr;
    });
    expect(lrs).toEqual([1, 1, 1, 1, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3, 0.3]);
    expect(() => s.step(NaN)).toThrow(new RangeError("ReduceLROnPlateau.step: metric must be a number (not NaN), got NaN"));
  });
});

// Values from PyTorch 1.13 (torch.optim.lr_scheduler, float64 Python floats), printed with repr.
describe('schedulers chain as PyTorch’s do', () => {
  const opt = (lr = 1) => new SGD([paramWithGrad([1], [1])], { lr });
  // |a - e| <= 1e-12·|e|: the recursive forms round as PyTorch's do, so the lrs agree to the last bits or so.
  const expectRel = (actual: number[], expected: number[]) => {
    expect(actual).toHaveLength(expected.length);
    actual.forEach((a, i) => expect(Math.abs(a - expected[i]!), `[${i}]: ${a} vs ${expected[i]}`).toBeLessThanOrEqual(1e-12 * Math.abs(expected[i]!)));
  };
  const run = (o: InstanceType<typeof SGD>, scheds: { step(): void }[], n: number, before?: (i: number) => void) => {
    const lrs = [o.paramGroups[0]!.lr];
    for (let i = 0; i < n; i++) {
      before?.(i);
      for (const s of scheds) s.step();
      lrs.push(o.paramGroups[0]!.lr);
    }
    return lrs;
  };

  it('a LinearLR warm-up then CosineAnnealingLR on one optimizer (the cosine takes the first lr as its base)', () => {
    const o = opt();
    const lrs = run(o, [new lrScheduler.LinearLR(o, { startFactor: 0.1, totalIters: 3 }), new lrScheduler.CosineAnnealingLR(o, { tMax: 6 })], 8);
    expectRel(lrs, [0.1, 0.37320508075688774, 0.525, 0.5, 0.2500000000000001, 0.06698729810778065, 0, 0.06698729810778065, 0.25]);
  });

  it('StepLR keeps the cuts ReduceLROnPlateau makes', () => {
    const o = opt();
    const step = new lrScheduler.StepLR(o, { stepSize: 100 });
    const plateau = new lrScheduler.ReduceLROnPlateau(o, { patience: 0, factor: 0.5 });
    const lrs = [1, 1, 1, 1].map((m) => {
      plateau.step(m);
      step.step();
      return o.paramGroups[0]!.lr;
    });
    expect(lrs).toEqual([1, 0.5, 0.25, 0.125]);
  });

  it('an lr set by hand between steps carries on (StepLR, CosineAnnealingLR)', () => {
    const byHand = (o: InstanceType<typeof SGD>) => (i: number) => {
      if (i === 1) o.paramGroups[0]!.lr = 0.01;
    };
    const o1 = opt();
    expectRel(run(o1, [new lrScheduler.StepLR(o1, { stepSize: 2, gamma: 0.5 })], 5, byHand(o1)), [1, 1, 0.005, 0.005, 0.0025, 0.0025]);
    const o2 = opt();
    expectRel(run(o2, [new lrScheduler.CosineAnnealingLR(o2, { tMax: 4, etaMin: 0.1 })], 10, byHand(o2)), [
      1, 0.8681980515339464, 0.04727922061357855, 0.08455844122715711, 0.1, 0.2318019484660536, 0.55, 0.8681980515339467,
      1.0000000000000004, 0.8681980515339468, 0.5500000000000004,
    ]);
  });

  it('single schedulers: the recursive forms give PyTorch’s values', () => {
    const o1 = opt(0.1);
    expectRel(run(o1, [new lrScheduler.CosineAnnealingLR(o1, { tMax: 3, etaMin: 0.01 })], 14), [
      0.1, 0.0775, 0.032500000000000015, 0.01, 0.0325, 0.07750000000000005, 0.10000000000000007, 0.07750000000000007,
      0.03250000000000006, 0.01, 0.0325, 0.07749999999999992, 0.09999999999999995, 0.07749999999999996, 0.03250000000000003,
    ]);
    const o2 = opt(0.1);
    expectRel(run(o2, [new lrScheduler.LinearLR(o2, { startFactor: 0.25, endFactor: 0.9, totalIters: 4 })], 7), [
      0.025, 0.04125, 0.05750000000000001, 0.07375000000000001, 0.09000000000000002, 0.09000000000000002, 0.09000000000000002, 0.09000000000000002,
    ]);
    const o3 = opt(0.1);
    expectRel(run(o3, [new lrScheduler.StepLR(o3, { stepSize: 3, gamma: 0.3 })], 10), [
      0.1, 0.1, 0.1, 0.03, 0.03, 0.03, 0.009, 0.009, 0.009, 0.0026999999999999997, 0.0026999999999999997,
    ]);
  });
});

// Values from PyTorch 1.13's OneCycleLR (cycle_momentum=True by default), printed with repr.
describe('OneCycleLR cycles the momentum as PyTorch’s does', () => {
  const param = () => paramWithGrad([1], [1]);
  const expectRel = (actual: number[], expected: number[]) => {
    expect(actual).toHaveLength(expected.length);
    actual.forEach((a, i) => expect(Math.abs(a - expected[i]!), `[${i}]: ${a} vs ${expected[i]}`).toBeLessThanOrEqual(1e-12 * Math.abs(expected[i]!)));
  };
  // The lr and the momentum (or betas[0]) of group 0 after construction and after each of n steps.
  const run = (o: tg.optim.Optimizer<{ lr: number }>, s: { step(): void }, n: number) => {
    const g = o.paramGroups[0] as unknown as { lr: number; momentum?: number; betas?: [number, number] };
    const read = () => [g.lr, g.betas ? g.betas[0] : (g.momentum as number)] as const;
    const out = [read()];
    for (let i = 0; i < n; i++) {
      s.step();
      out.push(read());
    }
    return { lrs: out.map(([lr]) => lr), momentums: out.map(([, m]) => m) };
  };

  it('SGD: from maxMomentum 0.95 to baseMomentum 0.85 at the peak lr and back, over totalSteps steps', () => {
    const o = new SGD([param()], { lr: 0.1, momentum: 0.9 });
    const { lrs, momentums } = run(o, new lrScheduler.OneCycleLR(o, { maxLr: 1, totalSteps: 10 }), 10);
    expectRel(lrs, [
      0.040000000000000036, 0.52, 1.0, 0.9504846320134737, 0.8117456539497631, 0.6112620219362893, 0.38874197806371075,
      0.18825834605023697, 0.049519367986526286, 4e-06, 0.04951936798652623,
    ]);
    expectRel(momentums, [
      0.95, 0.8999999999999999, 0.85, 0.854951556604879, 0.8688255099070633, 0.8888739533021842, 0.9111260466978157,
      0.9311744900929366, 0.945048443395121, 0.95, 0.945048443395121,
    ]);
  });

  it('three phases with linear annealing (SGD), and with Adam’s betas[0] between given momentums', () => {
    const o = new SGD([param()], { lr: 1 });
    const s = new lrScheduler.OneCycleLR(o, { maxLr: 1, totalSteps: 9, pctStart: 0.25, annealStrategy: 'linear', threePhase: true, divFactor: 4, finalDivFactor: 10 });
    const { lrs, momentums } = run(o, s, 8);
    expectRel(lrs, [0.25, 0.8500000000000001, 0.55, 0.22954545454545455, 0.18863636363636363, 0.14772727272727273, 0.10681818181818181,
      0.06590909090909089, 0.024999999999999994]);
    expectRel(momentums, [0.95, 0.87, 0.9099999999999999, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95]);

    const a = new Adam([param()], { lr: 0.1, betas: [0.8, 0.99] });
    const r = run(a, new lrScheduler.OneCycleLR(a, { maxLr: 1, totalSteps: 10, threePhase: true, baseMomentum: 0.8, maxMomentum: 0.9 }), 10);
    expectRel(r.momentums, [0.9, 0.8500000000000001, 0.8, 0.8500000000000001, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]);
    expectRel(r.lrs.slice(0, 6), [0.040000000000000036, 0.52, 1.0, 0.52, 0.04, 0.0361807218535102]);
    expect(a.paramGroups[0]!.betas[1]).toBe(0.99);
  });

  it('RMSprop’s momentum is cycled too; SGD without momentum gets one, as in PyTorch', () => {
    const r = new RMSprop([param()], { lr: 0.1 });
    expectRel(run(r, new lrScheduler.OneCycleLR(r, { maxLr: 1, totalSteps: 5 }), 5).momentums, [
      0.95, 0.854951556604879, 0.8888739533021842, 0.9311744900929366, 0.95, 0.9311744900929366,
    ]);
    // torch: p = zeros(1, float64), SGD(lr=0.1), OneCycleLR(max_lr=1, total_steps=4), 4 × (grad = 1, opt.step, sched.step)
    // -> p = -2.3276548251714586: the updates used the cycled momentum.
    const p = tg.zeros([1], { dtype: 'float64', requiresGrad: true });
    const o = new SGD([p], { lr: 0.1 });
    const s = new lrScheduler.OneCycleLR(o, { maxLr: 1, totalSteps: 4 });
    for (let i = 0; i < 4; i++) {
      p.grad = tg.ones([1], { dtype: 'float64' });
      o.step();
      s.step();
    }
    expectRel([p.item()], [-2.3276548251714586]);
  });

  it('refuses an optimizer without momentum unless cycleMomentum is false, and bad momentums', () => {
    const o = new Adagrad([param()], { lr: 0.1 });
    expect(() => new lrScheduler.OneCycleLR(o, { maxLr: 1, totalSteps: 5 })).toThrow(
      new TypeError(
        'OneCycleLR: cycleMomentum (on by default) needs an optimizer with momentum or betas (SGD, RMSprop, Adam, AdamW), got Adagrad; pass cycleMomentum: false',
      ),
    );
    expect(o.paramGroups[0]!.lr).toBe(0.1);
    const { lrs } = run(o, new lrScheduler.OneCycleLR(o, { maxLr: 1, totalSteps: 5, cycleMomentum: false }), 5);
    expectRel(lrs, [0.040000000000000036, 0.9504846320134737, 0.6112620219362893, 0.18825834605023697, 4e-06, 0.18825834605023686]);
    const sgd = new SGD([param()], { lr: 1 });
    const cases: [() => unknown, ErrorConstructor, string][] = [
      [() => new lrScheduler.OneCycleLR(sgd, { maxLr: 1, totalSteps: 5, maxMomentum: 1 }), RangeError, 'OneCycleLR: maxMomentum must be in [0, 1), got 1'],
      [() => new lrScheduler.OneCycleLR(sgd, { maxLr: 1, totalSteps: 5, baseMomentum: [0.8, 0.9] }), RangeError, 'OneCycleLR: expected 1 baseMomentum values, one per parameter group, got 2'],
      [() => new lrScheduler.OneCycleLR(sgd, { maxLr: 1, totalSteps: 5, baseMomentum: ['0.8'] as never }), TypeError, "OneCycleLR: baseMomentum[0] must be in [0, 1), got '0.8'"],
      [() => new lrScheduler.OneCycleLR(sgd, { maxLr: 1, totalSteps: 5, cycleMomentum: 0 as never }), TypeError, 'OneCycleLR: cycleMomentum must be a boolean, got 0'],
      [() => new lrScheduler.OneCycleLR(sgd, { maxLr: 1, totalSteps: 5, cycleMomentum: false, maxMomentum: 0.9 }), RangeError, 'OneCycleLR: baseMomentum and maxMomentum need cycleMomentum: true'],
    ];
    for (const [make, type, message] of cases) expect(make, message).toThrow(new type(message));
    expect([sgd.paramGroups[0]!.lr, sgd.paramGroups[0]!.momentum]).toEqual([1, 0]);
  });

  it('resumes from state dicts: the momentum comes back with the optimizer’s', () => {
    const make = () => {
      const o = new SGD([param()], { lr: 0.1, momentum: 0.5 });
      return { o, s: new lrScheduler.OneCycleLR(o, { maxLr: 1, totalSteps: 10, threePhase: true }) };
    };
    const whole = make();
    const part = make();
    for (let i = 0; i < 4; i++) [whole, part].forEach(({ s }) => s.step());
    const fresh = make();
    fresh.o.loadStateDict(part.o.stateDict());
    fresh.s.loadStateDict(part.s.stateDict());
    const rest = (x: ReturnType<typeof make>) => run(x.o, x.s, 6);
    expect(rest(fresh)).toEqual(rest(whole));
  });
});

// Values from PyTorch 1.13 (torch.optim.lr_scheduler, lr 0.1 unless said), printed with repr.
describe('ConstantLR, CosineAnnealingWarmRestarts, ChainedScheduler and OneCycleLR by epochs give PyTorch’s lrs', () => {
  // The lrs PyTorch 1.13 gives for SGD(lr=0.1, momentum=0.9), before and after each step().
  const opt = () => new SGD([paramWithGrad([1], [1])], { lr: 0.1, momentum: 0.9 });
  const run = (o: InstanceType<typeof SGD>, s: { step(): void }[], n: number) => {
    const lrs = [o.paramGroups[0]!.lr];
    for (let i = 0; i < n; i++) {
      for (const x of s) x.step();
      lrs.push(o.paramGroups[0]!.lr);
    }
    return lrs;
  };
  const expectRel = (actual: number[], expected: number[]) => {
    expect(actual).toHaveLength(expected.length);
    actual.forEach((a, i) => expect(Math.abs(a - expected[i]!), `[${i}]: ${a} vs ${expected[i]}`).toBeLessThanOrEqual(1e-12 * Math.abs(expected[i]!)));
  };

  it('ConstantLR alone and chained with ExponentialLR', () => {
    const o1 = opt();
    expectRel(run(o1, [new lrScheduler.ConstantLR(o1, { factor: 0.5, totalIters: 3 })], 6), [0.05, 0.05, 0.05, 0.1, 0.1, 0.1, 0.1]);
    const o2 = opt();
    const both = [new lrScheduler.ConstantLR(o2, { factor: 0.5, totalIters: 2 }), new lrScheduler.ExponentialLR(o2, { gamma: 0.9 })];
    expectRel(run(o2, both, 5), [0.05, 0.045000000000000005, 0.08100000000000002, 0.07290000000000002, 0.06561000000000002, 0.05904900000000002]);
    expect(() => new lrScheduler.ConstantLR(opt(), { factor: 0 })).toThrow(new RangeError('ConstantLR: factor must be in (0, 1], got 0'));
  });

  it('CosineAnnealingWarmRestarts, cycles growing by tMult and of one length', () => {
    const o1 = opt();
    expectRel(run(o1, [new lrScheduler.CosineAnnealingWarmRestarts(o1, { t0: 3, tMult: 2, etaMin: 0.01 })], 12), [
      0.1, 0.0775, 0.032500000000000015, 0.1, 0.09397114317029975, 0.0775, 0.05500000000000001, 0.032500000000000015,
      0.01602885682970026, 0.1, 0.09846666218300808, 0.09397114317029975, 0.08681980515339464,
    ]);
    const o2 = opt();
    expectRel(run(o2, [new lrScheduler.CosineAnnealingWarmRestarts(o2, { t0: 4 })], 9), [
      0.1, 0.08535533905932738, 0.05, 0.014644660940672627, 0.1, 0.08535533905932738, 0.05, 0.014644660940672627, 0.1, 0.08535533905932738,
    ]);
    expect(() => new lrScheduler.CosineAnnealingWarmRestarts(opt(), { t0: 4, tMult: 1.5 })).toThrow(
      new RangeError('CosineAnnealingWarmRestarts: tMult must be a positive integer, got 1.5'),
    );
  });

  it('ChainedScheduler steps its schedulers in order, and resumes from its state dict', () => {
    const make = () => {
      const o = opt();
      const s = new lrScheduler.ChainedScheduler([
        new lrScheduler.ConstantLR(o, { factor: 0.1, totalIters: 2 }),
        new lrScheduler.ExponentialLR(o, { gamma: 0.9 }),
      ]);
      return { o, s };
    };
    const a = make();
    const lrs = run(a.o, [a.s], 5);
    expectRel(lrs, [0.010000000000000002, 0.009000000000000003, 0.08100000000000003, 0.07290000000000003, 0.06561000000000003, 0.059049000000000025]);
    const b = make();
    run(b.o, [b.s], 1);
    const c = make();
    c.s.loadStateDict(b.s.stateDict());
    c.o.loadStateDict(b.o.stateDict());
    expectRel(run(c.o, [c.s], 4), lrs.slice(1));
    expect(c.s.lastEpoch).toBe(5);
    // All or nothing: a bad inner state leaves every scheduler as it was.
    const before = c.s.stateDict();
    expect(() => c.s.loadStateDict({ ...before, schedulers: [before.schedulers[0]!, { lastEpoch: -5, baseLrs: [0.1] }] })).toThrow(
      new RangeError('ExponentialLR.loadStateDict: lastEpoch must be an integer >= -1, got -5'),
    );
    expect(c.s.stateDict()).toEqual(before);
    expect(() => new lrScheduler.ChainedScheduler([])).toThrow(TypeError);
    expect(() => new lrScheduler.ChainedScheduler([new lrScheduler.ExponentialLR(opt(), { gamma: 0.9 }), new lrScheduler.ExponentialLR(opt(), { gamma: 0.9 })])).toThrow(
      new RangeError('ChainedScheduler: schedulers[1] belongs to another optimizer than schedulers[0]'),
    );
  });

  it('OneCycleLR takes epochs and stepsPerEpoch for its length', () => {
    const o = opt();
    expectRel(run(o, [new lrScheduler.OneCycleLR(o, { maxLr: 1, epochs: 2, stepsPerEpoch: 3 })], 6), [
      0.040000000000000036, 0.9944154354509117, 0.811745653949763, 0.46263710266697505, 0.1334775301888306, 4e-6, 0.13347753018883055,
    ]);
    expect(() => new lrScheduler.OneCycleLR(opt(), { maxLr: 1 })).toThrow(
      new RangeError('OneCycleLR: expected totalSteps, or epochs and stepsPerEpoch (got no epochs)'),
    );
    expect(() => new lrScheduler.OneCycleLR(opt(), { maxLr: 1, epochs: 2 })).toThrow(
      new RangeError('OneCycleLR: expected totalSteps, or epochs and stepsPerEpoch (got no stepsPerEpoch)'),
    );
    expect(() => new lrScheduler.OneCycleLR(opt(), { maxLr: 1, totalSteps: 6, epochs: 2, stepsPerEpoch: 3 })).toThrow(
      new RangeError('OneCycleLR: give either totalSteps or epochs and stepsPerEpoch, not both'),
    );
  });
});

describe('MultiStepLR, ExponentialLR, LambdaLR and SequentialLR give PyTorch’s lrs', () => {
  const opt = (lr = 0.1) => new SGD([paramWithGrad([1], [1])], { lr });
  const expectRel = (actual: number[], expected: number[]) => {
    expect(actual).toHaveLength(expected.length);
    actual.forEach((a, i) => expect(Math.abs(a - expected[i]!), `[${i}]: ${a} vs ${expected[i]}`).toBeLessThanOrEqual(1e-12 * Math.abs(expected[i]!)));
  };
  const run = (o: InstanceType<typeof SGD>, scheds: { step(): void }[], n: number) => {
    const lrs = [o.paramGroups.map((g) => g.lr)];
    for (let i = 0; i < n; i++) {
      for (const s of scheds) s.step();
      lrs.push(o.paramGroups.map((g) => g.lr));
    }
    return lrs;
  };
  const first = (lrs: number[][]) => lrs.map((l) => l[0]!);

  it('MultiStepLR (a milestone listed twice counts twice) and ExponentialLR, alone and chained', () => {
    const o1 = opt();
    expectRel(first(run(o1, [new lrScheduler.MultiStepLR(o1, { milestones: [7, 2, 5, 5], gamma: 0.5 })], 9)), [
      0.1, 0.1, 0.05, 0.05, 0.05, 0.0125, 0.0125, 0.00625, 0.00625, 0.00625,
    ]);
    const o2 = opt();
    expectRel(first(run(o2, [new lrScheduler.ExponentialLR(o2, { gamma: 0.7 })], 6)), [
      0.1, 0.06999999999999999, 0.048999999999999995, 0.0343, 0.024009999999999997, 0.016806999999999996, 0.011764899999999997,
    ]);
    const o3 = opt();
    const chained = [new lrScheduler.ExponentialLR(o3, { gamma: 0.9 }), new lrScheduler.MultiStepLR(o3, { milestones: [2, 4] })];
    expectRel(first(run(o3, chained, 6)), [
      0.1, 0.09000000000000001, 0.008100000000000001, 0.007290000000000001, 0.0006561000000000002, 0.0005904900000000002, 0.0005314410000000001,
    ]);
  });

  it('LambdaLR with one function per group', () => {
    const o = new SGD([{ params: [paramWithGrad([1], [1])] }, { params: [paramWithGrad([1], [1])], lr: 0.5 }], { lr: 0.1 });
    const s = new lrScheduler.LambdaLR(o, { lrLambda: [(t) => 0.9 ** t, (t) => 1 / (t + 1)] });
    const lrs = run(o, [s], 4);
    expectRel(lrs.flat(), [0.1, 0.5, 0.09000000000000001, 0.25, 0.08100000000000002, 0.16666666666666666, 0.0729, 0.125, 0.06561, 0.1]);
    // One function serves every group, even one added later and given a base lr; a list has none for it.
    const one = new lrScheduler.LambdaLR(opt(), { lrLambda: (t) => 0.5 ** t });
    const list = new lrScheduler.LambdaLR(opt(), { lrLambda: [(t) => 0.5 ** t] });
    for (const sched of [one, list]) {
      sched.optimizer.addParamGroup({ params: [paramWithGrad([1], [1])], lr: 0.2 });
      sched.loadStateDict({ lastEpoch: 0, baseLrs: [0.1, 0.2] });
    }
    one.step();
    expect(one.getLastLr()).toEqual([0.05, 0.1]);
    expect(() => list.step()).toThrow(new RangeError('LambdaLR: group 1 has no lrLambda (one was given per group, for 1 groups)'));
  });

  it('SequentialLR: a LinearLR warm-up, then a CosineAnnealingLR restarted from the base lr at the milestone', () => {
    const o = opt();
    const s = new lrScheduler.SequentialLR(o, {
      schedulers: [new lrScheduler.LinearLR(o, { startFactor: 0.1, totalIters: 3 }), new lrScheduler.CosineAnnealingLR(o, { tMax: 5, etaMin: 0.001 })],
      milestones: [3],
    });
    expectRel(first(run(o, [s], 9)), [
      0.010000000000000002, 0.04, 0.07, 0.1, 0.0905463412215599, 0.06579634122155989, 0.035203658778440096, 0.010453658778440105, 0.001,
      0.010453658778440102,
    ]);
  });

  it('SequentialLR of three, resumed from its state dict through tensors', () => {
    const make = () => {
      const o = opt();
      const parts = [
        new lrScheduler.ExponentialLR(o, { gamma: 0.5 }),
        new lrScheduler.StepLR(o, { stepSize: 2, gamma: 0.1 }),
        new lrScheduler.LambdaLR(o, { lrLambda: (t) => t + 1 }),
      ];
      return { o, s: new lrScheduler.SequentialLR(o, { schedulers: parts, milestones: [2, 5] }) };
    };
    const a = make();
    expectRel(first(run(a.o, [a.s], 8)), [0.1, 0.05, 0.1, 0.1, 0.010000000000000002, 0.1, 0.2, 0.30000000000000004, 0.4]);
    const b = make();
    run(b.o, [b.s], 4);
    const c = make();
    c.o.loadStateDict(b.o.stateDict());
    c.s.loadStateDict(tg.optim.stateDictFromTensors(tg.optim.stateDictToTensors(b.s.stateDict())));
    expect(c.s.stateDict()).toEqual(b.s.stateDict());
    expect(run(c.o, [c.s], 4)).toEqual(run(b.o, [b.s], 4));
    // A state dict that fails part-way leaves everything as it was.
    const before = c.s.stateDict();
    const bad = { ...before, schedulers: [before.schedulers[0]!, { lastEpoch: -5, baseLrs: [0.1] }, before.schedulers[2]!] };
    expect(() => c.s.loadStateDict(bad)).toThrow(new RangeError('StepLR.loadStateDict: lastEpoch must be an integer >= -1, got -5'));
    expect(c.s.stateDict()).toEqual(before);
  });

  it('refuse bad options with errors naming the scheduler and the option', () => {
    const o = opt();
    const other = opt();
    const { MultiStepLR, ExponentialLR, LambdaLR, SequentialLR, LinearLR, ReduceLROnPlateau } = lrScheduler;
    const cases: [() => unknown, ErrorConstructor, string][] = [
      [() => new MultiStepLR(o, { milestones: 3 as never }), TypeError, 'MultiStepLR: milestones must be an array of step counts, got 3'],
      [() => new MultiStepLR(o, { milestones: [2, 1.5] }), RangeError, 'MultiStepLR: milestones[1] must be a non-negative integer, got 1.5'],
      [() => new ExponentialLR(o, {} as never), TypeError, 'ExponentialLR: gamma must be a non-negative finite number, got undefined'],
      [() => new LambdaLR(o, { lrLambda: 0.5 as never }), TypeError, 'LambdaLR: lrLambda must be a function of the step count, got 0.5'],
      [() => new LambdaLR(o, { lrLambda: [() => 1, () => 1] }), RangeError, 'LambdaLR: expected 1 lrLambda functions, one per parameter group, got 2'],
      [() => new LambdaLR(o, { lrLambda: (t) => (t === 0 ? NaN : 1) }), RangeError, 'LambdaLR: lrLambda returned NaN at step 0 for group 0; expected a non-negative finite number'],
      [() => new SequentialLR(o, { schedulers: [], milestones: [] }), TypeError, 'SequentialLR: schedulers must be a non-empty array of lr schedulers, got an array'],
      [() => new SequentialLR(o, { schedulers: [new ReduceLROnPlateau(o) as never], milestones: [] }), TypeError,
        'SequentialLR: schedulers[0] must be an lr scheduler such as LinearLR (not ReduceLROnPlateau or SequentialLR), got a ReduceLROnPlateau'],
      [() => new SequentialLR(o, { schedulers: [new LinearLR(other)], milestones: [] }), RangeError, 'SequentialLR: schedulers[0] belongs to another optimizer than the one given'],
      [() => new SequentialLR(o, { schedulers: [new ExponentialLR(o, { gamma: 1 })], milestones: [3] }), RangeError,
        'SequentialLR: milestones must be an array of 0 step counts, one fewer than the schedulers, got 1'],
      [() => new SequentialLR(o, { schedulers: [new ExponentialLR(o, { gamma: 1 }), new ExponentialLR(o, { gamma: 1 }), new ExponentialLR(o, { gamma: 1 })], milestones: [3, 3] }),
        RangeError, 'SequentialLR: milestones[1] must be an integer > 3 (milestones ascend), got 3'],
    ];
    for (const [make, type, message] of cases) expect(make, message).toThrow(new type(message));
  });
});
