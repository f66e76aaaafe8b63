// Grad mode, functional gradients, and gradient checks against finite differences.
import { TapegradError } from './errors.js';
import { native } from './native.js';
import { tidy } from './memory.js';
import { Tensor } from './tensor.js';
import { tensor } from './creation.js';

/** Runs `fn` with gradient recording off (on this thread), then restores the previous mode. */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/** Runs `fn` with gradient recording on, then restores the previous mode. */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}

export function isGradEnabled(): boolean {
  return native.isGradEnabled();
}

function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const previous = native.isGradEnabled();
  native.setGradEnabled(enabled);
  try {
    return fn();
  } finally {
    native.setGradEnabled(previous);
  }
}

export interface GradOptions {
  gradOutputs?: (Tensor | null)[] | Tensor;
  retainGraph?: boolean;
  createGraph?: boolean;
  /** Return null for inputs the outputs do not depend on instead of throwing. */
  allowUnused?: boolean;
}

/** Gradients of `outputs` with respect to `inputs`, without touching any .grad. */
export function grad(outputs: Tensor | Tensor[], inputs: Tensor | Tensor[], options: GradOptions = {}): (Tensor | null)[] {
  const outs = Array.isArray(outputs) ? outputs : [outputs];
  const ins = Array.isArray(inputs) ? inputs : [inputs];
  const g = options.gradOutputs;
  const gradHandles = g === undefined ? null : (Array.isArray(g) ? g : [g]).map((t) => (t ? t._handle : null));
  const result = native.grad(
    outs.map((t) => t._handle),
    ins.map((t) => t._handle),
    gradHandles,
    options.retainGraph ?? false,
    options.createGraph ?? false,
    options.allowUnused ?? false,
  );
  return result.map((h) => (h === null ? null : new Tensor(h)));
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

function asList(r: Tensor | Tensor[]): Tensor[] {
  return Array.isArray(r) ? r : [r];
}

/**
 * Compares the analytical gradients of `fn` at `inputs` with central finite
 * differences, for every input that requires grad (these must be float64).
 * Throws a TapegradError naming the worst element on mismatch.
 */
export function gradcheck(fn: Fn, inputs: Tensor[], options: GradcheckOptions = {}): boolean {
  const eps = options.eps ?? 1e-6;
  const atol = options.atol ?? 1e-5;
  const rtol = options.rtol ?? 1e-3;
  const diff = inputs.map((t, i) => {
    if (!t.requiresGrad) return false;
    if (t.dtype !== 'float64')
      throw new TypeError(`gradcheck: input ${i} requires grad and must be float64 for finite differences, got ${t.dtype}`);
    return true;
  });
  if (!diff.some(Boolean)) throw new TapegradError('gradcheck: no input requires grad');

  return tidy(() => {
    const outputs = asList(fn(...inputs));
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
          const outs = asList(fn(...moved));
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
                `gradcheck: gradient mismatch for input ${i}, element ${e}, output element ${r}: ` +
                `analytical ${analyticalValue}, numerical ${numerical} (atol ${atol}, rtol ${rtol})`,
            };
          }
        }
      }
    });
    if (worst.message) {
      if (options.raiseException === false) return false;
      throw new TapegradError(worst.message);
    }
    return true;
  });
}

/**
 * Checks second derivatives: gradcheck of the function that maps (inputs,
 * gradOutputs) to the gradients of `fn` computed with createGraph.
 */
export function gradgradcheck(fn: Fn, inputs: Tensor[], options: GradcheckOptions = {}): boolean {
  return tidy(() => {
    const outputs = asList(fn(...inputs));
    const gradOutputs = outputs.map((o) => {
      const values = new Float64Array(o.size);
      for (let i = 0; i < values.length; i++) values[i] = Math.sin(1.7 * i + 0.3);
      return tensor(values, { shape: o.shape, dtype: 'float64', requiresGrad: true });
    });
    const nIn = inputs.length;
    const second = (...args: Tensor[]): Tensor[] => {
      const xs = args.slice(0, nIn);
      const vs = args.slice(nIn);
      const outs = asList(fn(...xs));
      const diffXs = xs.filter((_, i) => (inputs[i] as Tensor).requiresGrad);
      return grad(outs, diffXs, { gradOutputs: vs, createGraph: true, allowUnused: true }).map(
        (g, i) => g ?? (diffXs[i] as Tensor).mul(0),
      );
    };
    return gradcheck(second, [...inputs, ...gradOutputs], options);
  });
}
