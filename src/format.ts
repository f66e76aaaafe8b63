// Text form of a tensor, in PyTorch's layout: aligned columns, and for large
// tensors only the first and last items of each dimension.
import type { DType } from './tensor.js';

const SUMMARY_THRESHOLD = 1000;
const EDGE_ITEMS = 3;

function formatNumber(x: number, dtype: DType, fixed: boolean): string {
  if (dtype === 'int32') return String(x);
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  return fixed ? x.toFixed(4) : x.toExponential(4);
}

export function formatTensor(values: ArrayLike<number>, shape: readonly number[], dtype: DType, suffix: string): string {
  const summarize = values.length > SUMMARY_THRESHOLD;
  const finite = Array.from(values).filter((v) => Number.isFinite(v)).map(Math.abs);
  const max = finite.length ? Math.max(...finite.slice(0, 100000)) : 0;
  const nonzeroMin = finite.filter((v) => v > 0);
  const min = nonzeroMin.length ? Math.min(...nonzeroMin.slice(0, 100000)) : 0;
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
  const strides: number[] = [];
  let stride = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = stride;
    stride *= shape[d] as number;
  }
  const indices = (n: number): (number | null)[] => {
    if (!summarize || n <= 2 * EDGE_ITEMS) return Array.from({ length: n }, (_, i) => i);
    const head = Array.from({ length: EDGE_ITEMS }, (_, i) => i);
    const tail = Array.from({ length: EDGE_ITEMS }, (_, i) => n - EDGE_ITEMS + i);
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
