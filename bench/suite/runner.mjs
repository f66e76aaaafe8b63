// Orchestrates the benchmark: engine processes, correctness checks, timing,
// the table, the JSON and the SVG.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { renderSvg } from './svg.mjs';
import { cells as allCells, generate, matmulReference, writeData } from './workloads.mjs';
import { blasLooksOptimised, median, pythonEnv } from '../common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const REPLY = '@@bench ';

export const ENGINES = ['tapegrad', 'tfjs-cpu', 'tfjs-wasm', 'js-pytorch', 'plainjs', 'pytorch'];
export const ENGINE_LABELS = {
  tapegrad: 'tapegrad', 'tfjs-cpu': 'TF.js cpu', 'tfjs-wasm': 'TF.js wasm', 'js-pytorch': 'js-pytorch',
  plainjs: 'plain JS', pytorch: 'PyTorch',
};
/** Agreement required between engines, relative to max(1, |reference|), float32 everywhere. */
export const TOLERANCE = { matmul: 1e-3, mlp: 1e-3, elementwise: 1e-3, transformer: 2e-3, conv: 1e-3 };
const UNITS = { matmul: 'GFLOP/s', mlp: 'ms/step', elementwise: 'µs/op', transformer: 'ms/step', conv: 'ms/step' };
export const HIGHER_IS_BETTER = { matmul: true };

function pytorchAvailable() {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import torch, numpy'], { stdio: 'ignore', env: pythonEnv(process.env.TAPEGRAD_BENCH_THREADS) });
    return true;
  } catch {
    return false;
  }
}

