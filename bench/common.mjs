// Helpers shared by the bench scripts.
import { execFileSync } from 'node:child_process';

/**
 * The thread counts a scaling bench compares: `--threads=1,2,4,8` on the
 * command line, else 1 and all of the pool's threads (only 1 on one core).
 */
export function benchThreadCounts(allThreads, argv = process.argv) {
  const arg = argv.find((a) => a.startsWith('--threads='));
  if (!arg) return allThreads > 1 ? [1, allThreads] : [1];
  const counts = arg.slice('--threads='.length).split(',').map(Number);
  if (counts.some((t) => !Number.isInteger(t) || t < 1))
    throw new Error(`bench: --threads takes a list of positive integers such as 1,2,4, got ${arg}`);
  return [...new Set(counts)].sort((a, b) => a - b);
}

/** The median of a list of numbers (the mean of the two middle ones for an even count). */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * The environment for a /usr/bin/python3 child running PyTorch or NumPy:
 * OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed (in this child only) so
 * OpenBLAS picks its own kernel for this CPU; the BLAS thread counts set to
 * `threads` when given; TAPEGRAD_BENCH_BLAS_DIR, when set, put first on the
 * library path (Debian's torch otherwise loads whichever libblas.so.3 is
 * selected, often the slow reference BLAS).
 */
export function pythonEnv(threads) {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  if (threads !== undefined && threads !== null && threads !== '')
    for (const v of ['OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS']) env[v] = String(threads);
  const blas = process.env.TAPEGRAD_BENCH_BLAS_DIR;
  if (blas) env.LD_LIBRARY_PATH = [blas, env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  return env;
}

/**
 * Whether the BLAS a Python child loaded (the library paths from its
 * /proc/self/maps) is an optimised one. The library that answers sgemm is
 * the libblas.so.3 loaded first, when there is one: with the reference
 * libblas.so.3 first, OpenBLAS may still be loaded (through liblapack.so.3)
 * without being called for matmul.
 */
export function blasLooksOptimised(libraries) {
  const optimised = (l) => /openblas|mkl|blis/i.test(l);
  const blas = libraries.find((l) => /\/libblas\.so/.test(l));
  return blas ? optimised(blas) : libraries.some(optimised);
}

/** Whether /usr/bin/python3 can import torch (PyTorch columns run only then). */
export function torchAvailable() {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore', env: pythonEnv() });
    return true;
  } catch {
    return false;
  }
}
