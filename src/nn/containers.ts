// Containers: modules that hold other modules.
import { describe } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { Module, forwardWithNext, type Fusable } from './module.js';

/** Runs its modules in order; children are named "0", "1", ... as in PyTorch. */
export class Sequential extends Module {
  [index: number]: Module;
  readonly length: number;

  constructor(...modules: Module[]) {
    super();
    modules.forEach((m, i) => {
      if (!(m instanceof Module)) throw new TypeError(`Sequential: argument ${i} must be a Module, got ${describe(m)}`);
      this[i] = m;
    });
    this.length = modules.length;
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (let i = 0; i < this.length; i++) {
      const m = this[i] as Module & Fusable;
      // A pair that runs as one op (a Linear then a ReLU) takes both steps.
      const both = i + 1 < this.length ? (m[forwardWithNext]?.(this[i + 1] as Module, y) ?? null) : null;
      if (both === null) {
        y = m.forward(y);
      } else {
        y = both;
        i++;
      }
    }
    return y;
  }
}

/** A list of modules whose parameters are registered, for models with loops over layers. */
export class ModuleList extends Module {
  [index: number]: Module;
  length = 0;

  constructor(modules: Iterable<Module> = []) {
    super();
    for (const m of modules) this.append(m);
  }

  append(m: Module): this {
    if (!(m instanceof Module)) throw new TypeError(`ModuleList.append: module must be a Module, got ${describe(m)}`);
    this[this.length++] = m;
    return this;
  }

  *[Symbol.iterator](): Iterator<Module> {
    for (let i = 0; i < this.length; i++) yield this[i] as Module;
  }

  forward(): Tensor {
    throw new TypeError('ModuleList has no forward(); iterate over its modules');
  }
}

/** Returns its input. */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}
