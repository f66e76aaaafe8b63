// Shape ops: views that share storage with their input (reshape when the
// layout allows, view, squeeze, transpose, slice, split, ...), and the ops
// that join tensors (cat, stack). Negative dims count from the end.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/tensor.h"

namespace tapegrad::ops {

// One -1 allowed. A view when the strides allow it, else a copy.
Tensor reshape(const Tensor& t, const Shape& shape);
// As reshape, but a RangeError naming both shapes when no view is possible.
Tensor view(const Tensor& t, const Shape& shape);
// Merges dims start..end into one (a 0-d tensor becomes shape [1]).
Tensor flatten(const Tensor& t, std::int64_t start, std::int64_t end);
// Drops size-1 dims: all of them, or those listed (other listed dims stay).
Tensor squeeze(const Tensor& t, const std::optional<std::vector<std::int64_t>>& dims);
// Inserts a size-1 dim at `dim` (in [-ndim-1, ndim]).
Tensor unsqueeze(const Tensor& t, std::int64_t dim);
// `op` names the function in errors (expand, broadcastTo).
Tensor expand(const Tensor& t, const Shape& shape, const char* op = "expand");
// Sums a broadcast gradient back to `shape` (the inverse of expand).
Tensor sum_to(const Tensor& t, const Shape& shape);
// Views with dims reordered (negative dims allowed).
Tensor transpose(const Tensor& t, std::int64_t dim0, std::int64_t dim1);
Tensor permute(const Tensor& t, const std::vector<std::int64_t>& dims);
// A copy of t tiled sizes[k] times along each dim k (PyTorch's repeat). sizes
// may be longer than t's shape: t is then read as having leading dims of size 1.
Tensor repeat(const Tensor& t, const Shape& sizes);
Tensor contiguous(const Tensor& t);
Tensor clone(const Tensor& t);

// Python-style t[start:end:step] along dim: negative bounds count from the
// end, out-of-range bounds are clamped, step must be positive. A view.
Tensor slice(const Tensor& t, std::int64_t dim, std::optional<std::int64_t> start, std::optional<std::int64_t> end,
             std::int64_t step);
// Elements start..start+length along dim, bounds checked strictly. A view.
Tensor narrow(const Tensor& t, std::int64_t dim, std::int64_t start, std::int64_t length);
// The inverse of a slice: zeros of `shape` with `grad` written at
// [start : start + step * len : step] along dim. Differentiable (its backward slices).
Tensor slice_backward(const Tensor& grad, const Shape& shape, std::int64_t dim, std::int64_t start, std::int64_t step);
// Pieces of `split_size` along dim (the last may be smaller). Views.
std::vector<Tensor> split(const Tensor& t, std::int64_t split_size, std::int64_t dim);
// Pieces of the given sizes, which must sum to the size of dim. Views.
std::vector<Tensor> split_with_sizes(const Tensor& t, const std::vector<std::int64_t>& sizes, std::int64_t dim);
// At most `chunks` pieces of equal size (the last may be smaller). Views.
std::vector<Tensor> chunk(const Tensor& t, std::int64_t chunks, std::int64_t dim);

// F.pad's constant mode: widths (before, after) for the last dim, then the
// one before it, ...; negative widths cut. New elements hold `value`.
Tensor pad(const Tensor& x, const std::vector<std::int64_t>& widths, double value);

// Joins tensors along an existing dim; dtypes promote (int32 < float32 < float64).
Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim);
// Joins tensors of one shape along a new dim.
Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim);

// The lower (tril) or upper (triu) triangle of each matrix in the last two
// dims, the other elements zeroed: element (i, j) is kept where
// j - i <= diagonal (tril) or j - i >= diagonal (triu). A copy, not a view.
// Needs at least 2 dims.
Tensor tril(const Tensor& x, std::int64_t diagonal);
Tensor triu(const Tensor& x, std::int64_t diagonal);

}  // namespace tapegrad::ops
