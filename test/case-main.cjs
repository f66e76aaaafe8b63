// The end of every *-cases.cjs script run as a child process (helpers.ts
// runCaseScript, gemm.test.ts): when the script is the main module, load the
// built package, apply TAPEGRAD_TEST_THREADS, run the script's runAll(tg,
// native) and print one JSON line: the ISA path, the script's own fields
// about the run, then runAll's report (its failures cut to 20). Also the
// helpers several case scripts share.
'use strict';
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function caseMain(caller, runAll, runFields = () => ({})) {
  if (require.main !== caller) return;
  const tg = require(path.join(root, 'dist', 'index.js'));
  const { native } = require(path.join(root, 'dist', 'native.js'));
  if (process.env.TAPEGRAD_TEST_THREADS) tg.setNumThreads(Number(process.env.TAPEGRAD_TEST_THREADS));
  const report = { isa: tg.backendInfo().isa, ...runFields(tg), ...runAll(tg, native) };
  if (Array.isArray(report.failures)) report.failures = report.failures.slice(0, 20);
  process.stdout.write(JSON.stringify(report) + '\n');
}

// Deterministic values in [0, 1) (mulberry32).
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Whether two typed arrays hold the same bytes.
function sameBits(x, y) {
  const u = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  const v = new Uint8Array(y.buffer, y.byteOffset, y.byteLength);
  if (u.length !== v.length) return false;
  for (let i = 0; i < u.length; i++) if (u[i] !== v[i]) return false;
  return true;
}

// n float64 values, uniform in [offset - 2, offset + 2), from a linear
// congruential sequence started by `seed`.
function spreadValues(n, seed, offset = 0) {
  const out = new Float64Array(n);
  let s = (seed * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = offset + (s / 4294967296 - 0.5) * 4;
  }
  return out;
}

// A digest of every result bit: bits(t) adds tensor t's bytes and returns
// its data; digest() gives the hex hash.
function resultDigest() {
  const hash = require('node:crypto').createHash('sha1');
  return {
    bits(t) {
      const d = t.data();
      hash.update(Buffer.from(d.buffer, d.byteOffset, d.byteLength));
      return d;
    },
    digest: () => hash.digest('hex'),
  };
}

// The first i where actual[i] is not within tol (relative, absolute below
// 1) of expected[i], or -1.
function firstMismatch(actual, expected, tol) {
  for (let i = 0; i < expected.length; i++)
    if (!(Math.abs(actual[i] - expected[i]) <= tol * Math.max(1, Math.abs(expected[i])))) return i;
  return -1;
}

module.exports = { caseMain, firstMismatch, resultDigest, rng, sameBits, spreadValues };
