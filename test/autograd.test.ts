import { describe, expect, it } from 'vitest';
import { expectClose, expectError, leaf, tg, type Tensor } from './helpers.js';

describe('recording', () => {
  it('records only when grad mode is on and an input requires grad', () => {
    const a = tg.tensor([1, 2]);
    const b = tg.tensor([3, 4], { requiresGrad: true });
    expect(a.mul(2).requiresGrad).toBe(false);
    expect(a.mul(2).gradFn).toBe(null);
    const c = a.mul(b);
    expect(c.requiresGrad).toBe(true);
    expect(c.isLeaf).toBe(false);
    expect(c.gradFn).toBe('mul');
    const d = tg.noGrad(() => a.mul(b));
    expect(d.requiresGrad).toBe(false);
    expect(d.isLeaf).toBe(true);
  });

  it('noGrad, enableGrad, tidy and tidyAsync name themselves when fn is not a function', async () => {
    expect(() => tg.noGrad(5 as never)).toThrow(new TypeError('noGrad: fn must be a function, got 5'));
    expect(() => tg.enableGrad('x' as never)).toThrow(new TypeError("enableGrad: fn must be a function, got 'x'"));
    expect(() => tg.tidy(null as never)).toThrow(new TypeError('tidy: fn must be a function, got null'));
    await expect(tg.tidyAsync(5 as never)).rejects.toThrow(new TypeError('tidyAsync: fn must be a function, got 5'));
    expect(tg.isGradEnabled()).toBe(true);
    expect(() => new tg.optim.SGD(5 as never, { lr: 0.1 })).toThrow(
      new TypeError('SGD: params must be an array or iterable of tensors (model.parameters()) or of parameter groups, got 5'));
  });

  it('grad mode nests and is restored after errors', () => {
    expect(tg.isGradEnabled()).toBe(true);
    tg.noGrad(() => {
      expect(tg.isGradEnabled()).toBe(false);
      tg.enableGrad(() => expect(tg.isGradEnabled()).toBe(true));
      expect(tg.isGradEnabled()).toBe(false);
    });
    expect(() =>
      tg.noGrad(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(tg.isGradEnabled()).toBe(true);
  });

  it('detach gives a leaf sharing data', () => {
    const x = tg.tensor([1, 2], { requiresGrad: true });
    const y = x.mul(3);
    const z = y.detach();
    expect(z.requiresGrad).toBe(false);
    expect(z.isLeaf).toBe(true);
    expect(z.toArray()).toEqual([3, 6]);
  });

  it('only float leaves can require grad', () => {
    expect(() => tg.tensor([1], { dtype: 'int32', requiresGrad: true })).toThrow(TypeError);
    const x = tg.tensor([1], { requiresGrad: true });
    expect(() => x.mul(2).setRequiresGrad(false)).toThrow(/setRequiresGrad: can only be changed on leaf tensors.*'mul'/);
  });
});

describe('backward', () => {
  it('computes the gradient of a small program by hand', () => {
    // f = sum((a * b + a) / b) ; df/da = (b + 1) / b ; df/db = -a / b^2
    const a = tg.tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    const b = tg.tensor([4, 5, 6], { dtype: 'float64', requiresGrad: true });
    a.mul(b).add(a).div(b).sum().backward();
    expectClose(a.grad!.toArray(), [5 / 4, 6 / 5, 7 / 6], 1e-12);
    expectClose(b.grad!.toArray(), [-1 / 16, -2 / 25, -3 / 36], 1e-12);
  });

  it('accumulates into .grad across calls until zeroGrad', () => {
    const x = tg.tensor([1, 2], { requiresGrad: true });
    x.mul(x).sum().backward();
    x.mul(x).sum().backward();
    expect(x.grad!.toArray()).toEqual([4, 8]);
    x.zeroGrad();
    expect(x.grad).toBe(null);
    x.mul(3).sum().backward();
    expect(x.grad!.toArray()).toEqual([3, 3]);
    x.grad = null;
    expect(x.grad).toBe(null);
  });

  it('each .grad read is its own handle: disposing one leaves the others and the gradient', () => {
    const x = tg.tensor([1, 2, 3], { requiresGrad: true });
    x.mul(x).sum().backward();
    const g1 = x.grad as Tensor;
    {
      using g2 = x.grad as Tensor;
      expect(Array.from(g2.data())).toEqual([2, 4, 6]);
    }
    expect(Array.from(g1.data())).toEqual([2, 4, 6]);
    const assigned = tg.tensor([7, 8, 9]);
    x.grad = assigned;
    (x.grad as Tensor).dispose();
    expect(Array.from(assigned.data())).toEqual([7, 8, 9]);
    expect(Array.from((x.grad as Tensor).data())).toEqual([7, 8, 9]);
  });

  it('refuses gradients that are not tensors instead of taking them as null (as PyTorch)', () => {
    const x = tg.tensor([1, 2, 3], { requiresGrad: true });
    expect(() => x.sum().backward(2 as never)).toThrow(new TypeError('backward: gradOutput must be a Tensor or null, got 2'));
    expect(() => x.mul(2).backward([1, 1, 1] as never)).toThrow(/^backward: gradOutput must be a Tensor or null, got an array$/);
    expect(() => x.sum().backwardAsync('1' as never)).toThrow(new TypeError("backwardAsync: gradOutput must be a Tensor or null, got '1'"));
    expect(x.grad).toBeNull();
    const y = x.mul(2);
    expect(() => tg.grad(y, x, { gradOutputs: [5 as never] })).toThrow(
      new TypeError('grad: gradOutputs[0] must be a Tensor or null, got 5'),
    );
    expect(() => tg.grad(y, x, { gradOutputs: 5 as never })).toThrow(
      /^grad: gradOutputs must be a Tensor, an array of Tensors \(or nulls\), or null, got 5$/,
    );
    // null and undefined are the default gradient, as None in PyTorch.
    x.sum().backward(undefined);
    x.sum().backward(null);
    expect(x.grad!.toArray()).toEqual([2, 2, 2]);
    expect(tg.grad(x.sum(), x, { gradOutputs: null })[0]!.toArray()).toEqual([1, 1, 1]);
  });

  it('refuses a .grad that is not a tensor, keeping the gradient; undefined clears it as null does', () => {
    const x = tg.tensor([1, 2], { requiresGrad: true });
    x.mul(3).sum().backward();
    for (const [bad, got] of [[5, '5'], ['g', "'g'"], [[1, 2], 'an array'], [{}, 'an object']] as const) {
      expect(() => {
        x.grad = bad as never;
      }).toThrow(new TypeError(`grad: value must be a Tensor or null, got ${got}`));
    }
    expect(x.grad!.toArray()).toEqual([3, 3]);
    x.grad = undefined;
    expect(x.grad).toBeNull();
  });

  it('options of backward and grad must be objects', () => {
    const x = tg.tensor([1, 2], { requiresGrad: true });
    expect(() => x.sum().backward(null, null as never)).toThrow(
      new TypeError('backward: options must be an object like { retainGraph: true }, got null'),
    );
    expect(() => x.sum().backwardAsync(null, 'x' as never)).toThrow(/^backwardAsync: options must be an object/);
    expect(() => tg.grad(x.sum(), x, null as never)).toThrow(/^grad: options must be an object/);
    // retain_graph would be ignored, and the graph freed.
    expect(() => x.sum().backward(null, { retain_graph: true } as never)).toThrow(
      new TypeError("backward: unknown option 'retain_graph'; the options are retainGraph, createGraph"),
    );
    expect(() => x.sum().backwardAsync(null, { createGraph: true } as never)).toThrow(
      new TypeError("backwardAsync: unknown option 'createGraph'; the options are retainGraph"),
    );
    expect(() => tg.grad(x.sum(), x, { allow_unused: true } as never)).toThrow(
      new TypeError("grad: unknown option 'allow_unused'; the options are gradOutputs, retainGraph, createGraph, allowUnused"),
    );
    expect(() => tg.grad(x.sum(), x, { retainGraph: 'yes' } as never)).toThrow(new TypeError("grad: retainGraph must be a boolean, got 'yes'"));
    expect(x.grad).toBeNull();
  });

  it('refuses an expanded view as .grad: backward would add into its shared elements', () => {
    // The shared element would receive every element's gradient (PyTorch
    // refuses the write at backward); a contiguous copy is accepted.
    const base = tg.zeros([1]);
    const a = tg.ones([3], { requiresGrad: true });
    expect(() => {
      a.grad = base.expand([3]);
    }).toThrow(RangeError);
    expect(() => {
      a.grad = base.expand([3]);
    }).toThrow(/^grad: cannot assign an expanded view \(shape \[3\], strides \[0\]\).*value\.contiguous\(\) or value\.clone\(\)/);
    const m = tg.ones([2, 3], { requiresGrad: true });
    expect(() => {
      m.grad = tg.zeros([3]).broadcastTo([2, 3]);
    }).toThrow(/^grad: cannot assign an expanded view \(shape \[2, 3\], strides \[0, 1\]\)/);
    expect(a.grad).toBeNull();
    a.grad = base.expand([3]).contiguous();
    a.mul(tg.tensor([1, 2, 3])).sum().backward();
    expect(a.grad!.toArray()).toEqual([1, 2, 3]);
    expect(base.toArray()).toEqual([0]);
    // A size-1 dim of stride 0 shares nothing.
    const one = tg.ones([1, 2], { requiresGrad: true });
    one.grad = tg.zeros([2]).unsqueeze(0).expand([1, 2]);
    one.sum().backward();
    expect(one.grad!.toArray()).toEqual([[1, 1]]);
  });

  it('sums gradients of a tensor used several times', () => {
    const x = tg.tensor([2], { dtype: 'float64', requiresGrad: true });
    const y = x.mul(x).mul(x).add(x.mul(4)); // x^3 + 4x
    y.sum().backward();
    expect(x.grad!.item()).toBe(3 * 4 + 4);
  });

  it('needs a gradient for non-scalar outputs', () => {
    const x = tg.tensor([1, 2], { requiresGrad: true });
    const y = x.mul(2);
    expect(() => y.backward()).toThrow(/gradients can be created implicitly only for outputs with one element/);
    y.backward(tg.tensor([1, 10]));
    expect(x.grad!.toArray()).toEqual([2, 20]);
    expect(() => x.mul(2).backward(tg.tensor([1, 2, 3]))).toThrow(/gradient 0 has shape \[3\].*expected shape \[2\]/);
  });

  it('refuses a second backward through a freed graph, unless retainGraph', () => {
    const x = tg.tensor([1, 2], { requiresGrad: true });
    const loss = x.mul(x).sum();
    loss.backward();
    expect(() => loss.backward()).toThrow(tg.TapegradError);
    expect(() => loss.backward()).toThrow(/second time.*retainGraph/);
    const kept = x.mul(x).sum();
    kept.backward(null, { retainGraph: true });
    kept.backward();
    expect(x.grad!.toArray()).toEqual([2 + 4, 4 + 8]);
    // Found before any rule runs: a branch that could run again adds nothing.
    const a = tg.tensor([1, 2], { requiresGrad: true });
    const both = a.sum().add(x.mul(x).sum());
    both.backward();
    expect(() => both.backward()).toThrow(/^backward: tried to go through the graph a second time \(at 'mul'\)/);
    expect(a.grad!.toArray()).toEqual([1, 1]);
  });

  it('grad() runs only the rules between its outputs and inputs: a freed rule beyond them is no error, as PyTorch', () => {
    const a = tg.tensor([1, 2, 3], { requiresGrad: true, dtype: 'float64' });
    const e = a.exp();
    e.sum().backward(); // frees exp's rule (it saved its output)
    const w = tg.tensor([1, 1, 1], { requiresGrad: true, dtype: 'float64' });
    const [gw] = tg.grad(e.mul(w).sum(), [w]);
    expect(gw!.toArray()).toEqual([1, 2, 3].map(Math.exp));
    // An input's own rule need not run either: its gradient is taken as it arrives.
    const [ge] = tg.grad(e.mul(2).sum(), [e]);
    expect(ge!.toArray()).toEqual([2, 2, 2]);
    expect(() => tg.grad(e.mul(w).sum(), [a])).toThrow(/^grad: tried to go through the graph a second time \(at 'exp'\)/);
  });

  it('walks again through rules that saved no tensor, as PyTorch (a view of a weight made once, used every step)', () => {
    const w = tg.tensor([[1, 2], [3, 4]], { requiresGrad: true }), b = tg.tensor([1, -1], { requiresGrad: true });
    const wt = w.T, row = b.reshape([1, 2]);
    const x = tg.tensor([[1, 1]]);
    for (let step = 0; step < 2; step++) x.matmul(wt).add(row).sum().backward();
    expect(w.grad!.toArray()).toEqual([[2, 2], [2, 2]]);
    expect(b.grad!.toArray()).toEqual([2, 2]);
    const total = w.sum().add(b.sum()); // sum and add save nothing: a second walk is allowed
    total.backward();
    total.backward();
    expect(b.grad!.toArray()).toEqual([4, 4]);
  });

  it('names the rule and the tensor a write spoiled for backward', () => {
    const x = tg.tensor([1, 2], { requiresGrad: true }), h = x.add(1);
    const y = h.mul(x);
    h.addInPlace(1);
    expect(() => y.sum().backward()).toThrow(
      /^backward: a float32 tensor of shape \[2\] saved by 'mul' for the gradient was modified by an in-place operation \(version 1, expected 0\)/,
    );
  });

  it('refuses backward from a tensor that does not require grad', () => {
    expect(() => tg.tensor([1]).sum().backward()).toThrow(/does not require grad/);
  });

  it('backward on a leaf gives ones', () => {
    const x = tg.tensor(3, { requiresGrad: true });
    x.backward();
    expect(x.grad!.item()).toBe(1);
  });

  it('frees deep graphs without recursion', () => {
    const x = tg.tensor([1], { dtype: 'float64', requiresGrad: true });
    let y = x;
    tg.tidy(() => {
      for (let i = 0; i < 50000; i++) y = y.mul(1);
      y.sum().backward();
    });
    expect(x.grad!.item()).toBe(1);
  });

  it('frees deep graphs whose nodes save their inputs, with no backward run', () => {
    // Each mul saves both inputs, and a saved input holds the node before
    // it: 70,000 such steps overflowed the stack when the graph was freed
    // (at dispose, garbage collection or exit).
    const w = tg.full([1], 0.999, { dtype: 'float64', requiresGrad: true });
    let last = 0;
    tg.tidy(() => {
      let y = tg.ones([1], { dtype: 'float64', requiresGrad: true });
      for (let i = 0; i < 200000; i++) y = y.mul(w);
      last = y.item();
    });
    expect(last).toBeCloseTo(Math.pow(0.999, 200000), 90);
    expect(w.grad).toBe(null);
  });
});

describe('grad()', () => {
  it('returns gradients without touching .grad', () => {
    const x = tg.tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    const w = tg.tensor([3, 4], { dtype: 'float64', requiresGrad: true });
    const y = x.mul(w).sum();
    const [gx, gw] = tg.grad(y, [x, w]);
    expect(gx!.toArray()).toEqual([3, 4]);
    expect(gw!.toArray()).toEqual([1, 2]);
    expect(x.grad).toBe(null);
    expect(w.grad).toBe(null);
  });

  it('works for non-leaf inputs and reports unused inputs', () => {
    const x = tg.tensor([1, 2], { requiresGrad: true });
    const h = x.mul(2);
    const unused = tg.tensor([5], { requiresGrad: true });
    const y = h.mul(h).sum();
    expect(() => tg.grad(y, [unused], { retainGraph: true })).toThrow(/was not used.*allowUnused/);
    const [gh, gu] = tg.grad(y, [h, unused], { allowUnused: true });
    expect(gh!.toArray()).toEqual([4, 8]);
    expect(gu).toBe(null);
  });

  it('createGraph gives gradients of gradients', () => {
    // f = x^3: f' = 3x^2, f'' = 6x
    const x = tg.tensor([2], { dtype: 'float64', requiresGrad: true });
    const f = x.mul(x).mul(x).sum();
    const [g] = tg.grad(f, [x], { createGraph: true });
    expect(g!.item()).toBe(12);
    expect(g!.requiresGrad).toBe(true);
    const [gg] = tg.grad(g!.sum(), [x]);
    expect(gg!.item()).toBe(12);
  });

  it('a .grad made under createGraph is its own copy: a later backward adds into it once per element', () => {
    // sum's gradient is one element expanded: kept as it was, the plain
    // backward added into that one element three times ([4, 4, 4]; with a
    // retained gradient sharing it, [7, 7, 7]). PyTorch: [2, 2, 2].
    for (const retain of [false, true]) {
      const x = tg.tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
      const y = x.add(1);
      if (retain) y.retainGrad();
      const s = y.sum();
      s.backward(null, { createGraph: true, retainGraph: true });
      s.backward();
      expect(x.grad!.toArray()).toEqual([2, 2, 2]);
      if (retain) expect(y.grad!.toArray()).toEqual([2, 2, 2]);
    }
  });

  it('backward with createGraph builds a differentiable .grad', () => {
    const x = tg.tensor([3], { dtype: 'float64', requiresGrad: true });
    x.mul(x).sum().backward(null, { createGraph: true });
    const g = x.grad!;
    expect(g.requiresGrad).toBe(true);
    const [gg] = tg.grad(g.sum(), [x]);
    expect(gg!.item()).toBe(2);
  });
});

describe('in-place ops and versions', () => {
  it('bump the version and refuse leaves that require grad', () => {
    const w = tg.tensor([1, 2], { requiresGrad: true });
    expect(() => w.addInPlace(1)).toThrow(/^addInPlace: cannot modify a leaf tensor that requires grad in place/);
    const v0 = w.version;
    tg.noGrad(() => w.subInPlace(tg.tensor([0.5, 0.5])));
    expect(w.version).toBe(v0 + 1);
    expect(w.toArray()).toEqual([0.5, 1.5]);
  });

  it('detect a saved tensor modified after it was saved', () => {
    const w = tg.tensor([1, 2], { requiresGrad: true });
    const x = tg.tensor([3, 4]);
    const loss = w.mul(x).sum();
    x.addInPlace(1);
    expect(() => loss.backward()).toThrow(tg.TapegradError);
    const w2 = tg.tensor([1, 2], { requiresGrad: true });
    const loss2 = w2.mul(w2).sum();
    tg.noGrad(() => w2.mulInPlace(2));
    expect(() => loss2.backward()).toThrow(/modified by an in-place operation/);
  });

  it('an operand only a frozen input\'s gradient would read is not saved: later writes into it pass, as PyTorch', () => {
    // Values from PyTorch 1.13 on the same programs.
    // An RNN reading the previous step back from its output buffer through a frozen W.
    const x0 = tg.tensor([[1, 2]], { requiresGrad: true });
    const frozen = tg.tensor([[0.5, -1], [2, 0.25]]);
    const run = (w: Tensor, steps: number) => {
      const out = tg.zeros([steps, 2]);
      out.narrow(0, 0, 1).copyFrom(x0.mul(1));
      for (let t = 1; t < steps; t++) out.narrow(0, t, 1).copyFrom(out.narrow(0, t - 1, 1).matmul(w).tanh());
      return out;
    };
    const out = run(frozen, 4);
    expectClose(out.toArray(), [[1, 2], [0.99975324, -0.46211717], [-0.40059522, -0.80592179], [-0.94804901, 0.19652443]], 1e-6);
    out.mul(tg.tensor([[1, 2], [3, 4], [5, 6], [7, 8]])).sum().backward();
    expectClose(x0.grad!.toArray(), [[0.29602593, 2.17467833]], 1e-6);
    // With W trained, each step's input is saved for W's gradient: the next write fails backward, as PyTorch.
    const trained = tg.tensor([[0.5, -1], [2, 0.25]], { requiresGrad: true });
    expect(() => run(trained, 3).sum().backward()).toThrow(/modified by an in-place operation/);

    // linear with a frozen weight; mul and div by constants (the divisor itself is still saved).
    const x = tg.tensor([[1, 2, 3]], { requiresGrad: true });
    const h = x.mul(2);
    const y = tg.nn.functional.linear(h, tg.tensor([[1, 0, -1], [2, 1, 0.5]]), tg.tensor([0.5, -0.5]));
    h.addInPlace(100);
    y.sum().backward();
    expect([y.toArray(), x.grad!.toArray()]).toEqual([[[-3.5, 10.5]], [[6, 2, -1]]]);
    const v = tg.tensor([1, 2, 3], { requiresGrad: true });
    const hv = v.mul(1);
    const m = tg.tensor([2, 0, 4]);
    const d = m.add(1);
    const both = hv.mul(m).sum().add(hv.div(d).sum());
    hv.mulInPlace(10);
    both.backward();
    expectClose(v.grad!.toArray(), [2.3333333, 1, 4.2], 1e-6);
    const again = v.div(d).sum();
    d.addInPlace(1);
    expect(() => again.backward()).toThrow(/modified by an in-place operation/);
  });

  it('a frozen weight\'s input is not held for backward', () => {
    const x = tg.randn([256, 256]).setRequiresGrad(true);
    const frozen = tg.randn([256, 256]);
    const trained = tg.randn([256, 256]).setRequiresGrad(true);
    for (const [w, held] of [[frozen, false], [trained, true]] as const) {
      const before = tg.memory().liveBytes;
      const h = x.add(x); // 256 KiB
      const ys = [h.matmul(w), w.matmul(h), tg.nn.functional.linear(h, w), h.mul(w)];
      h.dispose();
      expect(tg.memory().liveBytes - before, held ? 'trained' : 'frozen').toBe((ys.length + (held ? 1 : 0)) * 256 * 1024);
      for (const y of ys) y.dispose();
    }
  });

  it('fill, zero, copyFrom and views see the same storage', () => {
    const a = tg.zeros([2, 3]);
    const t = a.transpose(0, 1);
    a.fill(2);
    expect(t.toArray()).toEqual([[2, 2], [2, 2], [2, 2]]);
    a.copyFrom(tg.tensor([1, 2, 3]));
    expect(t.toArray()).toEqual([[1, 1], [2, 2], [3, 3]]);
    t.zero();
    expect(a.toArray()).toEqual([[0, 0, 0], [0, 0, 0]]);
    expect(() => a.addInPlace(tg.ones([2, 1, 3]))).toThrow(/addInPlace: the operand of shape \[2, 1, 3\] cannot be broadcast to the shape \[2, 3\]/);
    expect(() => a.addInPlace(tg.ones([3, 3]))).toThrow(/addInPlace: shapes \[2, 3\] and \[3, 3\] cannot be broadcast/);
  });
});

describe('hooks', () => {
  it('observe and replace gradients of leaves and intermediates', () => {
    const x = tg.tensor([1, 2], { requiresGrad: true });
    const seen: number[][] = [];
    x.registerHook((g) => {
      seen.push(g.toArray() as number[]);
    });
    const h = x.mul(3);
    h.registerHook((g) => g.mul(10));
    h.sum().backward();
    expect(seen).toEqual([[30, 30]]);
    expect(x.grad!.toArray()).toEqual([30, 30]);
  });

  it('remove() takes a hook off a leaf or an intermediate; removing twice, or after dispose, does nothing', () => {
    const x = tg.tensor([1, 2], { requiresGrad: true });
    const calls: string[] = [];
    const onLeaf = x.registerHook(() => { calls.push('leaf'); });
    const kept = x.registerHook(() => { calls.push('kept'); });
    const h = x.mul(3);
    const onH = h.registerHook((g) => g.mul(10));
    onLeaf.remove();
    onLeaf.remove();
    onH.remove();
    h.sum().backward();
    expect(calls).toEqual(['kept']);
    expect(x.grad!.toArray()).toEqual([3, 3]);
    kept.remove();
    // No JS hook left: the graph may run on a background thread again.
    x.grad = null;
    return x.mul(3).sum().backwardAsync().then(() => {
      expect(x.grad!.toArray()).toEqual([3, 3]);
      const y = x.mul(2);
      const onY = y.registerHook(() => {});
      y.dispose();
      onY.remove();
    });
  });

  it('a hook that registers or removes hooks while backward runs changes the next backward, not this one', () => {
    // Registering during backward grew the list the engine was walking: a crash.
    for (const leaf of [true, false]) {
      const x = tg.tensor([1, 2], { requiresGrad: true });
      const t = leaf ? x : x.mul(1);
      let added = 0;
      const self = t.registerHook(() => {
        for (let i = 0; i < 50; i++) t.registerHook(() => { added++; });
        self.remove();
      });
      t.sum().backward(null, { retainGraph: true });
      expect(added).toBe(0);
      t.sum().backward();
      expect(added).toBe(50);
    }
  });
});

describe('retainGrad', () => {
  // Expected values from PyTorch 1.13's retain_grad on the same programs.
  it('keeps a non-leaf gradient in .grad, accumulated over backward calls', () => {
    const x = tg.tensor([1, 2, 3], { requiresGrad: true });
    const h = x.mul(2);
    expect(h.retainsGrad).toBe(false);
    h.retainGrad();
    h.retainGrad(); // twice: kept once
    expect(h.retainsGrad).toBe(true);
    const y = h.mul(h).sum();
    y.backward(null, { retainGraph: true });
    expect(h.grad!.toArray()).toEqual([4, 8, 12]);
    expect(x.grad!.toArray()).toEqual([8, 16, 24]);
    y.backward();
    expect(h.grad!.toArray()).toEqual([8, 16, 24]);
    expect(x.grad!.toArray()).toEqual([16, 32, 48]);
    // Without retainGrad a non-leaf gets no .grad.
    const other = x.mul(2);
    other.sum().backward();
    expect(other.grad).toBeNull();
  });

  it('keeps what the hooks return, the new value after an in-place write, and a copy', () => {
    const x = tg.tensor([1, 2, 3], { requiresGrad: true });
    const hooked = x.mul(1);
    hooked.retainGrad();
    hooked.registerHook((g) => g.mul(10)); // registered later, still runs first (PyTorch 2)
    hooked.sum().backward();
    expect(hooked.grad!.toArray()).toEqual([10, 10, 10]);

    const written = x.mul(2);
    written.retainGrad();
    written.mulInPlace(3);
    expect(written.retainsGrad).toBe(true);
    written.sum().backward();
    expect(written.grad!.toArray()).toEqual([1, 1, 1]);

    // The second output of a split: its own slot of the node.
    x.grad = null;
    const [, b] = x.mul(1).split(2);
    b.retainGrad();
    b.sum().mul(2).backward();
    expect(b.grad!.toArray()).toEqual([2]);
    expect(x.grad!.toArray()).toEqual([0, 0, 2]);

    // The kept gradient is a copy: add passes the same tensor on to x.
    x.grad = null;
    const shifted = x.add(1);
    shifted.retainGrad();
    shifted.sum().backward();
    shifted.grad!.fill(5);
    expect(x.grad!.toArray()).toEqual([1, 1, 1]);
  });

  it('grad() keeps it only for the nodes it runs', () => {
    // PyTorch leaves y.grad None: grad() with respect to w needs nothing below w.
    const x = tg.tensor([1, 2, 3], { requiresGrad: true });
    const y = x.mul(1);
    y.retainGrad();
    const w = y.mul(3);
    expect(tg.grad([w.sum()], [w])[0]!.toArray()).toEqual([1, 1, 1]);
    expect(y.grad).toBeNull();
    expect(x.grad).toBeNull();
  });

  it('grad() keeps it too; createGraph gives a differentiable .grad', () => {
    const x = tg.tensor([1, 2, 3], { requiresGrad: true });
    const h = x.mul(1);
    h.retainGrad();
    expect(tg.grad([h.sum()], [x])[0].toArray()).toEqual([1, 1, 1]);
    expect(h.grad!.toArray()).toEqual([1, 1, 1]);
    expect(x.grad).toBeNull();
    // Not when h is the input: its rule does not run (PyTorch 1.13 leaves h.grad None there).
    const k = x.mul(2);
    k.retainGrad();
    expect(tg.grad([k.mul(k).sum()], [k])[0].toArray()).toEqual([4, 8, 12]);
    expect(k.grad).toBeNull();

    const sq = x.mul(x);
    sq.retainGrad();
    sq.mul(sq).sum().backward(null, { createGraph: true });
    expect(sq.grad!.toArray()).toEqual([2, 8, 18]);
    expect(sq.grad!.requiresGrad).toBe(true);
    // d/dx of sum(sq.grad) = sum(2x²)' = 4x
    expect(tg.grad([sq.grad!.sum()], [x])[0].toArray()).toEqual([4, 8, 12]);
  });

  it('does nothing on a leaf; refuses a tensor without grad and a graph for backwardAsync; a freed tensor is skipped', () => {
    const x = tg.tensor([1, 2], { requiresGrad: true });
    x.retainGrad();
    expect(x.retainsGrad).toBe(false);
    x.sum().backward();
    expect(x.grad!.toArray()).toEqual([1, 1]);
    expectError(() => tg.tensor([1, 2]).retainGrad(), tg.TapegradError, /retainGrad: cannot retain the gradient of a tensor that does not require grad/);

    const h = x.mul(1);
    h.retainGrad();
    expectError(() => h.sum().backwardAsync(), tg.TapegradError, /backwardAsync: the graph has tensors whose gradient retainGrad\(\) keeps; use backward\(\)/);

    const freed = x.mul(1);
    freed.retainGrad();
    const loss = freed.sum();
    freed.dispose();
    x.grad = null;
    loss.backward();
    expect(x.grad!.toArray()).toEqual([1, 1]);
    // Nor may a running job's graph take one.
    const walked = x.mul(2);
    const job = walked.sum().backwardAsync();
    expectError(() => walked.retainGrad(), tg.TapegradError,
      /^retainGrad: the tensor's graph is in use by a running backwardAsync; await it first/);
    expect(walked.retainsGrad).toBe(false);
    // Once the retaining tensor is gone the graph may run in the background.
    return job.then(() => x.mul(3).sum().backwardAsync());
  });
});

describe('determinism', () => {
  it('gives bitwise identical gradients on repeated runs', () => {
    const run = () => {
      tg.manualSeed(3);
      const x = tg.randn([64, 32], { requiresGrad: true });
      const w = tg.randn([32], { requiresGrad: true });
      const a = x.mul(w);
      const loss = a.mul(a).sum(1).add(a.sum(1)).div(x.sum(1).add(100)).sum();
      loss.backward();
      return [Array.from(x.grad!.data()), Array.from(w.grad!.data())];
    };
    expect(run()).toEqual(run());
  });
});

describe('gradcheck', () => {
  it('passes for a correct program and reports the worst element otherwise', () => {
    const a = leaf([2, 3], 1);
    const b = leaf([3], 2);
    expect(tg.gradcheck((x, y) => x.mul(y).div(y.mul(y).add(2)).sum(0), [a, b])).toBe(true);
    // A "function" whose analytical gradient is wrong: detach hides a dependency.
    const wrong = (x: tg.Tensor) => x.mul(x.detach());
    expect(() => tg.gradcheck(wrong, [leaf([3], 3)])).toThrow(/gradcheck: gradient mismatch for input 0/);
    expect(tg.gradcheck(wrong, [leaf([3], 3)], { raiseException: false })).toBe(false);
  });

  it('refuses tolerances and steps that are not finite non-negative numbers, which would pass any gradient', () => {
    const wrong = (x: tg.Tensor) => x.mul(x.detach()); // its analytical gradient is off
    const x = leaf([3], 3);
    const bad: [tg.GradcheckOptions, ErrorConstructor, RegExp][] = [
      [{ atol: NaN }, RangeError, /^gradcheck: atol must be a finite number >= 0, got NaN$/],
      [{ rtol: NaN }, RangeError, /^gradcheck: rtol must be a finite number >= 0, got NaN$/],
      [{ atol: Infinity }, RangeError, /^gradcheck: atol must be a finite number >= 0, got Infinity$/],
      [{ rtol: -1 }, RangeError, /^gradcheck: rtol must be a finite number >= 0, got -1$/],
      [{ eps: NaN }, RangeError, /^gradcheck: eps must be a finite number > 0, got NaN$/],
      [{ eps: 0 }, RangeError, /^gradcheck: eps must be a finite number > 0, got 0$/],
      [{ atol: '1' as never }, TypeError, /^gradcheck: atol must be a number, got '1'$/],
      [{ eps: '1e-6' as never }, TypeError, /^gradcheck: eps must be a number, got '1e-6'$/],
    ];
    for (const [options, kind, message] of bad) {
      expect(() => tg.gradcheck(wrong, [x], { ...options, raiseException: false })).toThrow(kind);
      expect(() => tg.gradcheck(wrong, [x], options)).toThrow(message);
      expect(() => tg.gradgradcheck(wrong, [x], options)).toThrow(new RegExp(message.source.replace('^gradcheck', '^gradgradcheck')));
    }
    expect(() => tg.gradcheck(wrong, [x], null as never)).toThrow(/^gradcheck: options must be an object/);
    // raise_exception would be ignored; 'false' would have counted as true.
    expect(() => tg.gradcheck(wrong, [x], { raise_exception: false } as never)).toThrow(
      new TypeError("gradcheck: unknown option 'raise_exception'; the options are eps, atol, rtol, raiseException"),
    );
    expect(() => tg.gradgradcheck(wrong, [x], { raiseException: 'false' } as never)).toThrow(
      new TypeError("gradgradcheck: raiseException must be a boolean, got 'false'"),
    );
    expect(tg.gradcheck((t) => t.mul(3), [x], { atol: 0, rtol: 1e-6, eps: 1e-4 })).toBe(true);
  });

  it('fn must be a function returning tensors, and inputs an array of tensors', () => {
    const x = leaf([2], 4);
    expect(() => tg.gradcheck((() => 5) as never, [x])).toThrow(
      new TypeError('gradcheck: fn must return a Tensor or an array of Tensors, got 5'),
    );
    expect(() => tg.gradcheck(((t: tg.Tensor) => [t.mul(2), null]) as never, [x])).toThrow(
      new TypeError('gradcheck: fn must return a Tensor or an array of Tensors, got an array holding null at index 1'),
    );
    expect(() => tg.gradgradcheck((() => 'y') as never, [x])).toThrow(
      new TypeError("gradgradcheck: fn must return a Tensor or an array of Tensors, got 'y'"),
    );
    expect(() => tg.gradcheck(5 as never, [x])).toThrow(new TypeError('gradcheck: fn must be a function, got 5'));
    expect(() => tg.gradcheck((t) => t, x as never)).toThrow(/^gradcheck: inputs must be an array of Tensors, got a Tensor$/);
    expect(() => tg.gradcheck((t) => t, [x, null as never])).toThrow(new TypeError('gradcheck: inputs[1] must be a Tensor, got null'));
    expect(tg.gradcheck((t) => [t.mul(2), t.square()], [x])).toBe(true);
  });

  it('needs float64 inputs', () => {
    const x = tg.tensor([1], { requiresGrad: true });
    expect(() => tg.gradcheck((t) => t.mul(2), [x])).toThrow(/must be float64/);
  });

  it('gradgradcheck checks second derivatives', () => {
    expect(tg.gradgradcheck((x, y) => x.mul(x).mul(y).div(y.add(3)), [leaf([2, 2], 4), leaf([2], 5)])).toBe(true);
  });

  it('gradgradcheck gives a float32 output a float32 gradient output, as PyTorch', () => {
    const x = leaf([3], 8);
    const cube = (t: Tensor) => t.to('float32').pow(3);
    // Second derivatives of float32 computations, within float32's accuracy.
    expect(tg.gradgradcheck(cube, [x], { eps: 1e-3, atol: 1e-2, rtol: 1e-2 })).toBe(true);
    expect(tg.gradgradcheck((t) => [cube(t), t.square()], [x], { eps: 1e-3, atol: 1e-2, rtol: 1e-2 })).toBe(true);
    // With float64's tolerances, a mismatch (not a dtype error), as in PyTorch.
    expect(() => tg.gradgradcheck(cube, [x])).toThrow(/^gradgradcheck: gradient mismatch for (input 0|gradOutputs\[0\] \(the gradient of output 0\)), element/);
    expect(tg.gradgradcheck(cube, [x], { raiseException: false })).toBe(false);
    // float32 inputs that require grad are refused as by gradcheck; an int32 output has no gradient to check.
    expect(() => tg.gradgradcheck((t) => t.pow(3), [tg.tensor([1, 2], { requiresGrad: true })])).toThrow(
      new TypeError('gradgradcheck: input 0 requires grad and must be float64 for finite differences, got float32'),
    );
    expect(() => tg.gradgradcheck((t) => [t.square(), t.argmax()], [x])).toThrow(
      new TypeError('gradgradcheck: output 1 of fn is int32, which has no gradient; fn must return float32 or float64 tensors'),
    );
  });

  it('covers broadcasting, non-contiguous inputs and shared inputs of the arithmetic ops', () => {
    const a = leaf([3, 1], 6);
    const b = leaf([1, 4], 7);
    for (const f of [
      (x: tg.Tensor, y: tg.Tensor) => x.add(y),
      (x: tg.Tensor, y: tg.Tensor) => x.sub(y),
      (x: tg.Tensor, y: tg.Tensor) => x.mul(y),
      (x: tg.Tensor, y: tg.Tensor) => x.div(y.add(2)),
    ]) {
      expect(tg.gradcheck(f, [a, b])).toBe(true);
      expect(tg.gradcheck((x) => f(x, x), [a])).toBe(true);
      expect(tg.gradcheck((x, y) => f(x.transpose(0, 1), y.transpose(0, 1)), [a, b])).toBe(true);
    }
    expect(tg.gradcheck((x) => x.mul(2).sub(1).div(4), [leaf([2, 3], 8)])).toBe(true);
    expect(tg.gradcheck((x) => tg.tensor(1, { dtype: 'float64' }).sub(x), [leaf([2], 9)])).toBe(true);
  });
});

describe('graph lifetime', () => {
  it('frees every tensor of a graph whose ops save their own output, with and without backward', () => {
    const F = tg.nn.functional;
    const x = tg.randn([8, 8]).setRequiresGrad(true);
    const ops = (t: Tensor) => [
      t.prod(0), t.max(1), t.min(0), t.logsumexp(1), t.norm(3, 1), t.std(1), t.exp(), t.sigmoid(), t.tanh(),
      t.sqrt(), t.pow(2), F.softmax(t, 1), F.logSoftmax(t, 0), F.layerNorm(t, [8]),
    ];
    tg.tidy(() => void ops(x)); // warm-up: caches, lazily created state
    const before = tg.memory();
    for (let i = 0; i < 5; i++) {
      tg.tidy(() => void ops(x));
      tg.tidy(() => {
        for (const y of ops(x)) y.sum().backward();
      });
    }
    x.grad!.dispose();
    x.grad = null;
    const after = tg.memory();
    expect(after.liveTensors).toBe(before.liveTensors);
    expect(after.liveBytes).toBe(before.liveBytes);
    expect(after.liveBuffers).toBe(before.liveBuffers);
  });
});

describe('in-place writes are recorded by autograd', () => {
  const OPS = ['addInPlace', 'subInPlace', 'mulInPlace', 'copyFrom'] as const;

  it('into a tensor that requires no grad, of an operand that does (values and gradients as PyTorch)', () => {
    // x = tensor([2., 3], requires_grad=True); buf = tensor([5., 7]); buf.<op>_(x * 2);
    // (buf.sum() + x.sum()).backward(): copy_ [4, 6], x.grad [3, 3]; add_ [9, 13], [3, 3];
    // sub_ [1, 1], [-1, -1]; mul_ [20, 42], [11, 15]. (Before: refused, and before that,
    // x.grad came out [1, 1] without a word.)
    const want = {
      addInPlace: [[9, 13], [3, 3]],
      subInPlace: [[1, 1], [-1, -1]],
      mulInPlace: [[20, 42], [11, 15]],
      copyFrom: [[4, 6], [3, 3]],
    };
    for (const op of OPS) {
      const x = tg.tensor([2, 3], { requiresGrad: true });
      const buf = tg.tensor([5, 7]);
      expect(buf[op](x.mul(2))).toBe(buf);
      expect([buf.requiresGrad, buf.isLeaf, buf.gradFn], op).toEqual([true, false, op]);
      buf.sum().add(x.sum()).backward();
      expect([buf.toArray(), x.grad!.toArray()], op).toEqual(want[op]);
    }
  });

  it('gradients against finite differences, the operand broadcast, in float64', () => {
    for (const op of OPS) {
      // x.mul(1): a tensor with history, written in place.
      const f = (x: Tensor, y: Tensor) => x.mul(1)[op](y).mul(x);
      expect(tg.gradcheck(f, [leaf([2, 3], 1), leaf([3], 2)]), op).toBe(true);
      expect(tg.gradcheck(f, [leaf([2, 3], 3), leaf([2, 1], 4)]), op).toBe(true);
      expect(tg.gradgradcheck(f, [leaf([2, 3], 5), leaf([3], 6)]), op).toBe(true);
    }
    // fill with a 0-d tensor: its gradient is the sum; the old values get none.
    const fill = (x: Tensor, v: Tensor) => x.mul(1).fill(v).mul(x);
    expect(tg.gradcheck(fill, [leaf([2, 3], 7), leaf([], 8)])).toBe(true);
    // The operand is the target itself: h *= h reads h as it was.
    expect(tg.gradcheck((x: Tensor) => x.mul(1).mulInPlace(x.mul(1)), [leaf([4], 9)])).toBe(true);
    const sq = (x: Tensor) => {
      const h = x.mul(3);
      return h.mulInPlace(h);
    };
    expect(tg.gradcheck(sq, [leaf([4], 10)])).toBe(true);
    expect(tg.gradgradcheck(sq, [leaf([4], 11)])).toBe(true);
  });

  it('by hand: the values a tensor held before a copy get a zero gradient, as PyTorch', () => {
    // x = tensor([1., 2], requires_grad=True); h = x * 3; h.copy_(y); h.sum().backward()
    // gives x.grad [0, 0] and y.grad [1, 1]; with h.mul_(y): x.grad == 3 * y.
    const x = tg.tensor([1, 2], { requiresGrad: true });
    const y = tg.tensor([4, 5], { requiresGrad: true });
    x.mul(3).copyFrom(y).sum().backward();
    expect([x.grad!.toArray(), y.grad!.toArray()]).toEqual([[0, 0], [1, 1]]);
    x.grad = null;
    y.grad = null;
    const h = x.mul(3).mulInPlace(y);
    expect(h.toArray()).toEqual([12, 30]);
    h.sum().backward();
    expect([x.grad!.toArray(), y.grad!.toArray()]).toEqual([[12, 15], [3, 6]]);
  });

  it('each input gets a gradient of its own dtype', () => {
    const x = tg.tensor([1, 2], { requiresGrad: true }); // float32
    const y = tg.tensor([3, 4], { dtype: 'float64', requiresGrad: true });
    const h = x.mul(2).mulInPlace(y);
    expect(h.dtype).toBe('float32');
    h.sum().backward();
    expect([x.grad!.dtype, x.grad!.toArray()]).toEqual(['float32', [6, 8]]);
    expect([y.grad!.dtype, y.grad!.toArray()]).toEqual(['float64', [2, 4]]);
  });

  it('a value saved for backward and then written fails at backward, as PyTorch', () => {
    const x = tg.tensor([1, 2], { requiresGrad: true });
    const h = x.mul(2);
    const loss = h.mul(h).sum(); // mul saved h
    h.addInPlace(1);
    expect(() => loss.backward()).toThrow(/modified by an in-place operation/);
  });

  it('refuses what it cannot record, writing nothing', () => {
    const w = tg.tensor([1, 2], { requiresGrad: true });
    expect(() => w.addInPlace(1)).toThrow(
      new tg.TapegradError(
        'addInPlace: cannot modify a leaf tensor that requires grad in place; write it inside noGrad() (as an optimizer step does), or use the out-of-place op',
      ),
    );
    // A view of such a leaf (PyTorch: "a view of a leaf Variable that requires grad is being used in an in-place operation").
    expect(() => w.narrow(0, 0, 1).mulInPlace(2)).toThrow(
      /^mulInPlace: cannot record an in-place write into a view of a leaf tensor that requires grad; use the out-of-place op/,
    );
    expect(w.toArray()).toEqual([1, 2]);
    // Without recording, it is a plain write.
    tg.noGrad(() => w.addInPlace(1));
    expect(w.toArray()).toEqual([2, 3]);
  });
});

describe('in-place writes into views rebuild the histories of the base and its views, as PyTorch', () => {
  // Expected values from PyTorch 1.13 on the same programs.
  it('rows of an output buffer written one step at a time (an RNN\'s pattern)', () => {
    const w = tg.tensor([0.5, -1, 2], { requiresGrad: true });
    const weights = tg.tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9]]);
    const out = tg.zeros([3, 3]);
    let h = tg.tensor([1, 2, 3]);
    for (let t = 0; t < 3; t++) {
      h = h.mul(w).add(1);
      out.narrow(0, t, 1).copyFrom(h.reshape([1, 3]));
    }
    expect(out.gradFn).toBe('copySlices');
    expect(out.toArray()).toEqual([[1.5, -1, 7], [1.75, 2, 15], [1.875, -1, 31]]);
    out.mul(weights).sum().backward();
    expect(w.grad!.toArray()).toEqual([28.25, 29, 456]);
  });

  it('a view made before the write sees it in its history: of the base, or of another view', () => {
    const x = tg.tensor([1, 2, 3, 4], { requiresGrad: true });
    const b = tg.zeros([4]);
    const early = b.narrow(0, 0, 2);
    const untouched = b.narrow(0, 3, 1);
    b.narrow(0, 1, 2).copyFrom(x.narrow(0, 0, 2).mul(3));
    expect(early.toArray()).toEqual([0, 3]);
    expect(early.gradFn).toBe('asStrided');
    // No overlap: its history stands, with the same gradients. (PyTorch gives
    // it an AsStrided history too, with a zero gradient; here a view that a
    // rule saved, and that the write leaves alone, gets no history leading
    // back to that rule: it would be a reference cycle.)
    expect(untouched.requiresGrad).toBe(false);
    early.sum().backward();
    expect(x.grad!.toArray()).toEqual([3, 0, 0, 0]);

    const y = tg.tensor([1, 2], { requiresGrad: true });
    const base = tg.ones([2, 2]);
    const column = base.narrow(1, 0, 1);
    base.addInPlace(y);
    expect(column.toArray()).toEqual([[2], [2]]);
    column.sum().backward();
    expect(y.grad!.toArray()).toEqual([2, 0]);
  });

  it('gradcheck and gradgradcheck in float64 through writes into views, transposed views and the base', () => {
    const f = (x: Tensor, w: Tensor) => {
      const buf = tg.zeros([4, 3], { dtype: 'float64' });
      const early = buf.T.narrow(0, 0, 1); // made before the writes
      buf.narrow(0, 1, 2).copyFrom(x.mul(w));
      buf.T.narrow(0, 2, 1).addInPlace(w.sum().reshape([1, 1]));
      buf.narrow(1, 1, 1).mulInPlace(x.narrow(1, 0, 1).sum().add(1));
      buf.subInPlace(x.sum());
      return buf.mul(buf).sum().add(early.mul(early).sum());
    };
    const x = leaf([2, 3], 11), w = leaf([3], 12);
    expect(tg.gradcheck(f, [x, w])).toBe(true);
    expect(tg.gradgradcheck(f, [x, w])).toBe(true);
  });

  it('a view with the base\'s strides that is not a box of it is rebuilt when it shares elements with the write', () => {
    // Values from PyTorch 1.13. A size-1 dim transposed keeps the strides of [2, 1, 3].
    const w = tg.tensor([1, 2, 3, 4, 5, 6], { dtype: 'float64', requiresGrad: true });
    const z = tg.tensor([[[10, 20, 30]]], { dtype: 'float64', requiresGrad: true });
    const b = w.reshape([2, 1, 3]).mul(1);
    const x = b.transpose(0, 1); // [1, 2, 3], strides [3, 3, 1]
    b.narrow(0, 1, 1).copyFrom(z);
    x.sum().backward();
    expect(w.grad!.toArray()).toEqual([1, 1, 1, 0, 0, 0]);
    expect(z.grad!.toArray()).toEqual([[[1, 1, 1]]]);
    // A range of a [2, 3] base that wraps past its first row, read as [1, 3].
    const u = tg.tensor([[0, 1, 2], [3, 4, 5]], { dtype: 'float64', requiresGrad: true });
    const y = tg.tensor([[7, 8, 9]], { dtype: 'float64', requiresGrad: true });
    const c = u.mul(1);
    const wrapped = c.reshape([6]).narrow(0, 1, 3).reshape([1, 3]);
    c.narrow(0, 1, 1).copyFrom(y);
    wrapped.mul(tg.tensor([1, 2, 3], { dtype: 'float64' })).sum().backward();
    expect(u.grad!.toArray()).toEqual([[0, 1, 2], [0, 0, 0]]);
    expect(y.grad!.toArray()).toEqual([[3, 0, 0]]);
  });

  it('a base laid out in another dim order (attention\'s head-merged output) is rebuilt too', () => {
    const program = (copyFirst: boolean) => (q: Tensor, x: Tensor) => {
      const heads = q.transpose(1, 2);
      const out = tg.nn.functional.scaledDotProductAttention(heads, heads, heads);
      expect(out.isContiguous()).toBe(false); // [N, H, L, D] stored as [N, L, H, D]
      const att = copyFirst ? out.contiguous() : out;
      const early = att.narrow(2, 1, 2); // made before the writes
      att.narrow(3, 0, 1).mulInPlace(x);
      att.narrow(2, 1, 1).addInPlace(x.sum());
      return att.mul(att).sum().add(early.sum());
    };
    const q = leaf([1, 3, 2, 4], 21), x = leaf([1, 2, 3, 1], 22);
    expect(tg.gradcheck(program(false), [q, x])).toBe(true);
    const [gq, gx] = tg.grad([program(false)(q, x)], [q, x]);
    const [cq, cx] = tg.grad([program(true)(q, x)], [q, x]);
    expectClose(gq!.toArray(), cq!.toArray(), 1e-12);
    expectClose(gx!.toArray(), cx!.toArray(), 1e-12);
  });

  it('a detach()ed tensor is a base of its own: the write has a history there, not in the tensor it came from', () => {
    const x = tg.tensor([1, 2], { requiresGrad: true });
    const w = tg.tensor([3, 4], { requiresGrad: true });
    const h = x.mul(1);
    const d = h.detach();
    d.addInPlace(w);
    expect(h.toArray()).toEqual([4, 6]);
    expect(h.gradFn).toBe('mul');
    d.sum().backward();
    expect(w.grad!.toArray()).toEqual([1, 1]);
    expect(x.grad).toBeNull();
    const d2 = x.mul(1).detach();
    d2.narrow(0, 0, 1).mulInPlace(w.narrow(0, 0, 1));
    expect(d2.gradFn).toBe('copySlices');
  });

  it('a detach()ed slice is a base at its offset: writes into its views are recorded (PyTorch 1.13\'s values)', () => {
    const x = tg.tensor([[1, 2, 3], [4, 5, 6]], { requiresGrad: true });
    const w = tg.tensor([0.5, -1, 2], { requiresGrad: true });
    const buf = tg.arange(12, { dtype: 'float32' }).reshape([4, 3]);
    const d = buf.narrow(0, 1, 2).detach();
    const row = d.narrow(0, 1, 1);
    d.narrow(1, 1, 1).copyFrom(x.narrow(1, 0, 1).mul(2));
    d.mulInPlace(w);
    expect(buf.toArray()).toEqual([[0, 1, 2], [1.5, -2, 10], [3, -8, 16], [9, 10, 11]]);
    expect([d.gradFn, row.gradFn]).toEqual(['mulInPlace', 'asStrided']);
    d.mul(d).sum().add(row.sum()).backward();
    expect([x.grad!.toArray(), w.grad!.toArray()]).toEqual([[[8, 0, 0], [30, 0, 0]], [51, -128, 364]]);
    // float64, against finite differences; a slice in the middle of a permuted buffer too.
    const f = (a: Tensor, v: Tensor) => {
      const mem = tg.zeros([5, 4], { dtype: 'float64' });
      const s = mem.narrow(0, 2, 2).detach();
      s.narrow(1, 1, 2).copyFrom(a.mul(v));
      s.narrow(0, 1, 1).addInPlace(v.sum());
      const p = tg.zeros([3, 4, 2], { dtype: 'float64' }).permute([1, 0, 2]).narrow(1, 1, 2).detach();
      p.narrow(2, 0, 1).copyFrom(s.T.reshape([4, 2, 1]));
      return s.mul(s).sum().add(p.mul(p).sum());
    };
    expect(tg.gradcheck(f, [leaf([2, 2], 21), leaf([2], 22)])).toBe(true);
    // A detach()ed slice whose elements are not one block (two of four columns): its views' writes are refused.
    const columns = tg.zeros([3, 4]).narrow(1, 1, 2).detach();
    expect(() => columns.narrow(0, 0, 1).copyFrom(w.narrow(0, 0, 2))).toThrow(
      /^copyFrom: cannot record an in-place write into a view of a tensor whose elements do not fill a block of memory/);
    expect(columns.toArray()).toEqual([[0, 0], [0, 0], [0, 0]]);
  });

  it('refuses a view of a leaf that requires grad however it is reached, and a view made in noGrad() without its base\'s history', () => {
    // A parameter that is itself a view (of a transposed tensor): a view of it
    // shares the untracked tensor as base, but writing it would change the leaf.
    const p = tg.randn([4, 3]).T.setRequiresGrad(true);
    expect(p.isLeaf).toBe(true);
    expect(() => p.narrow(0, 0, 1).fill(0)).toThrow(/^fill: cannot record an in-place write into a view of a leaf tensor that requires grad/);
    expect(p.isLeaf).toBe(true);

    // PyTorch: "A view was created in no_grad mode and is being modified inplace with grad mode enabled".
    const x = tg.tensor([1, 2, 3], { requiresGrad: true }), y = tg.tensor([10, 20], { requiresGrad: true });
    const b = x.mul(1);
    const v = tg.noGrad(() => b.narrow(0, 0, 2));
    const refused = /^(mulInPlace|fill|copyFrom): cannot write in place with grad mode on into a view made inside noGrad\(\) of a tensor that requires grad/;
    expect(() => v.mulInPlace(y)).toThrow(refused);
    // Also with an operand that needs no gradient: unrecorded, the write
    // would change b behind its history (backward would miss the factor).
    expect(() => v.mulInPlace(3)).toThrow(refused);
    expect(() => v.copyFrom(tg.tensor([7, 8]))).toThrow(refused);
    expect(() => tg.noGrad(() => x.narrow(0, 0, 1)).fill(100)).toThrow(refused);
    expect(b.toArray()).toEqual([1, 2, 3]);
    expect(x.toArray()).toEqual([1, 2, 3]);
    // Inside noGrad() the write is the caller's to answer for, as PyTorch's.
    tg.noGrad(() => tg.noGrad(() => x.narrow(0, 2, 1)).fill(3));
    // Once a write into the base has given it the base's history, it may be
    // written (PyTorch still refuses); the gradients are those of the program.
    b.addInPlace(1);
    v.mulInPlace(y);
    b.sum().backward();
    expect(x.grad!.toArray()).toEqual([10, 20, 1]);
    expect(y.grad!.toArray()).toEqual([2, 3]);
    // A view made in noGrad() of a tensor without history is just a view.
    const buffer = tg.zeros([3]);
    tg.noGrad(() => buffer.narrow(0, 0, 2)).copyFrom(y);
    expect(buffer.gradFn).toBe('copySlices');
  });

  it('keeps no reference cycle: graphs whose ops saved views of a written buffer are freed', () => {
    const w = tg.randn([8, 8], { requiresGrad: true });
    const before = tg.memory().liveBytes;
    for (let i = 0; i < 20; i++) {
      tg.tidy(() => {
        // mulInPlace saves its operand, a view of the buffer it writes.
        const x = tg.randn([1000], { requiresGrad: true });
        const buf = x.mul(1);
        buf.narrow(0, 0, 500).mulInPlace(buf.narrow(0, 500, 500));
        // Each step reads the last one's row through a view that matmul saves.
        const out = tg.zeros([10, 8]);
        out.narrow(0, 0, 1).fill(1);
        for (let t = 1; t < 10; t++) out.narrow(0, t, 1).copyFrom(out.narrow(0, t - 1, 1).matmul(w).tanh());
      });
    }
    // Before, each iteration kept its graph and buffers (2.4 MB over 200).
    expect(tg.memory().liveBytes).toBe(before);
  });

  it('a value saved for backward and then written through a view fails at backward', () => {
    const p = tg.tensor([1, 2], { requiresGrad: true });
    const e = p.exp(); // exp saves its output
    e.narrow(0, 0, 1).mulInPlace(2);
    expect(() => e.sum().backward()).toThrow(/modified by an in-place operation/);
  });
});

