// fit and evaluate: the training loop most models need, with progress,
// validation, metrics, callbacks and a history.
import { noGrad } from '../autograd.js';
import { checkBoolean, checkChoice, checkNumber, checkOptions, describe } from '../errors.js';
import { tidy } from '../memory.js';
import { Module } from '../nn/module.js';
import type { LRScheduler, ReduceLROnPlateau } from '../optim/lr_scheduler.js';
import type { Optimizer } from '../optim/optimizer.js';
import { closeScope, openScope } from '../scope.js';
import { Tensor } from '../tensor.js';
import type { Callback, FitContext } from './callbacks.js';
import { History, type EpochLogs } from './history.js';
import { resolveMetrics, validationName, type Metric, type MetricSpec } from './metrics.js';
import { Progress, type ProgressOutput } from './progress.js';
import { forwardOf, lossOf, metricValues, scalarLoss, splitBatch, type Batches, type LossFn, type Model } from './step.js';
import { Trainer } from './trainer.js';

export interface EvaluateOptions {
  loss: LossFn;
  metrics?: MetricSpec[];
}

export interface FitOptions extends EvaluateOptions {
  optimizer: Optimizer<{ lr: number }>;
  /** Passes over the data (default 1). */
  epochs?: number;
  /** Data evaluated after every epoch (without gradients, the model in eval mode): logged as valLoss, valAccuracy, ... */
  validation?: Batches;
  callbacks?: Callback[];
  /** A learning-rate schedule stepped after every epoch (or every batch); ReduceLROnPlateau gets valLoss (else loss). */
  scheduler?: LRScheduler | ReduceLROnPlateau;
  schedulerInterval?: 'epoch' | 'batch';
  /**
   * 0 or false: print nothing. 1 or true (default): a progress bar on a
   * terminal, one line per epoch elsewhere. 2: one line per epoch.
   */
  verbose?: boolean | 0 | 1 | 2;
  /** Where progress goes (default process.stdout). */
  output?: ProgressOutput;
  /**
   * Run each step on a background thread through a Trainer (its forward
   * pass too where it can be traced: see TrainerOptions.traceForward), so
   * the event loop is free while the kernels run (default false: everything
   * on the JS thread, which yields between batches).
   */
  offThread?: boolean;
}

function stepsOf(data: Batches): number | undefined {
  const n = (data as { length?: unknown }).length;
  return typeof n === 'number' && Number.isInteger(n) ? n : undefined;
}

/**
 * The batches of `data`, each with the tensors that producing it created (a
 * DataLoader's fresh batch): those are freed after use, while batches the
 * caller made beforehand (an array of [x, y] reused every epoch) are left alone.
 */
function* batchesOf(data: Batches): Generator<[unknown, Tensor[]]> {
  const it = data[Symbol.iterator]();
  try {
    for (;;) {
      const scope = openScope();
      let r: IteratorResult<Tensor[]>;
      let created: Tensor[] = [];
      try {
        r = it.next();
      } finally {
        // Everything the data source made is kept (moved to the parent scope) and listed for disposal after the batch.
        created = scope.tensors.filter((t) => scope.has(t));
        closeScope(scope, scope);
      }
      if (r.done) return;
      yield [r.value, created];
    }
  } finally {
    it.return?.();
  }
}

function disposeAll(tensors: Tensor[]): void {
  for (const t of tensors) t.dispose();
}

/** Sums of batch values weighted by batch size, for epoch means. */
class Means {
  private sums = new Map<string, number>();
  private count = 0;
  add(values: Record<string, number>, n: number): void {
    for (const [k, v] of Object.entries(values)) this.sums.set(k, (this.sums.get(k) ?? 0) + v * n);
    this.count += n;
  }
  get examples(): number {
    return this.count;
  }
  result(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of this.sums) out[k] = this.count > 0 ? v / this.count : NaN;
    return out;
  }
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

async function evaluateWith(
  forward: (inputs: Tensor[]) => Tensor,
  lossFn: (p: Tensor, t: Tensor) => Tensor,
  metrics: Metric[],
  data: Batches,
  op: string,
): Promise<Record<string, number>> {
  const means = new Means();
  let lastYield = Date.now();
  for (const [batch, created] of batchesOf(data)) {
    try {
      const { inputs, target } = splitBatch(batch, op);
      const values = noGrad(() =>
        tidy(() => {
          const prediction = forward(inputs);
          return { loss: scalarLoss(lossFn(prediction, target), op).item(), ...metricValues(metrics, prediction, target) };
        }),
      );
      means.add(values, target.shape[0] ?? 1);
    } finally {
      disposeAll(created);
    }
    if (Date.now() - lastYield > 20) {
      await yieldToEventLoop();
      lastYield = Date.now();
    }
  }
  if (means.examples === 0) throw new RangeError(`${op}: the data has no batches`);
  return means.result();
}

