// toString against PyTorch 1.13's str(tensor). The expected strings were
// printed by PyTorch (torch.set_printoptions left at its defaults), with
// PyTorch's `dtype=torch.X` / `grad_fn=<...>` spelt as tapegrad spells them.
import { describe, expect, it } from 'vitest';
import { tg } from './helpers.js';

describe('toString of large tensors', () => {
  it('chooses the number format from the elements it shows, as PyTorch does', () => {
    // torch.cat([torch.zeros(199999), torch.tensor([1e10])]) prints in scientific
    // notation: the 1e10 at the end is shown. (Before: only the first 100000
    // elements were looked at, giving 10000000000.0000 in a 16-wide column.)
    const t = tg.cat([tg.zeros([199999]), tg.tensor([1e10])]);
    const s = t.toString();
    expect(s).toMatch(/1\.0000e\+10\]\)$/);
    expect(s).not.toContain('10000000000.0000');
  });

  it('prints a tensor too large to copy whole, reading only the elements it shows', () => {
    // An expanded view of 2**40 elements: PyTorch prints its corners. (Before:
    // "contiguous: cannot allocate 4398046511104 bytes"; a plain tensor of
    // 150M elements failed with "Invalid array length", 50M took seconds.)
    const before = tg.memory().liveTensors;
    const big = tg.tensor([1.5]).expand(2 ** 20, 2 ** 20);
    const s = big.toString();
    expect(s.split('\n')[0]).toBe('tensor([[1.5000, 1.5000, 1.5000,  ..., 1.5000, 1.5000, 1.5000],');
    expect(s.split('\n')).toHaveLength(7);
    const x = tg.arange(0, 2e7, 1, { dtype: 'float32' });
    const t0 = Date.now();
    // str(torch.arange(0, 2e7, 1, dtype=torch.float32))
    expect(x.toString()).toBe('tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 2.0000e+07, 2.0000e+07,\n        2.0000e+07])');
    expect(Date.now() - t0).toBeLessThan(1000);
    x.dispose();
    big.dispose();
    expect(tg.memory().liveTensors - before).toBe(1); // the [1.5] itself; no handles left behind
  });
});

