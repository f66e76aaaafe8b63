// tg.train: training loops (fit, evaluate), off-thread steps (Trainer),
// callbacks and metrics.
export { fit, evaluate } from './fit.js';
export type { FitOptions, EvaluateOptions } from './fit.js';
export type { Model, LossFn, Batches } from './step.js';
export { Trainer } from './trainer.js';
export type { TrainerOptions } from './trainer.js';
export { EarlyStopping } from './callbacks.js';
export type { Callback, FitContext, EarlyStoppingOptions } from './callbacks.js';
export { History } from './history.js';
export type { EpochLogs } from './history.js';
export { accuracy } from './metrics.js';
export type { Metric, MetricSpec } from './metrics.js';
export type { ProgressOutput } from './progress.js';
