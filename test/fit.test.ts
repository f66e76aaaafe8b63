import { describe, expect, it } from 'vitest';
import { tg } from './helpers.js';

const { DataLoader } = tg.data;

// Two interleaved spirals: a task a linear model cannot solve.
function spiral(n: number, seed: number) {
  tg.manualSeed(seed);
  const noise = tg.randn([n, 2]).data();
  const x = new Float32Array(2 * n);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 2;
    const r = (Math.floor(i / 2) / (n / 2)) * 3 + 0.3;
    const a = r * 2 + c * Math.PI;
    x[2 * i] = r * Math.cos(a) + 0.05 * noise[2 * i]!;
    x[2 * i + 1] = r * Math.sin(a) + 0.05 * noise[2 * i + 1]!;
    y[i] = c;
  }
  return { x: { data: x, shape: [n, 2] }, y };
}

/** Collects what fit writes. */
function sink(isTTY: boolean) {
  const chunks: string[] = [];
  return { out: { isTTY, columns: 200, write: (s: string) => chunks.push(s) }, text: () => chunks.join('') };
}

function setup(seed = 1) {
  const { x, y } = spiral(400, seed);
  const train = new DataLoader([x, y], { batchSize: 32, shuffle: true, seed });
  const val = new DataLoader([x, y], { batchSize: 200 });
  tg.manualSeed(seed);
  const model = new tg.nn.MLP([2, 64, 64, 2]);
  const optimizer = new tg.optim.Adam(model.parameters(), { lr: 0.01 });
  return { train, val, model, optimizer, loss: new tg.nn.CrossEntropyLoss() };
}

