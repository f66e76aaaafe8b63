// Run-time CPU feature probe. The addon is built for the baseline of its
// architecture; SIMD code is chosen here, once, from what the CPU reports.
#pragma once

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

}  // namespace tapegrad::runtime
