import { describe, expect, it } from 'vitest';
import { expectClose, leaf, tg } from '../helpers.js';

const nn = tg.nn;
const F = tg.nn.functional;
const f64 = (data: tg.NestedArray) => tg.tensor(data, { dtype: 'float64' });
const i32 = (data: tg.NestedArray) => tg.tensor(data, { dtype: 'int32' });
const { log } = Math;
const softplus = (x: number) => log(1 + Math.exp(x));

describe('CrossEntropyLoss', () => {
  const logits = f64([[0, log(2), log(3)], [1, 1, 1]]);
  const target = i32([2, 0]);

  it('hand values for each reduction', () => {
    expectClose(new nn.CrossEntropyLoss().forward(logits, target).item(), (log(2) + log(3)) / 2, 1e-14);
    expectClose(new nn.CrossEntropyLoss({ reduction: 'sum' }).forward(logits, target).item(), log(2) + log(3), 1e-14);
    expectClose(new nn.CrossEntropyLoss({ reduction: 'none' }).forward(logits, target).toArray(), [log(2), log(3)], 1e-14);
  });

  it('class weights, ignoreIndex and label smoothing', () => {
    const weight = f64([1, 1, 3]);
    // The weighted mean divides by the weights of the targets: (3·ln2 + 1·ln3) / 4.
    expectClose(new nn.CrossEntropyLoss({ weight }).forward(logits, target).item(), (3 * log(2) + log(3)) / 4, 1e-14);
    expectClose(new nn.CrossEntropyLoss({ ignoreIndex: 0 }).forward(logits, target).item(), log(2), 1e-14);
    expectClose(new nn.CrossEntropyLoss().forward(logits, i32([2, -100])).item(), log(2), 1e-14);
    const eps = 0.1;
    const row0 = (1 - eps) * log(2) + (eps * (log(6) + log(3) + log(2))) / 3;
    const row1 = log(3);
    expectClose(new nn.CrossEntropyLoss({ labelSmoothing: eps }).forward(logits, target).item(), (row0 + row1) / 2, 1e-14);
  });

  it('class-probability targets', () => {
    const probs = f64([[0, 0.5, 0.5], [1, 0, 0]]);
    const expected = (0.5 * log(3) + 0.5 * log(2) + log(3)) / 2;
    expectClose(new nn.CrossEntropyLoss().forward(logits, probs).item(), expected, 1e-14);
  });

  it('matches the functional form and gradchecks', () => {
    const x = leaf([4, 5], 3);
    const t = i32([1, 0, 4, 4]);
    const weight = f64([0.5, 1, 2, 1, 3]);
    const opts = { weight, ignoreIndex: 0, labelSmoothing: 0.2 } as const;
    expect(new nn.CrossEntropyLoss(opts).forward(x, t).item()).toBe(F.crossEntropy(x, t, opts).item());
    expect(tg.gradcheck((a) => new nn.CrossEntropyLoss(opts).forward(a, t), [x])).toBe(true);
  });

  it('keeps the class weight as a buffer in the state dict', () => {
    const weight = f64([1, 2]);
    const loss = new nn.CrossEntropyLoss({ weight });
    expect(Object.keys(loss.stateDict())).toEqual(['weight']);
    expect(loss.parameters()).toEqual([]);
    expect(Object.keys(new nn.CrossEntropyLoss().stateDict())).toEqual([]);
    expect(String(loss)).toBe('CrossEntropyLoss()');
  });

  it('rejects bad options', () => {
    expect(() => new nn.CrossEntropyLoss({ reduction: 'avg' as 'mean' })).toThrow(
      "CrossEntropyLoss: reduction must be 'mean', 'sum' or 'none', got 'avg'",
    );
    expect(() => new nn.CrossEntropyLoss({ labelSmoothing: 1.5 })).toThrow(RangeError);
    expect(() => new nn.CrossEntropyLoss({ ignoreIndex: 0.5 })).toThrow(new RangeError('CrossEntropyLoss: ignoreIndex must be an integer, got 0.5'));
    expect(() => new nn.CrossEntropyLoss({ ignoreIndex: '1' as never })).toThrow(new TypeError("CrossEntropyLoss: ignoreIndex must be an integer, got '1'"));
    expect(() => new nn.CrossEntropyLoss({ weight: [1, 2] as unknown as tg.Tensor })).toThrow(TypeError);
    expect(() => new nn.CrossEntropyLoss().forward(logits, i32([3, 0]))).toThrow(RangeError);
  });
});

