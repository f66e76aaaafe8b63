// js-pytorch: a PyTorch-like autograd engine on nested JavaScript arrays (CPU device).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { sampleIndices } from '../workloads.mjs';

const require = createRequire(import.meta.url);
const { torch } = await import('js-pytorch');

// The package's exports map hides package.json: read it next to its entry point.
export const version = () =>
  JSON.parse(readFileSync(path.join(path.dirname(require.resolve('js-pytorch')), '..', 'package.json'), 'utf8')).version;

/** Nested arrays of the given shape from flat data. */
function nest(flat, shape) {
  if (shape.length === 1) return Array.from(flat.subarray(0, shape[0]));
  const stride = shape.slice(1).reduce((x, y) => x * y, 1);
  return Array.from({ length: shape[0] }, (_, i) => nest(flat.subarray(i * stride, (i + 1) * stride), shape.slice(1)));
}

const first = (v) => (typeof v === 'number' ? v : first(v[0]));
const sgdUpdate = (w, g, lr) => (typeof w === 'number' ? w - lr * g : w.map((wi, i) => sgdUpdate(wi, g[i], lr)));
const reluMask = (v) => (typeof v === 'number' ? (v > 0 ? 1 : 0) : v.map(reluMask));

export function setup(cell, d) {
  const p = cell.params;
  switch (cell.workload) {
    case 'matmul': {
      const { m, k, n, layout } = p;
      const a = torch.tensor(layout === 'tn' ? nest(d.a, [k, m]) : nest(d.a, [m, k]));
      const b = torch.tensor(layout === 'nt' ? nest(d.b, [n, k]) : nest(d.b, [k, n]));
      const once = () => (layout === 'tn' ? a.transpose(0, 1) : a).matmul(layout === 'nt' ? b.transpose(0, 1) : b);
      return { check: () => { const c = once().data.flat(); return sampleIndices(m, n).map((i) => c[i]); }, step: once };
    }
    case 'mlp': {
      const [d0, d1, d2, d3] = p.sizes;
      const x = torch.tensor(nest(d.x, [p.batch, d0]));
      const y = torch.tensor(Array.from(d.y));
      const ws = [torch.tensor(nest(d.w1, [d0, d1]), true), torch.tensor(nest(d.b1, [d1]), true),
        torch.tensor(nest(d.w2, [d1, d2]), true), torch.tensor(nest(d.b2, [d2]), true),
        torch.tensor(nest(d.w3, [d2, d3]), true), torch.tensor(nest(d.b3, [d3]), true)];
      const lossFn = new torch.nn.CrossEntropyLoss();
      // js-pytorch's ReLU module is leaky (slope 1e-3): an exact 0/1 mask keeps the model identical.
      const relu = (z) => z.mul(torch.tensor(reluMask(z.data)));
      const step = () => {
        const h1 = relu(x.matmul(ws[0]).add(ws[1]));
        const h2 = relu(h1.matmul(ws[2]).add(ws[3]));
        const loss = lossFn.forward(h2.matmul(ws[4]).add(ws[5]), y);
        loss.backward();
        for (const w of ws) {
          w._data = sgdUpdate(w._data, w._grad.data, p.lr);
          w.zero_grad();
        }
        return first(loss.data);
      };
      return { check: () => [step(), step()], step };
    }
    case 'elementwise': {
      const x = torch.tensor(Array.from(d.x), true), a = torch.tensor(Array.from(d.a)), b = torch.tensor(Array.from(d.b));
      const step = () => {
        x.zero_grad();
        let yv = x;
        for (let i = 0; i < p.ops; i += 2) yv = yv.mul(a).add(b);
        const s = yv.sum();
        s.backward();
        return [first(s.data), ...x.grad];
      };
      return { check: step, step };
    }
    case 'transformer':
      return 'js-pytorch has no GELU, tanh or erf op';
    case 'conv':
      return 'js-pytorch has no convolution or pooling op';
    default:
      return 'not implemented';
  }
}
