// Text form of a tensor, as PyTorch's str(tensor) lays it out (torch/_tensor_str.py
// with the default print options): one number format for the whole tensor,
// right-aligned columns, rows wrapped at 80 characters, and for large tensors
// only the first and last items of each dimension.
import type { DType } from './tensor.js';

const SUMMARY_THRESHOLD = 1000;
export const EDGE_ITEMS = 3;
const PRECISION = 4;
const LINE_WIDTH = 80;

/**
 * Whether a dim of `size` is cut to its first and last EDGE_ITEMS in a tensor
 * of `numel` elements: only tensors of more than SUMMARY_THRESHOLD elements
 * are summarized. summarizedData (tensor.ts) reads what this leaves.
 */
export function summarizedDim(size: number, numel: number): boolean {
  return numel > SUMMARY_THRESHOLD && size > 2 * EDGE_ITEMS;
}

// Python's '{:.Ne}': at least two exponent digits (1.0000e-05, not 1.0000e-5).
function exponential(x: number): string {
  return x.toExponential(PRECISION).replace(/e([+-])(\d)$/, 'e$10$2');
}

// toFixed drops the sign of -0, which Python's format keeps.
function signed(x: number, s: string): string {
  return Object.is(x, -0) ? `-${s}` : s;
}

function nonFinite(x: number): string {
  return Number.isNaN(x) ? 'nan' : x > 0 ? 'inf' : '-inf';
}

// PyTorch's _Formatter: for floats, integer mode ("1.", "-3.") when every
// nonzero finite value is whole, scientific notation when the nonzero finite
// magnitudes span more than a factor 1000, exceed 1e8 or (in fixed mode)
// fall below 1e-4; the width is that of the widest nonzero finite value.
function formatter(values: ArrayLike<number>, dtype: DType): { width: number; format: (x: number) => string } {
  if (dtype === 'int32') {
    let width = 1;
    for (let i = 0; i < values.length; i++) width = Math.max(width, String(values[i]).length);
    return { width, format: (x) => String(x) };
  }
  let max = 0;
  let min = Infinity;
  let intMode = true;
  const nonzero: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!Number.isFinite(v) || v === 0) continue;
    nonzero.push(v);
    const a = Math.abs(v);
    if (a > max) max = a;
    if (a < min) min = a;
    if (v !== Math.ceil(v)) intMode = false;
  }
  const fixed = (x: number): string => (Number.isFinite(x) ? signed(x, x.toFixed(PRECISION)) : nonFinite(x));
  const whole = (x: number): string => (Number.isFinite(x) ? `${signed(x, x.toFixed(0))}.` : nonFinite(x));
  const sci = (x: number): string => (Number.isFinite(x) ? exponential(x) : nonFinite(x));
  if (nonzero.length === 0) return { width: 1, format: whole };
  const sciMode = max / min > 1000 || max > 1e8 || (!intMode && min < 1e-4);
  const format = sciMode ? sci : intMode ? whole : fixed;
  let width = 1;
  for (const v of nonzero) width = Math.max(width, format(v).length);
  return { width, format };
}

/**
 * `values` are the elements shown (see summarizedData in tensor.ts): all of
 * them, or the first and last EDGE_ITEMS along each summarizedDim. The number format
 * is chosen from these alone, as PyTorch does.
 */
export function formatTensor(values: ArrayLike<number>, shape: readonly number[], dtype: DType, suffix: string): string {
  let numel = 1;
  for (const s of shape) numel *= s;
  const indent = 'tensor('.length;
  if (numel === 0) {
    // PyTorch names the shape of an empty tensor unless it is [0].
    const size = shape.length === 1 ? '' : `, size=(${shape.join(', ')})`;
    return `tensor([]${size}${suffix})`;
  }
  const cut = (n: number): boolean => summarizedDim(n, numel);
  const { width, format } = formatter(values, dtype);
  const text = (i: number): string => format(values[i] as number).padStart(width);
  if (shape.length === 0) return `tensor(${text(0)}${suffix})`;
  // Strides of the shown values, whose summarized dims hold 2 * EDGE_ITEMS.
  const strides: number[] = [];
  let stride = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = stride;
    stride *= cut(shape[d] as number) ? 2 * EDGE_ITEMS : (shape[d] as number);
  }
  // Positions along a dim among the shown values; null marks the elision.
  const indices = (n: number): (number | null)[] => {
    if (!cut(n)) return Array.from({ length: n }, (_, i) => i);
    const head = Array.from({ length: EDGE_ITEMS }, (_, i) => i);
    const tail = Array.from({ length: EDGE_ITEMS }, (_, i) => EDGE_ITEMS + i);
    return [...head, null, ...tail];
  };
  const render = (dim: number, offset: number, ind: number): string => {
    const n = shape[dim] as number;
    if (dim === shape.length - 1) {
      const items = indices(n).map((i) => (i === null ? ' ...' : text(offset + i * (strides[dim] as number))));
      const perLine = Math.max(1, Math.floor((LINE_WIDTH - ind) / (width + 2)));
      const lines: string[] = [];
      for (let i = 0; i < items.length; i += perLine) lines.push(items.slice(i, i + perLine).join(', '));
      return `[${lines.join(',\n' + ' '.repeat(ind + 1))}]`;
    }
    const parts = indices(n).map((i) =>
      i === null ? '...' : render(dim + 1, offset + i * (strides[dim] as number), ind + 1),
    );
    const sep = ',' + '\n'.repeat(shape.length - dim - 1) + ' '.repeat(ind + 1);
    return `[${parts.join(sep)}]`;
  };
  return `tensor(${render(0, 0, indent)}${suffix})`;
}
