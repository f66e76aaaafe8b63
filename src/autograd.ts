// Grad mode, functional gradients, and gradient checks against finite differences.
import { TapegradError, checkBoolean, checkOptions, describe } from './errors.js';
import { native, type Handle } from './native.js';
import { tidy } from './memory.js';
import { fromHandle, gradientHandle, operand, isTensor, handleOf, type DType, type Tensor } from './tensor.js';
import { tensor } from './creation.js';

/** Runs `fn` with gradient recording off (on this thread), then restores the previous mode. */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn, 'noGrad');
}

/** Runs `fn` with gradient recording on, then restores the previous mode. */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn, 'enableGrad');
}

export function isGradEnabled(): boolean {
  return native.isGradEnabled();
}

function withGradMode<T>(enabled: boolean, fn: () => T, op: string): T {
  if (typeof fn !== 'function') throw new TypeError(`${op}: fn must be a function, got ${describe(fn)}`);
  const previous = native.isGradEnabled();
  native.setGradEnabled(enabled);
  try {
    return fn();
  } finally {
    native.setGradEnabled(previous);
  }
}

export interface GradOptions {
  /**
   * The gradient of each output (a Tensor for one output); null, for one or
   * for all, is the default: ones, for an output of one element.
   */
  gradOutputs?: (Tensor | null)[] | Tensor | null;
  retainGraph?: boolean;
  createGraph?: boolean;
  /** Return null for inputs the outputs do not depend on instead of throwing. */
  allowUnused?: boolean;
}

/** Gradients of `outputs` with respect to `inputs`, without touching any .grad. */
export function grad(outputs: Tensor | Tensor[], inputs: Tensor | Tensor[], options: GradOptions = {}): (Tensor | null)[] {
  checkOptions(options, 'grad', '{ allowUnused: true }', ['gradOutputs', 'retainGraph', 'createGraph', 'allowUnused']);
  for (const name of ['retainGraph', 'createGraph', 'allowUnused'] as const)
    if (options[name] !== undefined) checkBoolean(options[name], 'grad', name);
  // operand() passes what is not a Tensor on for the native layer to reject
  // ("grad: inputs[0] must be a Tensor, got ..."), never a look-alike's _handle.
  const outs = (Array.isArray(outputs) ? outputs : [outputs]).map(operand) as Handle[];
  const ins = (Array.isArray(inputs) ? inputs : [inputs]).map(operand) as Handle[];
  const g: unknown = options.gradOutputs;
  let gradHandles: (Handle | null)[] | null = null;
  if (Array.isArray(g)) gradHandles = g.map((t, i) => gradientHandle(t, 'grad', `gradOutputs[${i}]`));
  else if (isTensor(g)) gradHandles = [handleOf(g)];
  else if (g !== undefined && g !== null)
    throw new TypeError(`grad: gradOutputs must be a Tensor, an array of Tensors (or nulls), or null, got ${describe(g)}`);
  const result = native.grad(
    outs,
    ins,
    gradHandles,
    options.retainGraph ?? false,
    options.createGraph ?? false,
    options.allowUnused ?? false,
  );
  return result.map((h) => (h === null ? null : fromHandle(h)));
}

export interface GradcheckOptions {
  /** Finite-difference step. */
  eps?: number;
  atol?: number;
  rtol?: number;
  /** Throw on failure (default) or return false. */
  raiseException?: boolean;
}

type Fn = (...inputs: Tensor[]) => Tensor | Tensor[];

// What fn returned, as a list of tensors.
function outputsOf(r: unknown, op: string): Tensor[] {
  const list = Array.isArray(r) ? r : [r];
  list.forEach((t, i) => {
    if (!isTensor(t))
      throw new TypeError(
        `${op}: fn must return a Tensor or an array of Tensors, got ${
          Array.isArray(r) ? `an array holding ${describe(t)} at index ${i}` : describe(r)
        }`,
      );
  });
  return list as Tensor[];
}

