'use strict';
// npm run check:isa: proves the one-binary-per-architecture rule.
// 1. Disassembles the built addon: only functions in the per-ISA kernel
//    namespaces may use AVX/AVX-512 instructions (VEX/EVEX encoded, ymm/zmm).
// 2. When qemu-x86_64 is installed, runs the addon as CPUs without AVX-512
//    (Haswell: the AVX2 path) and without AVX (Nehalem: the scalar path);
//    stray instructions raise SIGILL there.
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const addon = process.env.TAPEGRAD_NATIVE || path.join(root, 'build', 'Release', 'tapegrad.node');
let failed = false;

if (process.arch !== 'x64') {
  console.log(`check:isa: nothing to check on ${process.arch}`);
  process.exit(0);
}

const asm = execFileSync('objdump', ['-d', '-C', '--no-show-raw-insn', addon], { maxBuffer: 1 << 30 }).toString();
// objdump leaves a name mangled where the demangler cannot read it (binutils
// 2.40 on a generic lambda nested in another's call operator): the mangled
// prefix of the same namespaces, for a function or a local entity of one.
const allowed = /tapegrad::kernels::(avx2|avx512)::|^_ZZ?N8tapegrad7kernels(4avx2|6avx512)/;
const simd = /^\s*[0-9a-f]+:\s+v[a-z0-9]+\s|%[yz]mm\d/;
const offenders = new Map();
let fn = '';
let simdFunctions = 0;
for (const line of asm.split('\n')) {
  const header = /^[0-9a-f]+ <(.*)>:$/.exec(line);
  if (header) {
    fn = header[1];
    continue;
  }
  if (!simd.test(line)) continue;
  if (allowed.test(fn)) {
    simdFunctions++;
    continue;
  }
  if (!offenders.has(fn)) offenders.set(fn, line.trim());
}
if (offenders.size) {
  failed = true;
  console.error(`check:isa: ${offenders.size} baseline function(s) contain AVX instructions:`);
  for (const [name, line] of [...offenders].slice(0, 20)) console.error(`  ${name}: ${line}`);
} else {
  console.log(`check:isa: baseline code has no AVX instructions (${simdFunctions} SIMD lines in per-ISA kernels)`);
}
if (simdFunctions === 0) {
  failed = true;
  console.error('check:isa: no AVX code found in the per-ISA kernels: the SIMD units were not compiled with their flags');
}

const qemu = spawnSync('qemu-x86_64', ['-version']).status === 0;
if (!qemu) {
  console.log('check:isa: qemu-x86_64 not installed; skipping the emulated-CPU runs');
} else {
  const probe = `
    const tg = require(${JSON.stringify(path.join(root, 'dist', 'index.js'))});
    const x = tg.arange(0, 1000, 1, { dtype: 'float32' });
    const s = x.mul(x).sum();
    const k = tg.tensor(new Float32Array(1000).fill(0.5));
    console.log(JSON.stringify({ isa: tg.backendInfo().isa, sum: s.item(), kernel: require(${JSON.stringify(
      path.join(root, 'dist', 'native.js'),
    )}).native.sumKernel(k.data()) }));`;
  for (const [cpu, isa] of [['Nehalem', 'scalar'], ['Haswell', 'avx2']]) {
    const r = spawnSync('qemu-x86_64', ['-cpu', cpu, process.execPath, '-e', probe], {
      env: { ...process.env, TAPEGRAD_NATIVE: addon, TAPEGRAD_ISA: '' },
      encoding: 'utf8',
      timeout: 300_000,
    });
    let out = null;
    try {
      out = JSON.parse(r.stdout.trim().split('\n').pop());
    } catch {}
    if (r.status !== 0 || !out || out.isa !== isa || out.sum !== Math.fround(332833500) || out.kernel !== 500) {
      failed = true;
      console.error(`check:isa: run as ${cpu} failed (status ${r.status}, signal ${r.signal}): ${r.stdout}${r.stderr}`);
    } else {
      console.log(`check:isa: runs as ${cpu} on the ${out.isa} path`);
    }
  }
}
process.exit(failed ? 1 : 0);
