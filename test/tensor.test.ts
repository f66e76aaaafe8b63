import * as path from 'node:path';
import { inspect } from 'node:util';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { expectClose, tg } from './helpers.js';

describe('tensor() of rows held in typed arrays', () => {
  it('reads typed arrays inside nested data, as torch.tensor reads a list of NumPy arrays', () => {
    // torch.tensor([np.float32([1, 2]), np.float32([3, 4])]) -> [[1., 2.], [3., 4.]] (float32).
    // (Before: "tensor: data must hold numbers, got a Float32Array at [0]".)
    const t = tg.tensor([new Float32Array([1, 2]), new Float32Array([3, 4])]);
    expect([t.shape, t.dtype, t.toArray()]).toEqual([[2, 2], 'float32', [[1, 2], [3, 4]]]);
    const d = tg.tensor([[new Float64Array([0.1]), new Float64Array([0.2])]], { dtype: 'float64' });
    expect([d.shape, d.toArray()]).toEqual([[1, 2, 1], [[[0.1], [0.2]]]]);
    expect(tg.tensor([new Int32Array([1, 2]), [3, 4]], { dtype: 'int32' }).toArray()).toEqual([[1, 2], [3, 4]]);
    expect(() => tg.tensor([new Float32Array([1, 2]), new Float32Array([3])])).toThrow(
      new RangeError('tensor: data is not rectangular: expected an array of 2 elements at [1], got 1 elements'),
    );
    expect(() => tg.tensor([1, new Float32Array([2])] as never)).toThrow(new TypeError('tensor: data must hold numbers, got a Float32Array at [1]'));
  });
});