// Checks the arguments of gradcheck and gradgradcheck and returns the
// numeric options: a NaN or a string tolerance would make every comparison
// pass (or fail) whatever the gradients.
function checkArgs(
  op: string, fn: unknown, inputs: unknown, options: unknown,
): { eps: number; atol: number; rtol: number; raise: boolean } {
  if (typeof fn !== 'function') throw new TypeError(`${op}: fn must be a function, got ${describe(fn)}`);
  if (!Array.isArray(inputs)) throw new TypeError(`${op}: inputs must be an array of Tensors, got ${describe(inputs)}`);
  inputs.forEach((t, i) => {
    if (!isTensor(t)) throw new TypeError(`${op}: inputs[${i}] must be a Tensor, got ${describe(t)}`);
  });
  checkOptions(options, op, '{ atol: 1e-5 }', ['eps', 'atol', 'rtol', 'raiseException']);
  const number = (name: 'eps' | 'atol' | 'rtol', fallback: number, positive: boolean): number => {
    const v: unknown = (options as GradcheckOptions)[name] ?? fallback;
    if (typeof v !== 'number') throw new TypeError(`${op}: ${name} must be a number, got ${describe(v)}`);
    if (!Number.isFinite(v) || v < 0 || (positive && v === 0))
      throw new RangeError(`${op}: ${name} must be a finite number ${positive ? '> 0' : '>= 0'}, got ${v}`);
    return v;
  };
  return {
    eps: number('eps', 1e-6, true),
    atol: number('atol', 1e-5, false),
    rtol: number('rtol', 1e-3, false),
    raise: checkBoolean((options as GradcheckOptions).raiseException, op, 'raiseException', true),
  };
}

/**
 * Compares the analytical gradients of `fn` at `inputs` with central finite
 * differences, for every input that requires grad (these must be float64).
 * Throws a TapegradError naming the worst element on mismatch.
 */
export function gradcheck(fn: Fn, inputs: Tensor[], options: GradcheckOptions = {}): boolean {
  const { eps, atol, rtol, raise } = checkArgs('gradcheck', fn, inputs, options);
  return check('gradcheck', fn, inputs, eps, atol, rtol, raise);
}

// gradcheck on checked arguments; `op` names the function the user called,
// `nameOf` an input in messages.
function check(
  op: string, fn: Fn, inputs: Tensor[], eps: number, atol: number, rtol: number, raise: boolean,
  nameOf: (i: number) => string = (i) => `input ${i}`,
): boolean {
  const diff = inputs.map((t, i) => {
    if (!t.requiresGrad) return false;
    if (t.dtype !== 'float64')
      throw new TypeError(`${op}: ${nameOf(i)} requires grad and must be float64 for finite differences, got ${t.dtype}`);
    return true;
  });
  if (!diff.some(Boolean)) throw new TapegradError(`${op}: no input requires grad`);

  return tidy(() => {
    const outputs = outputsOf(fn(...inputs), op);
    const outSizes = outputs.map((o) => o.size);
    const totalOut = outSizes.reduce((a, b) => a + b, 0);
    const diffInputs = inputs.filter((_, i) => diff[i]);
    // Analytical Jacobian, one row per output element.
    const analytical = diffInputs.map((t) => new Float64Array(t.size * totalOut));
    let row = 0;
    outputs.forEach((out) => {
      for (let j = 0; j < out.size; j++, row++) {
        if (!out.requiresGrad) continue;
        const oneHot = new Float64Array(out.size);
        oneHot[j] = 1;
        const gradOutput = tensor(oneHot, { shape: out.shape, dtype: out.dtype });
        const grads = grad([out], diffInputs, { gradOutputs: [gradOutput], retainGraph: true, allowUnused: true });
        grads.forEach((g, i) => {
          if (g === null) return;
          const v = g.data();
          const a = analytical[i] as Float64Array;
          for (let e = 0; e < v.length; e++) a[e * totalOut + row] = v[e] as number;
        });
      }
    });
    // Numerical Jacobian, one column per input element.
    const evalAt = (which: number, element: number, delta: number): Float64Array => {
      // Grad mode stays on: fn may itself take gradients (gradgradcheck).
      return tidy(() => {
          const moved = inputs.map((t, i) => {
            if (i !== which) return t;
            const values = Float64Array.from(t.data());
            values[element] = (values[element] as number) + delta;
            return tensor(values, { shape: t.shape, dtype: 'float64', requiresGrad: true });
          });
          const outs = outputsOf(fn(...moved), op);
          const flat = new Float64Array(totalOut);
          let pos = 0;
          for (const o of outs) for (const v of o.to('float64').data()) flat[pos++] = v;
          return flat;
        });
    };
    let worst = { excess: 0, message: '' };
    let d = 0;
    inputs.forEach((t, i) => {
      if (!diff[i]) return;
      const a = analytical[d++] as Float64Array;
      for (let e = 0; e < t.size; e++) {
        const plus = evalAt(i, e, eps);
        const minus = evalAt(i, e, -eps);
        for (let r = 0; r < totalOut; r++) {
          const numerical = ((plus[r] as number) - (minus[r] as number)) / (2 * eps);
          const analyticalValue = a[e * totalOut + r] as number;
          const err = Math.abs(numerical - analyticalValue);
          const tol = atol + rtol * Math.abs(numerical);
          const bad = !(err <= tol);
          if (bad && (err - tol > worst.excess || Number.isNaN(err))) {
            worst = {
              excess: Number.isNaN(err) ? Infinity : err - tol,
              message:
                `${op}: gradient mismatch for ${nameOf(i)}, element ${e}, output element ${r}: ` +
                `analytical ${analyticalValue}, numerical ${numerical} (atol ${atol}, rtol ${rtol})`,
            };
          }
        }
      }
    });
    if (worst.message) {
      if (!raise) return false;
      throw new TapegradError(worst.message);
    }
    return true;
  });
}

