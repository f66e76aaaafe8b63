// Training converges: small MLPs learn XOR and a two-class spiral within a
// fixed number of steps from a fixed seed, written the way users write it.
import { describe, expect, it } from 'vitest';
import { tg } from '../helpers.js';

const { nn, optim } = tg;

function accuracy(logits: tg.Tensor, labels: tg.Tensor): number {
  return tg.tidy(() => logits.argmax(1).eq(labels).to('float32').mean().item());
}

function fit(model: tg.nn.Module, opt: tg.optim.Optimizer<{ lr: number }>, x: tg.Tensor, y: tg.Tensor, steps: number, after?: () => void): number[] {
  const loss = new nn.CrossEntropyLoss();
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    losses.push(
      tg.tidy(() => {
        opt.zeroGrad();
        const l = loss.forward(model.forward(x), y);
        l.backward();
        opt.step();
        after?.();
        return l.item();
      }),
    );
  }
  return losses;
}

// Two interleaved spirals of n points each, 1.25 turns, radius 0.1 to 1, with Gaussian noise.
function spiral(n: number, noise: number): { x: tg.Tensor; y: tg.Tensor } {
  const jitter = tg.randn([2 * n, 2]).data();
  const xs = new Float32Array(4 * n);
  const ys = new Int32Array(2 * n);
  for (let c = 0; c < 2; c++) {
    for (let i = 0; i < n; i++) {
      const k = c * n + i;
      const t = i / (n - 1);
      const r = 0.1 + 0.9 * t;
      const theta = c * Math.PI + t * 2.5 * Math.PI;
      xs[2 * k] = r * Math.cos(theta) + noise * (jitter[2 * k] as number);
      xs[2 * k + 1] = r * Math.sin(theta) + noise * (jitter[2 * k + 1] as number);
      ys[k] = c;
    }
  }
  return { x: tg.tensor(xs, { shape: [2 * n, 2] }), y: tg.tensor(ys, { shape: [2 * n], dtype: 'int32' }) };
}

describe('training converges', () => {
  it('an MLP learns XOR to 100% with Adam', () => {
    tg.manualSeed(0);
    const x = tg.tensor([[0, 0], [0, 1], [1, 0], [1, 1]]);
    const y = tg.tensor([0, 1, 1, 0], { dtype: 'int32' });
    const model = new nn.MLP([2, 8, 2], { activation: 'tanh' });
    const opt = new optim.Adam(model.parameters(), { lr: 0.05 });
    const losses = fit(model, opt, x, y, 1); // the first step creates the optimizer's state
    const before = tg.memory().liveTensors;
    losses.push(...fit(model, opt, x, y, 199));
    expect(tg.memory().liveTensors).toBe(before); // nothing leaks per step
    expect(losses[199]!).toBeLessThan(0.05 * losses[0]!);
    expect(accuracy(tg.tidy(() => model.forward(x)), y)).toBe(1);
  });

  it('an MLP learns XOR with SGD + Nesterov momentum and gradient clipping', () => {
    tg.manualSeed(1);
    const x = tg.tensor([[0, 0], [0, 1], [1, 0], [1, 1]]);
    const y = tg.tensor([0, 1, 1, 0], { dtype: 'int32' });
    const model = new nn.MLP([2, 16, 2], { activation: 'tanh' });
    const opt = new optim.SGD(model.parameters(), { lr: 0.2, momentum: 0.9, nesterov: true });
    const norms: number[] = [];
    const clippedNorms: number[] = [];
    fit(model, opt, x, y, 300);
    expect(accuracy(tg.tidy(() => model.forward(x)), y)).toBe(1);
    // clipping keeps the update bounded without stopping learning
    tg.manualSeed(1);
    const clipped = new nn.MLP([2, 16, 2], { activation: 'tanh' });
    const opt2 = new optim.SGD(clipped.parameters(), { lr: 0.2, momentum: 0.9, nesterov: true });
    const loss = new nn.CrossEntropyLoss();
    for (let i = 0; i < 300; i++)
      tg.tidy(() => {
        opt2.zeroGrad();
        loss.forward(clipped.forward(x), y).backward();
        norms.push(nn.utils.clipGradNorm(clipped.parameters(), 0.1));
        clippedNorms.push(nn.utils.clipGradNorm(clipped.parameters(), Infinity)); // measures only
        opt2.step();
      });
    expect(accuracy(tg.tidy(() => clipped.forward(x)), y)).toBe(1);
    expect(norms[0]!).toBeGreaterThan(0.2);
    norms.forEach((n, i) => expect(clippedNorms[i]!).toBeCloseTo(Math.min(n, 0.1), 5));
  });

  it('an MLP learns a two-class spiral to at least 95% with Adam and a cosine schedule', () => {
    tg.manualSeed(42);
    const { x, y } = spiral(100, 0.02);
    const model = new nn.MLP([2, 64, 64, 2]);
    const opt = new optim.Adam(model.parameters(), { lr: 0.02 });
    const sched = new optim.lrScheduler.CosineAnnealingLR(opt, { tMax: 600, etaMin: 1e-3 });
    fit(model, opt, x, y, 600, () => sched.step());
    const train = accuracy(tg.tidy(() => model.forward(x)), y);
    expect(train).toBeGreaterThanOrEqual(0.95);
    // Points from the same spirals with other noise: the boundary generalises.
    const test = spiral(100, 0.02);
    expect(accuracy(tg.tidy(() => model.forward(test.x)), test.y)).toBeGreaterThanOrEqual(0.9);
  });

  it('the same seed trains to the same weights', () => {
    const run = () => {
      tg.manualSeed(5);
      const { x, y } = spiral(20, 0.05);
      const model = new nn.MLP([2, 16, 2]);
      fit(model, new optim.AdamW(model.parameters(), { lr: 0.01 }), x, y, 20);
      return model.parameters().map((p) => Array.from(p.data()));
    };
    expect(run()).toEqual(run());
  });
});
