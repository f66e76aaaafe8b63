// Copies of permuted views (contiguous()): sources laid out along another
// dim than the last take the tiled copy, and a source contiguous along its
// dim the kernels' transposing copy (vector tiles on the AVX paths, single
// elements elsewhere). Every element's bits against an element-by-element
// reference, with NaN payloads, signed zeros and subnormals among them;
// sizes off the tiles (8, 4 for 8-byte elements) and blocks (512), offsets
// and strided sources; prints a digest of every result bit so that runs on
// other ISA paths and thread counts can be compared.
'use strict';
const crypto = require('node:crypto');
const { caseMain, rng } = require('../case-main.cjs');

// [shape, order, view]: view 'offset' slices the source out of a larger
// tensor first (an offset and a longer row), 'step' takes every other
// element along its last dim (no dim of stride 1: the element tiles).
const CASES = [
  [[8, 8], [1, 0], 'plain'], [[9, 17], [1, 0], 'plain'], [[130, 130], [1, 0], 'plain'],
  [[1030, 17], [1, 0], 'plain'], [[17, 1030], [1, 0], 'plain'], [[513, 515], [1, 0], 'offset'],
  [[1100, 1100], [1, 0], 'plain'], [[4, 5000], [1, 0], 'plain'], [[5000, 4], [1, 0], 'plain'],
  [[3, 700, 37], [2, 0, 1], 'plain'], [[3, 700, 37], [0, 2, 1], 'plain'], [[5, 4, 600, 9], [0, 3, 2, 1], 'plain'],
  [[2, 513, 3, 40], [3, 1, 0, 2], 'plain'], [[600, 300], [1, 0], 'step'], [[600, 300], [1, 0], 'offset'],
  // Channels last to first: dims before and after the source's dim, split across threads by its rows
  // (600 of them), or by the other dims and the column blocks (3 rows; 2 rows of a plain transpose).
  [[3, 20, 30, 600], [0, 3, 1, 2], 'plain'], [[2, 40, 700, 3], [0, 3, 1, 2], 'plain'], [[30000, 2], [1, 0], 'plain'],
];

// Raw bits for 4- or 8-byte elements: random words with special values mixed in.
function bitsFor(dtype, n, seed) {
  const next = rng(seed);
  const words = new Uint32Array(dtype === 'float64' ? 2 * n : n);
  for (let i = 0; i < words.length; i++) words[i] = Math.floor(next() * 4294967296);
  if (dtype === 'float32') {
    const special = [0x7fc00001, 0xffa00000, 0x80000000, 0x00000001, 0x7f800000];
    for (let i = 0; i < n; i += 7) words[i] = special[(i / 7) % special.length];
  }
  if (dtype === 'float64') for (let i = 0; i < n; i += 5) { words[2 * i] = 1; words[2 * i + 1] = 0x7ff80000; }  // a NaN payload
  return dtype === 'float32' ? new Float32Array(words.buffer) : dtype === 'float64' ? new Float64Array(words.buffer) : new Int32Array(words.buffer);
}

function runAll(tg) {
  const failures = [];
  const hash = crypto.createHash('sha1');
  let cases = 0;
  for (const dtype of ['float32', 'float64', 'int32'])
    for (const [shape, order, view] of CASES) {
      // The source: its logical values are `data` in row-major order of `shape`.
      const n = shape.reduce((a, b) => a * b, 1);
      const data = bitsFor(dtype, n, cases + 1);
      // The same bytes as integers: moving a float element through a JS
      // number would quiet a signalling NaN.
      const Raw = dtype === 'float64' ? BigUint64Array : Uint32Array;
      const raw = new Raw(data.buffer);
      const asData = (r) => new data.constructor(r.buffer);
      let x;
      if (view === 'offset') {
        // Inside a larger tensor: one extra row before, three extra columns after.
        const [r, c] = shape;
        const big = new Raw((r + 1) * (c + 3));
        for (let i = 0; i < r; i++) big.set(raw.subarray(i * c, (i + 1) * c), (i + 1) * (c + 3));
        x = tg.tensor(asData(big), { shape: [r + 1, c + 3] }).narrow(0, 1, r).narrow(1, 0, c);
      } else if (view === 'step') {
        const [r, c] = shape;
        const wide = new Raw(r * c * 2);
        for (let i = 0; i < r * c; i++) wide[2 * i] = raw[i];
        x = tg.tensor(asData(wide), { shape: [r, c, 2] }).narrow(2, 0, 1).reshape([r, c, 1]).squeeze(2);
      } else {
        x = tg.tensor(data, { shape });
      }
      const out = x.permute(order).contiguous().data();
      // The reference, element by element in the output's row-major order.
      const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
      const outShape = order.map((d) => shape[d]);
      const index = new Array(outShape.length).fill(0);
      const want = new Raw(n);
      for (let k = 0; k < n; k++) {
        let off = 0;
        for (let j = 0; j < order.length; j++) off += index[j] * strides[order[j]];
        want[k] = raw[off];
        for (let j = outShape.length - 1; j >= 0; j--) {
          if (++index[j] < outShape[j]) break;
          index[j] = 0;
        }
      }
      const got = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      const ref = new Uint8Array(want.buffer);
      hash.update(got);
      const at = got.length !== ref.length ? -1 : got.findIndex((b, i) => b !== ref[i]);
      if (got.length !== ref.length || at >= 0)
        failures.push({ dtype, shape, order, view, firstDifferentByte: at });
      cases++;
    }
  return { cases, failures, digest: hash.digest('hex') };
}

module.exports = { runAll };

caseMain(module, runAll, (tg) => ({ threads: tg.getNumThreads() }));
