import { describe, expect, it } from 'vitest';
import { tg } from './helpers.js';

const { DataLoader, TensorDataset } = tg.data;

// x[i] = [i, 10 i], y[i] = i: every batch says which examples it holds.
function numbered(n: number) {
  const x = new Float32Array(2 * n);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    x[2 * i] = i;
    x[2 * i + 1] = 10 * i;
    y[i] = i;
  }
  return { x, y };
}

function epoch(loader: InstanceType<typeof DataLoader>): number[][] {
  const out: number[][] = [];
  for (const batch of loader) {
    const [xb, yb] = batch as [tg.Tensor, tg.Tensor];
    const ids = Array.from(yb.data());
    const xs = xb.toArray() as number[][];
    xs.forEach((row, k) => expect(row).toEqual([ids[k], 10 * ids[k]!]));
    out.push(ids);
    for (const t of batch) t.dispose();
  }
  return out;
}

describe('TensorDataset', () => {
  it('holds tensors and typed arrays with a shape, and returns examples', () => {
    const { x, y } = numbered(5);
    const ds = new TensorDataset({ data: x, shape: [5, 2] }, y);
    expect(ds.length).toBe(5);
    const [xi, yi] = ds.get(3) as [tg.Tensor, tg.Tensor];
    expect(xi.toArray()).toEqual([3, 30]);
    expect(yi.shape).toEqual([]);
    expect(yi.item()).toBe(3);
    expect(yi.dtype).toBe('int32');
    const [xb, yb] = ds.getBatch(Int32Array.from([4, 0, 4])) as [tg.Tensor, tg.Tensor];
    expect(xb.toArray()).toEqual([[4, 40], [0, 0], [4, 40]]);
    expect(yb.toArray()).toEqual([4, 0, 4]);
    ds.dispose();
  });

  it('getBatch returns copies, even of consecutive examples or the whole dataset', () => {
    const x = tg.tensor([[0, 1], [2, 3], [4, 5]]);
    const ds = new TensorDataset(x);
    for (const indices of [[1, 2], [0, 1, 2], [2], [2, 0]]) {
      const [b] = ds.getBatch(Int32Array.from(indices)) as [tg.Tensor];
      expect(b.isContiguous()).toBe(true);
      tg.noGrad(() => b.fill(-1));
      b.dispose();
    }
    expect(x.toArray()).toEqual([[0, 1], [2, 3], [4, 5]]);
  });

  it('rejects mismatched lengths, bad sources and out-of-range indices', () => {
    expect(() => new TensorDataset()).toThrow(TypeError);
    expect(() => new TensorDataset(tg.zeros([3, 2]), tg.zeros([4]))).toThrow(/field 0 has 3, field 1 has 4/);
    expect(() => new TensorDataset([1, 2, 3] as never)).toThrow(/field 0 must be a Tensor.*got an array/);
    expect(() => new TensorDataset(tg.tensor(1))).toThrow(/0-d tensor/);
    const ds = new TensorDataset(tg.zeros([3, 2]));
    expect(() => ds.get(3)).toThrow(RangeError);
    expect(() => ds.getBatch(Int32Array.from([0, 5]))).toThrow(/index 5 is out of range for 3 examples/);
    expect(() => ds.getBatch(new Int32Array(0))).toThrow(RangeError);
  });
});

