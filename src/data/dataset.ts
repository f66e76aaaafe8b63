// Datasets: indexed collections of examples that hand out whole batches at
// once (one native gather per field), so a training loop never touches
// single examples from JS.
import { tensor } from '../creation.js';
import { TapegradError, describe } from '../errors.js';
import { untrack } from '../scope.js';
import { Tensor, type TypedArray, isTensor } from '../tensor.js';

/**
 * What a DataLoader draws from: `length` examples, each made of one or more
 * fields (inputs, targets, ...). `getBatch` returns one tensor per field
 * with the examples at `indices` stacked along a new first dimension: new
 * tensors sharing no memory with the dataset, which the caller owns (and
 * disposes) and may change in place.
 */
export interface Dataset {
  readonly length: number;
  getBatch(indices: Int32Array): Tensor[];
}

/** A typed array with the shape it stands for (the first dimension counts examples). */
export interface ShapedArray {
  data: TypedArray;
  shape: readonly number[];
}

/** A field of a TensorDataset: a tensor, a typed array (one value per example), or a typed array with a shape. */
export type DatasetSource = Tensor | TypedArray | ShapedArray;

function isTypedArray(v: unknown): v is TypedArray {
  return v instanceof Float32Array || v instanceof Float64Array || v instanceof Int32Array;
}

/**
 * Examples stored as tensors whose first dimension indexes the example, as
 * torch.utils.data.TensorDataset: `new TensorDataset(images, labels)`.
 * Typed arrays are copied into tensors the dataset owns (freed by
 * dispose()); tensors passed in stay the caller's.
 */
export class TensorDataset implements Dataset {
  readonly tensors: readonly Tensor[];
  readonly length: number;
  private readonly owned: Tensor[] = [];

  constructor(...sources: DatasetSource[]) {
    if (sources.length === 0) throw new TypeError('TensorDataset: expected at least one tensor or typed array');
    this.tensors = sources.map((s, i) => this.toTensor(s, i));
    const first = this.tensors[0] as Tensor;
    this.length = first.shape[0] as number;
    this.tensors.forEach((t, i) => {
      if (t.shape[0] !== this.length)
        throw new RangeError(
          `TensorDataset: every field must have the same number of examples (first dimension); field 0 has ${this.length}, field ${i} has ${t.shape[0]}`,
        );
    });
  }

  private toTensor(s: DatasetSource, i: number): Tensor {
    if (isTensor(s)) {
      if (s.isDisposed) throw new TapegradError(`TensorDataset: field ${i} is a disposed tensor`);
      if (s.ndim === 0) throw new RangeError(`TensorDataset: field ${i} must have at least one dimension (the examples), got a 0-d tensor`);
      return s;
    }
    let t: Tensor;
    if (isTypedArray(s)) t = tensor(s);
    else if (s !== null && typeof s === 'object' && isTypedArray((s as ShapedArray).data) && Array.isArray((s as ShapedArray).shape)) {
      const { data, shape } = s as ShapedArray;
      if (shape.length === 0) throw new RangeError(`TensorDataset: the shape of field ${i} must have at least one dimension (the examples)`);
      t = tensor(data, { shape });
    } else {
      throw new TypeError(
        `TensorDataset: field ${i} must be a Tensor, a Float32Array/Float64Array/Int32Array, or { data, shape }, got ${describe(s)}`,
      );
    }
    untrack(t);
    this.owned.push(t);
    return t;
  }

  /**
   * Example `i`: one tensor per field, without the example dimension. They
   * are views of the dataset's tensors, as indexing a PyTorch TensorDataset
   * gives: an in-place change writes into the dataset (getBatch copies).
   */
  get(i: number): Tensor[] {
    if (!Number.isInteger(i) || i < 0 || i >= this.length)
      throw new RangeError(`TensorDataset.get: index must be an integer in [0, ${this.length}), got ${i}`);
    this.checkLive('get');
    return this.tensors.map((t) => {
      const view = t.narrow(0, i, 1);
      const example = view.squeeze(0);
      view.dispose();
      return example;
    });
  }

  getBatch(indices: Int32Array): Tensor[] {
    const n = indices.length;
    if (n === 0) throw new RangeError('TensorDataset.getBatch: indices must not be empty');
    this.checkLive('getBatch');
    const start = indices[0] as number;
    let consecutive = true;
    for (let k = 0; k < n; k++) {
      const i = indices[k] as number;
      if (i < 0 || i >= this.length)
        throw new RangeError(`TensorDataset.getBatch: index ${i} is out of range for ${this.length} examples`);
      if (i !== start + k) consecutive = false;
    }
    // A batch owns its memory, as PyTorch's collate makes new tensors: an
    // in-place change to it (normalising it) must not reach the dataset. A
    // run of consecutive examples (the whole dataset too) is one contiguous
    // copy of a view per field; anything else one gather per field.
    if (consecutive)
      return this.tensors.map((t) => {
        const view = t.narrow(0, start, n);
        try {
          return view.clone();
        } finally {
          view.dispose();
        }
      });
    const index = tensor(indices);
    try {
      return this.tensors.map((t) => t.indexSelect(0, index));
    } finally {
      index.dispose();
    }
  }

  // A field's tensor disposed since the dataset was made (by its owner, or
  // by this dataset's dispose()).
  private checkLive(method: string): void {
    this.tensors.forEach((t, i) => {
      if (t.isDisposed) throw new TapegradError(`TensorDataset.${method}: field ${i} is a disposed tensor`);
    });
  }

  /** Frees the tensors this dataset made from typed arrays. */
  dispose(): void {
    for (const t of this.owned) t.dispose();
    this.owned.length = 0;
  }
}
