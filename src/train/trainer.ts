// Trainer: training steps whose forward pass (replayed from a trace),
// backward pass and optimizer update run on a background thread, so a
// server's event loop keeps serving while it trains.
import { isGradEnabled } from '../autograd.js';
import { checkNumber, checkOptions, describe } from '../errors.js';
import { tidy } from '../memory.js';
import { native, type TraceHandle } from '../native.js';
import { Sequential } from '../nn/containers.js';
import { Module, tensorRole } from '../nn/module.js';
import { Optimizer } from '../optim/optimizer.js';
import { fromHandle, handleOf, isTensor, type Tensor } from '../tensor.js';
import * as nn from '../nn/index.js';
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
  /**
   * Where the forward pass runs on the JS thread (not traced; see
   * traceForward), an nn.Sequential (an MLP, say) runs layer by layer,
   * yielding to the event loop between layers once this many milliseconds
   * have passed since the last yield (default 1; 0: the whole forward pass
   * at once). Other models run their forward pass at once.
   */
  yieldEveryMs?: number;
  /**
   * Whether the forward pass and the loss run off the JS thread too. The
   * first step for each batch shape runs them in JS and records the native
   * ops they call (a trace, as torch.jit.trace makes); later steps with that
   * shape replay the trace on the background thread, so the whole step
   * leaves the JS thread. A trace holds what the forward pass did for that
   * shape, not the JS code: a step that reads tensor values in between
   * (item(), toArray()) cannot be traced and keeps running in JS.
   * 'auto' (default): trace when the model and the loss are made only of
   * tapegrad's own modules (nn.Sequential, nn.Linear, nn.CrossEntropyLoss,
   * ...), whose forward passes depend on nothing but the input shapes and
   * train()/eval(). true: trace any model; use it only when the forward pass
   * depends on nothing else either (no Math.random, counters or JS state).
   * false: the forward pass always runs in JS.
   */
  traceForward?: 'auto' | boolean;
}

// The classes whose forward pass is a fixed sequence of native ops for given
// input shapes and modes, so 'auto' traces them: every module class tg.nn
// exports (a test in train.test.ts fails for one missing here).
const traceableModules: ReadonlySet<Function> = new Set([
  nn.Sequential, nn.ModuleList, nn.Identity, nn.Linear, nn.Conv2d, nn.ReLU, nn.GELU, nn.Tanh, nn.Sigmoid, nn.SiLU, nn.LeakyReLU,
  nn.ELU, nn.Softplus, nn.Softmax, nn.LogSoftmax, nn.Dropout, nn.LayerNorm, nn.Embedding, nn.Flatten, nn.MLP,
  nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.MultiheadAttention,
  nn.TransformerEncoderLayer, nn.CrossEntropyLoss, nn.NLLLoss, nn.MSELoss, nn.L1Loss, nn.HuberLoss, nn.BCELoss,
  nn.BCEWithLogitsLoss,
]);

function builtFromTraceableModules(m: unknown): boolean {
  if (!(m instanceof Module)) return false;
  return m.modules().every((x) => {
    const cls = Object.getPrototypeOf(x)?.constructor;
    return traceableModules.has(cls) && !Object.prototype.hasOwnProperty.call(x, 'forward');
  });
}

/** A recorded forward pass for one batch signature, or why there is none. */
interface TraceEntry {
  trace: TraceHandle | null;
  reason: string | null;
  /** The parameters the loss reached when recorded: those the update will find a gradient for. */
  reached: ReadonlySet<Tensor>;
}

// Traces kept per trainer, the least recently used dropped first: a loader's
// last, smaller batch and a validation shape or two fit many times over.
const maxTraces = 16;

