// tapegrad: the package as users load it (dist/), default thread count.
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const tg = require(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../dist/index.js'));
const F = tg.nn.functional;
if (process.env.TAPEGRAD_BENCH_THREADS) tg.setNumThreads(Number(process.env.TAPEGRAD_BENCH_THREADS));

export const version = () => `${require('../../../package.json').version} (${tg.getNumThreads()} thread${tg.getNumThreads() === 1 ? "" : "s"})`;

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
      const x = t(d.x, [B, T, C]), target = t(d.target, [B, T, C]);
      const P = {};
      const shapes = { ln1w: [C], ln1b: [C], ln2w: [C], ln2b: [C], w1: [C, hidden], b1: [hidden], w2: [hidden, C], b2: [C] };
      for (const [name, shape] of Object.entries(shapes)) P[name] = t(d[name], shape, true);
      // nn.MultiheadAttention stores PyTorch's [out, in] weights: the shared [in, out] data, transposed.
      const mha = new tg.nn.MultiheadAttention(C, H, { batchFirst: true });
      tg.noGrad(() => tg.tidy(() => {
        const tr = (arr) => t(arr, [C, C]).T;
        mha.in_proj_weight.copyFrom(tg.cat([tr(d.wq), tr(d.wk), tr(d.wv)], 0));
        mha.in_proj_bias.copyFrom(tg.cat([t(d.bq, [C]), t(d.bk, [C]), t(d.bv, [C])], 0));
        mha.out_proj.weight.copyFrom(tr(d.wo));
        mha.out_proj.bias.copyFrom(t(d.bo, [C]));
      }));
      const opt = sgd([...mha.parameters(), ...Object.values(P)], p.lr);
      const step = () => tg.tidy(() => {
        opt.zeroGrad();
        const a = F.layerNorm(x, C, P.ln1w, P.ln1b);
        const h = x.add(mha.forward(a, a, a, { needWeights: false })[0]);
        const m = F.layerNorm(h, C, P.ln2w, P.ln2b).matmul(P.w1).add(P.b1).gelu({ approximate: 'tanh' });
        const out = h.add(m.matmul(P.w2).add(P.b2));
        const loss = F.mseLoss(out, target);
        loss.backward();
        opt.step();
        return loss.item();
      });
      return { check: () => [step(), step()], step, dispose: () => { for (const w of [x, target, ...Object.values(P)]) w.dispose(); } };
    }
    case 'conv': {
      const { batch: B, size: S, channels: [c0, c1, c2], classes } = p;
      const x = t(d.x, [B, c0, S, S]);
      const y = tg.tensor(d.y, { shape: [B] });
      const P = [t(d.k1, [c1, c0, 3, 3], true), t(d.kb1, [c1], true), t(d.k2, [c2, c1, 3, 3], true), t(d.kb2, [c2], true),
        t(d.w, [c2 * (S / 4) * (S / 4), classes], true), t(d.b, [classes], true)];
      const opt = sgd(P, p.lr);
      const step = () => tg.tidy(() => {
        opt.zeroGrad();
        const h1 = F.maxPool2d(F.conv2d(x, P[0], P[1], { padding: 1 }).relu(), 2);
        const h2 = F.maxPool2d(F.conv2d(h1, P[2], P[3], { padding: 1 }).relu(), 2);
        const loss = F.crossEntropy(h2.flatten(1).matmul(P[4]).add(P[5]), y);
        loss.backward();
        opt.step();
        return loss.item();
      });
      return { check: () => [step(), step()], step, dispose: () => { for (const w of [x, y, ...P]) w.dispose(); } };
    }
    default:
      return 'not implemented';
  }
}

import { sampleIndices as sampleIndicesOf } from '../workloads.mjs';
