// Facts about the native backend.
import { native } from './native.js';

export interface BackendInfo {
  /** The SIMD path in use: 'avx512' | 'avx2' | 'neon' | 'scalar'. */
  isa: string;
  /** The best path this CPU supports (TAPEGRAD_ISA can lower `isa`). */
  detectedIsa: string;
  /** Threads used by kernels. */
  threads: number;
  version: string;
  /** 'release', 'debug' or 'sanitize'. */
  buildType: string;
}

export function backendInfo(): BackendInfo {
  return { ...native.backendInfo(), threads: native.getNumThreads() };
}

/**
 * Sets the number of threads kernels use (the caller included), from 1 up.
 * Process-wide: it applies to every worker thread that loaded tapegrad.
 */
export function setNumThreads(n: number): void {
  native.setNumThreads(n);
}

/** Threads kernels use. Defaults to the physical cores available to the process (CPU affinity, cgroup quota). */
export function getNumThreads(): number {
  return native.getNumThreads();
}