describe('copyFrom and fill into int32', () => {
  it('truncate floats toward zero, as PyTorch copy_ and fill_, and refuse what int32 cannot hold', () => {
    // torch.zeros(3, dtype=torch.int32).copy_(torch.tensor([1.9, -2.9, 3.])) -> [1, -2, 3];
    // add_ of a float is refused ("result type Float can't be cast to the desired output type Int").
    const t = tg.zeros([3], { dtype: 'int32' });
    expect(t.copyFrom(tg.tensor([1.9, -2.9, 3])).toArray()).toEqual([1, -2, 3]);
    expect(t.copyFrom(tg.tensor([-0.5, 7.99, 2147483647], { dtype: 'float64' })).toArray()).toEqual([0, 7, 2147483647]);
    expect(t.copyFrom(-4.5).toArray()).toEqual([-4, -4, -4]);
    // A number is read in full precision: 16777217.9 is 16777218 in float32.
    expect(t.fill(16777217.9).toArray()).toEqual([16777217, 16777217, 16777217]);
    expect(() => t.copyFrom(tg.tensor([1, NaN, 2]))).toThrow(
      new RangeError('copyFrom: element 1 (NaN) does not fit in int32; int32 holds whole numbers in [-2147483648, 2147483647]'),
    );
    expect(t.toArray()).toEqual([16777217, 16777217, 16777217]);
    expect(() => t.addInPlace(tg.tensor([1.5]))).toThrow(new TypeError('addInPlace: cannot write a float32 result into an int32 tensor in place'));
  });
});
