import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tg } from './helpers.js';

describe('backwardAsync', () => {
  it('gives the same gradients as backward and locks the leaves while it runs', async () => {
    const make = () => {
      tg.manualSeed(11);
      const w = tg.randn([256, 256], { requiresGrad: true });
      let h = w;
      for (let i = 0; i < 20; i++) h = h.mul(h.add(0.5)).div(h.mul(h).add(1));
      return { w, loss: h.sum() };
    };
    const a = make();
    a.loss.backward();
    const b = make();
    const pending = b.loss.backwardAsync();
    expect(() => tg.noGrad(() => b.w.addInPlace(1))).toThrow(/in use by a running async operation/);
    expect(() => b.w.grad).toThrow(/in use by a running backwardAsync/);
    await pending;
    expect(Array.from(b.w.grad!.data())).toEqual(Array.from(a.w.grad!.data()));
    tg.noGrad(() => b.w.addInPlace(1)); // unlocked again
  });

  it('locks the gradient it starts from while it runs', async () => {
    const x = tg.randn([512, 512], { requiresGrad: true });
    const y = x.mul(x);
    const g = tg.ones([512, 512]);
    const pending = y.backwardAsync(g);
    expect(() => g.fill(100)).toThrow(/in use by a running async operation/);
    await pending;
    expect(Array.from(x.grad!.data())).toEqual(Array.from(x.mul(2).data()));
    g.fill(100); // unlocked again
  });

  it('locks what the graph saved for backward while it runs, and only that', async () => {
    // x: data; y: an intermediate the next op saves; s: tanh saves its output.
    // Written while the job reads them, the gradients would be wrong: the
    // version check sees only writes made before a rule unpacks.
    const x = tg.randn([256, 256]);
    const w = tg.randn([256, 256], { requiresGrad: true });
    const unsaved = tg.randn([256, 256]);
    const y = x.matmul(w);
    const s = y.mul(y).tanh();
    const loss = s.add(unsaved).sum();
    const pending = loss.backwardAsync();
    const inUse = /in use by a running async operation; await it before writing/;
    expect(() => x.addInPlace(1)).toThrow(inUse);
    expect(() => tg.noGrad(() => y.detach().fill(0))).toThrow(inUse);
    expect(() => tg.noGrad(() => s.detach().mulInPlace(2))).toThrow(inUse);
    expect(() => x.dispose()).toThrow(/dispose: the tensor is in use by a running async operation/);
    expect(x.grad).toBeNull(); // only read by the job: its .grad is not touched
    unsaved.addInPlace(1); // add saved neither input: not locked
    await pending;
    // Settled: gradients as from the untouched values, and the writes go through.
    const expected = tg.grad([x.matmul(w).mul(x.matmul(w)).tanh().sum()], [w])[0]!;
    expect(Array.from(w.grad!.data())).toEqual(Array.from(expected.data()));
    x.addInPlace(1);
    tg.noGrad(() => y.detach().fill(0));
  });

  it('holds a leaf it accumulates into and its .grad, while other jobs may read the leaf', async () => {
    const w = tg.randn([256, 256], { requiresGrad: true });
    const x = tg.randn([256, 256]);
    const pending = w.add(x).sum().backwardAsync(); // add saves neither input
    const held = /the tensor is in use by a running (backwardAsync or train step|async operation); await it first/;
    expect(() => w.grad).toThrow(held);
    expect(() => {
      w.grad = null;
    }).toThrow(held);
    expect(() => w.setRequiresGrad(false)).toThrow(held);
    expect(() => w.dispose()).toThrow(held);
    expect(() => tg.noGrad(() => w.addInPlace(1))).toThrow(/in use by a running async operation; await it before writing/);
    expect(() => tg.nn.utils.clipGradNorm([w], 1)).toThrow(/in use by a running/);
    // Another job may save and read w's memory meanwhile (it used to be refused as written).
    const v = tg.randn([256, 256], { requiresGrad: true });
    const second = v.mul(w.detach()).sum().backwardAsync();
    await Promise.all([pending, second]);
    expect(Array.from(w.grad!.data())).toEqual(new Array(256 * 256).fill(1));
    expect(Array.from(v.grad!.data())).toEqual(Array.from(w.data()));
    w.grad = null; // settled: held no more
    w.dispose();
  });

  it('refuses a backward that would add into a .grad its graph saved', async () => {
    const w = tg.randn([256], { requiresGrad: true });
    w.mul(2).sum().backward();
    const v = tg.randn([256, 256], { requiresGrad: true });
    const pending = v.mul(w.grad!).sum().backwardAsync(); // mul saved w.grad
    expect(() => w.mul(3).sum().backward()).toThrow(
      /^backward: the \.grad of a leaf it accumulates into is in use by a running backwardAsync or train step; await it first$/,
    );
    await pending;
    expect(Array.from(v.grad!.data())).toEqual(Array.from(tg.full([256, 256], 2).mul(tg.ones([256])).data()));
    w.mul(3).sum().backward();
    expect(Array.from(w.grad!.data())).toEqual(new Array(256).fill(5));
  });

  it('refuses to start from a hook of a running backward() (the call runs nodes without marking them)', async () => {
    const x = tg.randn([64, 64], { requiresGrad: true });
    let h = x;
    for (let i = 0; i < 3; i++) h = h.mul(1.01).exp().mul(0.5);
    const z = tg.randn([4], { requiresGrad: true });
    const zz = z.mul(2);
    const b = h.mean();
    const errors: unknown[] = [];
    zz.registerHook(() => {
      try {
        void b.backwardAsync();
      } catch (e) {
        errors.push(e);
      }
    });
    h.sum().add(zz.sum()).backward(null, { retainGraph: true });
    expect(errors.map(String)).toEqual([
      'TapegradError: backwardAsync: cannot start from a hook while backward() or grad() runs; start it after that call returns',
    ]);
    const before = Array.from(x.grad!.data());
    await b.backwardAsync(); // after the call: runs
    expect(Array.from(x.grad!.data())).not.toEqual(before);
  });

  it('refuses to run, or hook, a part of the graph it walks from the JS thread until it settles', async () => {
    // Both losses go through h's nodes: a synchronous backward through them
    // alongside the job ran and freed the same nodes on two threads.
    const x = tg.randn([256, 256], { requiresGrad: true });
    let h = x;
    for (let i = 0; i < 5; i++) h = h.mul(1.01).exp().mul(0.5);
    const other = tg.randn([4], { requiresGrad: true });
    const a = h.sum(), b = h.mean(), c = other.mul(2).sum();
    const pending = a.backwardAsync(null, { retainGraph: true });
    const inUse = /the graph \(at 'mul'\) is in use by a running backwardAsync; await it first/;
    expect(() => b.backward()).toThrow(inUse);
    expect(() => tg.grad([b], [x])).toThrow(/^grad: the graph \(at 'mul'\) is in use by a running backwardAsync/);
    expect(() => h.registerHook(() => undefined)).toThrow(
      /^registerHook: the tensor's graph is in use by a running backwardAsync; await it first$/,
    );
    expect(() => b.backwardAsync()).toThrow(/backwardAsync: the graph \(at 'mul'\) is in use by another running backwardAsync/);
    c.backward(); // a graph it does not walk
    expect(Array.from(other.grad!.data())).toEqual([2, 2, 2, 2]);
    await pending;
    // Settled: the same calls go through.
    const [gx] = tg.grad([b], [x], { retainGraph: true });
    expect(gx!.shape).toEqual([256, 256]);
    h.registerHook(() => undefined).remove();
    b.backward();
    expect(x.grad!.shape).toEqual([256, 256]);
  });

  it('zeroGrad and optimizer.step refused while it runs change nothing', async () => {
    // The running backward reaches the second layer only; the first has gradients from before.
    const first = new tg.nn.Linear(4, 4);
    const second = new tg.nn.Linear(256, 256);
    const model = new tg.nn.Sequential(first, second);
    first.forward(tg.ones([1, 4])).sum().backward();
    const opt = new tg.optim.SGD([{ params: first.parameters() }, { params: second.parameters() }], { lr: 0.1, momentum: 0.9 });
    const pending = second.forward(tg.randn([256, 256])).tanh().sum().backwardAsync();
    expect(() => opt.step()).toThrow(/^SGD.step: parameter 0 of group 1 is in use by a running backwardAsync or train step; await it first$/);
    expect(opt.stateDict().state).toEqual({}); // no momentum buffers made for the first group
    expect(() => opt.zeroGrad()).toThrow(/^SGD.zeroGrad: parameter 0 of group 1 is in use/);
    expect(() => model.zeroGrad()).toThrow(/^zeroGrad: parameter '1.weight' is in use/);
    expect(first.weight.grad).not.toBeNull();
    expect(first.bias!.grad).not.toBeNull();
    await pending;
    opt.step();
    expect(Object.keys(opt.stateDict().state)).toEqual(['0', '1', '2', '3']);
    model.zeroGrad();
    expect(model.parameters().every((p) => p.grad === null)).toBe(true);
  });

  it('refuses what backward refuses, with the same error classes', async () => {
    const x = tg.tensor([1, 2], { requiresGrad: true });
    const y = x.mul(x).sum();
    await y.backwardAsync();
    // A freed graph is found before the promise is made, as the arguments are.
    expect(() => y.backwardAsync()).toThrow(tg.TapegradError);
    expect(() => y.backwardAsync()).toThrow(/^backwardAsync: tried to go through the graph a second time \(at 'mul'\)/);
    expect(() => tg.tensor([1]).sum().backwardAsync()).toThrow(/does not require grad/);
    // Checked before the promise is made, as the other arguments, and named backwardAsync.
    expect(() => x.mul(2).backwardAsync()).toThrow(
      /^backwardAsync: output 0 has shape \[2\]; gradients can be created implicitly only for outputs with one element/,
    );
    expect(() => x.mul(2).backwardAsync(tg.ones([3]))).toThrow(/^backwardAsync: gradient 0 has shape \[3\] and dtype float32, expected shape \[2\]/);
    const h = x.mul(2);
    h.registerHook((g) => g);
    expect(() => h.sum().backwardAsync()).toThrow(/hooks registered from JS/);
  });

  it('holds no libuv worker while it runs: file system work goes on with a pool of one', () => {
    // A child process, since the pool size is read once per process.
    const script = `
      const fs = require('node:fs');
      const dist = ${JSON.stringify(path.join(__dirname, '..', 'dist', 'index.js'))};
      const tg = require(dist);
      const w = tg.randn([512, 512], { requiresGrad: true });
      let h = w;
      for (let i = 0; i < 60; i++) h = h.matmul(w).tanh();
      const loss = h.sum();
      let stepDone = false, readDone = false, readFirst = false;
      loss.backwardAsync().then(() => { stepDone = true; });
      fs.readFile(dist, (err) => { if (err) throw err; readDone = true; readFirst = !stepDone; });
      const check = setInterval(() => {
        if (stepDone && readDone) { clearInterval(check); console.log(JSON.stringify({ readFirst })); }
      }, 1);
    `;
    const out = execFileSync(process.execPath, ['-e', script], { env: { ...process.env, UV_THREADPOOL_SIZE: '1' }, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ readFirst: true });
  });

  it('tidyAsync frees what it does not return', async () => {
    const before = tg.memory().liveTensors;
    const made: tg.Tensor[] = [];
    const kept = await tg.tidyAsync(async () => {
      const x = tg.tensor([1, 2], { requiresGrad: true });
      const loss = x.mul(x).sum();
      made.push(x, loss);
      await loss.backwardAsync();
      return x.grad!;
    });
    expect(kept.toArray()).toEqual([2, 4]);
    expect(made.map((t) => t.isDisposed)).toEqual([true, true]);
    expect(kept.isDisposed).toBe(false);
    // At most the one kept: the await lets finalizers of earlier garbage run, so the count may also fall.
    expect(tg.memory().liveTensors).toBeLessThanOrEqual(before + 1);
  });

  it('tidyAsync calls that overlap keep to their own tensors (one disposed what the other returned)', async () => {
    const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const inner: tg.Tensor[] = [];
    const slow = tg.tidyAsync(async () => {
      await pause(20);
      inner.push(tg.zeros([2]));
      return tg.ones([2]);
    });
    const fast = tg.tidyAsync(async () => {
      const b = tg.ones([3]);
      await pause(5);
      return b;
    });
    const fromFast = await fast;
    const fromSlow = await slow;
    expect([fromFast.isDisposed, fromSlow.isDisposed, inner[0]!.isDisposed]).toEqual([false, false, true]);
    // Nested: what the inner call returns moves to the outer one's scope, which disposes it unless returned.
    let moved: tg.Tensor | undefined;
    const outer = await tg.tidyAsync(async () => {
      moved = await tg.tidyAsync(async () => {
        await pause(1);
        return tg.ones([1]);
      });
      return tg.tidy(() => moved!.add(1));
    });
    expect([moved!.isDisposed, outer.isDisposed, outer.toArray()]).toEqual([true, false, [2]]);
    // Code outside any scope while a tidyAsync awaits: its tensors are its own (the GC's), not the scope's.
    let outside: tg.Tensor | undefined;
    const running = tg.tidyAsync(async () => { await pause(10); return 0; });
    outside = tg.zeros([1]);
    await running;
    expect(outside.isDisposed).toBe(false);
  });
});
