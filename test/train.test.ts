// Off-thread training steps: Trainer and fit({ offThread }), locking, and
// termination of a worker thread in the middle of a step.
import { Worker } from 'node:worker_threads';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectClose, tg } from './helpers.js';

type Opt = tg.optim.Optimizer<{ lr: number }>;

const optimizers: Record<string, (params: tg.Tensor[]) => Opt> = {
  'SGD (Nesterov, weight decay)': (p) => new tg.optim.SGD(p, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-3 }),
  'Adam (AMSGrad)': (p) => new tg.optim.Adam(p, { lr: 1e-2, amsgrad: true }),
  AdamW: (p) => new tg.optim.AdamW(p, { lr: 1e-2 }),
  'RMSprop (centered, momentum)': (p) => new tg.optim.RMSprop(p, { lr: 1e-3, centered: true, momentum: 0.5 }),
  'Adagrad (initial accumulator)': (p) => new tg.optim.Adagrad(p, { lr: 0.1, initialAccumulatorValue: 0.1 }),
};

function setup(make: (p: tg.Tensor[]) => Opt, sizes = [12, 32, 32, 4], batch = 16) {
  tg.manualSeed(4);
  const model = new tg.nn.MLP(sizes);
  const optimizer = make(model.parameters());
  tg.manualSeed(5);
  const x = tg.randn([batch, sizes[0]!]);
  const y = tg.randint(0, sizes[sizes.length - 1]!, [batch]);
  return { model, optimizer, x, y, loss: new tg.nn.CrossEntropyLoss() };
}

const weights = (m: tg.nn.Module) => m.parameters().flatMap((p) => Array.from(p.data()));

// The reference for a Trainer step: the same step synchronously on the JS thread; its loss.
interface Training {
  model: tg.nn.Module;
  optimizer: { zeroGrad(): void; step(): void };
  loss: tg.nn.Module;
}
const syncStep = (s: Training, x: tg.Tensor, y: tg.Tensor): number =>
  tg.tidy(() => {
    s.optimizer.zeroGrad();
    const l = s.loss.forward(s.model.forward(x), y);
    l.backward();
    s.optimizer.step();
    return l.item();
  });

