// Optimizer and scheduler state dicts as flat named tensors, so that they
// travel in a safetensors file next to the model's weights and training
// resumes bit-identically after tg.save / tg.load.
//
// Encoding (exact for every double, Infinity and NaN included):
//   a Tensor          -> itself (the caller's tensor, not a copy)
//   a number          -> a float64 scalar
//   a boolean         -> an int32 scalar (0 or 1)
//   an array of numbers -> a float64 vector
//   an object or an array of objects -> one name per entry, "parent.key"
// Decoding reverses it; a tensor found under a key named "tensors" (the
// per-parameter state of an optimizer: exp_avg, momentum_buffer, ...) stays a
// tensor, everything else becomes a plain value.
import { tensor } from '../creation.js';
import { setOwn } from '../keys.js';
import { Tensor, isTensor } from '../tensor.js';

const TENSORS_KEY = 'tensors';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !isTensor(v);
}

// `underTensors`: `value` is an entry of a "tensors" object.
function encode(value: unknown, path: string, out: Record<string, Tensor>, underTensors: boolean): void {
  const where = path || 'the state dict';
  if (isTensor(value)) {
    if (!underTensors) throw new TypeError(`stateDictToTensors: a tensor at '${where}' outside a 'tensors' object cannot be told apart from a plain value`);
    setOwn(out, path, value);
  } else if (underTensors) {
    throw new TypeError(`stateDictToTensors: '${where}' must be a Tensor`);
  } else if (typeof value === 'number') {
    setOwn(out, path, tensor(value, { dtype: 'float64' }));
  } else if (typeof value === 'boolean') {
    setOwn(out, path, tensor(value ? 1 : 0, { dtype: 'int32' }));
  } else if (Array.isArray(value) && value.every((v) => typeof v === 'number')) {
    setOwn(out, path, tensor(value as number[], { dtype: 'float64', shape: [value.length] }));
  } else if (Array.isArray(value) || isPlainObject(value)) {
    for (const [key, v] of Object.entries(value)) {
      if (key === '' || key.includes('.'))
        throw new RangeError(`stateDictToTensors: the key ${JSON.stringify(key)} at '${where}' cannot be part of a dotted name`);
      encode(v, path ? `${path}.${key}` : key, out, path.split('.').pop() === TENSORS_KEY);
    }
  } else {
    throw new TypeError(`stateDictToTensors: '${where}' is ${value === null ? 'null' : `a ${typeof value}`}; expected numbers, booleans, arrays, objects and tensors`);
  }
}

/**
 * Flattens an optimizer's or a scheduler's stateDict() into named tensors
 * ("paramGroups.0.lr", "state.3.tensors.exp_avg", "lastEpoch") that
 * tg.save can write. State tensors are the optimizer's own (save them before
 * the next step); numbers and booleans become new scalar tensors.
 */
export function stateDictToTensors(dict: object): Record<string, Tensor> {
  if (!isPlainObject(dict)) throw new TypeError('stateDictToTensors: expected a state dict object (optimizer.stateDict() or scheduler.stateDict())');
  const out: Record<string, Tensor> = {};
  encode(dict, '', out, false);
  return out;
}

function decodeValue(name: string, t: Tensor): number | boolean | number[] {
  const scalar = t.shape.length === 0;
  if (t.dtype === 'int32' && scalar) {
    const v = t.item();
    if (v !== 0 && v !== 1) throw new RangeError(`stateDictFromTensors: '${name}' holds a boolean as 0 or 1, got ${v}`);
    return v === 1;
  }
  if (t.dtype !== 'int32' && scalar) return t.item();
  if (t.dtype !== 'int32' && t.shape.length === 1) return Array.from(t.data() as Float32Array | Float64Array);
  throw new TypeError(
    `stateDictFromTensors: '${name}' must be a float scalar, a float vector or an int32 scalar, got ${t.dtype} of shape [${t.shape.join(', ')}]`,
  );
}

// Objects whose keys are exactly 0..n-1 were arrays (parameter groups); the
// others become ordinary objects again, with every key (even '__proto__') an own property.
function arraysBack(node: unknown): unknown {
  if (!isPlainObject(node)) return node;
  const entries = Object.entries(node).map(([k, v]) => [k, arraysBack(v)] as const);
  if (entries.length > 0 && entries.every(([k], i) => k === String(i))) return entries.map(([, v]) => v);
  return Object.fromEntries(entries);
}

/**
 * Rebuilds a state dict from the tensors stateDictToTensors made (for
 * example as tg.load returned them), for optimizer.loadStateDict or
 * scheduler.loadStateDict, which check it and copy what they keep.
 * Use nn.utils.selectPrefix first when the file holds other tensors too.
 */
export function stateDictFromTensors<T = any>(tensors: Record<string, Tensor>): T {
  if (!isPlainObject(tensors)) throw new TypeError('stateDictFromTensors: expected an object of named tensors');
  // Nodes without a prototype while the names are read: 'optimizer.__proto__.x' from a file
  // makes a key '__proto__', never a write to Object.prototype, and 'constructor' finds nothing.
  const root: Record<string, unknown> = Object.create(null);
  for (const [name, t] of Object.entries(tensors)) {
    if (!isTensor(t)) throw new TypeError(`stateDictFromTensors: '${name}' is not a Tensor`);
    const path = name.split('.');
    if (path.some((k) => k === '')) throw new RangeError(`stateDictFromTensors: '${name}' is not a dotted name`);
    let node = root;
    for (const key of path.slice(0, -1)) {
      const next = Object.hasOwn(node, key) ? node[key] : (node[key] = Object.create(null));
      if (!isPlainObject(next)) throw new RangeError(`stateDictFromTensors: '${name}' is below '${key}', which is a value`);
      node = next;
    }
    const leaf = path[path.length - 1] as string;
    if (Object.hasOwn(node, leaf)) throw new RangeError(`stateDictFromTensors: '${name}' is both a value and a parent of other names`);
    node[leaf] = path.length >= 2 && path[path.length - 2] === TENSORS_KEY ? t : decodeValue(name, t);
  }
  return arraysBack(root) as T;
}