describe('fit', () => {
  it('learns a 2-class spiral and records per-epoch metrics', async () => {
    const { train, val, model, optimizer, loss } = setup();
    const history = await tg.train.fit(model, train, {
      epochs: 40, loss, optimizer, validation: val, metrics: ['accuracy'], verbose: 0,
    });
    expect(history.epochs).toHaveLength(40);
    const last = history.last!;
    expect(last.valAccuracy).toBeGreaterThanOrEqual(0.95);
    expect(history.loss[39]).toBeLessThan(history.loss[0]! / 4);
    for (const [i, e] of history.epochs.entries()) {
      expect(e.epoch).toBe(i);
      expect(e.loss).toBeGreaterThan(0);
      expect(e.valLoss).toBeGreaterThan(0);
      expect(e.accuracy).toBeGreaterThanOrEqual(0);
      expect(e.accuracy).toBeLessThanOrEqual(1);
      expect(e.lr).toBe(0.01);
      expect(e.examplesPerSecond).toBeGreaterThan(0);
    }
    // evaluate agrees with the logged validation figures of the last epoch.
    const ev = await tg.train.evaluate(model, val, { loss, metrics: ['accuracy'] });
    expect(ev.accuracy).toBeCloseTo(last.valAccuracy!, 10);
    expect(ev.loss).toBeCloseTo(last.valLoss!, 5);
  });

  it('is reproducible with the same seeds', async () => {
    const run = async () => {
      const s = setup(3);
      return (await tg.train.fit(s.model, s.train, { epochs: 3, loss: s.loss, optimizer: s.optimizer, verbose: 0 })).loss;
    };
    expect(await run()).toEqual(await run());
  });

  it('keeps the number of live tensors flat from epoch to epoch', async () => {
    const { train, val, model, optimizer, loss } = setup();
    const counts: number[] = [];
    await tg.train.fit(model, train, {
      epochs: 6, loss, optimizer, validation: val, metrics: ['accuracy'], verbose: 0,
      callbacks: [{ onEpochEnd: () => void counts.push(tg.memory().liveTensors) }],
    });
    // Tensors that earlier code left to the garbage collector may be finalized
    // between epochs, so the count may fall; any growth is a leak.
    for (const c of counts.slice(2)) expect(c).toBeLessThanOrEqual(counts[1]!);
  });

  it('frees the batches a loader makes but not batches the caller made', async () => {
    const s = setup();
    const x = tg.randn([8, 2]);
    const y = tg.tensor(Int32Array.from([0, 1, 0, 1, 0, 1, 0, 1]));
    const before = tg.memory().liveTensors;
    const h = await tg.train.fit(s.model, [[x, y]], { epochs: 3, loss: s.loss, optimizer: s.optimizer, verbose: 0, validation: [[x, y]] });
    expect(h.epochs).toHaveLength(3);
    expect(x.isDisposed || y.isDisposed).toBe(false);
    // At most the optimizer's state (two tensors per parameter) was added; finalizers of tensors
    // earlier tests left to the GC may run while fit awaits, so the count can only be lower.
    expect(tg.memory().liveTensors).toBeLessThanOrEqual(before + 2 * s.model.parameters().length);
  });

  it('prints one line per epoch when not on a terminal, and nothing when quiet', async () => {
    const s = setup();
    const plain = sink(false);
    await tg.train.fit(s.model, s.train, { epochs: 2, loss: s.loss, optimizer: s.optimizer, metrics: ['accuracy'], validation: s.val, output: plain.out });
    const lines = plain.text().trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^Epoch 2\/2 {2}loss \d\.\d{4} {2}accuracy \d\.\d{4} {2}valLoss \d\.\d{4} {2}valAccuracy \d\.\d{4} {2}\d+\.\ds {2}[\d,]+ ex\/s$/);
    expect(plain.text()).not.toMatch(/\r|\x1b/);
    const quiet = sink(false);
    await tg.train.fit(s.model, s.train, { epochs: 1, loss: s.loss, optimizer: s.optimizer, verbose: false, output: quiet.out });
    expect(quiet.text()).toBe('');
  });

  it('draws a progress bar with step, loss, throughput and ETA on a terminal', async () => {
    const s = setup();
    const tty = sink(true);
    await tg.train.fit(s.model, s.train, { epochs: 2, loss: s.loss, optimizer: s.optimizer, output: tty.out });
    const text = tty.text();
    expect(text).toMatch(/\rEpoch 1\/2 \[[=>.]{24}\] +\d+\/13 {2}loss \d\.\d{4} {2}[\d,]+ ex\/s {2}ETA \d+\.\ds/);
    expect(text).toContain('[========================] 13/13');
    // Each epoch ends with its summary line in place of the bar.
    expect(text.split('\n').filter((l) => l.length > 0)).toHaveLength(2);
    expect(text).toMatch(/\rEpoch 2\/2 {2}loss \d\.\d{4} {2}\d+\.\ds {2}[\d,]+ ex\/s\x1b\[K\n$/);
  });

  it('runs callbacks in order and stops when one sets stopTraining', async () => {
    const s = setup();
    const events: string[] = [];
    const history = await tg.train.fit(s.model, s.train, {
      epochs: 5, loss: s.loss, optimizer: s.optimizer, verbose: 0,
      callbacks: [{
        onTrainBegin: (ctx) => void events.push(`begin ${ctx.epochs} ${ctx.stepsPerEpoch}`),
        onEpochBegin: (e) => void events.push(`epoch ${e}`),
        onBatchEnd: (step, logs) => {
          if (step === 12) events.push(`batch ${step} ${logs.size} ${logs.loss > 0}`);
        },
        onEpochEnd: async (e, logs, ctx) => {
          await new Promise((r) => setTimeout(r, 1));
          events.push(`end ${e} ${logs.epoch}`);
          if (e === 1) ctx.stopTraining = true;
        },
        onTrainEnd: (h) => void events.push(`done ${h.epochs.length}`),
      }],
    });
    expect(events).toEqual(['begin 5 13', 'epoch 0', 'batch 12 16 true', 'end 0 0', 'epoch 1', 'batch 12 16 true', 'end 1 1', 'done 2']);
    expect(history.epochs).toHaveLength(2);
  });

  it('steps a learning-rate schedule per epoch or per batch', async () => {
    const s = setup();
    const scheduler = new tg.optim.lrScheduler.StepLR(s.optimizer, { stepSize: 1, gamma: 0.5 });
    const h = await tg.train.fit(s.model, s.train, { epochs: 3, loss: s.loss, optimizer: s.optimizer, scheduler, verbose: 0 });
    expect(h.get('lr')).toEqual([0.01, 0.005, 0.0025]);
    const t = setup();
    const perBatch = new tg.optim.lrScheduler.LinearLR(t.optimizer, { startFactor: 1, endFactor: 0.5, totalIters: 26 });
    const h2 = await tg.train.fit(t.model, t.train, { epochs: 2, loss: t.loss, optimizer: t.optimizer, scheduler: perBatch, schedulerInterval: 'batch', verbose: 0 });
    expect(h2.get('lr')[1]).toBeCloseTo(0.01 * (1 - 0.5 * 13 / 26), 12);
  });

  it('finishes with a per-batch OneCycleLR of epochs × batches steps', async () => {
    const s = setup();
    const batches = s.train.length;
    const scheduler = new tg.optim.lrScheduler.OneCycleLR(s.optimizer, { maxLr: 0.05, totalSteps: 2 * batches });
    const h = await tg.train.fit(s.model, s.train, { epochs: 2, loss: s.loss, optimizer: s.optimizer, scheduler, schedulerInterval: 'batch', verbose: 0 });
    expect(h.epochs).toHaveLength(2);
    expect(scheduler.lastEpoch).toBe(2 * batches);
  });

  it('rejects bad arguments with errors that say what is wrong', async () => {
    const s = setup();
    const base = { loss: s.loss, optimizer: s.optimizer, verbose: 0 as const };
    await expect(tg.train.fit(s.model, s.train, { ...base, loss: undefined as never })).rejects.toThrow(/options.loss must be a loss module or a function/);
    await expect(tg.train.fit(s.model, s.train, { ...base, optimizer: {} as never })).rejects.toThrow(/options.optimizer must be an optimizer/);
    await expect(tg.train.fit(s.model, 5 as never, base)).rejects.toThrow(/data must be a DataLoader or an iterable/);
    await expect(tg.train.fit(s.model, s.train, { ...base, epochs: -1 })).rejects.toThrow(/epochs must be a non-negative integer/);
    await expect(tg.train.fit(s.model, [[tg.zeros([2, 2])]], base)).rejects.toThrow(/inputs followed by the target/);
    await expect(tg.train.fit(s.model, s.train, { ...base, loss: (p: tg.Tensor) => p })).rejects.toThrow(/the loss must be a single value, got shape \[32, 2\]/);
    await expect(tg.train.fit(s.model, s.train, { ...base, metrics: ['f2' as never] })).rejects.toThrow(/metrics\[0\] must be 'accuracy'/);
    await expect(tg.train.fit(s.model, [], base)).rejects.toThrow(/no batches/);
    // A generator runs once: the second epoch finds it used up.
    function* once() {
      yield* s.train;
    }
    await expect(tg.train.fit(s.model, once(), { ...base, epochs: 2 })).rejects.toThrow(
      /^fit: the data has no batches in epoch 2: it is an iterator \(a generator, say\), used up by the first; pass an array, a DataLoader/,
    );
    await expect(tg.train.fit(s.model, s.train, { ...base, verbose: 3 as never })).rejects.toThrow(/verbose must be/);
    await expect(tg.train.fit(s.model, s.train, { ...base, verbose: '1' as never })).rejects.toThrow(new TypeError("fit: verbose must be 0, 1, 2 or a boolean, got '1'"));
    // Options it would misread: offThread: 'false' was truthy, epoch was ignored (one epoch), epochs: '2' a string.
    await expect(tg.train.fit(s.model, s.train, { ...base, offThread: 'false' as never })).rejects.toThrow(new TypeError("fit: offThread must be a boolean, got 'false'"));
    await expect(tg.train.fit(s.model, s.train, { ...base, epoch: 2 } as never)).rejects.toThrow(/^fit: unknown option 'epoch'; the options are loss, metrics, optimizer, epochs, /);
    await expect(tg.train.fit(s.model, s.train, { ...base, epochs: '2' as never })).rejects.toThrow(new TypeError("fit: epochs must be a non-negative integer, got '2'"));
    await expect(tg.train.fit(s.model, s.train, { ...base, schedulerInterval: 'step' as never })).rejects.toThrow(
      new RangeError("fit: schedulerInterval must be 'epoch' or 'batch', got 'step'"),
    );
    await expect(tg.train.fit(s.model, s.train, { ...base, callbacks: {} as never })).rejects.toThrow(new TypeError('fit: callbacks must be an array, got an object'));
    await expect(tg.train.fit(s.model, s.train, 5 as never)).rejects.toThrow(/^fit: options must be an object like .*, got 5$/);
    // These were used only after the first batch or epoch had trained: refused before training.
    const w = s.model.parameters()[0]!.toArray();
    await expect(tg.train.fit(s.model, s.train, { ...base, scheduler: 5 as never })).rejects.toThrow(
      new TypeError('fit: scheduler must be an lr scheduler (tg.optim.lrScheduler.StepLR, ...), got 5'),
    );
    await expect(tg.train.fit(s.model, s.train, { ...base, validation: 5 as never })).rejects.toThrow(
      new TypeError('fit: validation must be a DataLoader or an iterable of batches, got 5'),
    );
    await expect(tg.train.fit(s.model, s.train, { ...base, output: 'log.txt' as never })).rejects.toThrow(
      new TypeError("fit: output must be a stream or an object with write(text), got 'log.txt'"),
    );
    expect(s.model.parameters()[0]!.toArray()).toEqual(w);
    expect(() => tg.train.evaluate(s.model, s.train, { loss: s.loss, metric: ['accuracy'] } as never)).toThrow(
      new TypeError("evaluate: unknown option 'metric'; the options are loss, metrics"),
    );
    expect(() => tg.train.evaluate(s.model, s.train, undefined as never)).toThrow(/^evaluate: options must be an object like .*, got undefined$/);
    await expect(
      tg.train.fit(s.model, s.train, { ...base, callbacks: [new tg.train.EarlyStopping()] }),
    ).rejects.toThrow(/'valLoss' is not logged \(logged: loss, lr, seconds, examplesPerSecond\); pass validation data/);
  });
});