describe('Trainer.step', () => {
  for (const [name, make] of Object.entries(optimizers)) {
    it(`matches synchronous steps bit for bit: ${name}`, async () => {
      const a = setup(make);
      const b = setup(make);
      const trainer = new tg.train.Trainer(b.model, { loss: b.loss, optimizer: b.optimizer });
      for (let i = 0; i < 4; i++) {
        const expected = syncStep(a, a.x, a.y);
        expect(await trainer.step([b.x, b.y])).toBe(expected);
      }
      expect(weights(b.model)).toEqual(weights(a.model));
      // The optimizer's bookkeeping advanced as with step(): the state dicts agree.
      const sa = a.optimizer.stateDict();
      const sb = b.optimizer.stateDict();
      expect(Object.keys(sb.state)).toEqual(Object.keys(sa.state));
      for (const k of Object.keys(sa.state)) {
        expect(sb.state[Number(k)]!.step).toBe(sa.state[Number(k)]!.step);
        for (const [n, t] of Object.entries(sa.state[Number(k)]!.tensors))
          expect(Array.from(sb.state[Number(k)]!.tensors[n]!.data())).toEqual(Array.from(t.data()));
      }
    });
  }

  it('locks the parameters, gradients and optimizer state while the step runs', async () => {
    const s = setup(optimizers['Adam (AMSGrad)']!, [256, 512, 512, 10], 256);
    // The whole forward pass at once: the job is queued when step() returns.
    const trainer = new tg.train.Trainer(s.model, { loss: s.loss, optimizer: s.optimizer, yieldEveryMs: 0 });
    await trainer.step([s.x, s.y]); // creates the optimizer state
    const w = s.model.parameters()[0]!;
    const state = s.optimizer.stateDict().state[0]!.tensors.exp_avg!;
    // Read before the step starts: the job may finish its update while the checks below run.
    const before = weights(s.model);
    const pending = trainer.step([s.x, s.y]);
    expect(trainer.busy).toBe(true);
    expect(() => tg.noGrad(() => w.addInPlace(1))).toThrow(/in use by a running async operation/);
    expect(() => tg.noGrad(() => state.mulInPlace(0))).toThrow(/in use by a running async operation/);
    expect(() => w.grad).toThrow(/in use by a running backwardAsync or train step; await it first/);
    expect(() => s.optimizer.step()).toThrow(tg.TapegradError);
    expect(() => w.dispose()).toThrow(/in use by a running async operation/);
    expect(() => w.registerHook((g) => g)).toThrow(/in use by a running backwardAsync or train step/);
    expect(() => w.setRequiresGrad(false)).toThrow(/in use by a running backwardAsync or train step/);
    // The batch is read by the backward pass: locked too.
    expect(() => tg.noGrad(() => s.x.mulInPlace(2))).toThrow(/in use by a running async operation/);
    expect(() => s.y.dispose()).toThrow(/in use by a running async operation/);
    const loss = await pending;
    expect(Number.isFinite(loss)).toBe(true);
    expect(trainer.busy).toBe(false);
    expect(weights(s.model)).not.toEqual(before);
    tg.noGrad(() => w.addInPlace(0)); // unlocked again
    expect(w.grad).not.toBeNull();
  });

  it('refuses a step while a backwardAsync accumulates into the parameters, and such a backwardAsync while a step runs', async () => {
    // A parameter no rule saves (an embedding's weight), in a model the step traces (its graph is made on the
    // job's thread): only the leaf itself tells that both jobs would write its .grad.
    const model = new tg.nn.Sequential(new tg.nn.Embedding(64, 512));
    const optimizer = new tg.optim.SGD(model.parameters(), { lr: 0.1 });
    const loss = new tg.nn.MSELoss();
    const x = tg.randint(0, 64, [512]), y = tg.randn([512, 512]);
    const trainer = new tg.train.Trainer(model, { loss, optimizer, yieldEveryMs: 0 });
    const inUse = /in use by (a|another) running/;
    await trainer.step([x, y]); // traces the forward pass: later steps replay it on the job's thread
    optimizer.zeroGrad();
    const backward = loss.forward(model.forward(x), y).backwardAsync(); // no .grad: the job creates it
    await expect(Promise.resolve().then(() => trainer.step([x, y]))).rejects.toThrow(inUse);
    await backward;
    expect(trainer.busy).toBe(false);
    const step = trainer.step([x, y]);
    expect(() => loss.forward(model.forward(x), y).backwardAsync()).toThrow(inUse);
    await step;
  });

  it('refuses to change the model or the optimizer while the step runs, and then has changed nothing', async () => {
    tg.manualSeed(4);
    const model = new tg.nn.MLP([256, 512, 512, 10]);
    // Fine-tuning: the first layer is frozen, so the step holds only the others.
    const named = model.namedParameters();
    for (const [, p] of named.slice(0, 2)) p.setRequiresGrad(false);
    const trained = named.slice(2).map(([, p]) => p);
    const optimizer = new tg.optim.Adam(trained, { lr: 1e-3 });
    // Untraced, the whole forward pass at once: the job is queued when step() returns.
    const trainer = new tg.train.Trainer(model, { loss: new tg.nn.CrossEntropyLoss(), optimizer, traceForward: false, yieldEveryMs: 0 });
    tg.manualSeed(5);
    const x = tg.randn([256, 256]);
    const y = tg.randint(0, 10, [256]);
    await trainer.step([x, y]); // creates the optimizer state
    const saved = optimizer.stateDict();
    const frozen = named[0]![1].data();
    const pending = trainer.step([x, y]);
    expect(() => model.to('float64')).toThrow(/^MLP.to: parameter '2.weight' is in use by a running backwardAsync or train step; await it first$/);
    expect(() => model.loadStateDict(Object.fromEntries(named.map(([k, p]) => [k, tg.zerosLike(p)])))).toThrow(
      /^loadStateDict: '2.weight' is in use by a running backwardAsync or train step/,
    );
    expect(() => optimizer.loadStateDict({ ...saved, paramGroups: [{ ...saved.paramGroups[0]!, lr: 0.5 }] })).toThrow(
      /^Adam.loadStateDict: state 'exp_avg' of parameter 0 is in use by a running backwardAsync or train step/,
    );
    await pending;
    // The module's tensors are still the optimizer's, float32, the frozen layer's values untouched.
    const after = model.stateDict();
    for (const [k, p] of named) {
      expect(after[k], k).toBe(p);
      expect(p.dtype).toBe('float32');
    }
    expect(optimizer.paramGroups[0]!.params.every((p, i) => p === trained[i])).toBe(true);
    expect(named[0]![1].data()).toEqual(frozen);
    expect(optimizer.paramGroups[0]!.lr).toBe(1e-3);
    const state = optimizer.stateDict().state;
    for (const [i, s] of Object.entries(saved.state))
      for (const [n, t] of Object.entries(s.tensors)) {
        expect(state[Number(i)]!.tensors[n]).toBe(t);
        expect(t.isDisposed).toBe(false);
      }
    expect(Number.isFinite(await trainer.step([x, y]))).toBe(true);
  });

  it('gives the same result whatever number of threads the job uses', async () => {
    const make = optimizers['Adam (AMSGrad)']!;
    const run = async (threads: number) => {
      const s = setup(make, [64, 128, 128, 10], 256);
      const trainer = new tg.train.Trainer(s.model, { loss: s.loss, optimizer: s.optimizer, threads });
      for (let i = 0; i < 3; i++) await trainer.step([s.x, s.y]);
      return weights(s.model);
    };
    expect(await run(1)).toEqual(await run(2));
  });

  it('keeps the event loop free while backward and the update run', async () => {
    const s = setup(optimizers['SGD (Nesterov, weight decay)']!, [512, 1024, 1024, 10], 512);
    const trainer = new tg.train.Trainer(s.model, { loss: s.loss, optimizer: s.optimizer });
    let ticks = 0;
    let running = true;
    const spin = () => {
      ticks++;
      if (running) setImmediate(spin);
    };
    const step = trainer.step([s.x, s.y]);
    setImmediate(spin);
    await step;
    running = false;
    // A synchronous step would have run to the end before the first tick.
    expect(ticks).toBeGreaterThan(0);
  });

  it('runs a Sequential layer by layer, yielding in between, with the same result', async () => {
    const make = optimizers['SGD (Nesterov, weight decay)']!;
    const build = () => {
      tg.manualSeed(4);
      // Nested containers are flattened into one list of layers.
      const model = new tg.nn.Sequential(new tg.nn.Linear(12, 32), new tg.nn.Sequential(new tg.nn.Tanh(), new tg.nn.Linear(32, 4)));
      tg.manualSeed(5);
      return { model, optimizer: make(model.parameters()), x: tg.randn([16, 12]), y: tg.randint(0, 4, [16]), loss: new tg.nn.CrossEntropyLoss() };
    };
    const a = build();
    const b = build();
    const whole = new tg.train.Trainer(a.model, { loss: a.loss, optimizer: a.optimizer, yieldEveryMs: 0 });
    const sliced = new tg.train.Trainer(b.model, { loss: b.loss, optimizer: b.optimizer, yieldEveryMs: 1e-9 });
    await whole.step([a.x, a.y]);
    await sliced.step([b.x, b.y]);
    const before = tg.memory().liveTensors;
    let ticks = 0;
    for (let i = 0; i < 3; i++) {
      const la = await whole.step([a.x, a.y]);
      let turns = 0;
      const count = () => void turns++;
      const pending = sliced.step([b.x, b.y]);
      setImmediate(count);
      setImmediate(count);
      const lb = await pending;
      ticks += turns;
      expect(lb).toBe(la);
    }
    expect(weights(b.model)).toEqual(weights(a.model));
    // Yields happened during the forward pass, and nothing leaked (the awaits
    // let finalizers of earlier garbage run, so the count may also fall).
    expect(ticks).toBeGreaterThan(0);
    expect(tg.memory().liveTensors).toBeLessThanOrEqual(before);
  });

  it('runs steps called without awaiting one after the other, in order', async () => {
    const make = optimizers['SGD (Nesterov, weight decay)']!;
    const a = setup(make);
    const b = setup(make);
    const trainer = new tg.train.Trainer(b.model, { loss: b.loss, optimizer: b.optimizer });
    const expected: number[] = [];
    for (let i = 0; i < 3; i++) expected.push(syncStep(a, a.x, a.y));
    const losses = await Promise.all([0, 1, 2].map(() => trainer.step([b.x, b.y])));
    expect(losses).toEqual(expected);
    expect(weights(b.model)).toEqual(weights(a.model));
  });

  it('falls back to an update on the JS thread for optimizers that only define step()', async () => {
    class HalfStep extends tg.optim.Optimizer<{ lr: number }> {
      constructor(params: tg.Tensor[]) {
        super('HalfStep', params, { lr: 0.5 });
      }
      override step(): void {
        tg.noGrad(() => {
          for (const p of this.paramGroups[0]!.params) tg.tidy(() => void p.subInPlace(p.grad!.mul(this.paramGroups[0]!.lr)));
        });
      }
    }
    const w = tg.tensor([1, 2], { requiresGrad: true });
    const opt = new HalfStep([w]);
    const trainer = new tg.train.Trainer((x: tg.Tensor) => x.mul(w).sum().reshape([1]), { loss: (p: tg.Tensor) => p.sum(), optimizer: opt });
    expect(await trainer.step([tg.tensor([3, 4]), tg.tensor([0])])).toBe(11);
    expect(w.toArray()).toEqual([1 - 1.5, 2 - 2]);
  });

  it('trains a parameter group added after the trainer was made, and refuses a bad tensor pushed onto params', async () => {
    for (const traceForward of [false, true]) {
      const w = tg.tensor([1, 2], { requiresGrad: true });
      const b = tg.tensor([0.5], { requiresGrad: true });
      const optimizer = new tg.optim.SGD([w], { lr: 0.1 });
      const model = (x: tg.Tensor) => x.mul(w).sum().add(b).reshape([1]);
      const trainer = new tg.train.Trainer(model, { loss: (p: tg.Tensor) => p.sum(), optimizer, traceForward });
      const x = tg.tensor([3, 4]);
      const y = tg.tensor([0]);
      await trainer.step([x, y]);
      expectClose([w.toArray(), b.toArray()], [[1 - 0.3, 2 - 0.4], [0.5]]);
      optimizer.addParamGroup({ params: [b], lr: 0.5 });
      await trainer.step([x, y]);
      expectClose([w.toArray(), b.toArray()], [[1 - 0.6, 2 - 0.8], [0]]);
      optimizer.paramGroups[1]!.params.push(tg.tensor([1], { dtype: 'int32' }) as tg.Tensor);
      await expect(trainer.step([x, y])).rejects.toThrow(/^SGD.zeroGrad: parameter 1 of group 1 must be float32 or float64, got int32$/);
      expectClose([w.toArray(), b.toArray()], [[1 - 0.6, 2 - 0.8], [0]]);
    }
  });

  it('does not leak tensors from step to step', async () => {
    const s = setup(optimizers['Adam (AMSGrad)']!);
    const trainer = new tg.train.Trainer(s.model, { loss: s.loss, optimizer: s.optimizer, metrics: ['accuracy'] });
    await trainer.step([s.x, s.y]);
    const before = tg.memory().liveTensors;
    for (let i = 0; i < 20; i++) {
      const r = await trainer.stepWithMetrics([s.x, s.y]);
      expect(r.accuracy).toBeGreaterThanOrEqual(0);
    }
    // No growth: the awaits let finalizers of earlier tests' garbage run, so the count may also fall.
    expect(tg.memory().liveTensors).toBeLessThanOrEqual(before);
  });

  it('reports bad input as errors', async () => {
    const s = setup(optimizers['SGD (Nesterov, weight decay)']!);
    expect(() => new tg.train.Trainer(s.model, { loss: s.loss } as never)).toThrow(/options.optimizer must be an optimizer/);
    expect(() => new tg.train.Trainer(s.model, { optimizer: s.optimizer } as never)).toThrow(/options.loss must be/);
    expect(() => new tg.train.Trainer(null as never, { loss: s.loss, optimizer: s.optimizer })).toThrow(/Trainer: model must be/);
    expect(() => new tg.train.Trainer(s.model, { loss: s.loss, optimizer: s.optimizer, threads: -1 })).toThrow(/threads must be a non-negative integer/);
    expect(() => new tg.train.Trainer(s.model, { loss: s.loss, optimizer: s.optimizer, yieldEveryMs: -1 })).toThrow(/yieldEveryMs must be a non-negative number/);
    // Options it would misread: a string for a number, an unknown key, a number for the options.
    const base = { loss: s.loss, optimizer: s.optimizer };
    expect(() => new tg.train.Trainer(s.model, { ...base, threads: '2' as never })).toThrow(
      new TypeError("Trainer: threads must be a non-negative integer (0: all but one), got '2'"),
    );
    expect(() => new tg.train.Trainer(s.model, { ...base, yieldEveryMs: '1' as never })).toThrow(new TypeError("Trainer: yieldEveryMs must be a non-negative number, got '1'"));
    expect(() => new tg.train.Trainer(s.model, { ...base, thread: 2 } as never)).toThrow(
      new TypeError("Trainer: unknown option 'thread'; the options are loss, optimizer, metrics, threads, yieldEveryMs, traceForward"),
    );
    expect(() => new tg.train.Trainer(s.model, 5 as never)).toThrow(/^Trainer: options must be an object like \{ loss, optimizer \}, got 5$/);
    const trainer = new tg.train.Trainer(s.model, { loss: s.loss, optimizer: s.optimizer });
    await expect(trainer.step([s.x])).rejects.toThrow(/inputs followed by the target/);
    const gone = tg.randn([16, 12]);
    gone.dispose();
    await expect(trainer.step([gone, s.y])).rejects.toThrow(/disposed tensor/);
    const bad = new tg.train.Trainer(s.model, { loss: (p: tg.Tensor) => p, optimizer: s.optimizer });
    await expect(bad.step([s.x, s.y])).rejects.toThrow(/the loss must be a single value/);
    const noGradLoss = new tg.train.Trainer(s.model, { loss: () => tg.tensor(1), optimizer: s.optimizer });
    await expect(noGradLoss.step([s.x, s.y])).rejects.toThrow(/does not require grad/);
    // The trainer keeps working after a failed step.
    expect(Number.isFinite(await trainer.step([s.x, s.y]))).toBe(true);
  });
});

