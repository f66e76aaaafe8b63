// Optimizer updates (SGD, Adam/AdamW, RMSprop, Adagrad, every option) on
// float32 and float64 parameters whose sizes are not multiples of any vector
// width, one of them large enough to be split over two threads, with special
// values in the gradients. Each result (parameters and state after three
// steps) is compared bit for bit with a reference computed here with the
// native code's operations in the same order (float32 rounded after every
// operation with Math.fround, which rounds +, -, ×, ÷ and sqrt exactly as
// float32 arithmetic does), and hashed so runs on different ISA paths can be
// compared with each other.
//
// Run as a child with TAPEGRAD_ISA set, it prints one JSON line;
// optim-isa.test.ts runs it for every ISA path this CPU runs.
'use strict';
const { caseMain } = require('./case-main.cjs');

const SIZES = [1, 7, 15, 17, 33, 67, 1029, 70003];
const STEPS = 3;
// Dyadic betas and alpha: their powers (Adam's bias corrections) are exact,
// so the C library's pow and Math.pow agree and the reference is bitwise.
const B1 = 0.875, B2 = 0.9921875;

const SPECIALS = [0, -0, NaN, Infinity, -Infinity, 1e-30, -3e30, 5e-40];

function values(n, seed, withSpecials) {
  const out = new Float64Array(n);
  let s = (seed * 2654435761) >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  for (let i = 0; i < n; i++) {
    const r = next();
    if (withSpecials && r < 0.02) out[i] = SPECIALS[Math.floor(next() * SPECIALS.length)];
    else out[i] = (next() - 0.5) * Math.pow(10, Math.floor(next() * 6 - 3));
  }
  return out;
}

// Each case: the optimizer class name, its options, and the state tensors it keeps.
const CASES = [
  ['SGD', { lr: 0.1 }, []],
  ['SGD', { lr: 0.1, weightDecay: 0.01, maximize: true }, []],
  ['SGD', { lr: 0.1, momentum: 0.9 }, ['momentum_buffer']],
  ['SGD', { lr: 0.1, momentum: 0.9, dampening: 0.25, weightDecay: 0.01 }, ['momentum_buffer']],
  ['SGD', { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 }, ['momentum_buffer']],
  ['SGD', { lr: 0.1, momentum: 0.5, nesterov: true, maximize: true }, ['momentum_buffer']],
  ['Adam', { lr: 0.01, betas: [B1, B2] }, ['exp_avg', 'exp_avg_sq']],
  ['Adam', { lr: 0.01, betas: [B1, B2], weightDecay: 0.1, maximize: true }, ['exp_avg', 'exp_avg_sq']],
  ['Adam', { lr: 0.01, betas: [B1, B2], eps: 1e-6, amsgrad: true }, ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq']],
  ['AdamW', { lr: 0.01, betas: [B1, B2], weightDecay: 0.1 }, ['exp_avg', 'exp_avg_sq']],
  ['AdamW', { lr: 0.01, betas: [B1, B2], weightDecay: 0.1, amsgrad: true, maximize: true }, ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq']],
  ['RMSprop', { lr: 0.01, alpha: 0.875 }, ['square_avg']],
  ['RMSprop', { lr: 0.01, alpha: 0.875, weightDecay: 0.1, maximize: true }, ['square_avg']],
  ['RMSprop', { lr: 0.01, alpha: 0.875, centered: true }, ['square_avg', 'grad_avg']],
  ['RMSprop', { lr: 0.01, alpha: 0.875, momentum: 0.9 }, ['square_avg', 'momentum_buffer']],
  ['RMSprop', { lr: 0.01, alpha: 0.875, centered: true, momentum: 0.9, weightDecay: 0.1 }, ['square_avg', 'grad_avg', 'momentum_buffer']],
  ['Adagrad', { lr: 0.1 }, ['sum']],
  ['Adagrad', { lr: 0.1, lrDecay: 0.01, weightDecay: 0.1, maximize: true, eps: 1e-6 }, ['sum']],
];

// The reference: one element's update, as native/kernels/optim.inc computes
// it, for `steps` steps; `r` rounds to the dtype.
function reference(name, o, p, grads, r) {
  const st = { m: 0, v: 0, vmax: 0, buf: 0, sq: 0, gavg: 0, sum: 0 };
  const lr = r(o.lr ?? 0), wd = r(o.weightDecay ?? 0);
  for (let t = 1; t <= grads.length; t++) {
    const g = grads[t - 1];
    let d = o.maximize ? -g : g;
    if (name === 'SGD') {
      const mu = r(o.momentum ?? 0), damp = r(1 - (o.dampening ?? 0));
      if (wd !== 0) d = r(d + r(wd * p));
      if (mu !== 0) {
        const b = t === 1 ? d : r(r(mu * st.buf) + r(damp * d));
        st.buf = b;
        d = o.nesterov ? r(d + r(mu * b)) : b;
      }
      p = r(p - r(lr * d));
    } else if (name === 'Adam' || name === 'AdamW') {
      const b1 = r(o.betas[0]), b2 = r(o.betas[1]), eps = r(o.eps ?? 1e-8);
      const wdA = r(o.weightDecay ?? (name === 'AdamW' ? 0.01 : 0));
      const bias1 = 1 - Math.pow(o.betas[0], t), bias2 = 1 - Math.pow(o.betas[1], t);
      const stepSize = r(o.lr / bias1), sqrtBias2 = r(Math.sqrt(bias2));
      if (wdA !== 0) {
        if (name === 'AdamW') p = r(p * r(1 - r(lr * wdA)));
        else d = r(d + r(wdA * p));
      }
      const mk = r(r(b1 * st.m) + r(r(1 - b1) * d));
      const vk = r(r(b2 * st.v) + r(r(r(1 - b2) * d) * d));
      st.m = mk;
      st.v = vk;
      let second = vk;
      if (o.amsgrad) second = st.vmax = st.vmax < vk ? vk : st.vmax;
      const denom = r(r(r(Math.sqrt(second)) / sqrtBias2) + eps);
      p = r(p - r(r(stepSize * mk) / denom));
    } else if (name === 'RMSprop') {
      const alpha = r(o.alpha), eps = r(o.eps ?? 1e-8), mu = r(o.momentum ?? 0);
      if (wd !== 0) d = r(d + r(wd * p));
      const sk = r(r(alpha * st.sq) + r(r(r(1 - alpha) * d) * d));
      st.sq = sk;
      let avg;
      if (o.centered) {
        const gk = r(r(alpha * st.gavg) + r(r(1 - alpha) * d));
        st.gavg = gk;
        avg = r(r(Math.sqrt(r(sk - r(gk * gk)))) + eps);
      } else {
        avg = r(r(Math.sqrt(sk)) + eps);
      }
      if (mu > 0) {
        const b = r(r(mu * st.buf) + r(d / avg));
        st.buf = b;
        p = r(p - r(lr * b));
      } else {
        p = r(p - r(r(lr * d) / avg));
      }
    } else {
      const clr = r(o.lr / (1 + (t - 1) * (o.lrDecay ?? 0))), eps = r(o.eps ?? 1e-10);
      if (wd !== 0) d = r(d + r(wd * p));
      const sk = r(st.sum + r(d * d));
      st.sum = sk;
      p = r(p - r(r(clr * d) / r(r(Math.sqrt(sk)) + eps)));
    }
  }
  return { p, st };
}

// Which reference field each state tensor holds.
const STATE_FIELD = {
  momentum_buffer: 'buf', exp_avg: 'm', exp_avg_sq: 'v', max_exp_avg_sq: 'vmax',
  square_avg: 'sq', grad_avg: 'gavg', sum: 'sum',
};

// FNV-1a over the bytes of typed arrays, every NaN hashed as 0: a NaN made
// by arithmetic is negative on x86-64 and positive on arm64, and no result
// promises its NaNs' bits.
function hash(arrays) {
  let h = 0x811c9dc5;
  for (let a of arrays) {
    a = a.map((x) => (Number.isNaN(x) ? 0 : x));
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 16777619) >>> 0;
  }
  return h.toString(16);
}

const same = (a, b) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));