describe('EarlyStopping', () => {
  // A metric whose epoch value follows a script: the stopping rule is then exact.
  function scripted(values: number[]) {
    let epoch = 0;
    return {
      metric: { name: 'score', fn: () => values[epoch] ?? 0 },
      callback: { onEpochBegin: (e: number) => void (epoch = e) },
    };
  }

  async function run(values: number[], options: ConstructorParameters<typeof tg.train.EarlyStopping>[0]) {
    const s = setup();
    const { metric, callback } = scripted(values);
    const stopper = new tg.train.EarlyStopping({ monitor: 'score', ...options });
    const snapshots: number[][] = [];
    const history = await tg.train.fit(s.model, s.train, {
      epochs: values.length, loss: s.loss, optimizer: s.optimizer, metrics: [metric], verbose: 0,
      callbacks: [callback, stopper, { onEpochEnd: () => void snapshots.push(Array.from(s.model.parameters()[0]!.data())) }],
    });
    return { history, stopper, snapshots, weights: Array.from(s.model.parameters()[0]!.data()) };
  }

  it('stops after patience epochs without improvement', async () => {
    const { history, stopper } = await run([1, 2, 2, 1, 5, 6], { mode: 'max', patience: 2 });
    expect(history.epochs).toHaveLength(4);
    expect(history.stoppedEpoch).toBe(3);
    expect(stopper.best).toBe(2);
    expect(stopper.bestEpoch).toBe(1);
    // patience 0 (the default) stops at the first epoch that does not improve.
    expect((await run([1, 2, 2, 3], { mode: 'max' })).history.stoppedEpoch).toBe(2);
  });

  it('counts only changes larger than minDelta, and infers the mode from the name', async () => {
    const { history } = await run([1, 1.05, 1.08, 2, 3], { mode: 'max', patience: 2, minDelta: 0.1 });
    expect(history.stoppedEpoch).toBe(2);
    expect(new tg.train.EarlyStopping({ monitor: 'valAccuracy' }).mode).toBe('max');
    expect(new tg.train.EarlyStopping().mode).toBe('min');
    const min = await run([3, 2, 2.5, 2.2, 1], { patience: 2 });
    expect(min.history.stoppedEpoch).toBe(3);
  });

  it('restores the weights of the best epoch', async () => {
    const { weights, snapshots, history } = await run([1, 3, 2, 2, 2, 2], { mode: 'max', patience: 2, restoreBest: true });
    expect(history.epochs).toHaveLength(4);
    expect(weights).toEqual(snapshots[1]);
    expect(weights).not.toEqual(snapshots[3]);
  });

  it('validates its options', () => {
    expect(() => new tg.train.EarlyStopping({ patience: -1 })).toThrow(/patience must be a non-negative integer/);
    expect(() => new tg.train.EarlyStopping({ mode: 'up' as never })).toThrow(/mode must be 'min', 'max' or 'auto'/);
    // minDelta: '0.1' went through Math.abs as 0.1; restoreBest: 'no' was truthy.
    expect(() => new tg.train.EarlyStopping({ minDelta: '0.1' as never })).toThrow(new TypeError("EarlyStopping: minDelta must be a finite number, got '0.1'"));
    expect(() => new tg.train.EarlyStopping({ restoreBest: 'no' as never })).toThrow(new TypeError("EarlyStopping: restoreBest must be a boolean, got 'no'"));
    expect(() => new tg.train.EarlyStopping({ min_delta: 0.1 } as never)).toThrow(
      new TypeError("EarlyStopping: unknown option 'min_delta'; the options are monitor, mode, patience, minDelta, restoreBest"),
    );
    expect(() => new tg.train.EarlyStopping({ patience: '2' as never })).toThrow(new TypeError("EarlyStopping: patience must be a non-negative integer, got '2'"));
  });
});
