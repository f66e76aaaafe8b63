// What fit prints: a progress bar redrawn in place on a terminal, one line
// per epoch anywhere else (log files, CI), nothing when quiet.

/** Where fit writes progress: process.stdout by default. */
export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface StepProgress {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  loss: number;
  metrics: Record<string, number>;
  examplesPerSecond: number;
  /** Seconds left in this epoch. */
  eta: number;
}

function fixed(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : v.toFixed(4);
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 10) return `${s.toFixed(1)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function rate(r: number): string {
  return `${Math.round(r).toLocaleString('en-US')} ex/s`;
}

function values(logs: Record<string, number | undefined>, skip: ReadonlySet<string>): string {
  return Object.entries(logs)
    .filter(([k, v]) => !skip.has(k) && typeof v === 'number')
    .map(([k, v]) => `${k} ${fixed(v as number)}`)
    .join('  ');
}

const notShown = new Set(['epoch', 'seconds', 'examplesPerSecond', 'lr']);

/** Draws progress for fit at the chosen verbosity. */
export class Progress {
  private lastDraw = 0;
  private readonly tty: boolean;

  constructor(
    private readonly out: ProgressOutput,
    private readonly verbose: 0 | 1 | 2,
  ) {
    this.tty = Boolean(out.isTTY);
  }

  /** Redraws the bar, at most every 100 ms (the first and last steps always). */
  step(p: StepProgress): void {
    if (this.verbose !== 1 || !this.tty) return;
    const now = Date.now();
    if (p.step !== 1 && p.step !== p.steps && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const width = 24;
    const done = p.steps > 0 ? Math.round((width * p.step) / p.steps) : width;
    const bar = `${'='.repeat(Math.max(0, done - 1))}${done > 0 ? (p.step === p.steps ? '=' : '>') : ''}${'.'.repeat(width - done)}`;
    const digits = String(p.steps).length;
    const line =
      `Epoch ${String(p.epoch + 1).padStart(String(p.epochs).length)}/${p.epochs} [${bar}] ` +
      `${String(p.step).padStart(digits)}/${p.steps}  loss ${fixed(p.loss)}` +
      `${Object.keys(p.metrics).length ? '  ' + values(p.metrics, notShown) : ''}` +
      `  ${rate(p.examplesPerSecond)}  ETA ${formatSeconds(p.eta)}`;
    this.out.write(`\r${this.fit(line)}\x1b[K`);
  }

  /** The epoch's summary line (replacing the bar on a terminal). */
  epochEnd(epoch: number, epochs: number, logs: Record<string, number | undefined>): void {
    if (this.verbose === 0) return;
    const line =
      `Epoch ${String(epoch + 1).padStart(String(epochs).length)}/${epochs}  ${values(logs, notShown)}` +
      `  ${formatSeconds(logs.seconds ?? NaN)}  ${rate(logs.examplesPerSecond ?? NaN)}`;
    this.out.write(this.tty && this.verbose === 1 ? `\r${line}\x1b[K\n` : `${line}\n`);
  }

  message(text: string): void {
    if (this.verbose !== 0) this.out.write(`${text}\n`);
  }

  private fit(line: string): string {
    const cols = this.out.columns;
    return cols && line.length >= cols ? line.slice(0, cols - 1) : line;
  }
}