describe('Trainer.step with a traced forward pass', () => {
  it('runs the forward pass of later steps off the JS thread, bit for bit as on it', async () => {
    const a = setup(optimizers['Adam (AMSGrad)']!);
    const b = setup(optimizers['Adam (AMSGrad)']!);
    let forwardCalls = 0;
    const model = (x: tg.Tensor) => {
      forwardCalls++;
      return b.model.forward(x);
    };
    const trainer = new tg.train.Trainer(model, { loss: b.loss, optimizer: b.optimizer, traceForward: true, metrics: ['accuracy'] });
    for (let i = 0; i < 4; i++) {
      const expected = syncStep(a, a.x, a.y);
      const r = await trainer.stepWithMetrics([b.x, b.y]);
      expect(r.loss).toBe(expected);
      expect(r.accuracy).toBeGreaterThanOrEqual(0);
      expect(trainer.forwardInJsReason).toBeNull();
    }
    expect(forwardCalls).toBe(1); // recorded once, replayed three times
    expect(weights(b.model)).toEqual(weights(a.model));
  });

  // Three Trainer steps of `Model` on the JS thread and traced: the same
  // losses and weights, bit for bit, and the loss going down.
  async function expectTracedAsOnJs(Model: new () => tg.nn.Module & { lin: tg.nn.Linear }) {
    tg.manualSeed(1);
    const x = tg.randn([8, 4]), y = tg.randn([8, 3]);
    const loss = new tg.nn.MSELoss();
    const run = async (traced: boolean) => {
      tg.manualSeed(2);
      const model = new Model();
      const optimizer = new tg.optim.SGD(model.parameters(), { lr: 0.1 });
      const trainer = new tg.train.Trainer(model, { loss, optimizer, yieldEveryMs: 0, traceForward: traced });
      const losses = [];
      for (let i = 0; i < 3; i++) losses.push(await trainer.step([x, y]));
      if (traced) expect(trainer.forwardInJsReason).toBe(null);
      // Every parameter and buffer (running statistics too).
      return [losses, Object.entries(model.stateDict()).map(([k, v]) => [k, v.toArray()])];
    };
    const onJs = await run(false);
    expect(await run(true)).toEqual(onJs);
    expect((onJs[0] as number[])[2]).toBeLessThan((onJs[0] as number[])[0]!);
  }

  it('replays in-place writes with their gradients, bit for bit as on the JS thread', async () => {
    class Scaled extends tg.nn.Module {
      lin = new tg.nn.Linear(4, 3);
      scale = tg.tensor([1, 2, 3]);
      forward(x: tg.Tensor) {
        // Recorded in-place writes: the gradient reaches the weight through both.
        return this.lin.forward(x).mulInPlace(this.scale).addInPlace(1);
      }
    }
    await expectTracedAsOnJs(Scaled);
  });

  it('replays writes into views, whose histories are rebuilt, as on the JS thread', async () => {
    class Stepwise extends tg.nn.Module {
      lin = new tg.nn.Linear(4, 3);
      forward(x: tg.Tensor) {
        // An RNN's pattern: each column of the output written through a view.
        const h = this.lin.forward(x);
        const out = tg.zeros([8, 3]);
        const first = out.narrow(1, 0, 2); // a view made before the writes
        for (let t = 0; t < 3; t++) out.narrow(1, t, 1).copyFrom(h.narrow(1, t, 1).mul(t + 1).tanh());
        return out.add(first.sum(1, true));
      }
    }
    await expectTracedAsOnJs(Stepwise);
  });

  it('replays an embedding\'s maxNorm rescaling of its weight, as on the JS thread', async () => {
    class Renormed extends tg.nn.Module {
      lin = new tg.nn.Linear(4, 3);
      emb = new tg.nn.Embedding(5, 4, { maxNorm: 0.5 });
      idx = tg.tensor([0, 1, 2, 3, 4, 0, 1, 2], { dtype: 'int32' });
      forward(x: tg.Tensor) {
        return this.lin.forward(x.add(this.emb.forward(this.idx)));
      }
    }
    await expectTracedAsOnJs(Renormed);
  });

  it('traces again when a weight or a layer of the model is replaced (it replayed the old one)', async () => {
    tg.manualSeed(1);
    const model = new tg.nn.Sequential(new tg.nn.Linear(4, 8), new tg.nn.ReLU(), new tg.nn.Linear(8, 2));
    const loss = new tg.nn.MSELoss();
    const trainer = new tg.train.Trainer(model, { loss, optimizer: new tg.optim.SGD(model.parameters(), { lr: 0 }) });
    const x = tg.randn([5, 4]), y = tg.randn([5, 2]);
    await trainer.step([x, y]);
    await trainer.step([x, y]);
    const first = model.children()[0] as tg.nn.Linear;
    first.weight = tg.nn.parameter(tg.zeros([8, 4]));
    expect(await trainer.step([x, y])).toBe(tg.nn.functional.mseLoss(model.forward(x), y).item());
    (model as unknown as Record<string, tg.nn.Module>)['2'] = new tg.nn.Linear(8, 2);
    expect(await trainer.step([x, y])).toBe(tg.nn.functional.mseLoss(model.forward(x), y).item());
    expect(trainer.forwardInJsReason).toBeNull();
  });

  it('traces again when a parameter is frozen or a buffer is replaced (it would update the old ones)', async () => {
    tg.manualSeed(3);
    const norm = new tg.nn.BatchNorm1d(8);
    const model = new tg.nn.Sequential(new tg.nn.Linear(4, 8), norm, new tg.nn.ReLU(), new tg.nn.Linear(8, 2));
    const trainer = new tg.train.Trainer(model, { loss: new tg.nn.MSELoss(), optimizer: new tg.optim.SGD(model.parameters(), { lr: 0.1 }) });
    const x = tg.randn([5, 4]), y = tg.randn([5, 2]);
    await trainer.step([x, y]);
    await trainer.step([x, y]);
    const first = (model.children()[0] as tg.nn.Linear).weight;
    first.setRequiresGrad(false);
    const frozen = Array.from(first.data());
    await trainer.step([x, y]);
    expect(Array.from(first.data())).toEqual(frozen);
    const old = norm.running_mean!;
    const oldValues = Array.from(old.data());
    norm.running_mean = tg.nn.buffer(tg.full([8], 5));
    await trainer.step([x, y]);
    expect(Array.from(old.data())).toEqual(oldValues);
    expect(Array.from(norm.running_mean.data()).every((v) => v !== 5)).toBe(true);
    expect(trainer.forwardInJsReason).toBeNull();
  });

  it('traces again when a setting of a layer or of the loss changes (it replayed the numbers it recorded)', async () => {
    tg.manualSeed(2);
    const norm = new tg.nn.LayerNorm([3]);
    const drop = new tg.nn.Dropout(0);
    const model = new tg.nn.Sequential(new tg.nn.Linear(4, 3), norm, drop);
    const loss = new tg.nn.MSELoss();
    const trainer = new tg.train.Trainer(model, { loss, optimizer: new tg.optim.SGD(model.parameters(), { lr: 0 }) });
    const x = tg.randn([5, 4]), y = tg.randn([5, 3]);
    const expected = () => tg.tidy(() => loss.forward(model.forward(x), y).item());
    await trainer.step([x, y]);
    expect(await trainer.step([x, y])).toBe(expected());
    (norm as { eps: number }).eps = 10;
    expect(await trainer.step([x, y])).toBe(expected());
    (loss as { reduction: string }).reduction = 'sum';
    expect(await trainer.step([x, y])).toBe(expected());
    // Dropout's p: its draws come from the random stream, so compare the
    // mask's effect (p = 1 zeroes the output: the loss is Σ y²).
    (drop as { p: number }).p = 1;
    expect(await trainer.step([x, y])).toBe(tg.tidy(() => y.square().sum().item()));
    expect(trainer.forwardInJsReason).toBeNull();
  });

  it('traces a model of any of tg.nn\'s modules by default (a CNN with batch norm, pooling and each activation)', async () => {
    const build = () => {
      tg.manualSeed(6);
      const nn = tg.nn;
      const model = new nn.Sequential(
        new nn.Conv2d(1, 4, 3, { padding: 1 }), new nn.BatchNorm2d(4), new nn.LeakyReLU(0.1), new nn.MaxPool2d(2),
        new nn.Conv2d(4, 4, 3, { padding: 'same' }), new nn.ELU(), new nn.AvgPool2d(2), new nn.Softplus(2),
        new nn.AdaptiveAvgPool2d(1), new nn.Flatten(), new nn.BatchNorm1d(4), new nn.Linear(4, 3),
      );
      return { model, optimizer: new tg.optim.SGD(model.parameters(), { lr: 0.05 }) };
    };
    const x = tg.randn([6, 1, 8, 8]), y = tg.tensor([0, 1, 2, 0, 1, 2], { dtype: 'int32' });
    const losses: number[][] = [];
    for (const traceForward of [undefined, false]) {
      const { model, optimizer } = build();
      const trainer = new tg.train.Trainer(model, { loss: new tg.nn.CrossEntropyLoss(), optimizer, traceForward });
      const run: number[] = [];
      for (let i = 0; i < 3; i++) run.push(await trainer.step([x, y]));
      if (traceForward === undefined) expect(trainer.forwardInJsReason).toBeNull();
      losses.push(run);
    }
    expect(losses[0]).toEqual(losses[1]);
  });

  // A guard for the hand-kept set of traceable classes in trainer.ts: every
  // module class tg.nn exports is traced by default in one of these models
  // (a new class fails here until it is added there, and to a case here).
  it('traces by default a model of each module class tg.nn exports', async () => {
    const nn = tg.nn;
    const rows = () => tg.randn([2, 4]), images = () => tg.randn([2, 1, 4, 4]);
    const afterLinear = (layer: tg.nn.Module) => ({ model: new nn.Sequential(new nn.Linear(4, 3), layer), x: rows() });
    const afterConv = (layer: tg.nn.Module) => ({ model: new nn.Sequential(new nn.Conv2d(1, 2, 3, { padding: 1 }), layer), x: images() });
    const labels = tg.tensor([0, 2], { dtype: 'int32' });
    const cases: { model: tg.nn.Module; x: tg.Tensor; loss?: tg.nn.Module; y?: tg.Tensor }[] = [
      ...[new nn.ReLU(), new nn.GELU(), new nn.Tanh(), new nn.Sigmoid(), new nn.SiLU(), new nn.LeakyReLU(), new nn.ELU(),
        new nn.Softplus(), new nn.Softmax(-1), new nn.LogSoftmax(-1), new nn.Dropout(0.5), new nn.Identity(), new nn.Flatten(),
        new nn.LayerNorm(3), new nn.BatchNorm1d(3)].map(afterLinear),
      ...[new nn.MaxPool2d(2), new nn.AvgPool2d(2), new nn.AdaptiveAvgPool2d(1), new nn.BatchNorm2d(2)].map(afterConv),
      { model: new nn.Sequential(new nn.Embedding(5, 3)), x: tg.tensor([[1, 4, 0], [2, 2, 3]], { dtype: 'int32' }) },
      { model: new nn.MLP([4, 5, 3]), x: rows() },
      { model: new nn.TransformerEncoderLayer(4, 2, { dimFeedforward: 8 }), x: tg.randn([2, 3, 4]) },
      { model: new nn.Linear(4, 3), x: rows(), loss: new nn.CrossEntropyLoss(), y: labels },
      { model: new nn.Sequential(new nn.Linear(4, 3), new nn.LogSoftmax(-1)), x: rows(), loss: new nn.NLLLoss(), y: labels },
      ...[new nn.MSELoss(), new nn.L1Loss(), new nn.HuberLoss(), new nn.BCEWithLogitsLoss()].map((loss) => ({
        model: new nn.Linear(4, 3), x: rows(), loss, y: tg.rand([2, 3]),
      })),
      { model: new nn.Sequential(new nn.Linear(4, 3), new nn.Sigmoid()), x: rows(), loss: new nn.BCELoss(), y: tg.rand([2, 3]) },
    ];
    const traced = new Set<unknown>();
    for (const c of cases) {
      const loss = c.loss ?? new nn.MSELoss();
      const y = c.y ?? tg.noGrad(() => tg.zerosLike(c.model.forward(c.x)));
      const trainer = new tg.train.Trainer(c.model, { loss, optimizer: new tg.optim.SGD(c.model.parameters(), { lr: 0.01 }) });
      for (let i = 0; i < 2; i++) await trainer.step([c.x, y]);
      expect(trainer.forwardInJsReason, c.model.modules().map((m) => m.constructor.name).join(' > ')).toBeNull();
      for (const m of [...c.model.modules(), loss]) traced.add(Object.getPrototypeOf(m).constructor);
    }
    // ModuleList has no forward of its own: it is traced inside a module that holds one.
    const exported = Object.entries(nn).filter(([name, v]) => typeof v === 'function' && v.prototype instanceof nn.Module && name !== 'ModuleList');
    expect(exported.length).toBeGreaterThan(30);
    expect(exported.filter(([, cls]) => !traced.has(cls)).map(([name]) => name)).toEqual([]);
  });

  it('replays batch normalisation and its running statistics, as on the JS thread', async () => {
    class Normed extends tg.nn.Module {
      lin = new tg.nn.Linear(4, 3);
      bn = new tg.nn.BatchNorm1d(4);
      forward(x: tg.Tensor) {
        return this.lin.forward(this.bn.forward(x));
      }
    }
    await expectTracedAsOnJs(Normed);
  });

  it('replays pooling, as on the JS thread', async () => {
    class Pooled extends tg.nn.Module {
      lin = new tg.nn.Linear(4, 3);
      forward(x: tg.Tensor) {
        const planes = x.reshape([1, 2, 4, 4]).tanh();
        const same = { stride: 1, padding: 1 };
        const pooled = tg.nn.functional.maxPool2d(planes, 3, same).add(tg.nn.functional.avgPool2d(planes, 3, same));
        return this.lin.forward(pooled.reshape([8, 4]));
      }
    }
    await expectTracedAsOnJs(Pooled);
  });

  it('draws dropout masks from the JS thread\'s random stream, as a step on it would', async () => {
    const build = () => {
      tg.manualSeed(4);
      const model = new tg.nn.Sequential(new tg.nn.Linear(12, 32), new tg.nn.ReLU(), new tg.nn.Dropout(0.3), new tg.nn.Linear(32, 4));
      tg.manualSeed(5);
      return { model, optimizer: optimizers['SGD (Nesterov, weight decay)']!(model.parameters()), x: tg.randn([16, 12]), y: tg.randint(0, 4, [16]), loss: new tg.nn.CrossEntropyLoss() };
    };
    const a = build();
    const b = build();
    const trainer = new tg.train.Trainer(b.model, { loss: b.loss, optimizer: b.optimizer });
    // The JS thread draws too, while each step runs: the order of the draws
    // is that of the calls, whenever the background thread gets to them.
    tg.manualSeed(9);
    const expected: number[] = [];
    const jsDraws: number[][] = [];
    for (let i = 0; i < 4; i++) {
      expected.push(syncStep(a, a.x, a.y));
      jsDraws.push(tg.rand([3]).toArray() as number[]);
    }
    tg.manualSeed(9);
    const losses: number[] = [];
    const draws: number[][] = [];
    for (let i = 0; i < 4; i++) {
      const pending = trainer.step([b.x, b.y]);
      draws.push(tg.rand([3]).toArray() as number[]);
      losses.push(await pending);
    }
    expect(losses).toEqual(expected);
    expect(draws).toEqual(jsDraws);
    expect(new Set(losses).size).toBe(4);
    expect(weights(b.model)).toEqual(weights(a.model));
  });

  it('records a new trace when the batch shape or the train/eval mode changes', async () => {
    const a = setup(optimizers['Adam (AMSGrad)']!);
    const b = setup(optimizers['Adam (AMSGrad)']!);
    const trainer = new tg.train.Trainer(b.model, { loss: b.loss, optimizer: b.optimizer });
    const small = [a.x.narrow(0, 0, 8).contiguous(), a.y.narrow(0, 0, 8).contiguous()] as const;
    const batches = [[a.x, a.y], small, [a.x, a.y], small, [a.x, a.y]] as const;
    for (const [x, y] of batches) expect(await trainer.step([x, y])).toBe(syncStep(a, x, y));
    a.model.eval();
    b.model.eval();
    for (let i = 0; i < 2; i++) expect(await trainer.step([a.x, a.y])).toBe(syncStep(a, a.x, a.y));
    expect(weights(b.model)).toEqual(weights(a.model));
  });

  it('keeps running the forward pass in JS where it cannot be traced', async () => {
    const a = setup(optimizers['SGD (Nesterov, weight decay)']!);
    const b = setup(optimizers['SGD (Nesterov, weight decay)']!);
    // Reading a value inside the forward pass: its control flow may depend on the data.
    const model = (x: tg.Tensor) => {
      const scale = x.abs().max().item() > 1e9 ? 0 : 1;
      return b.model.forward(x).mul(scale);
    };
    const trainer = new tg.train.Trainer(model, { loss: b.loss, optimizer: b.optimizer, traceForward: true });
    for (let i = 0; i < 3; i++) {
      const expected = tg.tidy(() => {
        a.optimizer.zeroGrad();
        const l = a.loss.forward(a.model.forward(a.x).mul(1), a.y);
        l.backward();
        a.optimizer.step();
        return l.item();
      });
      expect(await trainer.step([b.x, b.y])).toBe(expected);
    }
    expect(trainer.forwardInJsReason).toMatch(/reads tensor values \(item\(\), toArray\(\) or data\(\)\)/);
    // 'auto' does not trace models with a forward pass of their own.
    class Custom extends tg.nn.Module {
      lin = new tg.nn.Linear(12, 4);
      forward(x: tg.Tensor) {
        return this.lin.forward(x);
      }
    }
    const custom = new Custom();
    const auto = new tg.train.Trainer(custom, { loss: b.loss, optimizer: new tg.optim.SGD(custom.parameters(), { lr: 0.1 }) });
    await auto.step([b.x, b.y]);
    expect(auto.forwardInJsReason).toMatch(/traceForward/);
    expect(() => new tg.train.Trainer(b.model, { loss: b.loss, optimizer: b.optimizer, traceForward: 'yes' as never })).toThrow(
      /traceForward must be 'auto', true or false/,
    );
  });

  it('traces a transformer encoder layer with dropout (attention, layer norm, GELU) bit for bit', async () => {
    const build = () => {
      tg.manualSeed(3);
      const model = new tg.nn.Sequential(
        new tg.nn.TransformerEncoderLayer(32, 4, { dimFeedforward: 64, dropout: 0.1, batchFirst: true }),
        new tg.nn.Flatten(),
        new tg.nn.Linear(8 * 32, 5),
      );
      return { model, optimizer: new tg.optim.AdamW(model.parameters(), { lr: 1e-3 }), loss: new tg.nn.CrossEntropyLoss() };
    };
    const a = build();
    const b = build();
    tg.manualSeed(5);
    const x = tg.randn([6, 8, 32]);
    const y = tg.randint(0, 5, [6]);
    const trainer = new tg.train.Trainer(b.model, { loss: b.loss, optimizer: b.optimizer });
    tg.manualSeed(7);
    const expected = Array.from({ length: 4 }, () => syncStep(a, x, y));
    tg.manualSeed(7);
    const losses: number[] = [];
    for (let i = 0; i < 4; i++) losses.push(await trainer.step([x, y]));
    expect(losses).toEqual(expected);
    expect(trainer.forwardInJsReason).toBeNull();
    expect(weights(b.model)).toEqual(weights(a.model));
  });

  it('trains an autoencoder (the batch holds one tensor twice), and then other batches, as on the JS thread', async () => {
    const build = () => {
      tg.manualSeed(4);
      const model = new tg.nn.Sequential(new tg.nn.Linear(6, 3), new tg.nn.Tanh(), new tg.nn.Linear(3, 6));
      return { model, optimizer: new tg.optim.SGD(model.parameters(), { lr: 0.1 }), loss: new tg.nn.MSELoss() };
    };
    const a = build();
    const b = build();
    tg.manualSeed(5);
    const x = tg.randn([8, 6]);
    const y = tg.randn([8, 6]);
    const trainer = new tg.train.Trainer(b.model, { loss: b.loss, optimizer: b.optimizer });
    for (const batch of [[x, x], [x, x], [x, y], [x, y], [x, x]] as const) {
      const expected = syncStep(a, batch[0], batch[1]);
      expect(await trainer.step([...batch])).toBe(expected);
    }
  });

  it('lets two trainers that share a read-only tensor step at once, but not two that share a parameter', async () => {
    const weight = tg.tensor([1, 2, 0.5, 1]);
    const loss = new tg.nn.CrossEntropyLoss({ weight });
    const make = () => {
      const model = new tg.nn.MLP([12, 16, 4]);
      return new tg.train.Trainer(model, { loss, optimizer: new tg.optim.SGD(model.parameters(), { lr: 0.1 }) });
    };
    const s = setup(optimizers['Adam (AMSGrad)']!);
    const [t1, t2] = [make(), make()];
    for (let i = 0; i < 3; i++) {
      const losses = await Promise.all([t1.step([s.x, s.y]), t2.step([s.x, s.y])]);
      expect(losses.every(Number.isFinite)).toBe(true);
    }
    const shared = new tg.nn.MLP([12, 16, 4]);
    const u1 = new tg.train.Trainer(shared, { loss, optimizer: new tg.optim.SGD(shared.parameters(), { lr: 0.1 }) });
    const u2 = new tg.train.Trainer(shared, { loss, optimizer: new tg.optim.SGD(shared.parameters(), { lr: 0.1 }) });
    await u1.step([s.x, s.y]);
    await u2.step([s.x, s.y]);
    const first = u1.step([s.x, s.y]);
    // (Its zeroGrad already finds the shared parameters in use.)
    await expect(u2.step([s.x, s.y])).rejects.toThrow(/in use by a(nother)? running/);
    await first;
  });

  it('keeps a trace per batch shape for many shapes, replaying each after its first step', async () => {
    const s = setup(optimizers['SGD (Nesterov, weight decay)']!);
    let forwardCalls = 0;
    const model = (x: tg.Tensor) => {
      forwardCalls++;
      return s.model.forward(x);
    };
    const trainer = new tg.train.Trainer(model, { loss: s.loss, optimizer: s.optimizer, traceForward: true });
    const sizes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    for (let epoch = 0; epoch < 3; epoch++)
      for (const n of sizes) await trainer.step([s.x.narrow(0, 0, n), s.y.narrow(0, 0, n)]);
    expect(forwardCalls).toBe(sizes.length);
  });

  it('drops the least recently used trace beyond 16 batch shapes', async () => {
    const s = setup(optimizers['SGD (Nesterov, weight decay)']!, [12, 32, 32, 4], 17);
    let forwardCalls = 0;
    const model = (x: tg.Tensor) => {
      forwardCalls++;
      return s.model.forward(x);
    };
    const trainer = new tg.train.Trainer(model, { loss: s.loss, optimizer: s.optimizer, traceForward: true });
    const step = (n: number) => trainer.step([s.x.narrow(0, 0, n), s.y.narrow(0, 0, n)]);
    for (let n = 1; n <= 16; n++) await step(n);
    await step(1); // replayed: shape 1 is now the most recently used
    expect(forwardCalls).toBe(16);
    await step(17); // recorded; shape 2, the least recently used, is dropped
    await step(1);
    expect(forwardCalls).toBe(17);
    await step(2);
    expect(forwardCalls).toBe(18);
  });

  it('refuses a traced step when a parameter got a JS hook after the trace was recorded', async () => {
    const s = setup(optimizers['SGD (Nesterov, weight decay)']!);
    const trainer = new tg.train.Trainer(s.model, { loss: s.loss, optimizer: s.optimizer });
    await trainer.step([s.x, s.y]);
    s.model.parameters()[0]!.registerHook((g) => g);
    await expect(trainer.step([s.x, s.y])).rejects.toThrow(/hooks registered from JS, which can only run on the JS thread/);
  });

  it('replays in-place updates of tensors the forward pass captured, as on the JS thread', async () => {
    const run = async (traceForward: boolean) => {
      const s = setup(optimizers['SGD (Nesterov, weight decay)']!);
      const calls = tg.zeros([1]);
      const model = (x: tg.Tensor) => {
        tg.noGrad(() => calls.addInPlace(1));
        return s.model.forward(x).mul(calls.reciprocal());
      };
      const trainer = new tg.train.Trainer(model, { loss: s.loss, optimizer: s.optimizer, traceForward });
      const losses: number[] = [];
      for (let i = 0; i < 4; i++) losses.push(await trainer.step([s.x, s.y]));
      return { losses, calls: calls.toArray(), traced: trainer.forwardInJsReason === null };
    };
    const traced = await run(true);
    expect(traced.traced).toBe(true);
    expect(traced).toEqual({ ...(await run(false)), traced: true });
    expect(traced.calls).toEqual([4]);
  });

  it('reports a batch the trace cannot take, and keeps working', async () => {
    const s = setup(optimizers['Adam (AMSGrad)']!);
    const trainer = new tg.train.Trainer(s.model, { loss: s.loss, optimizer: s.optimizer });
    await trainer.step([s.x, s.y]);
    // A wrong feature count: recorded anew (shapes are part of the key), so the model's own error comes back.
    await expect(trainer.step([tg.randn([16, 5]), s.y])).rejects.toThrow(/linear/);
    expect(Number.isFinite(await trainer.step([s.x, s.y]))).toBe(true);
  });
});

