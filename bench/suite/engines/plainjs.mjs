// Plain JavaScript on Float32Array with hand-written loops and hand-written
// backward passes: what a user gets without any library.
import { sampleIndices } from '../workloads.mjs';

export const version = () => `Node ${process.versions.node}`;

/** C[m×n] = op(A)·op(B), i-k-j order so the inner loop runs along contiguous rows. */
function matmul(a, b, m, k, n, layout, c = new Float32Array(m * n)) {
  c.fill(0);
  if (layout === 'nt') {
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a[i * k + p] * b[j * k + p];
        c[i * n + j] = s;
      }
    return c;
  }
  for (let i = 0; i < m; i++)
    for (let p = 0; p < k; p++) {
      const av = layout === 'tn' ? a[p * m + i] : a[i * k + p];
      const row = p * n, out = i * n;
      for (let j = 0; j < n; j++) c[out + j] += av * b[row + j];
    }
  return c;
}

function mlp(p, d) {
  const [d0, d1, d2, d3] = p.sizes, B = p.batch, lr = p.lr;
  const w = [d.w1.slice(), d.w2.slice(), d.w3.slice()], bias = [d.b1.slice(), d.b2.slice(), d.b3.slice()];
  const dims = [d0, d1, d2, d3];
  const step = () => {
    // Forward, keeping each layer's input.
    const acts = [d.x];
    for (let l = 0; l < 3; l++) {
      const z = matmul(acts[l], w[l], B, dims[l], dims[l + 1], 'nn');
      for (let i = 0; i < B; i++) for (let j = 0; j < dims[l + 1]; j++) {
        const v = z[i * dims[l + 1] + j] + bias[l][j];
        z[i * dims[l + 1] + j] = l < 2 && v < 0 ? 0 : v;
      }
      acts.push(z);
    }
    // Softmax cross-entropy, mean over the batch, and its gradient.
    const logits = acts[3], g = new Float32Array(B * d3);
    let loss = 0;
    for (let i = 0; i < B; i++) {
      let mx = -Infinity;
      for (let j = 0; j < d3; j++) mx = Math.max(mx, logits[i * d3 + j]);
      let s = 0;
      for (let j = 0; j < d3; j++) s += Math.exp(logits[i * d3 + j] - mx);
      loss += Math.log(s) + mx - logits[i * d3 + d.y[i]];
      for (let j = 0; j < d3; j++) g[i * d3 + j] = (Math.exp(logits[i * d3 + j] - mx) / s - (j === d.y[i] ? 1 : 0)) / B;
    }
    // Backward and SGD, layer by layer.
    let grad = g;
    for (let l = 2; l >= 0; l--) {
      const din = dims[l], dout = dims[l + 1];
      const gw = matmul(acts[l], grad, din, B, dout, 'tn');
      const gx = l > 0 ? matmul(grad, w[l], B, dout, din, 'nt') : null;
      for (let j = 0; j < dout; j++) {
        let s = 0;
        for (let i = 0; i < B; i++) s += grad[i * dout + j];
        bias[l][j] -= lr * s;
      }
      for (let i = 0; i < w[l].length; i++) w[l][i] -= lr * gw[i];
      if (gx) {
        const act = acts[l];
        for (let i = 0; i < gx.length; i++) if (act[i] <= 0) gx[i] = 0;
        grad = gx;
      }
    }
    return loss / B;
  };
  return { check: () => [step(), step()], step };
}

function elementwise(p, d) {
  const n = p.length;
  // A minimal tape: each op allocates its output, records a backward closure.
  const step = () => {
    const tape = [];
    let y = d.x;
    for (let op = 0; op < p.ops; op++) {
      const out = new Float32Array(n);
      if (op % 2 === 0) {
        for (let i = 0; i < n; i++) out[i] = y[i] * d.a[i];
        tape.push((g) => { const r = new Float32Array(n); for (let i = 0; i < n; i++) r[i] = g[i] * d.a[i]; return r; });
      } else {
        for (let i = 0; i < n; i++) out[i] = y[i] + d.b[i];
        tape.push((g) => g.slice());
      }
      y = out;
    }
    let s = 0;
    for (let i = 0; i < n; i++) s += y[i];
    let g = new Float32Array(n).fill(1);
    for (let i = tape.length - 1; i >= 0; i--) g = tape[i](g);
    return [s, ...g];
  };
  return { check: () => step(), step };
}

export function setup(cell, d) {
  const p = cell.params;
  switch (cell.workload) {
    case 'matmul': {
      const c = new Float32Array(p.m * p.n);
      const once = () => matmul(d.a, d.b, p.m, p.k, p.n, p.layout, c);
      return { check: () => { once(); return sampleIndices(p.m, p.n).map((i) => c[i]); }, step: once };
    }
    case 'mlp':
      return mlp(p, d);
    case 'elementwise':
      return elementwise(p, d);
    case 'transformer':
    case 'conv':
      return 'no autograd; a hand-written backward exists only for the MLP';
    default:
      return 'not implemented';
  }
}
