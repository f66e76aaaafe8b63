// Callbacks: code fit runs at the boundaries of training, epochs and steps.
import { noGrad } from '../autograd.js';
import { checkBoolean, checkChoice, checkNumber, checkOptions, describe } from '../errors.js';
import { Module } from '../nn/module.js';
import type { Optimizer } from '../optim/optimizer.js';
import { untrack } from '../scope.js';
import type { Tensor } from '../tensor.js';
import type { EpochLogs, History } from './history.js';

/** What callbacks see and change while fit runs. */
export interface FitContext {
  readonly model: unknown;
  readonly optimizer: Optimizer<{ lr: number }>;
  readonly epochs: number;
  readonly stepsPerEpoch: number;
  readonly history: History;
  /** Set to true to end training after the current epoch. */
  stopTraining: boolean;
}

/** Every method is optional and may return a Promise, which fit awaits. */
export interface Callback {
  onTrainBegin?(ctx: FitContext): void | Promise<void>;
  onEpochBegin?(epoch: number, ctx: FitContext): void | Promise<void>;
  /** After each optimizer step: `step` counts from 0 within the epoch; logs hold the batch's loss and size. */
  onBatchEnd?(step: number, logs: { loss: number; size: number }, ctx: FitContext): void | Promise<void>;
  /** After training and validation of an epoch; logs are what the history records. */
  onEpochEnd?(epoch: number, logs: EpochLogs, ctx: FitContext): void | Promise<void>;
  onTrainEnd?(history: History, ctx: FitContext): void | Promise<void>;
}

export interface EarlyStoppingOptions {
  /** The logged quantity to watch (default 'valLoss'). */
  monitor?: string;
  /** 'min', 'max', or 'auto' (default: 'max' for names with acc/auc/f1/precision/recall, else 'min'). */
  mode?: 'min' | 'max' | 'auto';
  /** Training stops after this many epochs in a row without improvement (default 0: the first one; as Keras). */
  patience?: number;
  /** The smallest change that counts as an improvement (default 0). */
  minDelta?: number;
  /** At the end of training, load the weights of the best epoch back into the model (default false). */
  restoreBest?: boolean;
}

/**
 * Stops training when a monitored quantity stops improving for `patience`
 * epochs, as Keras's EarlyStopping; optionally restores the best weights
 * (the model must then be an nn.Module).
 */
export class EarlyStopping implements Callback {
  readonly monitor: string;
  readonly mode: 'min' | 'max';
  readonly patience: number;
  readonly minDelta: number;
  readonly restoreBest: boolean;
  /** The best value seen, and the epoch it was seen at. */
  best = NaN;
  bestEpoch = -1;
  private wait = 0;
  private snapshot: Record<string, Tensor> | null = null;

  constructor(options: EarlyStoppingOptions = {}) {
    const op = 'EarlyStopping';
    checkOptions(options, op, '{ patience: 2, restoreBest: true }', ['monitor', 'mode', 'patience', 'minDelta', 'restoreBest']);
    this.monitor = options.monitor ?? 'valLoss';
    if (typeof this.monitor !== 'string')
      throw new TypeError(`${op}: monitor must be the name of a logged quantity, got ${describe(this.monitor)}`);
    const mode = checkChoice(options.mode ?? 'auto', op, 'mode', ['min', 'max', 'auto']);
    this.mode = mode === 'auto' ? (/acc|auc|f1|precision|recall/i.test(this.monitor) ? 'max' : 'min') : mode;
    this.patience = checkNumber(options.patience ?? 0, op, 'patience', 'a non-negative integer', (v) => Number.isInteger(v) && v >= 0);
    // Math.abs would turn '0.1' into 0.1.
    this.minDelta = Math.abs(checkNumber(options.minDelta ?? 0, op, 'minDelta', 'a finite number', Number.isFinite));
    this.restoreBest = checkBoolean(options.restoreBest, op, 'restoreBest', false);
  }

  onTrainBegin(ctx: FitContext): void {
    if (this.restoreBest && !(ctx.model instanceof Module))
      throw new TypeError('EarlyStopping: restoreBest needs the model to be an nn.Module');
    this.best = NaN;
    this.bestEpoch = -1;
    this.wait = 0;
    this.dropSnapshot();
  }

  private improved(value: number): boolean {
    if (Number.isNaN(this.best)) return true;
    return this.mode === 'min' ? value < this.best - this.minDelta : value > this.best + this.minDelta;
  }

  onEpochEnd(epoch: number, logs: EpochLogs, ctx: FitContext): void {
    const value = logs[this.monitor];
    if (typeof value !== 'number') {
      const available = Object.keys(logs).filter((k) => typeof logs[k] === 'number' && k !== 'epoch');
      throw new RangeError(
        `EarlyStopping: '${this.monitor}' is not logged (logged: ${available.join(', ')})` +
          (this.monitor.startsWith('val') ? '; pass validation data to fit, or monitor a training quantity' : ''),
      );
    }
    if (Number.isNaN(value)) return;
    if (this.improved(value)) {
      this.best = value;
      this.bestEpoch = epoch;
      this.wait = 0;
      if (this.restoreBest) this.takeSnapshot(ctx.model as Module);
      return;
    }
    this.wait++;
    if (this.wait >= this.patience) {
      ctx.stopTraining = true;
      ctx.history.stoppedEpoch = epoch;
    }
  }

  onTrainEnd(history: History, ctx: FitContext): void {
    if (this.snapshot && this.bestEpoch !== history.epochs.length - 1) (ctx.model as Module).loadStateDict(this.snapshot);
    this.dropSnapshot();
  }

  private takeSnapshot(model: Module): void {
    this.dropSnapshot();
    const copy: Record<string, Tensor> = {};
    noGrad(() => {
      for (const [name, t] of Object.entries(model.stateDict())) {
        const c = t.clone();
        untrack(c);
        copy[name] = c;
      }
    });
    this.snapshot = copy;
  }

  private dropSnapshot(): void {
    if (this.snapshot) for (const t of Object.values(this.snapshot)) t.dispose();
    this.snapshot = null;
  }
}