describe('fit({ offThread: true })', () => {
  it('gives the same history as fit on the JS thread', async () => {
    const run = async (offThread: boolean) => {
      const s = setup(optimizers['Adam (AMSGrad)']!);
      const xs = tg.randn([64, 12]);
      const ys = tg.randint(0, 4, [64]);
      const loader = new tg.data.DataLoader([xs, ys], { batchSize: 16, shuffle: true, seed: 2 });
      const h = await tg.train.fit(s.model, loader, { epochs: 3, loss: s.loss, optimizer: s.optimizer, metrics: ['accuracy'], verbose: 0, offThread });
      return { loss: h.loss, acc: h.get('accuracy'), w: weights(s.model) };
    };
    const sync = await run(false);
    const off = await run(true);
    expect(off).toEqual(sync);
  });
});

describe('worker termination', () => {
  const dist = path.join(__dirname, '..', 'dist', 'index.js');
  // A worker that trains a large MLP in a loop, with the async step or backwardAsync.
  const source = (mode: 'trainer' | 'backward') => `
    const { parentPort } = require('node:worker_threads');
    const tg = require(${JSON.stringify(dist)});
    tg.manualSeed(1);
    const model = new tg.nn.MLP([512, 1024, 1024, 10]);
    const optimizer = new tg.optim.SGD(model.parameters(), { lr: 0.01 });
    const loss = new tg.nn.CrossEntropyLoss();
    const trainer = new tg.train.Trainer(model, { loss, optimizer });
    const x = tg.randn([512, 512]);
    const y = tg.randint(0, 10, [512]);
    (async () => {
      for (let i = 0; ; i++) {
        if (${JSON.stringify(mode)} === 'trainer') await trainer.step([x, y]);
        else await tg.tidyAsync(async () => { const l = loss.forward(model.forward(x), y); await l.backwardAsync(); });
        if (i === 0) parentPort.postMessage('running');
      }
    })();
  `;

  for (const mode of ['trainer', 'backward'] as const) {
    it(`ends cleanly when terminated in the middle of a step (${mode})`, async () => {
      for (let round = 0; round < 4; round++) {
        const w = new Worker(source(mode), { eval: true });
        const errors: unknown[] = [];
        w.on('error', (e) => errors.push(e));
        await new Promise<void>((resolve, reject) => {
          w.once('message', () => resolve());
          w.once('error', reject);
        });
        await new Promise((r) => setTimeout(r, 3 * round));
        const code = await Promise.race([
          w.terminate(),
          new Promise((_, reject) => setTimeout(() => reject(new Error('terminate() hung')), 20_000)),
        ]);
        expect(code).toBe(1);
        expect(errors).toEqual([]);
      }
      // The main thread's addon still works.
      expect(tg.tensor([1, 2]).mul(2).toArray()).toEqual([2, 4]);
    });
  }
});
