// Text form of a tensor, in PyTorch's layout: aligned columns, and for large
// tensors only the first and last items of each dimension.
import type { DType } from './tensor.js';

export const SUMMARY_THRESHOLD = 1000;
export const EDGE_ITEMS = 3;

function formatNumber(x: number, dtype: DType, fixed: boolean): string {
  if (dtype === 'int32') return String(x);
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  return fixed ? x.toFixed(4) : x.toExponential(4);
}

/**
 * `values` are the elements shown (see summarizedData in tensor.ts): all of
 * them, or for a tensor of more than SUMMARY_THRESHOLD elements the first and
 * last EDGE_ITEMS along each dim longer than 2 * EDGE_ITEMS. The number format
 * is chosen from these alone, as PyTorch does.
 */
export function formatTensor(values: ArrayLike<number>, shape: readonly number[], dtype: DType, suffix: string): string {
  let numel = 1;
  for (const s of shape) numel *= s;
  const summarize = numel > SUMMARY_THRESHOLD;
  const cut = (n: number): boolean => summarize && n > 2 * EDGE_ITEMS;
  let max = 0;
  let min = Infinity;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i] as number);
    if (!Number.isFinite(a)) continue;
    if (a > max) max = a;
    if (a > 0 && a < min) min = a;
  }
  if (min === Infinity) min = 0;
  const fixed = max < 1e8 && (min === 0 || min >= 1e-4);
  const strings = new Map<number, string>();
  let width = 1;
  const text = (i: number): string => {
    let s = strings.get(i);
    if (s === undefined) {
      s = formatNumber(values[i] as number, dtype, fixed);
      strings.set(i, s);
    }
    return s;
  };
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
  // First pass: widths.
  const visit = (dim: number, offset: number): void => {
    if (dim === shape.length) {
      width = Math.max(width, text(offset).length);
      return;
    }
    for (const i of indices(shape[dim] as number)) if (i !== null) visit(dim + 1, offset + i * (strides[dim] as number));
  };
  visit(0, 0);
  const indent = 'tensor('.length;
  const render = (dim: number, offset: number): string => {
    if (dim === shape.length) return text(offset).padStart(width);
    const parts = indices(shape[dim] as number).map((i) =>
      i === null ? '...' : render(dim + 1, offset + i * (strides[dim] as number)),
    );
    if (dim === shape.length - 1) return `[${parts.join(', ')}]`;
    const sep = ',' + '\n'.repeat(shape.length - dim - 1) + ' '.repeat(indent + dim + 1);
    return `[${parts.join(sep)}]`;
  };
  const body = shape.length === 0 ? text(0) : values.length === 0 ? '[]' : render(0, 0);
  return `tensor(${body}${suffix})`;
}