describe('DataLoader', () => {
  it('visits every example once per epoch in order, with a smaller last batch', () => {
    const { x, y } = numbered(10);
    const loader = new DataLoader(new TensorDataset({ data: x, shape: [10, 2] }, y), { batchSize: 4 });
    expect(loader.length).toBe(3);
    expect(loader.numExamples).toBe(10);
    expect(epoch(loader)).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    expect(epoch(loader)).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
  });

  it('hands out batches that own their memory: changing one in place changes neither the dataset nor later epochs', () => {
    const { x, y } = numbered(6);
    const xs = tg.tensor(x, { shape: [6, 2] });
    // In order, all at once, and shuffled one by one (each batch a run of consecutive examples).
    for (const options of [{ batchSize: 4 }, { batchSize: 6 }, { batchSize: 10 }, { batchSize: 1, shuffle: true, seed: 1 }]) {
      const loader = new DataLoader([xs, y], options);
      for (let e = 0; e < 2; e++) {
        expect(epoch(loader).flat().sort()).toEqual([0, 1, 2, 3, 4, 5]); // checks every row against its label
        for (const [xb, yb] of loader) {
          xb!.mulInPlace(10);
          yb!.addInPlace(100);
          xb!.dispose();
          yb!.dispose();
        }
      }
      expect(Array.from(xs.data())).toEqual(Array.from(x));
      loader.dispose();
    }
  });

  it('drops the last partial batch when asked', () => {
    const { x, y } = numbered(10);
    const loader = new DataLoader([{ data: x, shape: [10, 2] }, y], { batchSize: 4, dropLast: true, shuffle: true, seed: 3 });
    expect(loader.length).toBe(2);
    expect(loader.numExamples).toBe(8);
    const batches = epoch(loader);
    expect(batches.map((b) => b.length)).toEqual([4, 4]);
    expect(new Set(batches.flat()).size).toBe(8);
    // Divisible sizes lose nothing.
    expect(new DataLoader(tg.zeros([8]), { batchSize: 4, dropLast: true }).length).toBe(2);
  });

  it('shuffles into a permutation that a seed reproduces and that changes each epoch', () => {
    const { x, y } = numbered(50);
    const make = (seed: number) => new DataLoader([{ data: x, shape: [50, 2] }, y], { batchSize: 8, shuffle: true, seed });
    const a = make(42);
    const b = make(42);
    const a1 = epoch(a);
    const a2 = epoch(a);
    expect(epoch(b)).toEqual(a1);
    expect(epoch(b)).toEqual(a2);
    expect(a1.flat().sort((p, q) => p - q)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(a1.flat()).not.toEqual(a2.flat());
    expect(epoch(make(43)).flat()).not.toEqual(a1.flat());
    expect(a1.flat()).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('takes its default seed from manualSeed', () => {
    const { y } = numbered(30);
    tg.manualSeed(5);
    const a = epoch2(new DataLoader(y, { batchSize: 30, shuffle: true }));
    tg.manualSeed(5);
    const b = epoch2(new DataLoader(y, { batchSize: 30, shuffle: true }));
    expect(a).toEqual(b);
    function epoch2(l: InstanceType<typeof DataLoader>) {
      const [t] = [...l][0] as [tg.Tensor];
      return Array.from(t.data());
    }
  });

  it('every position is equally likely under shuffling', () => {
    // 4 examples, 4000 epochs: each example lands first about 1000 times.
    const loader = new DataLoader(tg.arange(4), { batchSize: 4, shuffle: true, seed: 7 });
    const firstCounts = [0, 0, 0, 0];
    for (let e = 0; e < 4000; e++) firstCounts[loader.nextEpochIndices()[0]![0]!]++;
    for (const c of firstCounts) expect(Math.abs(c - 1000)).toBeLessThan(150);
  });

  it('accepts a custom Dataset', () => {
    const ds = {
      length: 5,
      getBatch: (idx: Int32Array) => [tg.tensor(Float32Array.from(idx, (i) => i * i))],
    };
    const out = [...new DataLoader(ds, { batchSize: 2 })].map(([t]) => Array.from(t!.data()));
    expect(out).toEqual([[0, 1], [4, 9], [16]]);
  });

  it('does not leak: batches made inside tidy are freed', () => {
    const data = tg.randn([64, 3]);
    const loader = new DataLoader(data, { batchSize: 10, shuffle: true, seed: 1 });
    const before = tg.memory().liveTensors;
    for (let e = 0; e < 3; e++) tg.tidy(() => void [...loader]);
    expect(tg.memory().liveTensors).toBe(before);
  });

  it('rejects bad options and data', () => {
    expect(() => new DataLoader(tg.zeros([4]), { batchSize: 0 })).toThrow(/batchSize must be a positive integer, got 0/);
    expect(() => new DataLoader(tg.zeros([4]), { batchSize: 1.5 })).toThrow(RangeError);
    expect(() => new DataLoader(tg.zeros([4]), { seed: 0.5 })).toThrow(/seed must be an integer/);
    expect(() => new DataLoader(null as never)).toThrow(/data must be a Dataset.*got null/);
    expect(() => new DataLoader('abc' as never)).toThrow(TypeError);
    expect(() => new DataLoader(tg.zeros([4]), null as never)).toThrow(/options must be an object/);
  });

  it('refuses options it would misread, before it wraps the data in a dataset', () => {
    const x = tg.zeros([4]);
    const before = tg.memory().liveTensors;
    // shuffle: 'false' was true by truthiness; batch_size was ignored, giving batches of 1.
    expect(() => new DataLoader(x, { shuffle: 'false' as never })).toThrow(new TypeError("DataLoader: shuffle must be a boolean, got 'false'"));
    expect(() => new DataLoader(x, { dropLast: 1 as never })).toThrow(new TypeError('DataLoader: dropLast must be a boolean, got 1'));
    expect(() => new DataLoader(x, { batch_size: 2 } as never)).toThrow(
      new TypeError("DataLoader: unknown option 'batch_size'; the options are batchSize, shuffle, dropLast, seed"),
    );
    expect(() => new DataLoader(x, { batchSize: '2' as never })).toThrow(new TypeError("DataLoader: batchSize must be a positive integer, got '2'"));
    expect(() => new DataLoader(x, { seed: '1' as never })).toThrow(new TypeError("DataLoader: seed must be an integer, got '1'"));
    expect(() => new DataLoader(x, 2 as never)).toThrow(/^DataLoader: options must be an object like .*, got 2$/);
    expect(tg.memory().liveTensors).toBe(before);
  });
});
