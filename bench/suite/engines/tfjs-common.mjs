// TensorFlow.js (the @tensorflow/tfjs package, which registers the gradients)
// on a given backend. The same model code runs on 'cpu' and 'wasm'.
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { sampleIndices } from '../workloads.mjs';

const require = createRequire(import.meta.url);
export const tf = require('@tensorflow/tfjs');

export async function initBackend(name) {
  if (name === 'wasm') {
    const wasm = require('@tensorflow/tfjs-backend-wasm');
    const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm'));
    wasm.setWasmPaths(dir + path.sep);
    // Single-threaded SIMD build, as Node runs it without cross-origin isolation.
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  }
  await tf.setBackend(name);
  await tf.ready();
  if (tf.getBackend() !== name) throw new Error(`TensorFlow.js backend ${name} did not start`);
}

export const version = () => `${tf.version.tfjs} (${tf.getBackend()})`;

export function setup(cell, d) {
  const p = cell.params;
  switch (cell.workload) {
    case 'matmul': {
      const { m, k, n, layout } = p;
      const a = layout === 'tn' ? tf.tensor2d(d.a, [k, m]) : tf.tensor2d(d.a, [m, k]);
      const b = layout === 'nt' ? tf.tensor2d(d.b, [n, k]) : tf.tensor2d(d.b, [k, n]);
      const once = () => {
        const c = tf.matMul(a, b, layout === 'tn', layout === 'nt');
        const v = c.dataSync();
        c.dispose();
        return v;
      };
      return {
        check: () => { const c = once(); return sampleIndices(m, n).map((i) => c[i]); },
        step: once,
        dispose: () => { a.dispose(); b.dispose(); },
      };
    }
    case 'mlp': {
      const [d0, d1, d2, d3] = p.sizes;
      const x = tf.tensor2d(d.x, [p.batch, d0]);
      const y = tf.oneHot(tf.tensor1d(d.y, 'int32'), d3);
      const ws = [tf.variable(tf.tensor2d(d.w1, [d0, d1])), tf.variable(tf.tensor1d(d.b1)), tf.variable(tf.tensor2d(d.w2, [d1, d2])),
        tf.variable(tf.tensor1d(d.b2)), tf.variable(tf.tensor2d(d.w3, [d2, d3])), tf.variable(tf.tensor1d(d.b3))];
      const opt = tf.train.sgd(p.lr);
      const step = () => {
        const loss = opt.minimize(() => {
          const h1 = tf.relu(tf.add(tf.matMul(x, ws[0]), ws[1]));
          const h2 = tf.relu(tf.add(tf.matMul(h1, ws[2]), ws[3]));
          return tf.losses.softmaxCrossEntropy(y, tf.add(tf.matMul(h2, ws[4]), ws[5]));
        }, true, ws);
        const v = loss.dataSync()[0];
        loss.dispose();
        return v;
      };
      return { check: () => [step(), step()], step, dispose: () => { for (const w of [x, y, ...ws]) w.dispose(); } };
    }
    case 'elementwise': {
      const x = tf.variable(tf.tensor1d(d.x)), a = tf.tensor1d(d.a), b = tf.tensor1d(d.b);
      const step = () => {
        const { value, grads } = tf.variableGrads(() => {
          let yv = x;
          for (let i = 0; i < p.ops; i += 2) yv = tf.add(tf.mul(yv, a), b);
          return tf.sum(yv);
        }, [x]);
        const out = [value.dataSync()[0], ...grads[x.name].dataSync()];
        value.dispose();
        grads[x.name].dispose();
        return out;
      };
      return { check: step, step, dispose: () => { x.dispose(); a.dispose(); b.dispose(); } };
    }
    case 'transformer': {
      const { batch: B, seq: T, width: C, heads: H, hidden } = p;
      const Dh = C / H;
      const x = tf.tensor2d(d.x, [B * T, C]), target = tf.tensor2d(d.target, [B * T, C]);
      const shapes = { ln1w: [C], ln1b: [C], ln2w: [C], ln2b: [C], wq: [C, C], bq: [C], wk: [C, C], bk: [C], wv: [C, C],
        bv: [C], wo: [C, C], bo: [C], w1: [C, hidden], b1: [hidden], w2: [hidden, C], b2: [C] };
      const P = {};
      for (const [name, shape] of Object.entries(shapes)) P[name] = tf.variable(tf.tensor(d[name], shape));
      const opt = tf.train.sgd(p.lr);
      const layerNorm = (z, w, b) => {
        const { mean, variance } = tf.moments(z, -1, true);
        return tf.add(tf.mul(tf.mul(tf.sub(z, mean), tf.rsqrt(tf.add(variance, 1e-5))), w), b);
      };
      const geluTanh = (z) => tf.mul(tf.mul(z, 0.5),
        tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(z, tf.mul(0.044715, tf.pow(z, 3)))))));
      const heads = (z) => tf.transpose(tf.reshape(z, [B, T, H, Dh]), [0, 2, 1, 3]);
      const step = () => {
        const loss = opt.minimize(() => {
          const a = layerNorm(x, P.ln1w, P.ln1b);
          const q = heads(tf.add(tf.matMul(a, P.wq), P.bq)), k = heads(tf.add(tf.matMul(a, P.wk), P.bk));
          const v = heads(tf.add(tf.matMul(a, P.wv), P.bv));
          const att = tf.matMul(tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(Dh))), v);
          const merged = tf.reshape(tf.transpose(att, [0, 2, 1, 3]), [B * T, C]);
          const h = tf.add(x, tf.add(tf.matMul(merged, P.wo), P.bo));
          const m = geluTanh(tf.add(tf.matMul(layerNorm(h, P.ln2w, P.ln2b), P.w1), P.b1));
          const out = tf.add(h, tf.add(tf.matMul(m, P.w2), P.b2));
          return tf.mean(tf.square(tf.sub(out, target)));
        }, true, Object.values(P));
        const v = loss.dataSync()[0];
        loss.dispose();
        return v;
      };
      return { check: () => [step(), step()], step, dispose: () => { for (const w of [x, target, ...Object.values(P)]) w.dispose(); } };
    }
    case 'conv': {
      // TensorFlow.js convolves NHWC inputs with [kh, kw, in, out] filters: the
      // shared NCHW / [out, in, kh, kw] data is transposed once here, and the
      // pooled maps back to NCHW before flattening, so the head sees PyTorch's order.
      if (tf.getBackend() === 'wasm') return "TF.js's wasm backend has no Conv2DBackpropFilter kernel: conv2d has no gradient there";
      const { batch: B, size: S, channels: [c0, c1, c2], classes } = p;
      const x = tf.tidy(() => tf.transpose(tf.tensor4d(d.x, [B, c0, S, S]), [0, 2, 3, 1]));
      const y = tf.oneHot(tf.tensor1d(d.y, 'int32'), classes);
      const filter = (arr, cin, cout) => tf.variable(tf.tidy(() => tf.transpose(tf.tensor4d(arr, [cout, cin, 3, 3]), [2, 3, 1, 0])));
      const P = [filter(d.k1, c0, c1), tf.variable(tf.tensor1d(d.kb1)), filter(d.k2, c1, c2), tf.variable(tf.tensor1d(d.kb2)),
        tf.variable(tf.tensor2d(d.w, [c2 * (S / 4) * (S / 4), classes])), tf.variable(tf.tensor1d(d.b))];
      const opt = tf.train.sgd(p.lr);
      const block = (z, k, b) => tf.maxPool(tf.relu(tf.add(tf.conv2d(z, k, 1, 'same'), b)), 2, 2, 'valid');
      const step = () => {
        const loss = opt.minimize(() => {
          const h2 = block(block(x, P[0], P[1]), P[2], P[3]);
          const flat = tf.reshape(tf.transpose(h2, [0, 3, 1, 2]), [B, -1]);
          return tf.losses.softmaxCrossEntropy(y, tf.add(tf.matMul(flat, P[4]), P[5]));
        }, true, P);
        const v = loss.dataSync()[0];
        loss.dispose();
        return v;
      };
      return { check: () => [step(), step()], step, dispose: () => { for (const w of [x, y, ...P]) w.dispose(); } };
    }
    default:
      return 'not implemented';
  }
}
