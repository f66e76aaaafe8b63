// nn.Module: a tree of layers that owns its parameters. Parameters and
// children are found from the module's own properties, in the order they
// were assigned, so names match PyTorch's ("0.weight", "encoder.bias").
// A child shared by several parents is a node of the tree once per place;
// a property pointing back to an ancestor (a parent reference, or a module
// holding itself) is not followed, so every walk ends.
import { noGrad } from '../autograd.js';
import { TapegradError, checkBoolean, checkOptions, describe } from '../errors.js';
import { ownValue } from '../keys.js';
import { untrack } from '../scope.js';
import { checkNotInUse, Tensor, type DType, isTensor } from '../tensor.js';

const parameters = new WeakSet<Tensor>();
const buffers = new WeakSet<Tensor>();

// A Map state dict as an object without a prototype: its keys must be strings.
function mapEntries(state: ReadonlyMap<unknown, unknown>): Record<string, Tensor> {
  const out: Record<string, Tensor> = Object.create(null);
  for (const [k, v] of state) {
    if (typeof k !== 'string') throw new TypeError(`loadStateDict: a Map state dict must have string keys, got ${describe(k)}`);
    out[k] = v as Tensor;
  }
  return out;
}

/** @internal Whether t was made a parameter or a buffer (module properties holding neither are not the module's state). */
export function tensorRole(t: Tensor): 'parameter' | 'buffer' | null {
  return parameters.has(t) ? 'parameter' : buffers.has(t) ? 'buffer' : null;
}

/** Marks `t` as a parameter: a leaf that requires grad, owned by its module (never freed by tidy). */
export function parameter(t: Tensor, requiresGrad = true): Tensor {
  if (!isTensor(t)) throw new TypeError(`parameter: t must be a Tensor, got ${describe(t)}`);
  if (t.isDisposed) throw new TapegradError('parameter: t is a disposed tensor');
  const p = t.isLeaf ? t : t.detach();
  if (requiresGrad && p.dtype !== 'int32') p.setRequiresGrad(true);
  untrack(p);
  parameters.add(p);
  return p;
}

/** Marks `t` as a buffer: state saved in the state dict but not trained (running statistics, masks). */
export function buffer(t: Tensor): Tensor {
  if (!isTensor(t)) throw new TypeError(`buffer: t must be a Tensor, got ${describe(t)}`);
  if (t.isDisposed) throw new TapegradError('buffer: t is a disposed tensor');
  untrack(t);
  buffers.add(t);
  return t;
}

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

type Slot = { owner: Record<string, unknown>; key: string };

/**
 * @internal The key of a method nn.Sequential calls on a module with the
 * module after it and the input: their joint output when the two run as one
 * op with the same values and gradients (a Linear then a ReLU), else null.
 * Not exported from the package.
 */
export const forwardWithNext: unique symbol = Symbol('forwardWithNext');

/** @internal A module that may run together with the one after it (forwardWithNext). */
export interface Fusable {
  [forwardWithNext]?(next: Module, x: Tensor): Tensor | null;
}

export abstract class Module {
  /** True in training mode (dropout active); see train() and eval(). */
  training = true;

  /**
   * The layer's computation. Most layers map tensors to a tensor; some take
   * an options object too or return a tuple (MultiheadAttention), so the
   * base signature leaves the types to each layer.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  abstract forward(...inputs: any[]): any;

  /** Own parameters, buffers and child modules, in property order. */
  private *entries(): Generator<[string, Tensor | Module, Slot]> {
    const self = this as unknown as Record<string, unknown>;
    for (const key of Object.keys(self)) {
      const v = self[key];
      if (v instanceof Module || (isTensor(v) && tensorRole(v) !== null))
        yield [key, v, { owner: self, key }];
    }
  }

