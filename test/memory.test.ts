// The allocator's buffer cache, memory() counters, tidy/dispose ownership and
// finalizers of tensors that escape every scope.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tg } from './helpers.js';

const dist = path.resolve(__dirname, '..', 'dist', 'index.js');
const defaultLimit = tg.memory().cacheLimitBytes;
// Sanitizer builds and TAPEGRAD_BUFFER_CACHE=0 turn the cache off.
const cacheOn = defaultLimit > 0;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/**
 * Collects garbage and lets Node run the finalizers it queued: at least four
 * rounds, then more until the live-tensor count holds still (under a loaded
 * machine some finalizers ran only after the fourth round: a flaky count
 * about once in eight full runs), at most twenty. A leak still shows: its
 * count holds still too, just above the baseline.
 */
async function collect(): Promise<void> {
  let last = -1;
  for (let i = 0; i < 20; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    const live = tg.memory().liveTensors;
    if (i >= 3 && live === last) return;
    last = live;
  }
}

beforeAll(() => tg.setNumThreads(1));
afterEach(() => tg.setCacheLimit(defaultLimit));

describe('memory() counters', () => {
  it('reports every field as a number, with the cache limit', () => {
    const m: tg.MemoryInfo = tg.memory();
    for (const key of ['liveTensors', 'liveBytes', 'peakBytes', 'liveBuffers', 'cachedBytes', 'cacheLimitBytes', 'scratchBytes'] as const)
      expect(typeof m[key], key).toBe('number');
    expect(m.peakBytes).toBeGreaterThanOrEqual(m.liveBytes);
    if (cacheOn) expect(m.cacheLimitBytes).toBe(Math.max(256 * 1024 * 1024, m.peakBytes));
    else expect(m.cacheLimitBytes).toBe(0);
  });

  it('counts requested bytes as live, and a freed buffer as cached, not live', () => {
    const before = tg.memory();
    const t = tg.zeros([1000]);
    const during = tg.memory();
    expect(during.liveBytes - before.liveBytes).toBe(4000);
    expect(during.liveBuffers - before.liveBuffers).toBe(1);
    expect(during.liveTensors - before.liveTensors).toBe(1);
    expect(during.peakBytes).toBeGreaterThanOrEqual(during.liveBytes);
    t.dispose();
    const after = tg.memory();
    expect(after.liveBytes).toBe(before.liveBytes);
    expect(after.liveBuffers).toBe(before.liveBuffers);
    expect(after.liveTensors).toBe(before.liveTensors);
    // 4000 bytes round up to the 4096-byte class.
    if (cacheOn) expect(after.cachedBytes - during.cachedBytes).toBe(4096);
    else expect(after.cachedBytes).toBe(0);
  });

  // TAPEGRAD_GEMM_PATH=direct forces the path that packs nothing.
  it.skipIf(process.env.TAPEGRAD_GEMM_PATH === 'direct')('counts the kernels\' scratch buffers apart from tensors, reused by their thread and freed when it exits', async () => {
    // A float64 product on the packed path, larger than any earlier in this file.
    const a = tg.randn([600, 700], { dtype: 'float64' });
    const b = tg.randn([700, 500], { dtype: 'float64' });
    const before = tg.memory();
    const c = a.matmul(b);
    const during = tg.memory();
    expect(during.scratchBytes).toBeGreaterThan(before.scratchBytes);
    expect(during.liveBytes - before.liveBytes).toBe(600 * 500 * 8);
    c.dispose();
    a.matmul(b).dispose();
    expect(tg.memory().scratchBytes).toBe(during.scratchBytes);
    const code = `
      const { parentPort } = require('node:worker_threads');
      const tg = require(${JSON.stringify(dist)});
      const a = tg.randn([600, 700], { dtype: 'float64' }), b = tg.randn([700, 500], { dtype: 'float64' });
      a.matmul(b).dispose();
      parentPort.postMessage(tg.memory().scratchBytes);
      a.dispose();
      b.dispose();`;
    const worker = new Worker(code, { eval: true });
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    const inWorker = await new Promise<number>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await exited;
    // The worker thread's own set was counted while it ran, and freed with it.
    expect(inWorker).toBeGreaterThan(during.scratchBytes);
    expect(tg.memory().scratchBytes).toBe(during.scratchBytes);
    // So is a pool thread's, when setNumThreads retires the pool's threads.
    // The new thread starts while the product runs; the caller takes back a
    // part it has not claimed yet, so the thread may need a few products to
    // run one on a busy machine.
    tg.setNumThreads(2);
    try {
      let grew = false;
      for (let i = 0; i < 50 && !grew; i++) {
        a.matmul(b).dispose();
        grew = tg.memory().scratchBytes > during.scratchBytes;
      }
      expect(grew).toBe(true);
    } finally {
      tg.setNumThreads(1);
    }
    expect(tg.memory().scratchBytes).toBe(during.scratchBytes);
    a.dispose();
    b.dispose();
  });
});

