// Elementwise and reduction throughput in GB/s against a copy of the same
// size (copyCalls below), on 1 and on all threads (or those --threads= lists),
// for a tensor inside L2 and two beyond it. Bytes are those the op must move:
// every input read once and the output written once. Times are medians of
// repeated calls from JS (a microsecond or two of call overhead is included;
// it is noise at these sizes). Out-of-place ops allocate their output on
// every call, as users' code does; the in-place rows show the kernels alone.
// Part of `npm run bench:kernels` (alone: `npm run bench:kernels -- --elementwise`).
import { benchThreadCounts, median } from './common.mjs';

// Median seconds of a call of each of `fns`, from rounds that call every fn
// once: a noisy phase of a shared machine (seconds long) then falls on every
// op alike instead of on whichever op was being timed, so the rows compare.
// About `budget` seconds per fn.
function timeRounds(fns, budget) {
  const once = fns.map((fn) => {
    fn();
    const t0 = process.hrtime.bigint();
    fn();
    return Number(process.hrtime.bigint() - t0) / 1e9;
  });
  const round = once.reduce((sum, s) => sum + s, 0);
  const rounds = Math.max(5, Math.min(400, Math.ceil((budget * fns.length) / Math.max(round, 1e-7))));
  const times = fns.map(() => []);
  for (let r = 0; r < rounds; r++) {
    fns.forEach((fn, i) => {
      const t0 = process.hrtime.bigint();
      fn();
      times[i].push(Number(process.hrtime.bigint() - t0) / 1e9);
    });
  }
  return times.map(median);
}

// The copy baseline, one thread: the faster of a memcpy
// (TypedArray.prototype.set, which is memmove) and tapegrad's own copy
// (clone) of the same bytes. memmove is timed at three relative alignments of
// source and destination and the best kept: the C library's string-move copy
// runs up to ten times slower at some of them on some CPUs (an AMD Zen 3 VM,
// 256 KiB: 5.5 to 74 GB/s by offset), so one pair of arrays measured where
// the allocator happened to put them. Beyond the cache the C library may keep
// plain stores where streaming ones pay (it sizes that switch from the cache
// the CPU reports; the same VM: 9 GB/s against the clone's 16-20 at 16 MiB).
function copyCalls(a, n, F) {
  const bytes = n * F;  // a multiple of 4 KiB: dst - src is bytes + offset
  const buf = new ArrayBuffer(2 * bytes + 4096);
  const src = new Float32Array(buf, 0, n).fill(1);
  const memmoves = [0, 64, 2048].map((offset) => {
    const dst = new Float32Array(buf, bytes + offset, n);
    return () => dst.set(src);
  });
  return { memmoves, clone: () => a.clone().dispose() };
}

