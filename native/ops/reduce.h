// Reductions over all elements or over given dims (negative dims allowed).
// An empty dims list means every dim. Floating reductions accumulate in
// double, in a fixed order, so results are deterministic.
#pragma once

#include <optional>
#include <vector>

#include "core/tensor.h"

namespace tapegrad::ops {

Tensor sum(const Tensor& t, const std::vector<std::int64_t>& dims, bool keepdim);
// Floating inputs only (TypeError for int32, as in PyTorch). Mean of nothing is NaN.
Tensor mean(const Tensor& t, const std::vector<std::int64_t>& dims, bool keepdim);
// Product; 1 for nothing. The gradient is exact where inputs hold zeros.
Tensor prod(const Tensor& t, const std::vector<std::int64_t>& dims, bool keepdim);

// Largest / smallest values (PyTorch's amax / amin: values only, NaN
// propagates). The gradient is split evenly among tied extrema.
Tensor amax(const Tensor& t, const std::vector<std::int64_t>& dims, bool keepdim);
Tensor amin(const Tensor& t, const std::vector<std::int64_t>& dims, bool keepdim);
// int32 index of the first largest / smallest value along `dim`, or the flat
// index over all elements when dim is absent. Not differentiable.
Tensor argmax(const Tensor& t, std::optional<std::int64_t> dim, bool keepdim);
Tensor argmin(const Tensor& t, std::optional<std::int64_t> dim, bool keepdim);

// Variance with Bessel-style `correction` (divisor max(0, N - correction)),
// and its square root. Floating inputs only.
Tensor variance(const Tensor& t, const std::vector<std::int64_t>& dims, double correction, bool keepdim);
Tensor std_dev(const Tensor& t, const std::vector<std::int64_t>& dims, double correction, bool keepdim);

// log(sum(exp(x))) shifted by the maximum; int32 inputs are computed as float32.
Tensor logsumexp(const Tensor& t, const std::vector<std::int64_t>& dims, bool keepdim);

// Vector p-norm over the dims: any real p, +-Infinity; p = 2 is also 'fro'.
Tensor norm(const Tensor& t, double p, const std::vector<std::int64_t>& dims, bool keepdim);

// Running sums / products along `dim` (a 0-d tensor has dim 0 / -1), shaped
// as the input. Floats accumulate in double in order, each output rounded
// once, as PyTorch's CPU kernels do (the same float32 bits). int32 gives
// int32 (PyTorch: int64), accumulated in 64 bits; a running value int32
// cannot hold throws, as sum's does. cumprod's gradient is exact where the
// input holds zeros.
Tensor cumsum(const Tensor& t, std::int64_t dim);
Tensor cumprod(const Tensor& t, std::int64_t dim);

}  // namespace tapegrad::ops