describe.skipIf(!cacheOn)('buffer cache', () => {
  it('reuses a freed buffer for the next request of its size class', () => {
    for (const n of [16, 1000, 100_000, 1_000_000]) {
      const a = tg.zeros([n]);
      a.dispose();
      const cached = tg.memory().cachedBytes;
      expect(cached, `n=${n}`).toBeGreaterThanOrEqual(4 * n);
      // Any request in the class takes the cached buffer: the cache shrinks by the class size.
      const b = tg.zeros([n - 1]);
      const taken = cached - tg.memory().cachedBytes;
      expect(taken, `n=${n}`).toBeGreaterThanOrEqual(4 * n);
      expect(taken, `n=${n}`).toBeLessThanOrEqual(Math.max(64, 4 * n * 1.25));
      b.dispose();
    }
  });

  it('serves a training step from the cache once it is warm', () => {
    const x = tg.randn([32, 64]);
    const w = tg.randn([64, 16]).setRequiresGrad(true);
    const step = () =>
      tg.tidy(() => {
        x.matmul(w).relu().sum().backward();
        w.grad!.dispose();
        w.grad = null;
      });
    step();
    step();
    const warm = tg.memory().cachedBytes;
    for (let i = 0; i < 20; i++) step();
    expect(tg.memory().cachedBytes).toBe(warm);
    x.dispose();
    w.dispose();
  });

  it('stays consistent when kernels and backward run on two threads', () => {
    tg.setNumThreads(2);
    try {
      const x = tg.randn([256, 256]);
      const w1 = tg.randn([256, 256]).setRequiresGrad(true);
      const w2 = tg.randn([256, 256]).setRequiresGrad(true);
      const step = () =>
        tg.tidy(() => {
          const h = x.matmul(w1).tanh();
          h.matmul(w2).add(h.matmul(w1)).square().mean().backward();
          for (const w of [w1, w2]) {
            w.grad!.dispose();
            w.grad = null;
          }
        });
      step();
      const base = tg.memory();
      for (let i = 0; i < 20; i++) step();
      const end = tg.memory();
      expect(end.liveBytes).toBe(base.liveBytes);
      expect(end.liveBuffers).toBe(base.liveBuffers);
      expect(end.cachedBytes).toBeLessThanOrEqual(end.cacheLimitBytes);
      tg.emptyCache();
      // Only the other thread's own small cache (at most 1 MiB) may remain until it next runs.
      expect(tg.memory().cachedBytes).toBeLessThanOrEqual(1 << 20);
      for (const t of [x, w1, w2]) t.dispose();
    } finally {
      tg.setNumThreads(1);
    }
  });

  it('emptyCache returns every cached buffer', () => {
    tg.tidy(() => {
      for (const n of [8, 300, 5000, 70_000, 400_000]) tg.ones([n]);
    });
    expect(tg.memory().cachedBytes).toBeGreaterThan(0);
    tg.emptyCache();
    expect(tg.memory().cachedBytes).toBe(0);
    // Allocation works as before afterwards.
    const t = tg.full([3], 2);
    expect(t.toArray()).toEqual([2, 2, 2]);
    t.dispose();
  });

  it('keeps cachedBytes within the limit, trims to a lower limit, and caches nothing at 0', () => {
    tg.emptyCache();
    const limit = 1 << 20;
    tg.setCacheLimit(limit);
    expect(tg.memory().cacheLimitBytes).toBe(limit);
    for (let i = 0; i < 50; i++) {
      tg.tidy(() => {
        tg.zeros([1 + ((i * 7919) % 200_000)]);
        tg.zeros([64 * (i + 1)]);
      });
      expect(tg.memory().cachedBytes).toBeLessThanOrEqual(limit);
    }
    tg.setCacheLimit(Infinity);
    expect(tg.memory().cacheLimitBytes).toBe(Infinity);
    tg.tidy(() => {
      for (let i = 0; i < 8; i++) tg.zeros([100_000 + i * 30_000]);
    });
    expect(tg.memory().cachedBytes).toBeGreaterThan(limit);
    tg.setCacheLimit(limit);
    expect(tg.memory().cachedBytes).toBeLessThanOrEqual(limit);
    tg.setCacheLimit(0);
    expect(tg.memory().cachedBytes).toBe(0);
    tg.tidy(() => void tg.zeros([1000]));
    expect(tg.memory().cachedBytes).toBe(0);
  });

  it('by default caches as many bytes as were ever live at once: a step larger than 256 MiB is reused whole', () => {
    // A fresh process, whose limit nothing has set: a 320 MiB buffer freed
    // is kept (the limit follows the peak), and the next one reuses it.
    const code = `
      const tg = require(${JSON.stringify(dist)});
      const MiB = 1 << 20;
      const before = tg.memory().cacheLimitBytes;
      tg.zeros([80 * MiB]).dispose();
      const after = tg.memory();
      const again = tg.zeros([80 * MiB]);
      console.log(JSON.stringify({ before, limit: after.cacheLimitBytes, peak: after.peakBytes, cached: after.cachedBytes, reused: tg.memory().cachedBytes }));
      again.dispose();`;
    const r = JSON.parse(execFileSync(process.execPath, ['-e', code], { encoding: 'utf8' }).trim().split('\n').pop()!);
    expect(r.before).toBe(256 * 1024 * 1024);
    expect(r.limit).toBe(r.peak);
    expect(r.cached).toBeGreaterThanOrEqual(320 * 1024 * 1024);
    expect(r.cached - r.reused).toBeGreaterThanOrEqual(320 * 1024 * 1024);
  });

  it('a full cache makes room for a newly freed size by returning buffers of other sizes', () => {
    tg.emptyCache();
    const MiB = 1 << 20;
    tg.setCacheLimit(4 * MiB);
    // Four buffers of 1 MiB fill the cache (a phase with other shapes).
    tg.tidy(() => {
      for (let i = 0; i < 4; i++) tg.zeros([MiB / 4]);
    });
    expect(tg.memory().cachedBytes).toBe(4 * MiB);
    // A 2 MiB buffer freed now is kept (two of the old ones go back to the
    // system), so the next 2 MiB allocation takes it from the cache.
    tg.zeros([MiB / 2]).dispose();
    expect(tg.memory().cachedBytes).toBe(4 * MiB);
    const again = tg.zeros([MiB / 2]);
    expect(tg.memory().cachedBytes).toBe(2 * MiB);
    again.dispose();
    // Larger than the whole limit: never cached, nothing evicted for it.
    tg.zeros([2 * MiB]).dispose();
    expect(tg.memory().cachedBytes).toBe(4 * MiB);
  });
});