describe('NLLLoss', () => {
  it('is cross-entropy after LogSoftmax', () => {
    const x = leaf([3, 4], 2);
    const t = i32([3, 0, 1]);
    const lp = new nn.LogSoftmax(1).forward(x);
    expectClose(new nn.NLLLoss().forward(lp, t).item(), new nn.CrossEntropyLoss().forward(x, t).item(), 1e-14);
    expectClose(new nn.NLLLoss({ reduction: 'none' }).forward(f64([[-1, -2], [-3, -4]]), i32([1, 0])).toArray(), [2, 3], 0);
  });
});

describe('MSELoss, L1Loss and HuberLoss', () => {
  const x = f64([1, 2, 3]);
  const y = f64([0, 2, 5]);

  it('hand values for each reduction', () => {
    expectClose(new nn.MSELoss().forward(x, y).item(), 5 / 3, 1e-15);
    expect(new nn.MSELoss({ reduction: 'sum' }).forward(x, y).item()).toBe(5);
    expect(new nn.MSELoss({ reduction: 'none' }).forward(x, y).toArray()).toEqual([1, 0, 4]);
    expect(new nn.L1Loss().forward(x, y).item()).toBe(1);
    expect(new nn.L1Loss({ reduction: 'sum' }).forward(x, y).item()).toBe(3);
    expect(new nn.L1Loss({ reduction: 'none' }).forward(x, y).toArray()).toEqual([1, 0, 2]);
    // delta 1.5: |d| = 1 is quadratic (0.5), |d| = 2 is linear (1.5·(2 - 0.75)).
    expect(new nn.HuberLoss({ delta: 1.5, reduction: 'none' }).forward(x, y).toArray()).toEqual([0.5, 0, 1.875]);
  });

  it('match the functional forms and gradcheck', () => {
    const a = leaf([2, 3], 1);
    const b = leaf([2, 3], 2);
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      expect(new nn.MSELoss({ reduction }).forward(a, b).toArray()).toEqual(F.mseLoss(a, b, { reduction }).toArray());
      expect(new nn.L1Loss({ reduction }).forward(a, b).toArray()).toEqual(F.l1Loss(a, b, { reduction }).toArray());
      for (const L of [nn.MSELoss, nn.L1Loss, nn.HuberLoss])
        expect(tg.gradcheck((p, q) => new L({ reduction }).forward(p, q), [a, b])).toBe(true);
    }
  });

  it('reject bad options and shapes', () => {
    expect(() => new nn.MSELoss({ reduction: 'max' as 'sum' })).toThrow("MSELoss: reduction must be 'mean', 'sum' or 'none', got 'max'");
    expect(() => new nn.L1Loss(3 as unknown as object)).toThrow(new TypeError("L1Loss: options must be an object like { reduction: 'sum' }, got 3"));
    expect(() => new nn.HuberLoss({ delta: 0 })).toThrow('HuberLoss: delta must be a positive number, got 0');
    expect(() => new nn.MSELoss().forward(x, f64([1, 2]))).toThrow(RangeError);
    expect(() => new nn.HuberLoss({ delta: '1' as never })).toThrow(new TypeError("HuberLoss: delta must be a positive number, got '1'"));
    expect(() => new nn.MSELoss({ reduction: 0 as never })).toThrow(new TypeError("MSELoss: reduction must be 'mean', 'sum' or 'none', got 0"));
  });

  it('refuse options they would ignore: unknown keys, and a string in place of the options object', () => {
    expect(() => new nn.MSELoss({ reduce: 'sum' } as never)).toThrow(new TypeError("MSELoss: unknown option 'reduce'; the options are reduction"));
    expect(() => new nn.CrossEntropyLoss({ ignore_index: 0 } as never)).toThrow(
      new TypeError("CrossEntropyLoss: unknown option 'ignore_index'; the options are reduction, weight, ignoreIndex, labelSmoothing"),
    );
    expect(() => new nn.BCEWithLogitsLoss({ pos_weight: f64([2]) } as never)).toThrow(/^BCEWithLogitsLoss: unknown option 'pos_weight'/);
    // The functional forms gave the mean for these.
    expect(() => F.mseLoss(x, x, 'sum' as never)).toThrow(new TypeError("mseLoss: options must be an object like { reduction: 'sum' }, got 'sum'"));
    expect(() => F.l1Loss(x, x, { reductions: 'sum' } as never)).toThrow(new TypeError("l1Loss: unknown option 'reductions'; the options are reduction"));
    expect(() => F.crossEntropy(f64([[1, 2]]), i32([0]), { label_smoothing: 0.1 } as never)).toThrow(/^crossEntropy: unknown option 'label_smoothing'/);
    expect(() => F.huberLoss(x, x, { beta: 2 } as never)).toThrow(/^huberLoss: unknown option 'beta'; the options are reduction, delta$/);
  });
});

