// tapegrad: the package as users load it (dist/), default thread count.
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const tg = require(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../dist/index.js'));
const F = tg.nn.functional;
if (process.env.TAPEGRAD_BENCH_THREADS) tg.setNumThreads(Number(process.env.TAPEGRAD_BENCH_THREADS));

export const version = () => `${require('../../../package.json').version} (${tg.getNumThreads()} threads)`;

const t = (arr, shape, requiresGrad = false) => tg.tensor(arr, { shape, requiresGrad });

function sgd(params, lr) {
  return new tg.optim.SGD(params, { lr });
}

export function setup(cell, d) {
  const p = cell.params;
  switch (cell.workload) {
    case 'matmul': {
      const { m, k, n, layout } = p;
      const a = layout === 'tn' ? t(d.a, [k, m]) : t(d.a, [m, k]);
      const b = layout === 'nt' ? t(d.b, [n, k]) : t(d.b, [k, n]);
      const once = () => tg.matmul(layout === 'tn' ? a.T : a, layout === 'nt' ? b.T : b);
      return {
        check: () => tg.tidy(() => {
          const c = once().data();
          return sampleIndicesOf(m, n).map((i) => c[i]);
        }),
        step: () => once().dispose(),
        dispose: () => { a.dispose(); b.dispose(); },
      };
    }
    case 'mlp': {
      const [d0, d1, d2, d3] = p.sizes;
      const x = t(d.x, [p.batch, d0]);
      const y = tg.tensor(d.y, { shape: [p.batch] });
      const ws = [t(d.w1, [d0, d1], true), t(d.b1, [d1], true), t(d.w2, [d1, d2], true), t(d.b2, [d2], true),
        t(d.w3, [d2, d3], true), t(d.b3, [d3], true)];
      const opt = sgd(ws, p.lr);
      const step = () => tg.tidy(() => {
        opt.zeroGrad();
        const h1 = x.matmul(ws[0]).add(ws[1]).relu();
        const h2 = h1.matmul(ws[2]).add(ws[3]).relu();
        const loss = F.crossEntropy(h2.matmul(ws[4]).add(ws[5]), y);
        loss.backward();
        opt.step();
        return loss.item();
      });
      return { check: () => [step(), step()], step, dispose: () => { for (const w of [x, y, ...ws]) w.dispose(); } };
    }
    case 'elementwise': {
      const x = t(d.x, [p.length], true), a = t(d.a, [p.length]), b = t(d.b, [p.length]);
      const step = () => tg.tidy(() => {
        let yv = x;
        for (let i = 0; i < p.ops; i += 2) yv = yv.mul(a).add(b);
        const s = yv.sum();
        x.zeroGrad();
        s.backward();
        return s.item();
      });
      return {
        check: () => { const s = step(); return [s, ...x.grad.data()]; },
        step,
        dispose: () => { x.dispose(); a.dispose(); b.dispose(); },
      };
    }
    case 'transformer': {
      const { batch: B, seq: T, width: C, heads: H, hidden } = p;
      const Dh = C / H;
      const x = t(d.x, [B * T, C]), target = t(d.target, [B * T, C]);
      const P = {};
      const shapes = { ln1w: [C], ln1b: [C], ln2w: [C], ln2b: [C], wq: [C, C], bq: [C], wk: [C, C], bk: [C], wv: [C, C],
        bv: [C], wo: [C, C], bo: [C], w1: [C, hidden], b1: [hidden], w2: [hidden, C], b2: [C] };
      for (const [name, shape] of Object.entries(shapes)) P[name] = t(d[name], shape, true);
      const opt = sgd(Object.values(P), p.lr);
      const heads = (z) => z.reshape(B, T, H, Dh).transpose(1, 2);
      const step = () => tg.tidy(() => {
        opt.zeroGrad();
        const a = F.layerNorm(x, C, P.ln1w, P.ln1b);
        const q = heads(a.matmul(P.wq).add(P.bq)), k = heads(a.matmul(P.wk).add(P.bk)), v = heads(a.matmul(P.wv).add(P.bv));
        const att = F.softmax(q.matmul(k.transpose(2, 3)).mul(1 / Math.sqrt(Dh)), -1).matmul(v);
        const h = x.add(att.transpose(1, 2).reshape(B * T, C).matmul(P.wo).add(P.bo));
        const m = F.layerNorm(h, C, P.ln2w, P.ln2b).matmul(P.w1).add(P.b1).gelu({ approximate: 'tanh' });
        const out = h.add(m.matmul(P.w2).add(P.b2));
        const loss = F.mseLoss(out, target);
        loss.backward();
        opt.step();
        return loss.item();
      });
      return { check: () => [step(), step()], step, dispose: () => { for (const w of [x, target, ...Object.values(P)]) w.dispose(); } };
    }
    default:
      return 'not implemented';
  }
}

import { sampleIndices as sampleIndicesOf } from '../workloads.mjs';