// The ceiling is read from Linux's /proc and /sys; elsewhere there is none.
describe.skipIf(process.platform !== 'linux')('a buffer larger than the machine', () => {
  it('is refused with the op named, also where the kernel would map it (overcommit)', () => {
    // Twice physical memory and swap: with vm.overcommit_memory=1 (common on
    // container hosts) mmap grants this, and filling it would end in the OOM
    // killer; tapegrad refuses what the machine could never back. Below 2^47
    // bytes, so the address space alone would not refuse it.
    const swap = Number(/SwapTotal:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) * 1024;
    const n = Math.ceil((os.totalmem() + swap) * 2 / 8 / 64) * 64;
    expect(n * 8).toBeLessThan(2 ** 47);
    const before = tg.memory();
    expect(() => tg.zeros([n], { dtype: 'float64' })).toThrow(new RangeError(`zeros: cannot allocate ${n * 8} bytes (out of memory)`));
    tg.tidy(() => {
      expect(() => tg.zeros([1]).expand([2 * n]).add(1)).toThrow(new RangeError(`add: cannot allocate ${n * 8} bytes (out of memory)`));
    });
    expect(tg.memory().liveBytes).toBe(before.liveBytes);
  });
});

describe('setCacheLimit arguments', () => {
  it('rejects what is not a non-negative number', () => {
    expect(() => tg.setCacheLimit(-1)).toThrow(RangeError);
    expect(() => tg.setCacheLimit(-1)).toThrow(/setCacheLimit: bytes must be a non-negative number/);
    expect(() => tg.setCacheLimit(NaN)).toThrow(RangeError);
    expect(() => tg.setCacheLimit('1mb' as unknown as number)).toThrow(TypeError);
    expect(() => tg.setCacheLimit('1mb' as unknown as number)).toThrow(/setCacheLimit: bytes must be a number, got '1mb'/);
  });
});

