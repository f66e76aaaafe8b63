// Traced forward passes (native/binding/trace.h, an internal API that
// train.Trainer uses): the op calls made between native.traceBegin and
// traceEnd, replayed by native._traceRun on new inputs, give bitwise the
// outputs and gradients of running the same code in JS. Covered: the random
// programs of the differential test (on new values, contiguous and strided),
// multi-output ops, in-place ops, ops that return their input, grad mode,
// captured numbers/constants/parameters, tg.tensor data, random ops and their
// seed, calls that make a trace unusable, misuse errors, and memory.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { leaf, tg, type Tensor } from './helpers.js';
import { native, type TraceHandle } from '../dist/native.js';
import { generate, randomData, Rng, RUN, type Program } from './programs.js';

// The library's own way to wrap a handle, which the package does not export.
// Loaded with require, as dist/index.js loads it: an import would load a
// second copy of the module, whose Tensor class the package's ops refuse.
const { fromHandle } = createRequire(import.meta.url)('../dist/tensor.js') as typeof import('../dist/tensor.js');

const F = tg.nn.functional;

interface Recorded {
  trace: TraceHandle | null;
  reason: string | null;
  /** What fn returned while it was recorded. */
  outputs: Tensor[];
}

/** Records `fn(inputs)` as a trace whose outputs are the tensors it returns. */
function record(inputs: Tensor[], fn: (xs: Tensor[]) => Tensor[]): Recorded {
  native.traceBegin(inputs.map((t) => t._handle));
  let outputs: Tensor[];
  try {
    outputs = fn(inputs);
  } catch (e) {
    native.traceAbort();
    throw e;
  }
  const { trace, reason } = native.traceEnd(outputs.map((t) => t._handle));
  return { trace, reason, outputs };
}

/** A trace that must be usable (the test fails with the reason otherwise). */
function usable(r: Recorded, where = 'trace'): TraceHandle {
  expect(r.reason, `${where}: traceEnd's reason`).toBeNull();
  expect(r.trace, `${where}: traceEnd's trace`).not.toBeNull();
  return r.trace!;
}

/** Replays `trace` on `inputs` on this thread. */
function replay(trace: TraceHandle, inputs: Tensor[]): Tensor[] {
  return native._traceRun(trace, inputs.map((t) => t._handle)).map(fromHandle);
}

/** Same dtype, shape and bits (Object.is: NaN equals NaN, 0 differs from -0). */
function expectSameBits(actual: Tensor | null, expected: Tensor | null, where: string): void {
  if (expected === null || actual === null) {
    expect(actual === null, `${where}: null vs ${expected === null ? 'null' : 'a tensor'}`).toBe(expected === null);
    return;
  }
  expect(actual.dtype, `${where}: dtype`).toBe(expected.dtype);
  expect([...actual.shape], `${where}: shape`).toEqual([...expected.shape]);
  const a = actual.data();
  const e = expected.data();
  for (let i = 0; i < e.length; i++)
    if (!Object.is(a[i], e[i])) expect(a[i], `${where}: element ${i}`).toBe(e[i]); // toBe is Object.is
}

/**
 * Replays `trace` on a new input of `shape` (leaf seed `seed`) and runs
 * `forward` in JS on an equal one: the outputs, and the input's gradient of
 * `loss` of the outputs, must have the same bits. Returns the replay's outputs.
 */
function expectReplayLikeJs(
  trace: TraceHandle,
  forward: (xs: Tensor[]) => Tensor[],
  shape: number[],
  seed: number,
  loss: (outs: Tensor[]) => Tensor,
): Tensor[] {
  const xr = leaf(shape, seed);
  const xj = leaf(shape, seed);
  const replayed = replay(trace, [xr]);
  const js = forward([xj]);
  expect(replayed.length).toBe(js.length);
  replayed.forEach((t, i) => expectSameBits(t, js[i]!, `output ${i}`));
  loss(replayed).backward();
  loss(js).backward();
  expectSameBits(xr.grad, xj.grad, 'grad');
  return replayed;
}

const values = (t: Tensor): number[] => Array.from(t.data());

// ---- the random programs of the differential test -------------------------------