  /** Direct child modules with their names. */
  *namedChildren(): Generator<[string, Module]> {
    for (const [k, v] of this.entries()) if (v instanceof Module) yield [k, v];
  }
  children(): Module[] {
    return [...this.namedChildren()].map(([, m]) => m);
  }
  /** This module and every descendant, depth first, each once (under its first name), as in PyTorch. */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield* this.namedModulesOnce(prefix, new Set());
  }
  private *namedModulesOnce(prefix: string, seen: Set<Module>): Generator<[string, Module]> {
    if (seen.has(this)) return;
    seen.add(this);
    yield [prefix, this];
    for (const [k, m] of this.namedChildren()) yield* m.namedModulesOnce(prefix ? `${prefix}.${k}` : k, seen);
  }
  modules(): Module[] {
    return [...this.namedModules()].map(([, m]) => m);
  }

  // Every path to a tensor of `kind` (a shared child's under each of its
  // names), skipping children that are ancestors on the path (`path`).
  private *namedTensors(kind: WeakSet<Tensor>, prefix = '', path = new Set<Module>()): Generator<[string, Tensor, Slot]> {
    path.add(this);
    for (const [k, v, slot] of this.entries()) {
      const name = prefix ? `${prefix}.${k}` : k;
      if (v instanceof Module) {
        if (!path.has(v)) yield* v.namedTensors(kind, name, path);
      } else if (kind.has(v)) yield [name, v, slot];
    }
    path.delete(this);
  }

  /** Every parameter with its dotted name. A parameter shared by two layers appears once. */
  namedParameters(): [string, Tensor][] {
    const seen = new Set<Tensor>();
    const out: [string, Tensor][] = [];
    for (const [name, t] of this.namedTensors(parameters)) {
      if (seen.has(t)) continue;
      seen.add(t);
      out.push([name, t]);
    }
    return out;
  }
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }
  namedBuffers(): [string, Tensor][] {
    return [...this.namedTensors(buffers)].map(([n, t]) => [n, t]);
  }

  /** Training mode on (default) or off, for this module and its descendants. */
  train(mode = true): this {
    // As PyTorch: train('false') or train(0) would set a mode that is not a boolean (dropout reads it as one).
    checkBoolean(mode, `${this.constructor.name}.train`, 'mode');
    for (const m of this.modules()) m.training = mode;
    return this;
  }
  /** Evaluation mode: train(false). */
  eval(): this {
    return this.train(false);
  }

  /** Sets every parameter's gradient to null. */
  zeroGrad(): void {
    const named = this.namedParameters();
    // All checked first: one a running step holds must not leave the others cleared.
    for (const [name, p] of named) checkNotInUse(p, 'zeroGrad', `parameter '${name}'`);
    for (const [, p] of named) p.zeroGrad();
  }

  /** Parameters and buffers by name. The tensors are the module's own (not copies). */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [name, t] of this.namedTensors(parameters)) out[name] = t;
    for (const [name, t] of this.namedTensors(buffers)) out[name] = t;
    return out;
  }

  /**
   * Copies values from `state` (an object or a Map of tensors) into the
   * parameters and buffers. With strict (default), missing or unexpected
   * names and any shape mismatch are errors.
   */
  loadStateDict(state: Record<string, Tensor> | ReadonlyMap<string, Tensor>, options: { strict?: boolean } = {}): LoadResult {
    if (state === null || typeof state !== 'object')
      throw new TypeError(`loadStateDict: expected an object (or a Map) of tensors, got ${describe(state)}`);
    // A Map (PyTorch's state dicts are ordered dicts) is read as the object of its entries.
    if (state instanceof Map) state = mapEntries(state);
    checkOptions(options, 'loadStateDict', '{ strict: false }', ['strict']);
    const strict = checkBoolean(options.strict, 'loadStateDict', 'strict', true);
    const own = this.stateDict();
    // Own keys only, on both sides: 'constructor' or 'toString' in a file is unexpected, and an
    // inherited property does not stand in for a missing key.
    const has = (k: string) => Object.hasOwn(state, k);
    // A tied tensor (one tensor under several names) is saved once: any of its names will do.
    const provided = new Set(Object.keys(own).filter(has).map((k) => own[k]));
    const missingKeys = Object.keys(own).filter((k) => !has(k) && !provided.has(own[k]));
    const unexpectedKeys = Object.keys(state).filter((k) => !Object.hasOwn(own, k));
    if (strict && (missingKeys.length || unexpectedKeys.length))
      throw new RangeError(
        `loadStateDict: ${missingKeys.length ? `missing keys: ${missingKeys.join(', ')}` : ''}` +
          `${missingKeys.length && unexpectedKeys.length ? '; ' : ''}` +
          `${unexpectedKeys.length ? `unexpected keys: ${unexpectedKeys.join(', ')}` : ''}`,
      );
    for (const [k, target] of Object.entries(own)) {
      const source = ownValue(state, k);
      if (source === undefined) continue;
      if (!isTensor(source)) throw new TypeError(`loadStateDict: '${k}' must be a Tensor`);
      // Named here: the shape getter below would report itself, not loadStateDict.
      if (source.isDisposed) throw new TapegradError(`loadStateDict: '${k}' is a disposed tensor`);
      if (source.shape.join() !== target.shape.join())
        throw new RangeError(
          `loadStateDict: '${k}' has shape [${source.shape.join(', ')}] in the state dict and [${target.shape.join(', ')}] in the module`,
        );
      // A tensor a running step holds cannot be written: found here, before any is.
      checkNotInUse(target, 'loadStateDict', `'${k}'`);
    }
    noGrad(() => {
      for (const [k, target] of Object.entries(own)) {
        const source = ownValue(state, k) as Tensor | undefined;
        if (!source) continue;
        if (source.dtype === target.dtype) target.copyFrom(source);
        else {
          const cast = source.to(target.dtype);
          target.copyFrom(cast);
          cast.dispose();
        }
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  /**
   * Converts every floating-point parameter and buffer to `dtype` (new
   * tensors; make optimizers after this). Integer buffers keep their dtype, as in PyTorch.
   * Throws, changing nothing, when one of them is disposed or a running step holds it.
   */
  to(dtype: DType): this {
    const op = `${this.constructor.name}.to`;
    if (dtype !== 'float32' && dtype !== 'float64')
      throw new TypeError(`${op}: dtype must be 'float32' or 'float64', got ${describe(dtype)}`);
    // Every tensor to convert is found and checked before any slot changes
    // (the old ones are freed at the end, which fails for one in use).
    const slots: [Slot, Tensor][] = [];
    const sources = new Set<Tensor>();
    for (const [prefix, m] of this.namedModules()) {
      for (const [key, v, slot] of m.entries()) {
        if (!isTensor(v)) continue;
        const what = `${parameters.has(v) ? 'parameter' : 'buffer'} '${prefix ? `${prefix}.${key}` : key}'`;
        if (v.isDisposed) throw new TapegradError(`${op}: ${what} is a disposed tensor`);
        if (v.dtype === dtype || v.dtype === 'int32') continue;
        // A tensor shared by several layers (tied weights) is converted once and stays shared.
        if (!sources.has(v)) checkNotInUse(v, op, what);
        sources.add(v);
        slots.push([slot, v]);
      }
    }
    const converted = new Map<Tensor, Tensor>();
    try {
      for (const v of sources) {
        const cast = noGrad(() => v.to(dtype));
        converted.set(v, parameters.has(v) ? parameter(cast, v.requiresGrad) : buffer(cast));
      }
    } catch (e) {
      for (const t of converted.values()) t.dispose();
      throw e;
    }
    for (const [slot, v] of slots) slot.owner[slot.key] = converted.get(v);
    for (const v of sources) v.dispose();
    return this;
  }

  /** One line describing this layer's own settings, shown by toString(). */
  protected extraRepr(): string {
    return '';
  }

  /** The module tree, as PyTorch prints it; a reference back to an ancestor prints as <ancestor Name>. */
  toString(): string {
    return this.describeTree(new Set());
  }
  private describeTree(path: Set<Module>): string {
    const children = [...this.namedChildren()];
    const head = `${this.constructor.name}(${this.extraRepr()}`;
    if (children.length === 0) return `${head})`;
    path.add(this);
    const lines = children.map(([k, m]) => {
      const text = path.has(m) ? `<ancestor ${m.constructor.name}>` : m.describeTree(path);
      return `  (${k}): ${text.split('\n').join('\n  ')}`;
    });
    path.delete(this);
    return `${head}\n${lines.join('\n')}\n)`;
  }
}
