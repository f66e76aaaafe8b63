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
    expect(s.split('\n')[0]).toBe('tensor([[1.5000, 1.5000, 1.5000, ..., 1.5000, 1.5000, 1.5000],');
    expect(s.split('\n')).toHaveLength(7);
    const x = tg.arange(0, 2e7, 1, { dtype: 'float32' });
    const t0 = Date.now();
    expect(x.toString()).toMatch(/^tensor\(\[.*, +\.\.\., .*\]\)$/);
    expect(Date.now() - t0).toBeLessThan(1000);
    x.dispose();
    big.dispose();
    expect(tg.memory().liveTensors - before).toBe(1); // the [1.5] itself; no handles left behind
  });
});
