// Trainer: training steps whose backward pass and optimizer update run on a
// worker thread, so a server's event loop keeps serving while it trains.
import { tidy } from '../memory.js';
import { native } from '../native.js';
import type { Optimizer } from '../optim/optimizer.js';
import { Tensor } from '../tensor.js';
import { forwardOf, lossOf, metricValues, scalarLoss, splitBatch, type LossFn, type Model } from './step.js';
import { resolveMetrics, type Metric, type MetricSpec } from './metrics.js';

export interface TrainerOptions {
  loss: LossFn;
  optimizer: Optimizer<{ lr: number }>;
  /** Metrics computed on each batch's prediction (see stepWithMetrics). */
  metrics?: MetricSpec[];
  /**
   * Compute threads for the off-thread part of a step. Default: all of
   * tapegrad's threads but one, which stays free for the JS thread so the
   * event loop is not starved (with a single thread, that one).
   */
  threads?: number;
}

/**
 * Runs training steps off the JS thread:
 *
 *     const trainer = new tg.train.Trainer(model, { loss: new nn.CrossEntropyLoss(), optimizer });
 *     const loss = await trainer.step([x, y]);
 *
 * Each step zeroes the gradients, runs the forward pass and the loss on the
 * JS thread (building the graph is cheap next to the kernels it queues),
 * then runs backward and the optimizer's fused update on a libuv worker
 * thread and resolves with the loss. While a step runs, the parameters, their
 * gradients, the optimizer state and the batch are locked: writing them from
 * JS (in-place ops, optimizer.step(), .grad, dispose) throws instead of
 * racing.
 * Steps called before the previous one settled wait for it, in order.
 * The worker thread leaves one core to the JS thread and, on Linux, never
 * preempts it (SCHED_BATCH), so timers and I/O run on time: see
 * bench/event-loop.mjs for the event-loop delay this gives.
 */
export class Trainer {
  readonly optimizer: Optimizer<{ lr: number }>;
  private readonly forward: (inputs: Tensor[]) => Tensor;
  private readonly lossFn: (p: Tensor, t: Tensor) => Tensor;
  private readonly metrics: Metric[];
  private readonly params: Tensor[];
  private readonly threads: number;
  private queue: Promise<unknown> = Promise.resolve();
  private pending = 0;

  constructor(model: Model, options: TrainerOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError('Trainer: options must be an object');
    this.forward = forwardOf(model, 'Trainer');
    this.lossFn = lossOf(options.loss, 'Trainer');
    const { optimizer } = options;
    if (optimizer === null || typeof optimizer !== 'object' || typeof optimizer.step !== 'function' || !Array.isArray(optimizer.paramGroups))
      throw new TypeError('Trainer: options.optimizer must be an optimizer (tg.optim.SGD, Adam, ...)');
    this.optimizer = optimizer;
    this.params = optimizer.paramGroups.flatMap((g) => g.params);
    this.metrics = resolveMetrics(options.metrics, 'Trainer');
    this.threads = options.threads ?? 0;
    if (!Number.isInteger(this.threads) || this.threads < 0)
      throw new RangeError(`Trainer: threads must be a positive integer, got ${String(options.threads)}`);
  }

  /** True while a step runs or waits. */
  get busy(): boolean {
    return this.pending > 0;
  }

  /** One step on `batch` (the model's inputs followed by the target); resolves with the loss. */
  async step(batch: Tensor[]): Promise<number> {
    return (await this.stepWithMetrics(batch)).loss as number;
  }

  /** As step(), resolving with the loss and the metrics of the batch's prediction: `{ loss, accuracy }`. */
  stepWithMetrics(batch: Tensor[]): Promise<Record<string, number>> {
    let inputs: Tensor[], target: Tensor;
    try {
      ({ inputs, target } = splitBatch(batch, 'Trainer.step'));
    } catch (e) {
      return Promise.reject(e);
    }
    // An idle trainer starts at once, so the step's tensors are locked when step() returns.
    const run = this.pending === 0 ? this.run(inputs, target) : this.queue.then(() => this.run(inputs, target));
    this.pending++;
    this.queue = run.catch(() => undefined);
    return run.finally(() => this.pending--);
  }

  // Runs synchronously up to the native job, which locks what it uses.
  private async run(inputs: Tensor[], target: Tensor): Promise<Record<string, number>> {
    for (const t of [...inputs, target])
      if (t.isDisposed) throw new TypeError('Trainer.step: the batch holds a disposed tensor');
    this.optimizer.zeroGrad();
    const { loss, values } = tidy(() => {
      const prediction = this.forward(inputs);
      const loss = scalarLoss(this.lossFn(prediction, target), 'Trainer.step');
      return { loss, values: metricValues(this.metrics, prediction, target) };
    });
    try {
      const reached = native.leavesReached(loss._handle, this.params.map((p) => p._handle));
      const willHaveGrad = new Set(this.params.filter((_, i) => reached[i]));
      const plan = this.optimizer._plan((p) => willHaveGrad.has(p));
      if (plan === null) {
        // An optimizer that only defines step(): backward off the thread, the update on it.
        await loss.backwardAsync();
        this.optimizer.step();
      } else {
        await native.trainStepAsync(loss._handle, plan.updates, this.threads, [...inputs, target].map((t) => t._handle));
        plan.commit();
      }
      return { loss: loss.item(), ...values };
    } finally {
      loss.dispose();
    }
  }
}
