// Fast paths of the elementwise ops: float32/float64 operands in the common
// layouts (same shape and contiguous, one operand a single value, a row or
// column broadcast over a contiguous tensor; unary ops on any layout; a
// strided operand of a binary op that is not expanded, copied contiguous
// first) run through the active ISA's vectorised kernels, split over the
// pool when large. Every other case is left to the generic strided loops
// (elementwise_impl.h).
#pragma once

#include <optional>

#include "core/tensor.h"
#include "kernels/kernels.h"

namespace tapegrad::ops {

// False when TAPEGRAD_ELEMENTWISE=generic (read once): every op then takes
// its generic loop, which tests and benchmarks compare against.
bool elementwise_fast_paths();

// op(a, b) broadcast, as a new contiguous tensor, when a and b have one
// floating dtype and a layout with a kernel (as they are, or once their
// strided operands that are not expanded are copied contiguous); nullopt
// otherwise. Records no autograd history. Broadcast errors are left to the
// generic path.
std::optional<Tensor> fast_binary(kernels::BinaryOp op, const Tensor& a, const Tensor& b, const char* name);

// a = op(a, b) in place for a contiguous floating a and b of its dtype
// broadcast to a's shape in a fast layout (b as it is, or copied as for
// fast_binary unless it shares a's memory); false (nothing written) otherwise.
bool fast_binary_inplace(kernels::BinaryOp op, const Tensor& a, const Tensor& b, const char* name);

// op(x) for a floating x of any layout (a strided x is copied first), as a
// new contiguous tensor; nullopt otherwise. lo and hi are the op's
// parameters (kernels.h), taken in x's dtype; Clamp's bounds must be exact in
// it (or infinite).
std::optional<Tensor> fast_unary(kernels::UnaryOp op, const Tensor& x, const char* name, double lo = 0, double hi = 0);

}  // namespace tapegrad::ops
