// Run-time CPU feature probe. The addon is built for the baseline of its
// architecture; SIMD code is chosen here, once, from what the CPU reports.
#pragma once

#include <cstdint>

namespace tapegrad::runtime {

enum class Isa { Scalar, Neon, Avx2, Avx512 };

// Best ISA this CPU supports that the build contains.
Isa detect_isa();

// The ISA in use: detect_isa(), lowered by TAPEGRAD_ISA=scalar|avx2|avx512
// when that names a path the CPU can run. Fixed at first call.
Isa active_isa();

const char* isa_name(Isa isa);

// For tests: TAPEGRAD_GEMM_PATH=packed|direct forces GEMM's packed path, or
// its direct path wherever the layout allows one. Read once.
enum class GemmPath { Auto, Packed, Direct };
GemmPath gemm_path_override();

// Whether an out-of-place elementwise op or a copy whose operands and output
// take `bytes` together writes the output with streaming stores
// (kernels::Store::Streamed): from half the largest cache the OS reports
// (capped where only the C library reports it: cpu_features.cpp),
// where such an op's data could not stay cached anyway and a plain store
// would first read each output line from memory. Never when no cache size
// is known. TAPEGRAD_STREAM_STORES=always|never overrides it (tests,
// measurements). Read once.
bool streams_output(std::int64_t bytes);

}  // namespace tapegrad::runtime
