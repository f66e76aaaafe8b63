// Reductions over all elements or over given dims (negative dims allowed).
// An empty dims list means every dim.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace tapegrad::ops {

Tensor sum(const Tensor& t, const std::vector<std::int64_t>& dims, bool keepdim);

}  // namespace tapegrad::ops