/** One engine process speaking the JSON-lines protocol of worker.mjs. */
class EngineProcess {
  constructor(name) {
    this.name = name;
    this.pending = [];
    this.stderr = '';
    this.child = name === 'pytorch'
      ? spawn('/usr/bin/python3', [path.join(here, 'engines', 'torch_worker.py')], { env: pythonEnv(process.env.TAPEGRAD_BENCH_THREADS), stdio: ['pipe', 'pipe', 'pipe'] })
      : spawn(process.execPath, [path.join(here, 'worker.mjs'), name], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (b) => { this.stderr = (this.stderr + b).slice(-4000); });
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      if (line.startsWith(REPLY)) this.pending.shift()?.resolve(JSON.parse(line.slice(REPLY.length)));
    });
    this.child.on('exit', (code) => {
      for (const p of this.pending.splice(0)) p.reject(new Error(`${name} exited (${code}): ${this.stderr.trim().slice(-600)}`));
    });
    this.ready = new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
    this.ready.catch(() => {}); // awaited later; an early exit must not be an unhandled rejection
  }
  send(msg) {
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.child.stdin.write(JSON.stringify(msg) + '\n');
    });
  }
  close() {
    this.child.stdin.end(JSON.stringify({ cmd: 'exit' }) + '\n');
  }
  /** CPU time (ms) the process has used, all its threads; undefined where /proc cannot tell (not Linux, exited). */
  cpuMs() {
    try {
      // After the name (in parentheses, which may hold any character) utime and
      // stime are the 12th and 13th fields, in clock ticks (100 Hz on Linux).
      const stat = readFileSync(`/proc/${this.child.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = (Number(fields[11]) + Number(fields[12])) * 10;
      return Number.isFinite(ms) ? ms : undefined;
    } catch {
      return undefined;
    }
  }
  /**
   * Resolves once the process has gone quiet after its turn: BLAS and OpenMP
   * threads keep spinning for a while after a call (PyTorch's OpenBLAS for
   * about 150 ms here), which would take a core from the engine timed next.
   * Quiet: at most one clock tick of CPU time in 30 ms; at most a second.
   * Without /proc (macOS, Windows) a fixed 250 ms.
   */
  async settle() {
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    const start = Date.now();
    let last = this.cpuMs();
    if (last === undefined) return sleep(250);
    while (Date.now() - start < 1000) {
      await sleep(30);
      const now = this.cpuMs();
      if (now === undefined || now - last <= 10) return;
      last = now;
    }
  }
}

/**
 * Compares each engine's check values with the reference; returns the
 * largest relative error per engine and whether it is within tolerance.
 */
export function verify(reference, checks, tolerance) {
  const out = {};
  for (const [engine, values] of Object.entries(checks)) {
    if (!Array.isArray(values) || values.length !== reference.length) {
      out[engine] = { ok: false, maxError: Infinity, reason: `${values?.length ?? 0} check values, expected ${reference.length}` };
      continue;
    }
    let maxError = 0;
    for (let i = 0; i < values.length; i++) {
      const err = Math.abs(values[i] - reference[i]) / Math.max(1, Math.abs(reference[i]));
      maxError = Number.isNaN(err) ? Infinity : Math.max(maxError, err);
    }
    out[engine] = { ok: maxError <= tolerance, maxError };
    if (maxError > tolerance) out[engine].reason = `disagrees with the reference: max relative error ${maxError.toExponential(2)} > ${tolerance}`;
  }
  return out;
}

/** The figure reported for a cell from the median milliseconds per step. */
function figure(cell, ms) {
  const p = cell.params;
  if (cell.workload === 'matmul') return (2 * p.m * p.n * p.k) / (ms * 1e6);
  if (cell.workload === 'elementwise') return (ms * 1000) / p.ops;
  return ms;
}

export function machine() {
  let cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  try {
    const m = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/);
    if (m) cpu = m[1].trim();
  } catch {}
  return { cpu, cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100), platform: `${os.type()} ${os.release()} ${os.arch()}` };
}

const fmt = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toPrecision(2));

export async function runBench(opts = {}) {
  if (opts.threads !== undefined) {
    if (!Number.isInteger(opts.threads) || opts.threads < 1) throw new Error(`bench: --threads must be a positive integer, got ${opts.threads}`);
    process.env.TAPEGRAD_BENCH_THREADS = String(opts.threads);
  }
  const size = opts.size ?? 'full';
  const quick = Boolean(opts.quick);
  const reps = opts.reps ?? (quick ? 3 : 7);
  const repMs = opts.repMs ?? (quick ? 60 : 200);
  // Untimed steps for this long open each turn after the calibration: after
  // the wait for the engine before it, two-thread steps ran at one thread's
  // speed for about 20 ms on the 2-core VM (the second thread slow to get
  // going again). Engines whose steps take over twice this get none.
  const leadMs = opts.leadMs ?? 25;
  const leadFor = (msPerStep) => (msPerStep > 2 * leadMs ? 0 : leadMs);
  // One rep of a slower cell is a single step; above this one calibration run stands alone.
  const slowMs = quick ? 1000 : 3000;
  const outDir = path.resolve(opts.outDir ?? path.join(root, 'bench', 'results'));
  const log = opts.log ?? ((s) => console.log(s));

  let engineNames = opts.engines ?? ENGINES;
  for (const e of engineNames) if (!ENGINES.includes(e)) throw new Error(`bench: unknown engine ${e}; expected one of ${ENGINES.join(', ')}`);
  const engineInfo = {};
  if (engineNames.includes('pytorch') && !pytorchAvailable()) {
    engineInfo.pytorch = { available: false, reason: '/usr/bin/python3 cannot import torch' };
    engineNames = engineNames.filter((e) => e !== 'pytorch');
  }
  let list = allCells(size);
  if (opts.only) {
    const known = new Set(list.map((c) => c.workload));
    for (const w of opts.only) if (!known.has(w)) throw new Error(`bench: unknown workload ${w}; expected one of ${[...known].join(', ')}`);
    list = list.filter((c) => opts.only.includes(c.workload));
  }

  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tapegrad-bench-'));
  const procs = Object.fromEntries(engineNames.map((e) => [e, new EngineProcess(e)]));
  const results = { date: new Date().toISOString(), machine: machine(), options: { size, quick, reps, repMs, leadMs, threads: opts.threads ?? 'default' }, engines: engineInfo, cells: [] };
  try {
    for (const [name, proc] of Object.entries(procs)) {
      try {
        const r = await proc.ready;
        engineInfo[name] = { available: true, version: r.version };
        if (name === 'pytorch') engineInfo[name].blas = r.blas ?? [];
      } catch (e) {
        engineInfo[name] = { available: false, reason: String(e.message).slice(0, 300) };
        delete procs[name];
      }
    }
    const live = Object.keys(procs);
    log(`Machine: ${results.machine.cpu}, ${results.machine.cores} cores, Node ${results.machine.node}`);
    log(`Engines: ${Object.entries(engineInfo).map(([n, i]) => `${n} ${i.available ? i.version : `(unavailable: ${i.reason})`}`).join('; ')}`);
    const torchBlas = engineInfo.pytorch?.available ? engineInfo.pytorch.blas : undefined;
    if (torchBlas) {
      log(`PyTorch's BLAS libraries: ${torchBlas.join(', ') || 'unknown'}`);
      if (!blasLooksOptimised(torchBlas))
        log('  (this looks like the reference BLAS, not an optimised one: PyTorch\'s matmul figures will be far below its usual ones; install libopenblas0-pthread or set TAPEGRAD_BENCH_BLAS_DIR)');
    }

    for (const [index, cell] of list.entries()) {
      const record = { id: cell.id, workload: cell.workload, params: cell.params, unit: UNITS[cell.workload], results: {} };
      results.cells.push(record);
      const data = generate(cell);
      const manifest = writeData(dataDir, index, data);
      // Set up and check in every engine (not timed; the check's steps are also the first warm-up).
      const checks = {};
      await Promise.all(live.map(async (e) => {
        const r = await procs[e].send({ cmd: 'setup', cell, manifest }).catch((err) => ({ error: String(err.message) }));
        if (r.unsupported) record.results[e] = { status: 'n/a', reason: r.unsupported };
        else if (r.error) record.results[e] = { status: 'error', reason: r.error.split('\n')[0].slice(0, 300) };
        else {
          checks[e] = opts.corrupt?.includes(e) ? r.check.map((v) => v * 1.1 + 1) : r.check;
          record.results[e] = { status: 'pending', check: checks[e] };
        }
      }));
      let reference, referenceName;
      if (cell.workload === 'matmul') {
        reference = matmulReference(cell.params, data.a, data.b);
        referenceName = 'float64 dot products in the runner';
      } else {
        referenceName = ['tapegrad', 'pytorch', ...live].find((e) => checks[e]);
        reference = referenceName ? checks[referenceName] : [];
      }
      record.tolerance = TOLERANCE[cell.workload];
      record.reference = referenceName;
      const verdicts = verify(reference, checks, record.tolerance);
      const timed = [];
      for (const [e, v] of Object.entries(verdicts)) {
        record.results[e].maxError = v.maxError;
        if (v.ok) timed.push(e);
        else Object.assign(record.results[e], { status: 'wrong', reason: v.reason });
      }
      // Each engine's turn starts once the engine before it has gone quiet
      // (all of them after the checks, which ran side by side).
      await Promise.all(live.map((e) => procs[e].settle()));
      let previous;
      // phase: 'calibration', 'warm-up' or 'timed'; opts.failTiming ({engine:
      // phase}) makes that engine's turns of that phase fail, as the tests'
      // way to reach the failure paths (as opts.corrupt reaches the check's).
      const turn = async (e, iterations, lead, phase) => {
        if (previous !== undefined && previous !== e) await procs[previous].settle();
        previous = e;
        if (opts.failTiming?.[e] === phase) return { error: `${phase} turn failed (failTiming)` };
        return procs[e].send({ cmd: 'time', iters: iterations, leadMs: lead });
      };
      const fail = (e, r) => Object.assign(record.results[e], { status: 'error', reason: r.error.split('\n')[0] });
      // Calibration: a step count per engine for about repMs per repetition.
      const iters = {}, lead = {}, samples = Object.fromEntries(timed.map((e) => [e, []]));
      for (const e of timed) {
        const r = await turn(e, 1, 0, 'calibration');
        if (r.error) { fail(e, r); continue; }
        if (r.ms > slowMs) samples[e].push(r.ms);
        iters[e] = Math.max(1, Math.round(repMs / Math.max(r.ms, 1e-3)));
        lead[e] = leadFor(r.ms);
      }
      // Warm-up, then repetitions with the engines in a rotating order. The
      // warm-up sizes step counts and lead-ins again: a single first step can
      // take several times a warm one (matmul 128: 50 µs against 10). An
      // engine that fails is reported as such and the others go on.
      const active = timed.filter((e) => iters[e] && samples[e].length === 0);
      for (const e of active) {
        const r = await turn(e, iters[e], lead[e], 'warm-up');
        if (r.error) { fail(e, r); continue; }
        const msPerStep = Math.max(r.ms / iters[e], 1e-3);
        iters[e] = Math.max(1, Math.round(repMs / msPerStep));
        lead[e] = leadFor(msPerStep);
      }
      for (let rep = 0; rep < reps; rep++) {
        for (let j = 0; j < active.length; j++) {
          const e = active[(j + rep) % active.length];
          if (record.results[e].status === 'error') continue;
          const r = await turn(e, iters[e], lead[e], 'timed');
          if (r.error) fail(e, r);
          else samples[e].push(r.ms / iters[e]);
        }
      }
      for (const e of timed) {
        if (!samples[e]?.length || record.results[e].status === 'error') continue;
        const ms = median(samples[e]);
        Object.assign(record.results[e], { status: 'ok', ms, value: figure(cell, ms), samples: samples[e].length, stepsPerSample: iters[e], leadMs: lead[e] });
      }
      const base = record.results.tapegrad?.status === 'ok' ? record.results.tapegrad.ms : null;
      for (const r of Object.values(record.results)) if (r.status === 'ok' && base) r.timeRatio = r.ms / base;
      log(`${cell.id}: ${live.map((e) => `${e} ${record.results[e].status === 'ok' ? `${fmt(record.results[e].value)} ${record.unit}` : record.results[e].status}`).join(', ')}`);
    }
  } finally {
    for (const p of Object.values(procs)) p.close();
    rmSync(dataDir, { recursive: true, force: true });
  }

  printTable(results, log);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, 'latest.json'), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(path.join(outDir, 'latest.svg'), renderSvg(results));
  log(`Wrote ${path.join(outDir, 'latest.json')} and latest.svg`);
  return results;
}

function printTable(results, log) {
  const engines = Object.keys(results.engines).filter((e) => results.engines[e].available);
  const header = ['workload', 'unit', ...engines.map((e) => ENGINE_LABELS[e])];
  const rows = results.cells.map((c) => {
    return [c.id, c.unit, ...engines.map((e) => {
      const r = c.results[e];
      if (!r) return '';
      if (r.status !== 'ok') return r.status;
      return e === 'tapegrad' ? fmt(r.value) : `${fmt(r.value)} (${r.timeRatio ? fmt(r.timeRatio) + '×' : '-'})`;
    })];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => r.map((v, i) => String(v).padEnd(widths[i])).join('  ');
  log('');
  log('Medians; in parentheses each engine\'s time relative to tapegrad\'s (above 1: tapegrad is faster).');
  log(line(header));
  for (const r of rows) log(line(r));
  const notes = [];
  for (const c of results.cells)
    for (const [e, r] of Object.entries(c.results))
      if (r.status !== 'ok' && r.reason) notes.push(`${c.id}, ${e}: ${r.status} — ${r.reason}`);
  if (notes.length) log('\n' + notes.join('\n'));
}
