// DataLoader: batches of a dataset in order or in a seeded random order.
import { randint } from '../creation.js';
import { checkBoolean, checkNumber, checkOptions, describe } from '../errors.js';
import { Tensor, type TypedArray, isTensor } from '../tensor.js';
import { TensorDataset, type Dataset, type DatasetSource } from './dataset.js';
import { ShuffleRng } from './random.js';

export interface DataLoaderOptions {
  /** Examples per batch (default 1, as PyTorch). */
  batchSize?: number;
  /** Visit the examples in a new random order every epoch (default false). */
  shuffle?: boolean;
  /**
   * Seed of the shuffle: loaders with the same seed produce the same sequence
   * of epochs. Default: drawn from tapegrad's generator, so manualSeed()
   * makes it reproducible too.
   */
  seed?: number;
  /** Leave out the last batch when it is smaller than batchSize (default false). */
  dropLast?: boolean;
}

function isDataset(v: unknown): v is Dataset {
  return (
    v !== null &&
    typeof v === 'object' &&
    typeof (v as Dataset).length === 'number' &&
    typeof (v as Dataset).getBatch === 'function'
  );
}

function isTypedArray(v: unknown): v is TypedArray {
  return v instanceof Float32Array || v instanceof Float64Array || v instanceof Int32Array;
}

/**
 * Iterates over a dataset in batches: each iteration of the loader is one
 * epoch, each item a list of tensors (one per field of the dataset, e.g.
 * `[inputs, targets]`) whose first dimension is the batch. The batches are
 * copies that belong to the caller (changing one in place leaves the
 * dataset as it was): dispose them, or make them inside tidy().
 *
 *     const loader = new DataLoader(new TensorDataset(x, y), { batchSize: 64, shuffle: true, seed: 1 });
 *     for (const [xb, yb] of loader) { ... }
 *
 * A Tensor, a typed array, or an array of them is wrapped in a TensorDataset.
 */
export class DataLoader implements Iterable<Tensor[]> {
  readonly dataset: Dataset;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly seed: number;
  private readonly rng: ShuffleRng;
  private readonly ownsDataset: boolean;

  constructor(data: Dataset | DatasetSource | DatasetSource[], options: DataLoaderOptions = {}) {
    const op = 'DataLoader';
    // All checked before a TensorDataset is made from `data`.
    checkOptions(options, op, '{ batchSize: 64, shuffle: true }', ['batchSize', 'shuffle', 'dropLast', 'seed']);
    const batchSize = checkNumber(options.batchSize ?? 1, op, 'batchSize', 'a positive integer', (v) => Number.isInteger(v) && v > 0);
    // 'false' or 0 would be taken as true or false by truthiness.
    const shuffle = checkBoolean(options.shuffle, op, 'shuffle', false);
    const dropLast = checkBoolean(options.dropLast, op, 'dropLast', false);
    const seed = options.seed === undefined ? undefined : checkNumber(options.seed, op, 'seed', 'an integer', Number.isInteger);
    if (isDataset(data)) {
      this.dataset = data;
      this.ownsDataset = false;
    } else if (isTensor(data) || isTypedArray(data)) {
      this.dataset = new TensorDataset(data);
      this.ownsDataset = true;
    } else if (Array.isArray(data)) {
      this.dataset = new TensorDataset(...data);
      this.ownsDataset = true;
    } else {
      throw new TypeError(
        `DataLoader: data must be a Dataset, a Tensor, a typed array, or an array of them, got ${describe(data)}`,
      );
    }
    if (!Number.isInteger(this.dataset.length) || this.dataset.length < 0)
      throw new RangeError(`DataLoader: the dataset's length must be a non-negative integer, got ${this.dataset.length}`);
    this.batchSize = batchSize;
    this.shuffle = shuffle;
    this.dropLast = dropLast;
    this.seed = seed ?? drawSeed();
    this.rng = new ShuffleRng(this.seed);
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Examples per epoch (those in dropped partial batches are not counted). */
  get numExamples(): number {
    return this.dropLast ? this.length * this.batchSize : this.dataset.length;
  }

  /**
   * The example indices of each batch of the next epoch (advances the
   * shuffle as iterating does).
   */
  nextEpochIndices(): Int32Array[] {
    const n = this.dataset.length;
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    if (this.shuffle) this.rng.shuffle(order);
    const batches: Int32Array[] = [];
    for (let b = 0; b < this.length; b++)
      batches.push(order.subarray(b * this.batchSize, Math.min(n, (b + 1) * this.batchSize)));
    return batches;
  }

  *[Symbol.iterator](): Iterator<Tensor[]> {
    for (const indices of this.nextEpochIndices()) yield this.dataset.getBatch(indices);
  }

  /** Frees the dataset when the loader made it from tensors or typed arrays. */
  dispose(): void {
    if (this.ownsDataset && this.dataset instanceof TensorDataset) this.dataset.dispose();
  }
}

function drawSeed(): number {
  const t = randint(0, 0x7fffffff, [1]);
  try {
    return t.item();
  } finally {
    t.dispose();
  }
}