/** The layers of a plain Sequential (nested ones flattened), or null when forward is custom. */
function sequentialLayers(model: unknown): Module[] | null {
  if (!(model instanceof Sequential) || model.forward !== Sequential.prototype.forward) return null;
  const layers: Module[] = [];
  for (let i = 0; i < model.length; i++) {
    const m = model[i] as Module;
    layers.push(...(sequentialLayers(m) ?? [m]));
  }
  return layers;
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Runs training steps off the JS thread:
 *
 *     const trainer = new tg.train.Trainer(model, { loss: new nn.CrossEntropyLoss(), optimizer });
 *     const loss = await trainer.step([x, y]);
 *
 * Each step zeroes the gradients, runs the forward pass and the loss, backward
 * and the optimizer's fused update on a background thread, and resolves with
 * the loss. The forward pass runs there by replaying a trace recorded on the
 * first step of each batch shape (see traceForward); where it cannot be
 * traced it runs on the JS thread (an nn.Sequential layer by layer, yielding
 * to the event loop in between: see yieldEveryMs). The background
 * thread leaves one core to the JS thread and, on Linux, never preempts it,
 * so timers and I/O run on time: bench/event-loop.mjs measures the
 * event-loop delay this gives. Results are bit-identical to backward() and
 * optimizer.step().
 *
 * From the start of the background job (the start of the step when the
 * forward pass is replayed, the backward pass otherwise), the parameters,
 * their gradients, the optimizer state and the batch are locked: writing
 * them from JS (in-place ops, optimizer.step(), .grad, dispose) throws
 * instead of racing. (A write between the layers of a yielding forward pass
 * is caught by backward's check of saved tensors' versions.) Steps called
 * before the previous one settled wait for it, in order.
 */
export class Trainer {
  readonly optimizer: Optimizer<{ lr: number }>;
  private readonly forward: (inputs: Tensor[]) => Tensor;
  private readonly lossFn: (p: Tensor, t: Tensor) => Tensor;
  private readonly metrics: Metric[];
  private readonly threads: number;
  private readonly yieldEveryMs: number;
  private readonly layers: Module[] | null;
  /** The model and the loss, when they are Modules: their modules' settings and tensors are part of a trace's key. */
  private readonly module: Module | null;
  private readonly lossModule: Module | null;
  private readonly tracing: boolean;
  private readonly traces = new Map<string, TraceEntry>();
  private queue: Promise<unknown> = Promise.resolve();
  private pending = 0;

  constructor(model: Model, options: TrainerOptions) {
    checkOptions(options, 'Trainer', '{ loss, optimizer }', ['loss', 'optimizer', 'metrics', 'threads', 'yieldEveryMs', 'traceForward']);
    const forward = forwardOf(model, 'Trainer');
    // A traced step hands the prediction's handle to the native layer as it is.
    this.forward = (inputs) => {
      const prediction: unknown = forward(inputs);
      if (!isTensor(prediction))
        throw new TypeError(`Trainer.step: the model must return a Tensor, got ${describe(prediction)}`);
      return prediction;
    };
    this.lossFn = lossOf(options.loss, 'Trainer');
    const { optimizer } = options;
    if (!(optimizer instanceof Optimizer))
      throw new TypeError(`Trainer: options.optimizer must be an optimizer (tg.optim.SGD, Adam, ...), got ${describe(optimizer)}`);
    this.optimizer = optimizer;
    this.metrics = resolveMetrics(options.metrics, 'Trainer');
    this.threads = checkNumber(options.threads ?? 0, 'Trainer', 'threads', 'a non-negative integer (0: all but one)', (v) => Number.isInteger(v) && v >= 0);
    this.yieldEveryMs = checkNumber(options.yieldEveryMs ?? 1, 'Trainer', 'yieldEveryMs', 'a non-negative number', (v) => v >= 0);
    this.layers = sequentialLayers(model);
    this.module = model instanceof Module ? model : null;
    this.lossModule = options.loss instanceof Module ? options.loss : null;
    const trace = options.traceForward ?? 'auto';
    if (trace !== 'auto' && typeof trace !== 'boolean')
      throw new TypeError(`Trainer: traceForward must be 'auto', true or false, got ${describe(trace)}`);
    this.tracing =
      trace === 'auto' ? builtFromTraceableModules(model) && builtFromTraceableModules(options.loss) : trace;
  }

  /**
   * Why the forward pass of the last step ran in JS, or null when it ran off
   * the JS thread (replayed) or was being traced.
   */
  get forwardInJsReason(): string | null {
    return this.lastReason;
  }
  private lastReason: string | null = null;

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

  // The model's output. A Sequential runs layer by layer and yields to the
  // event loop every yieldEveryMs; what each layer made but did not return
  // is freed at once (the graph keeps what backward needs).
  private async forwardInSlices(inputs: Tensor[]): Promise<Tensor> {
    const input = inputs[0] as Tensor;
    let h = input;
    let since = performance.now();
    try {
      for (const layer of this.layers as Module[]) {
        const x = h;
        h = tidy(() => layer.forward(x));
        if (x !== input && x !== h) x.dispose();
        if (performance.now() - since >= this.yieldEveryMs) {
          await nextTurn();
          since = performance.now();
        }
      }
    } catch (e) {
      if (h !== input) h.dispose();
      throw e;
    }
    return h === input ? tidy(() => input.view(input.shape)) : h;
  }

  // Runs synchronously up to the native job (when the forward pass does not
  // yield), which then locks what it uses.
  private async run(inputs: Tensor[], target: Tensor): Promise<Record<string, number>> {
    for (const t of [...inputs, target])
      if (t.isDisposed) throw new TypeError('Trainer.step: the batch holds a disposed tensor');
    this.optimizer.zeroGrad();
    if (this.tracing) {
      const key = this.traceKey(inputs, target);
      const entry = this.traces.get(key);
      if (entry === undefined) return this.recordStep(key, inputs, target);
      this.traces.delete(key); // most recently used last
      this.traces.set(key, entry);
      if (entry.trace !== null) return this.replayStep(entry.trace, entry.reached, inputs, target);
      this.lastReason = entry.reason;
    } else {
      this.lastReason = 'traceForward is off (or the model is not made only of tapegrad modules)';
    }
    // Without slicing, nothing awaits before the job is queued.
    const sliced = this.layers !== null && inputs.length === 1 && this.yieldEveryMs > 0;
    const prediction = sliced ? await this.forwardInSlices(inputs) : tidy(() => this.forward(inputs));
    const batch = new Set([...inputs, target]);
    let loss: Tensor, values: Record<string, number>;
    try {
      ({ loss, values } = tidy(() => {
        const l = scalarLoss(this.lossFn(prediction, target), 'Trainer.step');
        return { loss: l, values: metricValues(this.metrics, prediction, target) };
      }));
    } catch (e) {
      if (!batch.has(prediction)) prediction.dispose();
      throw e;
    }
    if (prediction !== loss && !batch.has(prediction)) prediction.dispose();
    try {
      await this.backwardAndUpdate(loss, this.reachedBy(loss), [...inputs, target]);
      return { loss: loss.item(), ...values };
    } finally {
      if (!batch.has(loss)) loss.dispose();
    }
  }

  // The optimizer's parameters as they are now: groups added (or params
  // pushed) after the trainer was made are trained from the next step.
  private get params(): Tensor[] {
    return this.optimizer.paramGroups.flatMap((g) => g.params);
  }

  private reachedBy(loss: Tensor): Set<Tensor> {
    const params = this.params;
    const reached = native.leavesReached(handleOf(loss), params.map((p) => handleOf(p)));
    return new Set(params.filter((_, i) => reached[i]));
  }

  // Backward from `loss` and the optimizer update, off the JS thread.
  private async backwardAndUpdate(loss: Tensor, reached: ReadonlySet<Tensor>, batch: Tensor[]): Promise<void> {
    const plan = this.optimizer._checkedPlan('step', (p) => reached.has(p));
    if (plan === null) {
      // An optimizer that only defines step(): backward off the thread, the update on it.
      await loss.backwardAsync();
      this.optimizer.step();
    } else {
      await native.trainStepAsync(handleOf(loss), plan.updates, this.threads, batch.map((t) => handleOf(t)));
      plan.commit();
    }
  }

  private readonly ids = new WeakMap<object, number>();
  private nextId = 0;
  private idOf(p: object): number {
    let id = this.ids.get(p);
    if (id === undefined) this.ids.set(p, (id = this.nextId++));
    return id;
  }

  // What a trace depends on besides the JS code: the batch's shapes and
  // dtypes (and which of its tensors are the same one), the modules of the
  // model and of the loss (read afresh: a child may be replaced) and their
  // settings (train/eval mode, and every field holding a number, string,
  // boolean or array of them: a trace replays the numbers it recorded, so a
  // Dropout's p or a loss's reduction set later must retrace), which
  // tensors the model and the optimizer hold (a trace replays the ones it
  // saw: a weight replaced by assignment must retrace) and which of them
  // require grad, and grad mode.
  private traceKey(inputs: Tensor[], target: Tensor): string {
    const batch = [...inputs, target];
    let key = isGradEnabled() ? 'grad|' : 'nograd|';
    for (let i = 0; i < batch.length; i++) {
      const t = batch[i] as Tensor;
      const first = batch.indexOf(t);
      key += `${t.dtype}[${t.shape.join(',')}]${first < i ? `=${first}` : ''} `;
    }
    for (const root of [this.module, this.lossModule]) key += `|${root === null ? '' : this.stateKey(root)}`;
    key += '|';
    // Which tensors the optimizer holds is part of the key: a trace knows the parameters its loss reached.
    for (const p of this.params) key += `${this.idOf(p)}${p.requiresGrad ? 'g' : 'n'},`;
    return key;
  }

  // A module tree's part of the trace key, in one walk over each module's
  // own properties (modules(), namedParameters() and namedBuffers() walked
  // them four times: 6 TransformerEncoderLayers 117 -> 37 µs per step, an
  // MLP 14 -> 3.8): each module once, with its children by name (a shared
  // one by its id after its first place), its parameters (and whether each
  // requires grad) and buffers, and its settings: fields holding a number,
  // string, boolean, null or an array of numbers and nulls (training, p,
  // eps, reduction, kernelSize, an adaptive pool's [null, 1], ...).
  private stateKey(root: Module): string {
    const plain = (v: unknown) => v === null || typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean';
    const seen = new Set<Module>();
    let key = '';
    const walk = (m: Module) => {
      seen.add(m);
      key += `${this.idOf(m)}{`;
      for (const name of Object.keys(m)) {
        const v: unknown = (m as unknown as Record<string, unknown>)[name];
        if (v instanceof Module) {
          key += `${name}:`;
          if (seen.has(v)) key += `${this.idOf(v)};`;
          else walk(v);
        } else if (isTensor(v)) {
          const role = tensorRole(v);
          if (role !== null) key += `${name}:${this.idOf(v)}${role === 'buffer' ? 'b' : v.requiresGrad ? 'g' : 'n'};`;
        } else if (plain(v)) {
          key += `${name}=${String(v)};`;
        } else if (Array.isArray(v) && v.every((e) => e === null || typeof e === 'number')) {
          key += `${name}=${v.map(String).join('x')};`;
        }
      }
      key += '}';
    };
    walk(root);
    return key;
  }

  // A step whose forward pass and loss run in JS while their native calls
  // are recorded; the rest as in the untraced step.
  private async recordStep(key: string, inputs: Tensor[], target: Tensor): Promise<Record<string, number>> {
    const batch = [...inputs, target];
    const owned = new Set(batch);
    let prediction: Tensor | undefined, loss: Tensor | undefined;
    let recorded: ReturnType<typeof native.traceEnd>;
    native.traceBegin(batch.map((t) => handleOf(t)));
    try {
      prediction = tidy(() => this.forward(inputs));
      const p = prediction;
      loss = tidy(() => scalarLoss(this.lossFn(p, target), 'Trainer.step'));
      recorded = native.traceEnd([handleOf(loss), handleOf(prediction)]);
    } catch (e) {
      native.traceAbort();
      if (loss !== undefined && !owned.has(loss)) loss.dispose();
      if (prediction !== undefined && prediction !== loss && !owned.has(prediction)) prediction.dispose();
      throw e;
    }
    try {
      const values = tidy(() => metricValues(this.metrics, prediction as Tensor, target));
      const reached = this.reachedBy(loss);
      this.lastReason = recorded.reason;
      await this.backwardAndUpdate(loss, reached, batch);
      // Kept once the step it was recorded in went through.
      if (this.traces.size >= maxTraces) this.traces.delete(this.traces.keys().next().value as string);
      this.traces.set(key, { trace: recorded.trace, reason: recorded.reason, reached });
      return { loss: loss.item(), ...values };
    } finally {
      if (!owned.has(prediction)) prediction.dispose();
      if (!owned.has(loss)) loss.dispose();
    }
  }

  // A step whose forward pass is the trace, replayed off the JS thread with backward and the update.
  private async replayStep(
    trace: TraceHandle,
    reached: ReadonlySet<Tensor>,
    inputs: Tensor[],
    target: Tensor,
  ): Promise<Record<string, number>> {
    this.lastReason = null;
    const batch = [...inputs, target];
    const handles = batch.map((t) => handleOf(t));
    const plan = this.optimizer._checkedPlan('step', (p) => reached.has(p));
    // The job locks the batch itself: they are the trace's inputs.
    const outputs = await native.tracedStepAsync(trace, handles, plan?.updates ?? [], this.threads);
    const [loss, prediction] = outputs.map(fromHandle) as [Tensor, Tensor];
    try {
      if (plan === null) this.optimizer.step();
      else plan.commit();
      const values = tidy(() => metricValues(this.metrics, prediction, target));
      return { loss: loss.item(), ...values };
    } finally {
      loss.dispose();
      prediction.dispose();
    }
  }
}
