#include "ops/reduce_fast.h"

#include <algorithm>

#include "kernels/kernels.h"
#include "ops/common.h"
#include "ops/elementwise_fast.h"
#include "runtime/parallel.h"

namespace tapegrad::ops {

namespace {

// Elements per block of a blocked sum (and per parallel chunk of a column sum).
constexpr std::int64_t kBlock = 8192;

// float32 is summed in double (sum_wide_f32).
template <typename T>
double block_sum(std::int64_t n, const T* x) {
  const auto& table = kernels::active();
  return kernel_for<T>(table.sum_wide_f32, table.sum_f64)(n, x);
}

// Sums v[begin, end) pairwise (halving), a fixed tree for a given length.
double pairwise(const std::vector<double>& v, std::size_t begin, std::size_t end) {
  if (end - begin == 1) return v[begin];
  const std::size_t mid = begin + (end - begin) / 2;
  return pairwise(v, begin, mid) + pairwise(v, mid, end);
}

// The blocked sum of n contiguous elements; blocks run on the pool when
// `parallel`, and combine in the same order either way.
template <typename T>
double blocked_sum(std::int64_t n, const T* x, bool parallel) {
  if (n <= kBlock) return n == 0 ? 0.0 : block_sum(n, x);
  const std::int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(static_cast<std::size_t>(blocks));
  const auto run = [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t b = begin; b < end; ++b) {
      const std::int64_t lo = b * kBlock, len = std::min(kBlock, n - lo);
      partial[static_cast<std::size_t>(b)] = block_sum(len, x + lo);
    }
  };
  if (parallel)
    runtime::parallel_for(0, blocks, 4, run);
  else
    run(0, blocks);
  return pairwise(partial, 0, partial.size());
}

// True when dims == {first, ..., first + count - 1}.
bool consecutive(const std::vector<std::int64_t>& dims, std::int64_t first, std::int64_t count) {
  if (static_cast<std::int64_t>(dims.size()) != count) return false;
  for (std::int64_t i = 0; i < count; ++i)
    if (dims[static_cast<std::size_t>(i)] != first + i) return false;
  return true;
}

template <typename T>
std::vector<double> sums(const Tensor& t, const ReducePlan& plan, bool trailing) {
  const T* x = t.data<T>();
  const std::int64_t outputs = plan.outputs, group = plan.group;
  std::vector<double> acc(static_cast<std::size_t>(outputs), 0.0);
  if (outputs == 0 || group == 0) return acc;
  if (trailing) {
    // outputs rows of `group` contiguous elements each.
    if (outputs == 1) {
      acc[0] = blocked_sum(group, x, true);
    } else {
      const std::int64_t grain = std::max<std::int64_t>(1, runtime::kElementwiseGrain / group);
      runtime::parallel_for(0, outputs, grain, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t r = begin; r < end; ++r) acc[static_cast<std::size_t>(r)] = blocked_sum(group, x + r * group, false);
      });
    }
    return acc;
  }
  // group rows of `outputs` columns: column sums, split over columns.
  const auto& table = kernels::active();
  const std::int64_t grain = std::max<std::int64_t>(64, runtime::kElementwiseGrain / group);
  // Rows are summed in blocks of kRowBlock, then the block sums are added in
  // block order: error grows with kRowBlock + group / kRowBlock, not with
  // group. Split over row blocks when there are enough of them (each thread
  // streams whole rows), else over columns; the arithmetic is the same.
  constexpr std::int64_t kRowBlock = 256;
  const std::int64_t blocks = (group + kRowBlock - 1) / kRowBlock;
  const auto sum_block = [&](std::int64_t block, std::int64_t begin, std::int64_t width, double* into) {
    const std::int64_t r0 = block * kRowBlock, rows = std::min(kRowBlock, group - r0);
    std::fill(into, into + width, 0.0);
    kernel_for<T>(table.add_rows_f32, table.add_rows_f64)(rows, width, x + r0 * outputs + begin, outputs, into);
  };
  if (blocks >= 4 && blocks * outputs <= (std::int64_t{1} << 24)) {
    std::vector<double> partial(static_cast<std::size_t>(blocks * outputs));
    const std::int64_t block_grain = std::max<std::int64_t>(1, runtime::kElementwiseGrain / (kRowBlock * outputs));
    runtime::parallel_for(0, blocks, block_grain, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t b = begin; b < end; ++b) sum_block(b, 0, outputs, partial.data() + b * outputs);
    });
    for (std::int64_t b = 0; b < blocks; ++b)
      for (std::int64_t j = 0; j < outputs; ++j)
        acc[static_cast<std::size_t>(j)] += partial[static_cast<std::size_t>(b * outputs + j)];
    return acc;
  }
  runtime::parallel_for(0, outputs, grain, [&](std::int64_t begin, std::int64_t end) {
    const std::int64_t width = end - begin;
    std::vector<double> block(static_cast<std::size_t>(width));
    for (std::int64_t b = 0; b < blocks; ++b) {
      sum_block(b, begin, width, block.data());
      for (std::int64_t j = 0; j < width; ++j) acc[static_cast<std::size_t>(begin + j)] += block[static_cast<std::size_t>(j)];
    }
  });
  return acc;
}

}  // namespace

std::optional<std::vector<double>> fast_sum(const Tensor& t, const ReducePlan& plan) {
  if (!elementwise_fast_paths() || !is_floating(t.dtype()) || !t.is_contiguous() || plan.dims.empty())
    return std::nullopt;
  const auto nd = t.dim();
  const auto count = static_cast<std::int64_t>(plan.dims.size());
  const bool trailing = consecutive(plan.dims, nd - count, count);
  if (!trailing && !consecutive(plan.dims, 0, count)) return std::nullopt;
  if (t.dtype() == DType::Float32) return sums<float>(t, plan, trailing);
  return sums<double>(t, plan, trailing);
}

}  // namespace tapegrad::ops