/** Mode switch that puts the module back as it was. */
function withMode<T>(model: Model, training: boolean, fn: () => Promise<T>): Promise<T> {
  if (!(model instanceof Module)) return fn();
  const before = model.modules().map((m) => m.training);
  model.train(training);
  return fn().finally(() => model.modules().forEach((m, i) => (m.training = before[i] as boolean)));
}

/**
 * The mean loss and metrics of `model` over `data`, without gradients and
 * with the model in eval mode: `{ loss, accuracy, ... }`.
 */
export function evaluate(model: Model, data: Batches, options: EvaluateOptions): Promise<Record<string, number>> {
  checkOptions(options, 'evaluate', '{ loss, metrics }', ['loss', 'metrics']);
  const forward = forwardOf(model, 'evaluate');
  const lossFn = lossOf(options.loss, 'evaluate');
  const metrics = resolveMetrics(options.metrics, 'evaluate');
  return withMode(model, false, () => evaluateWith(forward, lossFn, metrics, data, 'evaluate'));
}

function verbosity(v: FitOptions['verbose']): 0 | 1 | 2 {
  if (v === undefined || v === true) return 1;
  if (v === false) return 0;
  if (v === 0 || v === 1 || v === 2) return v;
  throw new (typeof v === 'number' ? RangeError : TypeError)(`fit: verbose must be 0, 1, 2 or a boolean, got ${describe(v)}`);
}

function isPlateau(s: unknown): s is ReduceLROnPlateau {
  return s !== null && typeof s === 'object' && !('baseLrs' in s) && typeof (s as { step?: unknown }).step === 'function';
}

/**
 * Trains `model` on `data` for `epochs` epochs: each batch runs forward,
 * the loss, backward and one optimizer step; tensors made along the way are
 * freed at once, so memory stays flat. Returns the per-epoch history.
 *
 *     const history = await tg.train.fit(model, loader, {
 *       epochs: 10, loss: new nn.CrossEntropyLoss(), optimizer, validation: testLoader, metrics: ['accuracy'],
 *       callbacks: [new tg.train.EarlyStopping({ patience: 2, restoreBest: true })],
 *     });
 *
 * The loop yields to the event loop between batches every few milliseconds,
 * so timers and I/O keep running (each step itself runs on the JS thread).
 */