describe('toString formats numbers as PyTorch does', () => {
  // [tapegrad expression, its tensor, str() of the same tensor in PyTorch 1.13].
  // Before: whole floats printed as 1.0000 (PyTorch: 1.), exponents with one
  // digit (1.0000e-5; PyTorch: 1.0000e-05), magnitudes spanning more than a
  // factor 1000 in fixed notation, -0 as 0.0000, empty tensors without their
  // size, the elision without its extra space, and rows never wrapped at 80.
  const cases: [string, () => tg.Tensor, string][] = [
    ['tg.tensor([1, 2.5, -3])', () => tg.tensor([1, 2.5, -3]), "tensor([ 1.0000,  2.5000, -3.0000])"],
    ['tg.tensor([1, 2, 3])', () => tg.tensor([1, 2, 3]), "tensor([1., 2., 3.])"],
    ['tg.tensor([1e-5, 1])', () => tg.tensor([1e-5, 1]), "tensor([1.0000e-05, 1.0000e+00])"],
    ["tg.tensor([[1,2],[3,4]], {dtype:'int32'})", () => tg.tensor([[1,2],[3,4]], {dtype:'int32'}), "tensor([[1, 2],\n        [3, 4]], dtype=int32)"],
    ['tg.tensor([NaN, Infinity, 1.5])', () => tg.tensor([NaN, Infinity, 1.5]), "tensor([   nan,    inf, 1.5000])"],
    ['tg.zeros([2,0])', () => tg.zeros([2,0]), "tensor([], size=(2, 0))"],
    ["tg.tensor([0.1, 0.25], {dtype:'float64'})", () => tg.tensor([0.1, 0.25], {dtype:'float64'}), "tensor([0.1000, 0.2500], dtype=float64)"],
    ['tg.tensor([1.5], {requiresGrad:true}).mul(2)', () => tg.tensor([1.5], {requiresGrad:true}).mul(2), "tensor([3.], gradFn=<mul>)"],
    ['tg.tensor([-0])', () => tg.tensor([-0]), "tensor([-0.])"],
    ['tg.tensor([1e-10, 0])', () => tg.tensor([1e-10, 0]), "tensor([1.0000e-10, 0.0000e+00])"],
    ['tg.tensor([0.001, 10])', () => tg.tensor([0.001, 10]), "tensor([1.0000e-03, 1.0000e+01])"],
    ['tg.tensor([1, 2000])', () => tg.tensor([1, 2000]), "tensor([1.0000e+00, 2.0000e+03])"],
    ['tg.cat([tg.zeros([199999]), tg.tensor([1e10])])', () => tg.cat([tg.zeros([199999]), tg.tensor([1e10])]), "tensor([0.0000e+00, 0.0000e+00, 0.0000e+00,  ..., 0.0000e+00, 0.0000e+00,\n        1.0000e+10])"],
    ['tg.zeros([3, 0, 2])', () => tg.zeros([3, 0, 2]), "tensor([], size=(3, 0, 2))"],
    ["tg.arange(30, {dtype:'float32'}).div(7)", () => tg.arange(30, {dtype:'float32'}).div(7), "tensor([0.0000, 0.1429, 0.2857, 0.4286, 0.5714, 0.7143, 0.8571, 1.0000, 1.1429,\n        1.2857, 1.4286, 1.5714, 1.7143, 1.8571, 2.0000, 2.1429, 2.2857, 2.4286,\n        2.5714, 2.7143, 2.8571, 3.0000, 3.1429, 3.2857, 3.4286, 3.5714, 3.7143,\n        3.8571, 4.0000, 4.1429])"],
    ['tg.arange(3000).reshape(3, 10, 100)', () => tg.arange(3000).reshape(3, 10, 100), "tensor([[[   0,    1,    2,  ...,   97,   98,   99],\n         [ 100,  101,  102,  ...,  197,  198,  199],\n         [ 200,  201,  202,  ...,  297,  298,  299],\n         ...,\n         [ 700,  701,  702,  ...,  797,  798,  799],\n         [ 800,  801,  802,  ...,  897,  898,  899],\n         [ 900,  901,  902,  ...,  997,  998,  999]],\n\n        [[1000, 1001, 1002,  ..., 1097, 1098, 1099],\n         [1100, 1101, 1102,  ..., 1197, 1198, 1199],\n         [1200, 1201, 1202,  ..., 1297, 1298, 1299],\n         ...,\n         [1700, 1701, 1702,  ..., 1797, 1798, 1799],\n         [1800, 1801, 1802,  ..., 1897, 1898, 1899],\n         [1900, 1901, 1902,  ..., 1997, 1998, 1999]],\n\n        [[2000, 2001, 2002,  ..., 2097, 2098, 2099],\n         [2100, 2101, 2102,  ..., 2197, 2198, 2199],\n         [2200, 2201, 2202,  ..., 2297, 2298, 2299],\n         ...,\n         [2700, 2701, 2702,  ..., 2797, 2798, 2799],\n         [2800, 2801, 2802,  ..., 2897, 2898, 2899],\n         [2900, 2901, 2902,  ..., 2997, 2998, 2999]]], dtype=int32)"],
    ['tg.tensor([-0, 1.5])', () => tg.tensor([-0, 1.5]), "tensor([-0.0000, 1.5000])"],
    ['tg.tensor([NaN, 1])', () => tg.tensor([NaN, 1]), "tensor([nan, 1.])"],
    ['tg.arange(40).reshape(2, 20)', () => tg.arange(40).reshape(2, 20), "tensor([[ 0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15, 16, 17,\n         18, 19],\n        [20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37,\n         38, 39]], dtype=int32)"],
    ["tg.arange(0, 2e7, 1, { dtype: 'float32' })", () => tg.arange(0, 2e7, 1, { dtype: 'float32' }), "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 2.0000e+07, 2.0000e+07,\n        2.0000e+07])"],
    ["tg.tensor(2, {dtype:'float64'})", () => tg.tensor(2, {dtype:'float64'}), "tensor(2., dtype=float64)"],
    ['tg.tensor([Infinity, -Infinity])', () => tg.tensor([Infinity, -Infinity]), "tensor([inf, -inf])"],
    ['tg.tensor([-3.5, 1e-3])', () => tg.tensor([-3.5, 1e-3]), "tensor([-3.5000e+00,  1.0000e-03])"],
  ];
  for (const [name, make, expected] of cases)
    it(name, () => {
      expect(make().toString()).toBe(expected);
    });
});
