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
  return { ...native.backendInfo(), threads: 1 };
}