/** Runs a program's steps in JS with `inputs` as its 'input' steps, in order; returns its output. */
function runProgram(program: Program, inputs: readonly Tensor[]): Tensor {
  const v: Tensor[] = [];
  let k = 0;
  for (const step of program.steps) v.push(step.op === 'input' ? inputs[k++]! : RUN[step.op]!(v, step));
  expect(k).toBe(inputs.length);
  return v.at(-1)!;
}

/**
 * New float64 leaves that require grad, one per 'input' step, with the values
 * in `data`. Strided: each input is instead a non-contiguous view (every other
 * element of a leaf with a trailing dim of 2), and `leaves` are those leaves.
 */
function inputsFrom(program: Program, data: readonly number[][], strided = false): { inputs: Tensor[]; leaves: Tensor[] } {
  const shapes = program.steps.filter((s) => s.op === 'input').map((s) => s.p.shape as number[]);
  if (!strided) {
    const leaves = shapes.map((shape, i) => tg.tensor(data[i]!, { shape, dtype: 'float64', requiresGrad: true }));
    return { inputs: leaves, leaves };
  }
  const leaves = shapes.map((shape, i) =>
    tg.tensor(
      data[i]!.flatMap((x) => [x, 1e3]),
      { shape: [...shape, 2], dtype: 'float64', requiresGrad: true },
    ),
  );
  return { inputs: leaves.map((t) => t.narrow(-1, 0, 1).squeeze(-1)), leaves };
}

describe('replaying a trace of a random program matches running it in JS, bitwise', () => {
  it('outputs and every input gradient over 300 seeded programs, on new values, contiguous and strided', () => {
    const opsSeen = new Set<string>();
    for (let n = 0; n < 300; n++) {
      const seed = 1000 + n;
      tg.tidy(() => {
        // Generation runs the ops and reads values (ties, magnitudes): outside any trace.
        const { program, values: generated } = generate(seed);
        const where = `program ${seed} [${program.steps.map((s, i) => `${i}:${s.op}(${s.args})`).join(' ')}]`;
        program.steps.forEach((s) => opsSeen.add(s.op));
        const inputSteps = program.steps.filter((s) => s.op === 'input');

        // Record with fresh inputs holding the program's own values.
        const recordInputs = inputSteps.map((s) => RUN.input!([], s));
        const recorded = record(recordInputs, (xs) => [runProgram(program, xs)]);
        const trace = usable(recorded, where);
        expectSameBits(recorded.outputs[0]!, generated.at(-1)!, `${where}: output while recorded`);

        // New values, same shapes: the replay and a JS run, each on its own leaves; then the
        // same with inputs that are strided views where the recording had contiguous tensors.
        const rng = new Rng(seed * 7919 + 17);
        const data = inputSteps.map((s) => randomData(rng, (s.p.shape as number[]).reduce((a, b) => a * b, 1)));
        for (const strided of [false, true]) {
          const at = `${where}${strided ? ' (strided inputs)' : ''}`;
          const r = inputsFrom(program, data, strided);
          const j = inputsFrom(program, data, strided);
          const outs = replay(trace, r.inputs);
          expect(outs.length, `${at}: outputs`).toBe(1);
          const replayed = outs[0]!;
          const js = runProgram(program, j.inputs);
          expectSameBits(replayed, js, `${at}: output`);
          expect(replayed.requiresGrad, `${at}: output requires grad`).toBe(js.requiresGrad);

          const weights = tg.tensor(program.weights, { shape: [...js.shape], dtype: 'float64' });
          replayed.mul(weights).sum().backward();
          js.mul(weights).sum().backward();
          r.leaves.forEach((x, i) => expectSameBits(x.grad, j.leaves[i]!.grad, `${at}: grad of input ${i}`));

          // A second replay on the same values gives the same bits (replays leave no state behind).
          expectSameBits(replay(trace, inputsFrom(program, data, strided).inputs)[0]!, js, `${at}: second replay`);
        }
      });
    }
    // The programs exercise the whole op table.
    expect(Object.keys(RUN).filter((op) => !opsSeen.has(op))).toEqual([]);
  }, 60_000);
});

// ---- focused cases --------------------------------------------------------------