export async function fit(model: Model, data: Batches, options: FitOptions): Promise<History> {
  checkOptions(options, 'fit', '{ loss, optimizer, epochs: 10 }', [
    'loss', 'metrics', 'optimizer', 'epochs', 'validation', 'callbacks', 'scheduler', 'schedulerInterval', 'verbose', 'output', 'offThread',
  ]);
  const forward = forwardOf(model, 'fit');
  const lossFn = lossOf(options.loss, 'fit');
  const { optimizer } = options;
  if (optimizer === null || typeof optimizer !== 'object' || typeof optimizer.step !== 'function')
    throw new TypeError('fit: options.optimizer must be an optimizer (tg.optim.SGD, Adam, ...)');
  if (data === null || typeof (data as Partial<Batches>)[Symbol.iterator] !== 'function')
    throw new TypeError('fit: data must be a DataLoader or an iterable of batches');
  const epochs = checkNumber(options.epochs ?? 1, 'fit', 'epochs', 'a non-negative integer', (v) => Number.isInteger(v) && v >= 0);
  // 'false' would be taken as true by truthiness.
  const offThread = checkBoolean(options.offThread, 'fit', 'offThread', false);
  const metrics = resolveMetrics(options.metrics, 'fit');
  const trainer = offThread ? new Trainer(model, { loss: options.loss, optimizer, metrics }) : null;
  const callbacks = options.callbacks ?? [];
  if (!Array.isArray(callbacks)) throw new TypeError(`fit: callbacks must be an array, got ${describe(callbacks)}`);
  const interval = checkChoice(options.schedulerInterval ?? 'epoch', 'fit', 'schedulerInterval', ['epoch', 'batch']);
  // Checked before training: these are used only at the end of a batch or an epoch.
  const { scheduler, validation } = options;
  if (scheduler !== undefined && (scheduler === null || typeof scheduler !== 'object' || typeof scheduler.step !== 'function'))
    throw new TypeError(`fit: scheduler must be an lr scheduler (tg.optim.lrScheduler.StepLR, ...), got ${describe(scheduler)}`);
  if (validation !== undefined && (validation === null || typeof (validation as Partial<Batches>)[Symbol.iterator] !== 'function'))
    throw new TypeError(`fit: validation must be a DataLoader or an iterable of batches, got ${describe(validation)}`);
  const output = options.output ?? process.stdout;
  if (output === null || typeof output !== 'object' || typeof output.write !== 'function')
    throw new TypeError(`fit: output must be a stream or an object with write(text), got ${describe(output)}`);
  const progress = new Progress(output, verbosity(options.verbose));

  const history = new History();
  const ctx: FitContext = { model, optimizer, epochs, stepsPerEpoch: stepsOf(data) ?? NaN, history, stopTraining: false };
  const call = async <K extends keyof Callback>(name: K, ...args: unknown[]) => {
    for (const cb of callbacks) {
      const fn = cb[name] as ((...a: unknown[]) => unknown) | undefined;
      if (typeof fn === 'function') await fn.apply(cb, args);
    }
  };

  await call('onTrainBegin', ctx);
  for (let epoch = 0; epoch < epochs && !ctx.stopTraining; epoch++) {
    await call('onEpochBegin', epoch, ctx);
    const lr = optimizer.paramGroups[0]?.lr ?? NaN;
    const steps = stepsOf(data);
    const means = new Means();
    const started = performance.now();
    let lastYield = Date.now();
    let step = 0;
    await withMode(model, true, async () => {
      for (const [batch, created] of batchesOf(data)) {
        let values: Record<string, number>;
        let size: number;
        try {
          const { inputs, target } = splitBatch(batch, 'fit');
          size = target.shape[0] ?? 1;
          if (trainer) {
            values = await trainer.stepWithMetrics(batch as Tensor[]);
          } else {
            optimizer.zeroGrad();
            values = tidy(() => {
              const prediction = forward(inputs);
              const loss = scalarLoss(lossFn(prediction, target), 'fit');
              loss.backward();
              optimizer.step();
              return { loss: loss.item(), ...metricValues(metrics, prediction, target) };
            });
          }
        } finally {
          disposeAll(created);
        }
        means.add(values, size);
        step++;
        if (interval === 'batch' && options.scheduler && !isPlateau(options.scheduler)) options.scheduler.step();
        const elapsed = (performance.now() - started) / 1000;
        const running = means.result();
        progress.step({
          epoch, epochs, step, steps: steps ?? step,
          loss: running.loss as number,
          metrics: Object.fromEntries(metrics.map((m) => [m.name, running[m.name] as number])),
          examplesPerSecond: means.examples / elapsed,
          eta: steps !== undefined ? (elapsed / step) * (steps - step) : NaN,
        });
        await call('onBatchEnd', step - 1, { loss: values.loss as number, size }, ctx);
        if (Date.now() - lastYield > 20) {
          await yieldToEventLoop();
          lastYield = Date.now();
        }
      }
    });
    if (step === 0) {
      // An iterator (a generator) is its own iterable: used up after the first epoch.
      const usedUp = epoch > 0 && (data as Batches)[Symbol.iterator]() === (data as unknown);
      throw new RangeError(
        usedUp
          ? `fit: the data has no batches in epoch ${epoch + 1}: it is an iterator (a generator, say), used up by the first; ` +
              'pass an array, a DataLoader or an iterable that starts again'
          : 'fit: the data has no batches',
      );
    }
    const seconds = (performance.now() - started) / 1000;
    const logs: EpochLogs = { epoch, ...means.result(), lr, seconds, examplesPerSecond: means.examples / seconds } as EpochLogs;
    if (options.validation) {
      const val = await withMode(model, false, () => evaluateWith(forward, lossFn, metrics, options.validation as Batches, 'fit validation'));
      for (const [k, v] of Object.entries(val)) logs[validationName(k)] = v;
    }
    history.epochs.push(logs);
    progress.epochEnd(epoch, epochs, logs);
    if (options.scheduler) {
      if (isPlateau(options.scheduler)) options.scheduler.step((logs.valLoss ?? logs.loss) as number);
      else if (interval === 'epoch') options.scheduler.step();
    }
    await call('onEpochEnd', epoch, logs, ctx);
  }
  if (history.stoppedEpoch !== null) progress.message(`Early stopping after epoch ${history.stoppedEpoch + 1}`);
  await call('onTrainEnd', history, ctx);
  return history;
}