export function runElementwise(tg, { quick = false } = {}) {
  const allThreads = tg.getNumThreads();
  const threadCounts = benchThreadCounts(allThreads);
  // 64 Ki floats (256 KiB) sits in L2; 4 Mi (16 MiB) and 32 Mi (128 MiB) do not.
  const sizes = quick ? [1 << 16, 1 << 22] : [1 << 16, 1 << 22, 1 << 25];
  const budget = quick ? 0.1 : 0.25;
  const cols = 1024;
  console.log('\nElementwise and reductions, float32: GB/s (bytes read + written / median time), % of a copy:');
  for (const n of sizes) {
    const a = tg.randn([n / cols, cols]), b = tg.randn([n / cols, cols]), bias = tg.randn([cols]);
    const pos = tg.noGrad(() => a.abs().add(0.5));
    // Gradients through a retained graph: the fused g·f'(x) kernel alone
    // (reads g and x, writes the gradient).
    const leaf = a.detach().setRequiresGrad(true);
    const geluOut = leaf.gelu(), geluTanhOut = leaf.gelu({ approximate: 'tanh' });
    const { softmax, logSoftmax } = tg.nn.functional;
    const softmaxOut = softmax(leaf, -1);
    const backward = (y) => () => tg.grad([y], [leaf], { gradOutputs: [b], retainGraph: true })[0].dispose();
    const target = a.clone();
    const F = 4;
    // [label, bytes, fn]
    const ops = [
      ['add a+b', 3 * n * F, () => a.add(b).dispose()],
      ['add bias row', 2 * n * F, () => a.add(bias).dispose()],
      ['mul by number', 2 * n * F, () => a.mul(0.5).dispose()],
      ['maximum', 3 * n * F, () => a.maximum(b).dispose()],
      ['gt', 3 * n * F, () => a.gt(b).dispose()],
      ['relu', 2 * n * F, () => a.relu().dispose()],
      ['addInPlace', 3 * n * F, () => target.addInPlace(b)],
      ['mulInPlace num', 2 * n * F, () => target.mulInPlace(1)],
      ['exp', 2 * n * F, () => a.exp().dispose()],
      ['log', 2 * n * F, () => pos.log().dispose()],
      ['tanh', 2 * n * F, () => a.tanh().dispose()],
      ['sigmoid', 2 * n * F, () => a.sigmoid().dispose()],
      ['gelu', 2 * n * F, () => a.gelu().dispose()],
      ['gelu tanh', 2 * n * F, () => a.gelu({ approximate: 'tanh' }).dispose()],
      ['silu', 2 * n * F, () => a.silu().dispose()],
      ['gelu grad', 3 * n * F, backward(geluOut)],
      ['gelu tanh grad', 3 * n * F, backward(geluTanhOut)],
      // Along rows of 1024 (the last dim).
      ['softmax', 2 * n * F, () => softmax(a, -1).dispose()],
      ['logSoftmax', 2 * n * F, () => logSoftmax(a, -1).dispose()],
      ['softmax grad', 3 * n * F, backward(softmaxOut)],
      ['sum (all)', n * F, () => a.sum().dispose()],
      ['sum dim 0', n * F, () => a.sum([0]).dispose()],
      ['sum dim 1', n * F, () => a.sum([1]).dispose()],
    ];
    const calls = copyCalls(a, n, F), copy = {}, rates = {};
    for (const t of threadCounts) {
      tg.setNumThreads(t);
      // The copies (one thread) in the same rounds as the ops.
      const copies = t === 1 ? [...calls.memmoves, calls.clone] : [];
      const seconds = timeRounds([...ops.map(([, , fn]) => fn), ...copies], budget);
      ops.forEach(([label, bytes], i) => (rates[`${t}|${label}`] = bytes / seconds[i] / 1e9));
      if (t === 1) {
        const rate = (s) => (2 * n * F) / s / 1e9;
        const copySeconds = seconds.slice(ops.length);
        copy.memmove = Math.max(...copySeconds.slice(0, -1).map(rate));
        copy.clone = rate(copySeconds[copySeconds.length - 1]);
        copy.best = Math.max(copy.memmove, copy.clone);
      }
    }
    tg.setNumThreads(allThreads);
    const mib = (n * F) / (1 << 20);
    console.log(`\n  ${n} elements (${mib} MiB per tensor); copy ${copy.best.toFixed(1)} GB/s ` +
      `(memcpy ${copy.memmove.toFixed(1)}, clone ${copy.clone.toFixed(1)})`);
    const head = ['op'.padEnd(16), ...threadCounts.flatMap((t) => [`${t}T GB/s`.padStart(10), `${t}T %cpy`.padStart(9)])];
    console.log('  ' + head.join(' '));
    for (const [label] of ops) {
      const row = [label.padEnd(16)];
      for (const t of threadCounts) {
        const r = rates[`${t}|${label}`];
        row.push(r.toFixed(1).padStart(10), `${((100 * r) / copy.best).toFixed(0)}%`.padStart(9));
      }
      console.log('  ' + row.join(' '));
    }
    for (const t of [a, b, bias, pos, target, geluOut, geluTanhOut, softmaxOut, leaf]) t.dispose();
  }
  console.log('\n  %cpy: against the faster one-thread copy of the same bytes, memcpy or tapegrad\'s clone.');

  // float64's transcendental functions (kernels/math_f64.inc), one thread.
  console.log('\nfloat64 functions, one thread: ns per element, GB/s (bytes read + written / median time):');
  tg.setNumThreads(1);
  for (const n of quick ? [1 << 16] : [1 << 16, 1 << 22]) {
    const a = tg.randn([n / cols, cols], { dtype: 'float64' }).mul(4);
    const pos = tg.noGrad(() => a.abs().add(0.5));
    const { softmax } = tg.nn.functional;
    const ops = [
      ['exp', () => a.exp().dispose()],
      ['expm1', () => a.expm1().dispose()],
      ['log', () => pos.log().dispose()],
      ['log1p', () => pos.log1p().dispose()],
      ['tanh', () => a.tanh().dispose()],
      ['sigmoid', () => a.sigmoid().dispose()],
      ['silu', () => a.silu().dispose()],
      ['softplus', () => a.softplus().dispose()],
      ['sin', () => a.sin().dispose()],
      ['cos', () => a.cos().dispose()],
      ['gelu', () => a.gelu().dispose()],
      ['gelu tanh', () => a.gelu({ approximate: 'tanh' }).dispose()],
      ['softmax', () => softmax(a, -1).dispose()],
    ];
    console.log(`\n  ${n} elements (${(n * 8) / (1 << 20)} MiB per tensor)`);
    console.log('  ' + ['op'.padEnd(16), 'ns/elem'.padStart(10), 'GB/s'.padStart(10)].join(' '));
    const seconds = timeRounds(ops.map(([, fn]) => fn), budget);
    for (const [i, [label]] of ops.entries()) {
      console.log('  ' + [label.padEnd(16), ((seconds[i] * 1e9) / n).toFixed(2).padStart(10), ((2 * n * 8) / seconds[i] / 1e9).toFixed(1).padStart(10)].join(' '));
    }
    for (const t of [a, pos]) t.dispose();
  }
  tg.setNumThreads(allThreads);
}