describe('no leak across training steps', () => {
  function mlp() {
    tg.manualSeed(3);
    const model = new tg.nn.Sequential(new tg.nn.Linear(8, 16), new tg.nn.ReLU(), new tg.nn.Linear(16, 2));
    const x = tg.randn([32, 8]);
    const y = tg.randint(0, 2, [32]);
    return { model, x, y, loss: new tg.nn.CrossEntropyLoss() };
  }

  it('returns to the same live tensors and bytes after each tidy step (Adam)', () => {
    const { model, x, y, loss } = mlp();
    const opt = new tg.optim.Adam(model.parameters(), { lr: 1e-2 });
    const step = () =>
      tg.tidy(() => {
        opt.zeroGrad();
        const l = loss.forward(model.forward(x), y);
        l.backward();
        opt.step();
        return l.item();
      });
    const first = step();
    step();
    const base = tg.memory();
    let last = first;
    for (let i = 0; i < 300; i++) last = step();
    const end = tg.memory();
    expect(end.liveTensors).toBe(base.liveTensors);
    expect(end.liveBytes).toBe(base.liveBytes);
    expect(end.liveBuffers).toBe(base.liveBuffers);
    if (cacheOn) expect(end.cachedBytes).toBe(base.cachedBytes);
    expect(last).toBeLessThan(first);
  });

  it('frees the intermediates nobody disposed once collected (explicit dispose, SGD)', async () => {
    const { model, x, y, loss } = mlp();
    const opt = new tg.optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
    const step = () => {
      opt.zeroGrad();
      const out = model.forward(x);
      const l = loss.forward(out, y);
      l.backward();
      opt.step();
      out.dispose();
      l.dispose();
    };
    step();
    await collect();
    const base = tg.memory();
    for (let i = 0; i < 300; i++) step();
    // The layers' intermediate outputs were never disposed: their finalizers free them.
    await collect();
    const end = tg.memory();
    expect(end.liveTensors).toBe(base.liveTensors);
    expect(end.liveBytes).toBe(base.liveBytes);
    expect(end.liveBuffers).toBe(base.liveBuffers);
  });
});