function runAll(tg) {
  tg.setNumThreads(2);
  const hashes = {};
  const failures = [];
  let checked = 0;
  for (const dtype of ['float32', 'float64']) {
    const r = dtype === 'float32' ? Math.fround : (x) => x;
    CASES.forEach(([name, options, stateNames], c) => {
      const init = SIZES.map((n, j) => values(n, 1000 * c + j + 1, false).map(r));
      const params = init.map((v) => tg.tensor(v, { dtype, requiresGrad: true }));
      const opt = new tg.optim[name](params, options);
      const grads = SIZES.map((n, j) => Array.from({ length: STEPS }, (_, t) => values(n, 7919 * (t + 1) + j, true).map(r)));
      for (let t = 0; t < STEPS; t++) {
        params.forEach((p, j) => (p.grad = tg.tensor(grads[j][t], { dtype })));
        opt.step();
      }
      const state = opt.stateDict().state;
      const arrays = [];
      params.forEach((p, j) => {
        const got = p.data();
        const states = stateNames.map((s) => state[j].tensors[s].data());
        arrays.push(got, ...states);
        let bad = 0;
        for (let i = 0; i < got.length; i++) {
          const ref = reference(name, options, init[j][i], grads[j].map((g) => g[i]), r);
          checked++;
          const ok = same(got[i], ref.p) && stateNames.every((s, k) => same(states[k][i], ref.st[STATE_FIELD[s]]));
          if (!ok && bad++ < 2 && failures.length < 20)
            failures.push({ dtype, name, options, size: SIZES[j], index: i, got: got[i], expected: ref.p });
        }
      });
      hashes[`${dtype} ${name} ${JSON.stringify(options)}`] = hash(arrays);
    });
  }
  return { isa: tg.backendInfo().isa, checked, hashes, failures };
}

module.exports = { runAll };

caseMain(module, runAll);