describe('tensor()', () => {
  it('makes 0-d, nested and typed-array tensors', () => {
    const s = tg.tensor(3.5);
    expect(s.shape).toEqual([]);
    expect(s.ndim).toBe(0);
    expect(s.item()).toBe(3.5);
    const m = tg.tensor([[1, 2, 3], [4, 5, 6]]);
    expect(m.shape).toEqual([2, 3]);
    expect(m.dtype).toBe('float32');
    expect(m.size).toBe(6);
    expect(m.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    const f64 = tg.tensor(new Float64Array([1, 2, 3, 4]), { shape: [2, 2] });
    expect(f64.dtype).toBe('float64');
    expect(f64.toArray()).toEqual([[1, 2], [3, 4]]);
    // Too many elements for nested arrays: a RangeError, not V8 aborting the process (2^28 did).
    expect(() => tg.ones([1]).expand(2 ** 28).toArray()).toThrow(
      new RangeError('toArray: 268435456 elements are too many for nested JS arrays (at most 33554432); read data() as a typed array instead'));
    expect(tg.ones([1]).expand(2 ** 25).toArray()).toHaveLength(2 ** 25);
    const i32 = tg.tensor(new Int32Array([7, -8]));
    expect(i32.dtype).toBe('int32');
    expect(Array.from(i32.data())).toEqual([7, -8]);
    expect(i32.data()).toBeInstanceOf(Int32Array);
    // A typed array over a SharedArrayBuffer (one a worker fills), whole or a window of it.
    const shared = new Float32Array(new SharedArrayBuffer(16));
    shared.set([1, 2, 3, 4]);
    expect(tg.tensor(shared).toArray()).toEqual([1, 2, 3, 4]);
    expect(tg.tensor(shared.subarray(1, 3)).toArray()).toEqual([2, 3]);
  });

  it('follows the dtype option over the data', () => {
    const t = tg.tensor(new Float32Array([1.5, 2.5]), { dtype: 'float64' });
    expect(t.dtype).toBe('float64');
    expect(t.data()).toBeInstanceOf(Float64Array);
    expect(tg.tensor([[1, 2]], { dtype: 'int32' }).data()).toBeInstanceOf(Int32Array);
  });

  it('rounds float32 data like Math.fround', () => {
    expect(tg.tensor([0.1]).data()[0]).toBe(Math.fround(0.1));
    expect(tg.tensor([0.1], { dtype: 'float64' }).data()[0]).toBe(0.1);
  });

  it('copies the data (later writes to the source do not leak in)', () => {
    const src = new Float32Array([1, 2]);
    const t = tg.tensor(src);
    src[0] = 100;
    expect(t.data()[0]).toBe(1);
    const out = t.data();
    out[1] = 50;
    expect(t.data()[1]).toBe(2);
  });

  it('handles empty tensors', () => {
    const e = tg.tensor([]);
    expect(e.shape).toEqual([0]);
    expect(e.size).toBe(0);
    expect(tg.zeros([2, 0]).toArray()).toEqual([[], []]);
  });
});

describe('factories', () => {
  it('zeros, ones, full, eye', () => {
    expect(tg.zeros([2, 2]).toArray()).toEqual([[0, 0], [0, 0]]);
    expect(tg.ones([3], { dtype: 'int32' }).toArray()).toEqual([1, 1, 1]);
    expect(tg.full([2], 7.25, { dtype: 'float64' }).toArray()).toEqual([7.25, 7.25]);
    expect(tg.eye(2, 3).toArray()).toEqual([[1, 0, 0], [0, 1, 0]]);
    expect(tg.eye(2).toArray()).toEqual([[1, 0], [0, 1]]);
    const like = tg.onesLike(tg.zeros([2], { dtype: 'float64' }));
    expect(like.dtype).toBe('float64');
  });

  it('arange picks int32 for integer arguments and float32 otherwise', () => {
    const a = tg.arange(5);
    expect(a.dtype).toBe('int32');
    expect(a.toArray()).toEqual([0, 1, 2, 3, 4]);
    expect(tg.arange(2, 8, 2).toArray()).toEqual([2, 4, 6]);
    expect(tg.arange(0, 1, 0.25).toArray()).toEqual([0, 0.25, 0.5, 0.75]);
    expect(tg.arange(5, 0, -2).toArray()).toEqual([5, 3, 1]);
    expect(tg.arange(3, { dtype: 'float64' }).dtype).toBe('float64');
  });

  it('seeded random numbers repeat for the same seed', () => {
    tg.manualSeed(42);
    const a = tg.rand([1000]).data();
    const n1 = tg.randn([5], { dtype: 'float64' }).data();
    tg.manualSeed(42);
    const b = tg.rand([1000]).data();
    const n2 = tg.randn([5], { dtype: 'float64' }).data();
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(n1)).toEqual(Array.from(n2));
    for (const v of a) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(1);
    }
    const mean = Array.from(a).reduce((s, v) => s + v, 0) / a.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.05);
  });

  it('each worker thread has its own generator: its seed alone decides its numbers', async () => {
    const dist = path.resolve(__dirname, '..', 'dist', 'index.js');
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const tg = require(${JSON.stringify(dist)});
      const draws = [];
      for (let i = 0; i < 200; i++) {
        tg.manualSeed(workerData.seed);
        draws.push(Array.from(tg.rand([64]).data()).join());
      }
      parentPort.postMessage(draws);`;
    const seeds = [5, 6, 7];
    const results = await Promise.all(
      seeds.map(
        (seed) =>
          new Promise<string[]>((resolve, reject) => {
            const w = new Worker(code, { eval: true, workerData: { seed } });
            w.once('message', resolve);
            w.once('error', reject);
          }),
      ),
    );
    seeds.forEach((seed, i) => {
      tg.manualSeed(seed);
      const want = Array.from(tg.rand([64]).data()).join();
      // Every draw, made while the other workers drew too, is this seed's sequence.
      expect(results[i]!.every((d) => d === want), `seed ${seed}`).toBe(true);
    });
  });

  it('randn has mean 0 and variance 1', () => {
    tg.manualSeed(7);
    const v = Array.from(tg.randn([20000], { dtype: 'float64' }).data());
    const mean = v.reduce((s, x) => s + x, 0) / v.length;
    const variance = v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
  });

  it('randint stays in [low, high) and hits every value', () => {
    tg.manualSeed(1);
    const v = Array.from(tg.randint(-2, 3, [2000]).data());
    expect(new Set(v)).toEqual(new Set([-2, -1, 0, 1, 2]));
  });

  it('follows xoshiro256** seeded by splitmix64, so every platform gets the same numbers', () => {
    // An independent BigInt implementation of the documented generator.
    const M = (1n << 64n) - 1n;
    const rotl = (x: bigint, k: bigint) => ((x << k) | (x >> (64n - k))) & M;
    let x = 123n;
    const s: bigint[] = [];
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b97f4a7c15n) & M;
      let z = x;
      z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
      z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
      s.push(z ^ (z >> 31n));
    }
    const next = () => {
      const result = (rotl((s[1]! * 5n) & M, 7n) * 9n) & M;
      const t = (s[1]! << 17n) & M;
      s[2]! ^= s[0]!; s[3]! ^= s[1]!; s[1]! ^= s[2]!; s[0]! ^= s[3]!; s[2]! ^= t;
      s[3] = rotl(s[3]!, 45n);
      return result;
    };
    const expected = Array.from({ length: 4 }, () => Number(next() >> 11n) * 2 ** -53);
    tg.manualSeed(123);
    expect(Array.from(tg.rand([4], { dtype: 'float64' }).data())).toEqual(expected);
  });
});

describe('reading back', () => {
  it('toString looks like PyTorch', () => {
    // str(torch.tensor([[1., 2], [3, 4]])) and str(torch.tensor(2., dtype=torch.float64)), in tapegrad's spelling of dtypes
    expect(tg.tensor([[1, 2], [3, 4]]).toString()).toBe('tensor([[1., 2.],\n        [3., 4.]])');
    expect(tg.tensor([1, 2], { dtype: 'int32' }).toString()).toBe('tensor([1, 2], dtype=int32)');
    expect(tg.tensor(2, { dtype: 'float64' }).toString()).toBe('tensor(2., dtype=float64)');
    const big = tg.arange(2000).toString();
    expect(big).toContain('...');
    expect(big.length).toBeLessThan(100);
    const x = tg.tensor([1], { requiresGrad: true });
    expect(x.toString()).toContain('requiresGrad=true');
    expect(x.mul(2).toString()).toContain('gradFn=<mul>');
  });

  it('a disposed tensor prints as such instead of throwing (logging it must not fail)', () => {
    const t = tg.tensor([1, 2]);
    const view = t.narrow(0, 1, 1);
    t.dispose();
    expect(t.toString()).toBe('tensor(<disposed>)');
    expect(inspect(t)).toBe('tensor(<disposed>)');
    expect(view.toString()).toBe('tensor([2.])');
    view.dispose();
  });

  it('item needs exactly one element', () => {
    expect(tg.tensor([[5]]).item()).toBe(5);
    expect(() => tg.tensor([1, 2]).item()).toThrow(RangeError);
    // Refused before any element is read: an expanded view of 2**40 elements said
    // "contiguous: cannot allocate 4398046511104 bytes (out of memory)" (PyTorch: "a Tensor
    // with 1099511627776 elements cannot be converted to Scalar").
    expect(() => tg.tensor([1]).expand(2 ** 20, 2 ** 20).item()).toThrow(
      new RangeError('item: the tensor must have exactly one element, got shape [1048576, 1048576]'),
    );
  });
});

describe('bad input', () => {
  it('rejects ragged and non-numeric data', () => {
    expect(() => tg.tensor([[1, 2], [3]])).toThrow(/tensor: data is not rectangular.*\[1\]/);
    expect(() => tg.tensor([1, 'a' as unknown as number])).toThrow(TypeError);
    expect(() => tg.tensor('abc' as unknown as number)).toThrow(/tensor: data must be/);
  });

  it('refuses data nested deeper than 64 arrays, and an array that contains itself', () => {
    let deep: unknown = [1];
    for (let i = 1; i < 64; i++) deep = [deep];
    expect(tg.tensor(deep as number[]).shape).toEqual(new Array(64).fill(1));
    for (const d of [65, 100_000]) {
      let v: unknown = [1];
      for (let i = 1; i < d; i++) v = [v];
      expect(() => tg.tensor(v as number[])).toThrow(/tensor: data nests arrays more than 64 deep.*at most 64 dimensions/);
    }
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    expect(() => tg.tensor(cyclic as number[])).toThrow(RangeError);
    const inner: unknown[] = [1, 2];
    inner[1] = inner; // rectangular by its first elements, but holds itself further on
    expect(() => tg.tensor([inner, inner] as unknown as number[])).toThrow(/tensor: data must hold numbers, got an array at \[0\]\[1\]/);
  });

  it('refuses data with more elements than can be allocated, naming the shape', () => {
    // 2^64 elements: beyond any typed array, whatever the machine's memory.
    const outer = new Array(2 ** 32 - 1);
    outer[0] = new Array(2 ** 32 - 1);
    expect(() => tg.tensor(outer as number[])).toThrow(
      /tensor: data of shape \[4294967295, 4294967295\] has \d+ elements, more than can be allocated/,
    );
  });

  it('rejects data that does not match the shape', () => {
    expect(() => tg.tensor(new Float32Array(5), { shape: [2, 3] })).toThrow(
      /tensor: data has 5 elements but shape \[2, 3\] needs 6/,
    );
    expect(() => tg.tensor(new Float32Array(5), { shape: [2, 3] })).toThrow(RangeError);
  });

  it('reads the shape before the data: a shape getter that shrinks or detaches the buffer is caught', () => {
    // Reading the data's memory after the getter ran read freed memory (a crash).
    const buffer = new ArrayBuffer(64, { maxByteLength: 64 });
    const data = new Float32Array(buffer).fill(1);
    const shape: number[] = [];
    Object.defineProperty(shape, 0, { get: () => { buffer.resize(0); return 16; } });
    shape.length = 1;
    expect(() => tg.tensor(data, { shape })).toThrow(/tensor: data has 0 elements but shape \[16\] needs 16/);
    const detached = new Float32Array(1 << 20).fill(2);
    const shape2: number[] = [];
    Object.defineProperty(shape2, 0, { get: () => { structuredClone(detached.buffer, { transfer: [detached.buffer] }); return 1 << 20; } });
    shape2.length = 1;
    expect(() => tg.tensor(detached, { shape: shape2 })).toThrow(/tensor: data has 0 elements/);
  });

  it('rejects bad dims', () => {
    expect(() => tg.zeros([2, -1])).toThrow(/zeros: shape must hold non-negative integers, got -1 at index 1/);
    expect(() => tg.zeros([1.5])).toThrow(RangeError);
    expect(() => tg.zeros([NaN])).toThrow(/got NaN at index 0/);
    expect(() => tg.ones('3' as unknown as number[])).toThrow(TypeError);
  });

  it('rejects unknown dtypes', () => {
    expect(() => tg.zeros([2], { dtype: 'float16' as 'float32' })).toThrow(
      /zeros: dtype must be 'float32', 'float64' or 'int32', got 'float16'/,
    );
    expect(() => tg.zeros([2], { dtype: 'float16' as 'float32' })).toThrow(TypeError);
  });

  it('truncates float data toward zero into int32, as torch.tensor(..., dtype=torch.int32)', () => {
    // torch.tensor([1.7, -1.7, 2.5, -0.5, 2147483647.0, -2147483648.0], dtype=torch.int32)
    // -> [1, -1, 2, 0, 2147483647, -2147483648]; torch.tensor([[0.9, -0.9]], dtype=torch.int32) -> [[0, 0]].
    const t = tg.tensor([1.7, -1.7, 2.5, -0.5, 2147483647, -2147483648], { dtype: 'int32' });
    expect([t.dtype, t.toArray()]).toEqual(['int32', [1, -1, 2, 0, 2147483647, -2147483648]]);
    expect(tg.tensor([[0.9, -0.9]], { dtype: 'int32' }).toArray()).toEqual([[0, 0]]);
    expect(tg.tensor(-3.99, { dtype: 'int32' }).item()).toBe(-3);
    // Typed arrays too (torch.tensor(np.array([1.7, -1.7]), dtype=torch.int32) -> [1, -1]).
    expect(tg.tensor(new Float64Array([1.7, -1.7]), { dtype: 'int32' }).toArray()).toEqual([1, -1]);
    expect(tg.tensor(new Float32Array([1.7, -1.7, 5]), { dtype: 'int32', shape: [3, 1] }).toArray()).toEqual([[1], [-1], [5]]);
    // Values that truncate onto int32's ends fit, as in to('int32'). (torch.tensor refuses 2147483647.9: it
    // checks before truncating.)
    expect(tg.tensor([2147483647.9, -2147483648.9], { dtype: 'int32' }).toArray()).toEqual([2147483647, -2147483648]);
  });

  it('refuses float data int32 cannot hold, naming the value and its index', () => {
    // PyTorch: "value cannot be converted to type int32 without overflow", naming neither.
    const range = 'does not fit in int32; int32 holds whole numbers in [-2147483648, 2147483647]';
    expect(() => tg.tensor([1, 3e10], { dtype: 'int32' })).toThrow(new RangeError(`tensor: element 1 (30000000000) ${range}`));
    expect(() => tg.tensor([[1, 2], [NaN, 4]], { dtype: 'int32' })).toThrow(new RangeError(`tensor: element 2 (NaN) ${range}`));
    expect(() => tg.tensor([Infinity], { dtype: 'int32' })).toThrow(new RangeError(`tensor: element 0 (Infinity) ${range}`));
    expect(() => tg.tensor(new Float64Array([0, 0, -Infinity]), { dtype: 'int32' })).toThrow(/^tensor: element 2 \(-Infinity\)/);
    expect(() => tg.tensor([2147483648], { dtype: 'int32' })).toThrow(/^tensor: element 0 \(2147483648\)/);
    expect(() => tg.tensor([-2147483649], { dtype: 'int32' })).toThrow(/^tensor: element 0 \(-2147483649\)/);
  });

  it('turns impossible allocations into RangeErrors', () => {
    expect(() => tg.zeros([1e6, 1e6, 1e6])).toThrow(RangeError);
    expect(() => tg.zeros([1e7, 1e7])).toThrow(/zeros: cannot allocate/);
  });

  it('rejects bad factory arguments', () => {
    expect(() => tg.arange(0, 5, 0)).toThrow(/arange: step must be non-zero/);
    expect(() => tg.arange(0, 5, -1)).toThrow(RangeError);
    expect(() => tg.randint(3, 3, [2])).toThrow(/randint: high must be greater than low/);
    expect(() => tg.rand([2], { dtype: 'int32' })).toThrow(TypeError);
    expect(() => tg.eye(-1)).toThrow(RangeError);
  });

  it('zeros, ones, rand and randn take the sizes as separate numbers too, as torch.zeros(2, 3)', () => {
    // torch.zeros(3).shape == (3,), torch.ones(2, 3, dtype=torch.float64), torch.randn(2, 3).shape == (2, 3).
    // (Before: zeros(3) threw "shape must be an array of integers, got 3", randn(2, 3)
    // "options must be an object like { dtype: 'float64' }, got 3".)
    expect(tg.zeros(3).toArray()).toEqual([0, 0, 0]);
    const o = tg.ones(2, 3, { dtype: 'float64' });
    expect([o.shape, o.dtype, o.toArray()]).toEqual([[2, 3], 'float64', [[1, 1, 1], [1, 1, 1]]]);
    expect(tg.rand(4).shape).toEqual([4]);
    expect(tg.randn(2, 3).shape).toEqual([2, 3]);
    expect(tg.randn(2, 3, { requiresGrad: true }).requiresGrad).toBe(true);
    tg.manualSeed(5);
    const a = tg.randn([2, 3]).toArray();
    tg.manualSeed(5);
    expect(tg.randn(2, 3).toArray()).toEqual(a);
    expect(() => tg.zeros(2, 'float64' as never)).toThrow(new TypeError("zeros: options must be an object like { dtype: 'float64' }, got 'float64'"));
    expect(() => tg.zeros(2, 2.5)).toThrow(RangeError);
    expect(() => tg.zeros(2, {}, 3 as never)).toThrow(
      new TypeError('zeros: sizes must be numbers followed by at most an options object, got an object before the end'),
    );
  });

  it('arange with dtype int32 names the value int32 cannot hold', () => {
    // torch.arange(0, 10**10, 10**9, dtype=torch.int32) gives values that wrapped; tapegrad refuses.
    expect(() => tg.arange(0, 1e10, 1e9, { dtype: 'int32' })).toThrow(
      new RangeError("arange: an int32 tensor cannot hold its last value 9000000000 (int32 holds [-2147483648, 2147483647]); pass { dtype: 'float64' }"),
    );
    expect(() => tg.arange(-3e9, 0, 1e9, { dtype: 'int32' })).toThrow(/^arange: an int32 tensor cannot hold its first value -3000000000 /);
    // end only bounds the values: [0, 2**31) ends at 2**31 - 1, which fits.
    expect(tg.arange(2147483645, 2147483648, { dtype: 'int32' }).toArray()).toEqual([2147483645, 2147483646, 2147483647]);
    expect(tg.arange(3e9, 3e9, { dtype: 'int32' }).shape).toEqual([0]);
    expect(tg.arange(0.5, 3, { dtype: 'int32' }).toArray()).toEqual([0, 1, 2]); // torch.arange(0.5, 3, dtype=torch.int32)
    expect(tg.arange(0.5, 3).dtype).toBe('float32');
  });

  it('arange says when the int32 it chose for integer arguments cannot hold the values', () => {
    // torch.arange(0, 10**10, 10**9) -> int64 [0, 1000000000, ..., 9000000000]; tapegrad has no
    // int64. (Before: "arange: end 9e+09 does not fit in int32", naming as the end a value
    // never passed, for a dtype never asked for.)
    expect(() => tg.arange(0, 1e10, 1e9)).toThrow(
      new RangeError(
        "arange: integer start, end and step make an int32 tensor, which cannot hold its last value 9000000000 (int32 holds [-2147483648, 2147483647]); pass { dtype: 'float64' }",
      ),
    );
    expect(() => tg.arange(-3e9, 0, 1e9)).toThrow(/cannot hold its first value -3000000000 /);
    expect(tg.arange(0, 1e10, 1e9, { dtype: 'float64' }).toArray()).toEqual([0, 1e9, 2e9, 3e9, 4e9, 5e9, 6e9, 7e9, 8e9, 9e9]);
    expect(tg.arange(2147483640, 2147483647, 3).toArray()).toEqual([2147483640, 2147483643, 2147483646]);
    expect(() => tg.arange(5, 0)).toThrow(/arange: step 1 goes away from end/); // as PyTorch; the native layer's error
  });

  it('randint(high, shape) draws from [0, high), as torch.randint(high, size)', () => {
    // torch.randint(1, (4,)) -> [0, 0, 0, 0]. (Before: "randint: shape must be an array of
    // integers, got undefined", with the shape given.)
    expect(tg.randint(1, [4]).toArray()).toEqual([0, 0, 0, 0]);
    const f = tg.randint(3, [2, 5], { dtype: 'float64' });
    expect([f.shape, f.dtype]).toEqual([[2, 5], 'float64']);
    expect((Array.from(f.data()) as number[]).every((v) => v >= 0 && v < 3 && Number.isInteger(v))).toBe(true);
    // The same numbers as randint(0, high, shape) from the same seed.
    tg.manualSeed(9);
    const a = tg.randint(0, 100, [6]).toArray();
    tg.manualSeed(9);
    expect(tg.randint(100, [6]).toArray()).toEqual(a);
    expect(() => tg.randint(3, [2], {}, {} as never)).toThrow(new TypeError('randint: high must be a number, got an array'));
  });

  it('eye takes its options in place of m, as torch.eye(n, dtype=...)', () => {
    // torch.eye(2, dtype=torch.float64) -> [[1., 0.], [0., 1.]], float64.
    // (Before: "eye: m must be an integer, got an object".)
    const e = tg.eye(2, { dtype: 'float64', requiresGrad: true });
    expect(e.dtype).toBe('float64');
    expect(e.requiresGrad).toBe(true);
    expect(e.toArray()).toEqual([[1, 0], [0, 1]]);
    expect(tg.eye(2, undefined, { dtype: 'int32' }).dtype).toBe('int32');
    expect(() => tg.eye(2, { dtype: 'int32' } as never, {})).toThrow(new TypeError('eye: m must be an integer, got an object'));
    expect(() => tg.eye(2, { dtype: 'int8' } as never)).toThrow(TypeError);
    expect(() => tg.eye(2, { requires_grad: true } as never)).toThrow(/^eye: unknown option 'requires_grad'/);
  });

  it('factories refuse options that are not objects, naming the factory', () => {
    const t = tg.zeros([2]);
    const calls: [string, (o: never) => unknown][] = [
      ['tensor', (o) => tg.tensor([1], o)],
      ['zeros', (o) => tg.zeros([2], o)],
      ['ones', (o) => tg.ones([2], o)],
      ['full', (o) => tg.full([2], 7, o)],
      ['zerosLike', (o) => tg.zerosLike(t, o)],
      ['onesLike', (o) => tg.onesLike(t, o)],
      ['fullLike', (o) => tg.fullLike(t, 7, o)],
      ['arange', (o) => tg.arange(3, o)],
      ['arange', (o) => tg.arange(0, 3, 1, o)],
      ['eye', (o) => tg.eye(2, 2, o)],
      ['rand', (o) => tg.rand([2], o)],
      ['randn', (o) => tg.randn([2], o)],
      ['randint', (o) => tg.randint(0, 3, [2], o)],
    ];
    for (const [op, call] of calls) {
      expect(() => call(null as never)).toThrow(new TypeError(`${op}: options must be an object like { dtype: 'float64' }, got null`));
      expect(() => call('float64' as never)).toThrow(new RegExp(`^${op}: options must be an object .*, got 'float64'$`));
      // A misspelt key or requiresGrad: 'false' (truthy) would be taken for something else.
      expect(() => call({ requires_grad: true } as never)).toThrow(new RegExp(`^${op}: unknown option 'requires_grad'; the options are dtype, requiresGrad`));
      expect(() => call({ requiresGrad: 'false' } as never)).toThrow(new TypeError(`${op}: requiresGrad must be a boolean, got 'false'`));
    }
    expect(() => tg.tensor(new Float32Array(4), { shape: [2, 2], dtyp: 'float64' } as never)).toThrow(
      new TypeError("tensor: unknown option 'dtyp'; the options are dtype, requiresGrad, shape"),
    );
    expect(() => tg.zeros([2], { shape: [3] } as never)).toThrow(/^zeros: unknown option 'shape'/);
    expect(tg.arange(0, 3, undefined, { dtype: 'float64' }).toArray()).toEqual([0, 1, 2]);
    expect(tg.zerosLike(t, { dtype: 'int32' }).dtype).toBe('int32');
  });

  it('a Proxy of an array (Array.isArray says it is one) serves as a shape, dims or a list of tensors', () => {
    const p = <T>(a: T[]) => new Proxy(a, {});
    expect(tg.zeros(p([2, 3])).shape).toEqual([2, 3]);
    expect(tg.rand(p([2, 3])).shape).toEqual([2, 3]);
    expect(tg.full(p([2]), 7).toArray()).toEqual([7, 7]);
    expect(tg.tensor(new Float32Array(6), { shape: p([3, 2]) }).shape).toEqual([3, 2]);
    expect(tg.tensor(p([p([1, 2]), p([3, 4])])).toArray()).toEqual([[1, 2], [3, 4]]);
    const x = tg.arange(6, { dtype: 'float32' });
    expect(x.reshape(p([2, 3])).shape).toEqual([2, 3]);
    expect(x.view(p([3, 2])).shape).toEqual([3, 2]);
    const m = x.reshape([2, 3]);
    expect(m.permute(p([1, 0])).shape).toEqual([3, 2]);
    expect(m.sum(p([0, 1])).item()).toBe(15);
    expect(m.mean(p([1])).toArray()).toEqual([1, 4]);
    expect(m.var(p([1])).toArray()).toEqual([1, 1]);
    expect(m.split(p([1, 2]), 1).map((t) => t.shape)).toEqual([[2, 1], [2, 2]]);
    expect(tg.cat(p([m, m])).shape).toEqual([4, 3]);
    // The elements are read once each, through the proxy's get trap.
    const reads: PropertyKey[] = [];
    const counted = new Proxy([2, 3], { get: (target, key, receiver) => (reads.push(key), Reflect.get(target, key, receiver)) });
    expect(x.reshape(counted).shape).toEqual([2, 3]);
    expect(reads.filter((k) => k === '0' || k === '1')).toEqual(['0', '1']);
  });

  it('factories refuse a missing shape and ...Like factories a value that is not a tensor, naming themselves', () => {
    expect(() => tg.zeros(null as never)).toThrow(new TypeError('zeros: shape must be an array of integers, got null'));
    expect(() => tg.rand(undefined as never)).toThrow(/^rand: shape must be an array of integers, got undefined$/);
    expect(() => tg.randint(0, 3, null as never)).toThrow(/^randint: shape must be an array of integers, got null$/);
    expect(() => tg.zerosLike([1, 2] as never)).toThrow(new TypeError('zerosLike: input must be a Tensor, got an array'));
    expect(() => tg.onesLike(null as never)).toThrow(new TypeError('onesLike: input must be a Tensor, got null'));
    expect(() => tg.fullLike(3 as never, 1)).toThrow(new TypeError('fullLike: input must be a Tensor, got 3'));
    // Disposed, whether or not its shape was read before.
    const read = tg.zeros([2]);
    void read.shape;
    const unread = tg.zeros([2]);
    read.dispose();
    unread.dispose();
    for (const d of [read, unread]) {
      expect(() => tg.zerosLike(d)).toThrow(new tg.TapegradError('zerosLike: input is a disposed tensor'));
      expect(() => tg.fullLike(d, 2)).toThrow(new tg.TapegradError('fullLike: input is a disposed tensor'));
    }
  });

  it('never crashes on a disposed tensor', () => {
    const t = tg.tensor([1, 2]);
    t.dispose();
    t.dispose();
    expect(t.isDisposed).toBe(true);
    expect(() => t.data()).toThrow(tg.TapegradError);
    expect(() => t.add(1)).toThrow(/add: input is a disposed tensor/);
    expect(() => tg.tensor([1]).mul(t)).toThrow(/mul: other is a disposed tensor/);
  });

  it('rejects values that are not tensors', () => {
    expect(() => tg.tensor([1]).add('x' as unknown as number)).toThrow(/add: other must be a number or a Tensor, got 'x'/);
    expect(() => tg.tensor([1]).add({} as unknown as number)).toThrow(TypeError);
  });
});

describe('to (dtype conversion)', () => {
  it('truncates toward zero from float to int32, as PyTorch', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const x = tg.tensor([-3.7, -0.5, 0, 2.9, 2147483647, -2147483648], { dtype: dtype === 'float32' ? 'float64' : dtype });
      const y = (dtype === 'float32' ? tg.tensor([-3.7, -0.5, 0, 2.9, 2147483520, -2147483648]) : x).to('int32');
      expect(y.dtype).toBe('int32');
      expect(y.toArray()).toEqual(dtype === 'float32' ? [-3, 0, 0, 2, 2147483520, -2147483648] : [-3, 0, 0, 2, 2147483647, -2147483648]);
      // Strided and broadcast sources convert in their logical order.
      const m = tg.tensor([[1.5, -2.5], [3.5, -4.5]], { dtype });
      expect(m.transpose(0, 1).to('int32').toArray()).toEqual([[1, 3], [-2, -4]]);
      expect(tg.tensor([7.9], { dtype }).expand([3]).to('int32').toArray()).toEqual([7, 7, 7]);
    }
    expect(tg.tensor([-7, 5], { dtype: 'int32' }).to('float64').toArray()).toEqual([-7, 5]);
    // Values beyond the ends that truncate onto them fit (float64 has them; float32 does not).
    expect(tg.tensor([-2147483648.5, 2147483647.75], { dtype: 'float64' }).to('int32').toArray()).toEqual([-2147483648, 2147483647]);
    expect(() => tg.tensor([-2147483649], { dtype: 'float64' }).to('int32')).toThrow(/^to: element 0 \(-2147483649\) does not fit in int32/);
  });
  it('throws for values int32 cannot hold, naming the first (a C++ cast of them is undefined)', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const bad: [number, string][] = [[NaN, 'NaN'], [Infinity, 'Infinity'], [-Infinity, '-Infinity'], [2147483648, '2147483648'], [-2147483904, '-2147483904']];
      for (const [v, shown] of bad) {
        const x = tg.tensor([1, 2, v, v], { dtype });
        expect(() => x.to('int32')).toThrow(new RangeError(
          `to: element 2 (${shown}) does not fit in int32; int32 holds whole numbers in [-2147483648, 2147483647]`,
        ));
      }
      // Large tensors convert on several threads; the first bad element is named whatever thread saw one.
      const big = tg.zeros([1 << 20], { dtype }).contiguous();
      const data = tg.tensor(Array.from({ length: 1 << 20 }, (_, i) => (i === 700001 || i === 1000000 ? NaN : i % 1000)), { dtype });
      expect(() => data.to('int32')).toThrow(/^to: element 700001 \(NaN\) does not fit in int32/);
      expect(big.to('int32').sum().item()).toBe(0);
      // Transposed: 'element' counts in the tensor's logical order.
      const t = tg.tensor([[0, NaN], [1, 2]], { dtype }).transpose(0, 1);
      expect(() => t.to('int32')).toThrow(/^to: element 2 \(NaN\)/);
    }
  });
});

describe('memory', () => {
  it('dispose frees native memory at once', () => {
    const before = tg.memory().liveBytes;
    const t = tg.zeros([1024, 1024]);
    expect(tg.memory().liveBytes - before).toBe(4 * 1024 * 1024);
    t.dispose();
    expect(tg.memory().liveBytes).toBe(before);
  });

  it('Symbol.dispose frees at the end of a using-block equivalent', () => {
    const before = tg.memory().liveBytes;
    const t = tg.zeros([256]);
    t[Symbol.dispose]();
    expect(tg.memory().liveBytes).toBe(before);
  });

  it('tidy disposes what it does not return', () => {
    const before = tg.memory().liveTensors;
    const kept = tg.tidy(() => {
      const a = tg.ones([4]);
      const b = a.mul(2);
      return b.add(1);
    });
    expect(kept.toArray()).toEqual([3, 3, 3, 3]);
    expect(tg.memory().liveTensors).toBe(before + 1);
    kept.dispose();
  });
});

describe('backendInfo', () => {
  it('reports isa, threads, version and build type', () => {
    const info = tg.backendInfo();
    expect(['avx512', 'avx2', 'neon', 'scalar']).toContain(info.isa);
    expect(info.threads).toBeGreaterThanOrEqual(1);
    expect(info.version).toBe(require('../package.json').version);
    expect(['release', 'debug', 'sanitize', 'relwithdebinfo']).toContain(info.buildType);
  });
});

describe('fill', () => {
  it('takes a number or a 0-d tensor, naming its argument otherwise', () => {
    // torch.zeros(2).fill_(torch.tensor(3.)) -> [3., 3.]; fill_ of a 1-D tensor is refused.
    // (Before: "fill: other must be a Tensor, got an object" for a tensor, and
    // "fill: other must be a Tensor, got '1'" for a string.)
    expect(tg.zeros([2]).fill(tg.tensor(3)).toArray()).toEqual([3, 3]);
    expect(() => tg.zeros([2]).fill(tg.tensor([3, 4]))).toThrow(
      new RangeError('fill: value must be a number or a 0-d tensor, got a tensor of shape [2]'),
    );
    expect(() => tg.zeros([2]).fill('1' as never)).toThrow(new TypeError("fill: value must be a number or a 0-d tensor, got '1'"));
  });

  it('truncates a number into an int32 tensor, as full() and PyTorch do', () => {
    // torch.zeros(3, dtype=torch.int32).fill_(-1.7) -> [-1, -1, -1]; fill_(2.5) -> [2, 2, 2];
    // fill_(nan) -> "value cannot be converted to type int without overflow".
    // (Before: "fill: cannot write a float32 result into an int32 tensor in place".)
    const t = tg.zeros([3], { dtype: 'int32' });
    expect(t.fill(-1.7).toArray()).toEqual([-1, -1, -1]);
    expect(t.fill(2.5).toArray()).toEqual([2, 2, 2]);
    expect(tg.full([3], 2.5, { dtype: 'int32' }).toArray()).toEqual([2, 2, 2]);
    const range = ' does not fit in int32; int32 holds whole numbers in [-2147483648, 2147483647]';
    expect(() => t.fill(NaN)).toThrow(new RangeError(`fill: value NaN${range}`));
    expect(() => t.fill(2 ** 31)).toThrow(new RangeError(`fill: value 2147483648${range}`));
    expect(t.toArray()).toEqual([2, 2, 2]);
  });
});

describe('reading a disposed tensor', () => {
  it('names the method called', () => {
    // (Before: toArray() and item() said "data: tensor is a disposed tensor",
    // size and ndim "shape: tensor is a disposed tensor".)
    const t = tg.tensor([1]);
    t.dispose();
    expect(() => t.toArray()).toThrow(new tg.TapegradError('toArray: input is a disposed tensor'));
    expect(() => t.item()).toThrow(new tg.TapegradError('item: input is a disposed tensor'));
    expect(() => t.size).toThrow(new tg.TapegradError('size: input is a disposed tensor'));
    expect(() => t.ndim).toThrow(new tg.TapegradError('ndim: input is a disposed tensor'));
  });
});

describe('linspace', () => {
  const list = (t: tg.Tensor) => Array.from(t.data());

  it('spaces steps values from start to end, both included, float32 unless dtype says otherwise', () => {
    const t = tg.linspace(0, 1, 5);
    expect([t.dtype, t.shape, list(t)]).toEqual(['float32', [5], [0, 0.25, 0.5, 0.75, 1]]);
    expect(tg.linspace(0, 1, 0).shape).toEqual([0]);
    expect(list(tg.linspace(3, 7, 1))).toEqual([3]);
    expect(list(tg.linspace(3, 7, 2))).toEqual([3, 7]);
    expect(list(tg.linspace(2, -2, 3))).toEqual([2, 0, -2]);
    expect(list(tg.linspace(4, 4, 3))).toEqual([4, 4, 4]);
    const d = tg.linspace(0, 1, 3, { dtype: 'float64', requiresGrad: true });
    expect([d.dtype, d.requiresGrad, d.isLeaf]).toEqual(['float64', true, true]);
  });

  it('gives PyTorch 1.13 values, counting up from start for the first half and down from end for the rest', () => {
    // torch.linspace outputs (as float64 numbers); 7 and 11 steps take PyTorch's scalar loop.
    expect(list(tg.linspace(0.1, 0.7, 7))).toEqual([0.10000000149011612, 0.19999998807907104, 0.29999998211860657, 0.4000000059604645, 0.5,
      0.6000000238418579, 0.699999988079071]);
    expect(list(tg.linspace(-1.3, 2.9, 7))).toEqual([-1.2999999523162842, -0.5999999642372131, 0.10000002384185791, 0.8000001311302185,
      1.5000001192092896, 2.200000047683716, 2.9000000953674316]);
    expect(list(tg.linspace(3.7, -11.1, 11))).toEqual([3.700000047683716, 2.2200000286102295, 0.7400000095367432, -0.7400000095367432,
      -2.2200000286102295, -3.700000286102295, -5.180000305175781, -6.660000324249268, -8.140000343322754, -9.620000839233398,
      -11.100000381469727]);
    // Each value rounded once (a fused multiply-add): a multiply then an add gives -10.956123352050781 at index 3.
    expect(list(tg.linspace(-98.159012, 76.24677, 7))).toEqual([-98.15901184082031, -69.09137725830078, -40.023746490478516,
      -10.956125259399414, 18.111507415771484, 47.17913818359375, 76.24677276611328]);
    expect(list(tg.linspace(0.1, 0.7, 7, { dtype: 'float64' }))).toEqual([0.1, 0.2, 0.3, 0.39999999999999997, 0.5, 0.6, 0.7]);
    expect(list(tg.linspace(-2.3, 7.1, 7, { dtype: 'float64' }))).toEqual([-2.3, -0.7333333333333334, 0.833333333333333,
      2.4000000000000004, 3.966666666666667, 5.533333333333333, 7.1]);
  });

  it('hits both ends exactly for any number of steps', () => {
    for (let k = 0; k < 300; k++) {
      const start = 100 * Math.sin(k * 1.7), end = 100 * Math.cos(k * 2.3), steps = 2 + ((k * 37) % 400);
      for (const dtype of ['float32', 'float64'] as const) {
        const v = tg.linspace(start, end, steps, { dtype }).data();
        const round = dtype === 'float32' ? Math.fround : (x: number) => x;
        if (v[0] !== round(start) || v[steps - 1] !== round(end)) expect([k, dtype, v[0], v[steps - 1]]).toEqual([k, dtype, round(start), round(end)]);
      }
    }
  });

  it('int32 truncates start and end, then each value, as PyTorch', () => {
    const t = tg.linspace(0.5, 10.7, 4, { dtype: 'int32' });
    expect([t.dtype, list(t)]).toEqual(['int32', [0, 3, 6, 10]]);
    expect(list(tg.linspace(-3, 3, 5, { dtype: 'int32' }))).toEqual([-3, -1, 0, 1, 3]);
    expect(list(tg.linspace(-7.9, 8.9, 6, { dtype: 'int32' }))).toEqual([-7, -4, -1, 2, 5, 8]);
    expect(list(tg.linspace(10, -10, 7, { dtype: 'int32' }))).toEqual([10, 6, 3, 0, -3, -6, -10]);
  });

  it('rejects bad arguments, naming linspace', () => {
    expect(() => tg.linspace(0, 1, -1)).toThrow(new RangeError('linspace: steps must be non-negative, got -1'));
    expect(() => tg.linspace(0, 1, 2.5)).toThrow(RangeError);
    expect(() => tg.linspace(0, 1, 2.5)).toThrow(/^linspace: steps must be an integer, got 2.5/);
    expect(() => tg.linspace(0, 1, '3' as unknown as number)).toThrow(/^linspace: steps must be an integer, got '3'/);
    expect(() => tg.linspace('0' as unknown as number, 1, 3)).toThrow(TypeError);
    expect(() => tg.linspace('0' as unknown as number, 1, 3)).toThrow(/^linspace: start must be a number, got '0'/);
    expect(() => tg.linspace(0, NaN, 3)).toThrow(new RangeError('linspace: start and end must be finite, got 0 and NaN'));
    expect(() => tg.linspace(-Infinity, 1, 3)).toThrow(new RangeError('linspace: start and end must be finite, got -Infinity and 1'));
    expect(() => tg.linspace(0, 1e39, 3)).toThrow(/^linspace: start and end must fit in float32, got 0 and 1e\+39/);
    expect(() => tg.linspace(-3e38, 3e38, 3)).toThrow(/^linspace: the distance from start -3e\+38 to end 3e\+38 overflows float32/);
    expect(() => tg.linspace(0, 3e9, 3, { dtype: 'int32' })).toThrow(/^linspace: end .* does not fit in int32/);
    expect(() => tg.linspace(0, 1, 3, { dtype: 'int64' as 'int32' })).toThrow(/^linspace: dtype must be 'float32', 'float64' or 'int32', got 'int64'/);
    expect(() => tg.linspace(0, 1, 3, { dtpye: 'float64' } as never)).toThrow(/^linspace: unknown option 'dtpye'/);
  });
});