/**
 * Checks second derivatives: gradcheck of the function that maps (inputs,
 * gradOutputs) to the gradients of `fn` computed with createGraph. As in
 * PyTorch, each gradient output has its output's dtype: a float32 output
 * gets a float32 one (made from a float64 leaf, so that finite differences
 * move it in float64 as gradcheck needs), and the check then compares
 * float32 gradients, which usually needs a larger eps and looser tolerances.
 */
export function gradgradcheck(fn: Fn, inputs: Tensor[], options: GradcheckOptions = {}): boolean {
  const { eps, atol, rtol, raise } = checkArgs('gradgradcheck', fn, inputs, options);
  return tidy(() => {
    const outputs = outputsOf(fn(...inputs), 'gradgradcheck');
    const dtypes = outputs.map((o, i) => {
      if (o.dtype === 'int32')
        throw new TypeError(`gradgradcheck: output ${i} of fn is int32, which has no gradient; fn must return float32 or float64 tensors`);
      return o.dtype;
    });
    const gradOutputs = outputs.map((o) => {
      const values = new Float64Array(o.size);
      for (let i = 0; i < values.length; i++) values[i] = Math.sin(1.7 * i + 0.3);
      return tensor(values, { shape: o.shape, dtype: 'float64', requiresGrad: true });
    });
    const nIn = inputs.length;
    const second = (...args: Tensor[]): Tensor[] => {
      const xs = args.slice(0, nIn);
      const vs = args.slice(nIn).map((v, i) => (v.dtype === dtypes[i] ? v : v.to(dtypes[i] as DType)));
      const outs = outputsOf(fn(...xs), 'gradgradcheck');
      const diffXs = xs.filter((_, i) => (inputs[i] as Tensor).requiresGrad);
      return grad(outs, diffXs, { gradOutputs: vs, createGraph: true, allowUnused: true }).map(
        (g, i) => g ?? (diffXs[i] as Tensor).mul(0),
      );
    };
    // The gradient outputs are inputs of `second`; messages name them as such.
    const nameOf = (i: number) => (i < nIn ? `input ${i}` : `gradOutputs[${i - nIn}] (the gradient of output ${i - nIn})`);
    return check('gradgradcheck', second, [...inputs, ...gradOutputs], eps, atol, rtol, raise, nameOf);
  });
}