describe('BCEWithLogitsLoss and BCELoss', () => {
  const x = f64([0, 2, -1]);
  const t = f64([1, 0, 1]);

  it('hand values, weight and posWeight', () => {
    const each = [log(2), softplus(2), softplus(1)];
    expectClose(new nn.BCEWithLogitsLoss({ reduction: 'none' }).forward(x, t).toArray(), each, 1e-14);
    expectClose(new nn.BCEWithLogitsLoss().forward(x, t).item(), (each[0]! + each[1]! + each[2]!) / 3, 1e-14);
    // posWeight multiplies the positive term only: the t = 1 entries.
    const posWeight = f64([3]);
    expectClose(
      new nn.BCEWithLogitsLoss({ posWeight, reduction: 'none' }).forward(x, t).toArray(),
      [3 * log(2), softplus(2), 3 * softplus(1)],
      1e-14,
    );
    const weight = f64([2, 0, 1]);
    expectClose(new nn.BCEWithLogitsLoss({ weight, reduction: 'sum' }).forward(x, t).item(), 2 * log(2) + softplus(1), 1e-14);
    const loss = new nn.BCEWithLogitsLoss({ weight, posWeight });
    expect(Object.keys(loss.stateDict())).toEqual(['weight', 'pos_weight']);
  });

  it('loads a state dict with PyTorch’s key names (pos_weight)', () => {
    // torch.nn.BCEWithLogitsLoss(weight=..., pos_weight=...).state_dict().keys() -> ['weight', 'pos_weight']
    const loss = new nn.BCEWithLogitsLoss({ weight: f64([1, 1, 1]), posWeight: f64([1]), reduction: 'none' });
    loss.loadStateDict({ weight: f64([2, 0, 1]), pos_weight: f64([3]) });
    expect(loss.pos_weight!.toArray()).toEqual([3]);
    expectClose(loss.forward(x, t).toArray(), [6 * log(2), 0, 3 * softplus(1)], 1e-14);
  });

  it('BCELoss on probabilities equals BCEWithLogitsLoss on logits', () => {
    const p = new nn.Sigmoid().forward(x);
    expectClose(new nn.BCELoss().forward(p, t).item(), new nn.BCEWithLogitsLoss().forward(x, t).item(), 1e-14);
  });

  it('matches the functional form and gradchecks', () => {
    const a = leaf([3, 2], 4, 2);
    const target = f64([[1, 0], [0.3, 1], [0, 0]]);
    const opts = { posWeight: f64([2, 0.5]), weight: f64([[1], [2], [0.5]]) };
    expect(new nn.BCEWithLogitsLoss(opts).forward(a, target).item()).toBe(F.binaryCrossEntropyWithLogits(a, target, opts).item());
    expect(tg.gradcheck((z) => new nn.BCEWithLogitsLoss(opts).forward(z, target), [a])).toBe(true);
    expect(() => new nn.BCEWithLogitsLoss({ posWeight: 2 as unknown as tg.Tensor })).toThrow(
      'BCEWithLogitsLoss: posWeight must be a Tensor or null, got 2',
    );
  });
});
