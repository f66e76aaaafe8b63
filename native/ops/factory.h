// Tensors made from nothing or from host data.
#pragma once

#include <optional>

#include "core/tensor.h"

namespace tapegrad::ops {

Tensor full(const Shape& shape, double value, DType dtype, const char* op = "full");
// Copies n values of `src_dtype` from `src` into a new tensor of `dtype`.
Tensor from_data(const void* src, DType src_dtype, std::int64_t n, const Shape& shape, DType dtype, const char* op);
// Without a dtype: int32 when start, end and step are whole numbers, else float32.
Tensor arange(double start, double end, double step, std::optional<DType> dtype);
// `steps` values evenly spaced from start to end, both included (steps 1:
// start alone). The first half counts up from start and the rest down from
// end, each value rounded once, so both ends are exact (as torch.linspace).
// int32 truncates start and end first, then each value (PyTorch's rule).
Tensor linspace(double start, double end, std::int64_t steps, DType dtype);
Tensor eye(std::int64_t n, std::int64_t m, DType dtype);
Tensor rand(const Shape& shape, DType dtype);
Tensor randn(const Shape& shape, DType dtype);
Tensor randint(std::int64_t low, std::int64_t high, const Shape& shape, DType dtype);

}  // namespace tapegrad::ops