describe('ownership', () => {
  it('throws a TapegradError naming the op for a disposed tensor, and dispose stays idempotent', () => {
    const t = tg.ones([2]);
    t.dispose();
    t.dispose();
    expect(() => t.exp()).toThrow(tg.TapegradError);
    expect(() => t.exp()).toThrow(/exp: input is a disposed tensor/);
    expect(() => tg.ones([2]).mul(t)).toThrow(/mul: other is a disposed tensor/);
    expect(() => t.toArray()).toThrow(tg.TapegradError);
  });

  it('a disposed handle stays disposed after its slot is reused by other tensors', () => {
    const a = tg.ones([2]);
    a.dispose();
    const others = Array.from({ length: 50 }, () => tg.zeros([2]));
    expect(() => a.add(1)).toThrow(/add: input is a disposed tensor/);
    for (const o of others) {
      expect(o.toArray()).toEqual([0, 0]);
      o.dispose();
    }
  });

  it('rejects BigInts and other values that are not tensor handles', () => {
    const t = tg.ones([2]);
    for (const bad of [5n, -1n, 2n ** 64n, 2n ** 63n + 7n, 2n ** 63n + (2n ** 62n) * 3n])
      expect(() => t.add(bad as unknown as number), String(bad)).toThrow(/add: other must be a number or a Tensor, got a BigInt/);
    expect(() => t.add(Symbol('x') as unknown as number)).toThrow(TypeError);
    t.dispose();
  });

  it('tidy keeps what it returns, nested scopes pass kept tensors outwards, errors still dispose', () => {
    const before = tg.memory().liveTensors;
    const kept = tg.tidy(() => {
      const inner = tg.tidy(() => {
        tg.ones([3]);
        return { a: tg.full([2], 5), list: [tg.zeros([1])] };
      });
      tg.ones([4]);
      return inner.a;
    });
    expect(tg.memory().liveTensors).toBe(before + 1);
    expect(kept.toArray()).toEqual([5, 5]);
    kept.dispose();
    expect(() =>
      tg.tidy(() => {
        tg.ones([2]);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(tg.memory().liveTensors).toBe(before);
  });

  it('tidy keeps returned tensors at any depth, in Maps, Sets and class instances, through cycles', () => {
    const before = tg.memory().liveTensors;
    class Holder {
      readonly symbolKeyed: Record<symbol, tg.Tensor>;
      constructor(readonly weight: tg.Tensor, key: symbol, other: tg.Tensor) {
        this.symbolKeyed = { [key]: other };
      }
    }
    const kept = tg.tidy(() => {
      tg.ones([1]); // not returned: disposed
      let deep: unknown = tg.full([1], 1);
      for (let i = 0; i < 40; i++) deep = i % 2 ? [deep] : { next: deep };
      const cycle: Record<string, unknown> = { t: tg.full([1], 2) };
      cycle.self = cycle;
      const key = tg.full([1], 3);
      return {
        deep,
        map: new Map<unknown, unknown>([[key, tg.full([1], 4)], ['nested', new Map([['x', [tg.full([1], 5)]]])]]),
        set: new Set([tg.full([1], 6)]),
        holder: new Holder(tg.full([1], 7), Symbol('s'), tg.full([1], 8)),
        bare: Object.assign(Object.create(null) as object, { t: tg.full([1], 9) }),
        cycle,
      };
    });
    const values: number[] = [];
    const walk = (v: unknown, seen = new Set<unknown>()): void => {
      if (v === null || typeof v !== 'object' || seen.has(v)) return;
      seen.add(v);
      if (v instanceof tg.Tensor) values.push(v.item());
      else if (v instanceof Map) for (const [k, x] of v) walk(k, seen), walk(x, seen);
      else if (v instanceof Set || Array.isArray(v)) for (const x of v) walk(x, seen);
      else for (const k of Reflect.ownKeys(v)) walk((v as Record<PropertyKey, unknown>)[k], seen);
    };
    walk(kept);
    expect(values.sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(tg.memory().liveTensors).toBe(before + 9);
    tg.tidy(() => kept); // still kept by a second tidy that returns them
    expect(tg.memory().liveTensors).toBe(before + 9);
  });

  it('tidy disposes tensors reachable only through a getter, a closure or a WeakMap, and reads no getter', () => {
    const before = tg.memory().liveTensors;
    let getterRan = false;
    const hidden: tg.Tensor[] = [];
    const result = tg.tidy(() => {
      const a = tg.ones([1]);
      const b = tg.ones([1]);
      const c = tg.ones([1]);
      hidden.push(a, b, c);
      const weak = new WeakMap([[{}, c]]);
      return {
        get viaGetter() {
          getterRan = true;
          return a;
        },
        viaClosure: () => b,
        weak,
        data: new Float32Array(1e6), // not walked element by element
        kept: tg.zeros([1]),
      };
    });
    expect(getterRan).toBe(false);
    expect(hidden.map((t) => t.isDisposed)).toEqual([true, true, true]);
    expect(result.kept.isDisposed).toBe(false);
    expect(tg.memory().liveTensors).toBe(before + 1);
    result.kept.dispose();
  });

  it('tidy closes its scope when walking the result throws (a Proxy trap)', () => {
    const before = tg.memory().liveTensors;
    const trap = new Proxy({}, { ownKeys: () => { throw new Error('trap'); } });
    expect(() => tg.tidy(() => [tg.ones([1]), trap])).toThrow('trap');
    expect(tg.memory().liveTensors).toBe(before);
    // The scope is closed: a tensor made now is not owned by it.
    const t = tg.ones([1]);
    tg.tidy(() => 0);
    expect(t.isDisposed).toBe(false);
    t.dispose();
  });

  it('frees tensors that escape every scope when they are garbage-collected', async () => {
    await collect();
    const before = tg.memory();
    (() => {
      for (let i = 0; i < 200; i++) tg.ones([256]).add(1);
      tg.tidy(() => tg.full([1024], 1)); // kept by tidy, then dropped
    })();
    expect(tg.memory().liveTensors).toBeGreaterThan(before.liveTensors);
    await collect();
    const after = tg.memory();
    expect(after.liveTensors).toBe(before.liveTensors);
    expect(after.liveBytes).toBe(before.liveBytes);
  });

  it('module parameters survive the tidy that created them and are freed once unreachable', async () => {
    await collect();
    const before = tg.memory().liveTensors;
    let model: tg.nn.Linear | null = tg.tidy(() => new tg.nn.Linear(4, 3));
    expect(tg.memory().liveTensors).toBe(before + 2);
    expect(model.weight.shape).toEqual([3, 4]);
    model = null;
    await collect();
    expect(tg.memory().liveTensors).toBe(before);
  });

  it('a worker thread allocates and frees through its own handle table and cache', async () => {
    const code = `
      const { parentPort } = require('node:worker_threads');
      const tg = require(${JSON.stringify(dist)});
      const base = tg.memory().liveTensors;
      const w = tg.randn([16]).setRequiresGrad(true);
      for (let i = 0; i < 200; i++) tg.tidy(() => { let y = w; for (let k = 0; k < 20; k++) y = y.mul(0.99).tanh(); y.sum().backward(); });
      const grad = w.grad;
      const g = grad.toArray().length;
      grad.dispose();
      w.dispose();
      parentPort.postMessage({ extra: tg.memory().liveTensors - base, g });`;
    const result = await new Promise<unknown>((resolve, reject) => {
      const worker = new Worker(code, { eval: true });
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    expect(result).toEqual({ extra: 0, g: 16 });
    const t = tg.ones([4]).mul(2);
    expect(t.toArray()).toEqual([2, 2, 2, 2]);
    t.dispose();
  });
});
