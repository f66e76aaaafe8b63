// The record fit returns: one entry of logs per epoch.

/** What fit logs at the end of each epoch. Validation values are present when fit was given validation data. */
export interface EpochLogs {
  /** 0-based. */
  epoch: number;
  /** Mean training loss over the epoch's examples. */
  loss: number;
  valLoss?: number;
  /** Metrics by name: 'accuracy', 'valAccuracy', custom ones. */
  [metric: string]: number | undefined;
  /** The first parameter group's learning rate during the epoch. */
  lr: number;
  /** Wall time of the training part of the epoch. */
  seconds: number;
  examplesPerSecond: number;
}

export class History {
  readonly epochs: EpochLogs[] = [];
  /** The epoch after which early stopping ended training, or null. */
  stoppedEpoch: number | null = null;

  /** One value per epoch of a logged quantity ('loss', 'valAccuracy', ...); NaN where it was absent. */
  get(name: string): number[] {
    return this.epochs.map((e) => (typeof e[name] === 'number' ? (e[name] as number) : NaN));
  }
  get loss(): number[] {
    return this.get('loss');
  }
  get valLoss(): number[] {
    return this.get('valLoss');
  }
  /** The logs of the last epoch (undefined before the first). */
  get last(): EpochLogs | undefined {
    return this.epochs[this.epochs.length - 1];
  }
}