describe('trace replay', () => {
  it('replays multi-output ops (split, chunk), with outputs from several of their parts', () => {
    tg.tidy(() => {
      const forward = ([x]: Tensor[]): Tensor[] => {
        const rows = x!.split(2, 0); // three [2, 4]
        const cols = x!.chunk(2, 1); // two [6, 2]
        const [a, b] = x!.split([1, 5], 0);
        return [rows[0]!, rows[2]!.exp(), cols[1]!.sin(), rows[1]!.sum().add(cols[0]!.square().sum()), a!.mul(b!.sum(0, true))];
      };
      const trace = usable(record([leaf([6, 4], 1)], forward));
      const loss = (outs: Tensor[]): Tensor => outs.map((t, i) => t.sum().mul(i + 1)).reduce((s, t) => s.add(t));
      expect(expectReplayLikeJs(trace, forward, [6, 4], 2, loss).length).toBe(5);
    });
  });

  it('replays in-place ops on tensors created inside the trace', () => {
    tg.tidy(() => {
      const forward = ([x]: Tensor[]): Tensor[] => {
        const buffer = tg.zeros([3, 4], { dtype: 'float64' });
        buffer.addInPlace(x!.detach().sin());
        buffer.mulInPlace(3);
        buffer.subInPlace(tg.ones([4], { dtype: 'float64' }));
        const scratch = x!.detach().cos();
        scratch.addInPlace(buffer);
        return [buffer, x!.mul(buffer).add(scratch)];
      };
      const trace = usable(record([leaf([3, 4], 1)], forward));
      const replayed = expectReplayLikeJs(trace, forward, [3, 4], 5, (outs) => outs[1]!.sum());
      // The buffer starts from zeros on every replay: a second one gives the same bits.
      replay(trace, [leaf([3, 4], 5)]).forEach((t, i) => expectSameBits(t, replayed[i]!, `second replay, output ${i}`));
    });
  });

  it('replays tg.noGrad inside the trace: that output does not require grad, the rest does, grad mode is restored', () => {
    tg.tidy(() => {
      const forward = ([x]: Tensor[]): Tensor[] => {
        const frozen = tg.noGrad(() => x!.exp().mul(2));
        return [x!.mul(frozen), frozen];
      };
      const trace = usable(record([leaf([2, 3], 1)], forward));
      const xr = leaf([2, 3], 3);
      const [out, frozen] = replay(trace, [xr]);
      expect(tg.isGradEnabled()).toBe(true);
      expect(out!.requiresGrad).toBe(true);
      expect(frozen!.requiresGrad).toBe(false);
      const js = forward([leaf([2, 3], 3)]);
      expectSameBits(out!, js[0]!, 'output');
      expectSameBits(frozen!, js[1]!, 'no-grad output');
      out!.sum().backward();
      expectSameBits(xr.grad, frozen!, 'grad (the no-grad factor is a constant)');
    });
  });

  it('replays in the grad mode the recording started in', () => {
    tg.tidy(() => {
      const trace = tg.noGrad(() => usable(record([leaf([3], 1)], ([x]) => [x!.square()])));
      const [out] = replay(trace, [leaf([3], 2)]);
      expect(out!.requiresGrad).toBe(false);
      expect(tg.isGradEnabled()).toBe(true);
      expectSameBits(out!, leaf([3], 2).detach().square(), 'output');
    });
  });

  it('captures a number operand as a scalar of the operand dtype', () => {
    tg.tidy(() => {
      let k = 2;
      const forward = ([x]: Tensor[]): Tensor[] => [x!.mul(k), tg.sub(k, x!), x!.add(0.1)];
      const x32 = tg.tensor([1.5, -2, 3.25], { dtype: 'float32' });
      const trace = usable(record([x32], forward));
      k = 5; // the trace keeps the number it saw
      const y = tg.tensor([0.3, 7, -1], { dtype: 'float32' });
      const [a, b, c] = replay(trace, [y]);
      expect(a!.dtype).toBe('float32');
      expectSameBits(a!, y.mul(2), 'x * 2');
      expectSameBits(b!, tg.sub(2, y), '2 - x');
      expectSameBits(c!, y.add(0.1), 'x + 0.1 (rounded to float32)');
    });
  });

  it('tg.tensor inside the trace replays the values it had when recorded, whatever happens to the JS data later', () => {
    tg.tidy(() => {
      const nested = [1, 2, 3];
      const typed = new Float64Array([10, 20, 30]);
      const backing = new Float64Array([-1, 100, 200, 300, -1]);
      const forward = ([x]: Tensor[]): Tensor[] => [
        x!.mul(tg.tensor(nested, { dtype: 'float64' })),
        x!.add(tg.tensor(typed)),
        x!.sub(tg.tensor(backing.subarray(1, 4))),
        tg.tensor([7, 8], { dtype: 'int32' }),
      ];
      const trace = usable(record([leaf([3], 1)], forward));
      nested[0] = -50;
      typed[1] = -50;
      backing.fill(-50);
      const y = leaf([3], 2);
      const [a, b, c, d] = replay(trace, [y]);
      expectSameBits(a!, y.mul(tg.tensor([1, 2, 3], { dtype: 'float64' })), 'nested array');
      expectSameBits(b!, y.add(tg.tensor([10, 20, 30], { dtype: 'float64' })), 'Float64Array');
      expectSameBits(c!, y.sub(tg.tensor([100, 200, 300], { dtype: 'float64' })), 'Float64Array view');
      expect(d!.dtype).toBe('int32');
      expect(values(d!)).toEqual([7, 8]);
    });
  });

  it('replays the other factories (zeros, ones, full, arange, eye)', () => {
    tg.tidy(() => {
      const forward = ([x]: Tensor[]): Tensor[] => [
        x!.add(tg.arange(0, 6, 2, { dtype: 'float64' })).mul(tg.full([3], 0.5, { dtype: 'float64' })),
        tg.eye(3, 2).add(tg.ones([3, 2])).sub(tg.zeros([2])),
      ];
      const trace = usable(record([leaf([3], 1)], forward));
      const y = leaf([3], 4);
      replay(trace, [y]).forEach((t, i) => expectSameBits(t, forward([y])[i]!, `output ${i}`));
    });
  });

  it('random ops draw new numbers on each replay, and after manualSeed the numbers of a JS run after the same seed', () => {
    tg.tidy(() => {
      const forward = ([x]: Tensor[]): Tensor[] => [
        x!.add(tg.randn([4, 5], { dtype: 'float64' })),
        F.dropout(x!, 0.5, true),
        tg.rand([3]),
        tg.randint(0, 1000, [6]),
      ];
      tg.manualSeed(99);
      const trace = usable(record([leaf([4, 5], 1)], forward));
      const y = leaf([4, 5], 2);
      const first = replay(trace, [y]);
      const second = replay(trace, [y]);
      first.forEach((t, i) => expect(values(t), `output ${i} of two replays`).not.toEqual(values(second[i]!)));
      tg.manualSeed(1234);
      const seeded = replay(trace, [y]);
      tg.manualSeed(1234);
      const js = forward([y]);
      seeded.forEach((t, i) => expectSameBits(t, js[i]!, `output ${i} after manualSeed`));
      tg.manualSeed(1234);
      replay(trace, [y]).forEach((t, i) => expectSameBits(t, js[i]!, `output ${i}, replayed again after manualSeed`));
    });
  });

  it('captures tensors from outside the trace by reference: parameters get gradients, later changes are seen', () => {
    tg.tidy(() => {
      const w = leaf([4, 2], 7);
      const shift = tg.tensor([0.25, -0.5], { dtype: 'float64' });
      const forward = ([x]: Tensor[]): Tensor[] => [x!.matmul(w).add(shift).tanh()];
      const trace = usable(record([leaf([3, 4], 1)], forward));
      shift.addInPlace(1); // after recording
      const y = leaf([3, 4], 2);
      const [out] = replay(trace, [y]);
      const [js] = forward([y]);
      expectSameBits(out!, js!, 'output');
      out!.sum().backward();
      const fromReplay = w.grad!;
      w.zeroGrad();
      js!.sum().backward();
      expectSameBits(fromReplay, w.grad, 'grad of the captured parameter');
    });
  });

  it('replays traces whose intermediates were disposed by tidy during recording', () => {
    tg.tidy(() => {
      const forward = ([x]: Tensor[]): Tensor[] => [tg.tidy(() => x!.exp().add(1).log().mul(x!.sin()).sum(1))];
      const trace = usable(record([leaf([5, 3], 1)], forward));
      const y = leaf([5, 3], 2);
      expectSameBits(replay(trace, [y])[0]!, forward([y])[0]!, 'output');
    });
  });

  it('replays ops that return their input tensor itself (same shape, same dtype, contiguous, eval dropout)', () => {
    tg.tidy(() => {
      const forward = ([x]: Tensor[]): Tensor[] => {
        const a = x!.reshape([2, 3]);
        const b = x!.transpose(1, 1).to('float64').contiguous();
        const c = F.dropout(x!, 0.5, false).expand([2, 3]);
        return [a.mul(b).add(c.exp()).sub(x!), x!, a, x!.flatten(0, 0)];
      };
      const trace = usable(record([leaf([2, 3], 1)], forward));
      expectReplayLikeJs(trace, forward, [2, 3], 2, (outs) => outs[0]!.sum());
    });
  });

  // Values are told apart by JS handle, not by tensor: recorded with a contiguous input,
  // x.contiguous() returns x itself, but in a replay with a non-contiguous input it returns a
  // copy, and later uses of x must still mean x (an in-place update of the copy must not reach them).
  it('keeps an input and what an op returned for it apart, though they were one tensor when recorded', () => {
    tg.tidy(() => {
      const forward = ([x]: Tensor[]): Tensor[] => {
        const y = x!.contiguous();
        y.addInPlace(1);
        return [x!.mul(2)];
      };
      const trace = usable(record([tg.tensor([[1, 2], [3, 4]], { dtype: 'float64' })], forward));
      const transposed = (): Tensor => tg.tensor([[1, 2], [3, 4]], { dtype: 'float64' }).transpose(0, 1);
      const xr = transposed();
      const xj = transposed();
      const [replayed] = replay(trace, [xr]);
      const [js] = forward([xj]);
      expect(values(js!)).toEqual([2, 6, 4, 8]); // x is not changed: contiguous() copied it
      expect(values(replayed!)).toEqual(values(js!));
      expect(values(xr)).toEqual(values(xj));
    });
  });

  it('a trace that reads values (item, toArray, data) or changes state outside the graph comes back null with the reason', () => {
    const cases: [string, (x: Tensor) => void, RegExp][] = [
      ['item()', (x) => x.sum().item(), /reads tensor values \(item\(\), toArray\(\) or data\(\)\)/],
      ['toArray()', (x) => x.exp().toArray(), /reads tensor values \(item\(\), toArray\(\) or data\(\)\)/],
      ['data()', (x) => x.data(), /reads tensor values \(item\(\), toArray\(\) or data\(\)\)/],
      ['backward()', (x) => x.sum().backward(), /calls backward\b/],
      ['.grad', (x) => x.grad, /calls getGrad\b/],
      ['setRequiresGrad()', () => tg.zeros([2]).setRequiresGrad(), /calls setRequiresGrad\b/],
      ['manualSeed()', () => tg.manualSeed(3), /calls manualSeed\b/],
      // A replay checks shapes and dtypes, not layouts: a forward pass that looks at them cannot be traced.
      ['isContiguous()', (x) => x.isContiguous(), /calls isContiguous\b/],
      ['strides()', (x) => x.strides(), /calls strides\b/],
    ];
    tg.tidy(() => {
      for (const [name, read, reason] of cases) {
        const r = record([leaf([2, 2], 1)], ([x]) => {
          const y = x!.mul(2);
          read(y);
          return [y.add(1)];
        });
        expect(r.trace, name).toBeNull();
        expect(r.reason, name).toMatch(reason);
        expect(r.reason, name).toMatch(/reads tensor values/);
      }
      // Calls that only read metadata do not.
      const ok = record([leaf([2, 2], 1)], ([x]) => {
        void [x!.shape, x!.dtype, x!.requiresGrad, x!.isLeaf, x!.gradFn, tg.isGradEnabled(), tg.memory()];
        return [x!.mul(2)];
      });
      usable(ok, 'metadata reads');
    });
  });

  it('a tensor with a graph made outside the forward pass makes the trace unusable (every replay would walk that graph)', () => {
    tg.tidy(() => {
      const w = leaf([2, 2], 3);
      const wt = w.mT; // computed outside, requires grad
      const r = record([leaf([2, 2], 1)], ([x]) => [x!.matmul(wt)]);
      expect(r.trace).toBeNull();
      expect(r.reason).toMatch(/computed outside it by 'Transpose|detach\(\)/);
      const detached = wt.detach();
      usable(record([leaf([2, 2], 1)], ([x]) => [x!.matmul(detached)]), 'detached');
    });
  });

  it('one tensor given twice when recorded must be one tensor in a replay', () => {
    tg.tidy(() => {
      const forward = ([a, b]: Tensor[]): Tensor[] => [a!.sub(b!).square().sum()];
      const x = leaf([3], 1);
      const trace = usable(record([x, x], forward));
      const [same] = replay(trace, [x, x]);
      expect(values(same!)).toEqual([0]);
      expect(() => native._traceRun(trace, [x._handle, leaf([3], 2)._handle])).toThrow(
        /tensors 0 and 1 of the batch were one tensor when the trace was recorded/,
      );
      // Recorded with two tensors, a replay may get one twice: each input is its own value.
      const two = usable(record([x, leaf([3], 2)], forward));
      expect(values(replay(two, [x, x])[0]!)).toEqual([0]);
    });
  });

  it('traceBegin while recording, and traceEnd without traceBegin, throw; traceAbort stops recording', () => {
    tg.tidy(() => {
      const x = leaf([2], 1);
      native.traceBegin([x._handle]);
      try {
        expect(() => native.traceBegin([x._handle])).toThrow(/already being recorded/);
      } finally {
        native.traceAbort();
      }
      expect(() => native.traceEnd([x._handle])).toThrow(/no trace is being recorded/);
      // A forward pass that throws, then traceAbort: the next recording starts clean.
      expect(() => record([x], ([a]) => [a!.add(tg.zeros([3]))])).toThrow();
      expect(() => native.traceEnd([])).toThrow(/no trace is being recorded/);
      const trace = usable(record([x], ([a]) => [a!.neg()]));
      expectSameBits(replay(trace, [leaf([2], 3)])[0]!, leaf([2], 3).detach().neg(), 'output');
    });
  });

  it('_traceRun with the wrong inputs throws a RangeError naming what the trace was recorded with', () => {
    tg.tidy(() => {
      const trace = usable(record([leaf([2, 3], 1), leaf([3], 2)], ([a, b]) => [a!.add(b!)]));
      const run = (inputs: Tensor[]) => () => replay(trace, inputs);
      const b = leaf([3], 2);
      expect(run([leaf([3, 2], 1), b])).toThrow(RangeError);
      expect(run([leaf([3, 2], 1), b])).toThrow(/tensor 0 .*shape \[3, 2\].*recorded with \[2, 3\] and float64/);
      expect(run([leaf([2, 3], 1), tg.zeros([3])])).toThrow(RangeError);
      expect(run([leaf([2, 3], 1), tg.zeros([3])])).toThrow(/tensor 1 .*dtype float32.*recorded with \[3\] and float64/);
      expect(run([leaf([2, 3], 1)])).toThrow(RangeError);
      expect(run([leaf([2, 3], 1)])).toThrow(/takes 2 tensors, got 1/);
      expect(run([leaf([2, 3], 1), b, b])).toThrow(/takes 2 tensors, got 3/);
      expect(() => native._traceRun({} as TraceHandle, [])).toThrow(TypeError);
    });
  });

  it('100 replays with their outputs disposed leave the live tensors and bytes unchanged', () => {
    tg.tidy(() => {
      const w = leaf([8, 8], 3);
      const trace = usable(
        record([leaf([4, 8], 1)], ([x]) => {
          const h = x!.matmul(w).relu();
          return [...h.split(2, 0), F.softmax(h, -1).mul(tg.tensor([1, 2, 3, 4, 5, 6, 7, 8], { dtype: 'float64' })).sum()];
        }),
      );
      const x = leaf([4, 8], 2);
      replay(trace, [x]).forEach((t) => t.dispose());
      const before = tg.memory();
      for (let i = 0; i < 100; i++) {
        const outs = replay(trace, [x]);
        outs.at(-1)!.backward();
        for (const t of outs) t.dispose();
      }
      x.zeroGrad();
      w.zeroGrad();
      const after = tg.memory();
      expect(after.liveTensors).toBe(before.liveTensors);
      expect(after.liveBytes).toBe(before.liveBytes);
    });
  });
});
