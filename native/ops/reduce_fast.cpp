#include "ops/reduce_fast.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "core/strided.h"
#include "kernels/kernels.h"
#include "ops/common.h"
#include "ops/elementwise_fast.h"
#include "runtime/parallel.h"

namespace tapegrad::ops {

namespace {

// Elements per block of a blocked sum (and per parallel chunk of a column sum).
constexpr std::int64_t kBlock = 8192;

// The terms of a blocked sum: x, x² or |x| (float32 widened to double first).
enum class Terms { Values, Squares, Magnitudes };

template <Terms kTerms, typename T>
double block_sum(std::int64_t n, const T* x) {
  const auto& table = kernels::active();
  if constexpr (kTerms == Terms::Squares) return kernel_for<T>(table.sum_squares_f32, table.sum_squares_f64)(n, x);
  else if constexpr (kTerms == Terms::Magnitudes) return kernel_for<T>(table.sum_abs_f32, table.sum_abs_f64)(n, x);
  else return kernel_for<T>(table.sum_wide_f32, table.sum_f64)(n, x);
}

// The two sums of a corrected two-pass variance, added as a pair.
struct DeviationSums {
  double squares = 0.0, deviations = 0.0;
  DeviationSums operator+(const DeviationSums& o) const { return {squares + o.squares, deviations + o.deviations}; }
};

// Sums v[begin, end) pairwise (halving), a fixed tree for a given length.
template <typename Value>
Value pairwise(const std::vector<Value>& v, std::size_t begin, std::size_t end) {
  if (end - begin == 1) return v[begin];
  const std::size_t mid = begin + (end - begin) / 2;
  return pairwise(v, begin, mid) + pairwise(v, mid, end);
}

// block(len, x) over the blocks of n contiguous elements, added pairwise;
// blocks run on the pool when `parallel`, and combine in the same order
// either way.
template <typename Value, typename T, typename Block>
Value blocked(std::int64_t n, const T* x, bool parallel, Block block) {
  if (n <= kBlock) return n == 0 ? Value{} : block(n, x);
  const std::vector<Value> partial =
      piece_values<Value>(n, kBlock, parallel, 4, [&](std::int64_t lo, std::int64_t len) { return block(len, x + lo); });
  return pairwise(partial, 0, partial.size());
}

// The blocked sum of the terms of n contiguous elements.
template <Terms kTerms = Terms::Values, typename T>
double blocked_sum(std::int64_t n, const T* x, bool parallel) {
  return blocked<double>(n, x, parallel, [](std::int64_t len, const T* p) { return block_sum<kTerms>(len, p); });
}

// Σ (x - mean)² and Σ (x - mean) of n contiguous elements, blocked.
template <typename T>
DeviationSums blocked_deviations(std::int64_t n, const T* x, double mean, bool parallel) {
  const auto kernel = kernel_for<T>(kernels::active().sum_deviations_f32, kernels::active().sum_deviations_f64);
  return blocked<DeviationSums>(n, x, parallel, [&](std::int64_t len, const T* p) {
    double sums[2];
    kernel(len, p, mean, sums);
    return DeviationSums{sums[0], sums[1]};
  });
}

// Rows up to this long are summed by short_row_sums, many rows a call
// (the same sums as block_sum's). Longer ones, one call per row, lose
// less to it: rows of 64 floats took 0.19 ns per element either way, of
// 128 0.15 one call per row and 0.18 many rows a call.
constexpr std::int64_t kShortRow = 64;

// The blocked sums of the terms of the rows of a layout with
// inner == 1, to put(row, sum).
template <Terms kTerms, typename T, typename Put>
void row_sums(const T* x, const BlockLayout& l, Put put) {
  if (kTerms == Terms::Values && l.group <= kShortRow && l.outer > 1) {
    const auto& table = kernels::active();
    const auto kernel = kernel_for<T>(table.short_row_sums_f32, table.short_row_sums_f64);
    return split_outputs(
        l,
        [&](std::int64_t begin, std::int64_t end) {
          constexpr std::int64_t kChunk = 256;
          double sums[kChunk];
          for (std::int64_t r0 = begin; r0 < end; r0 += kChunk) {
            const std::int64_t rows = std::min(kChunk, end - r0);
            kernel(rows, l.group, x + r0 * l.group, sums);
            for (std::int64_t r = 0; r < rows; ++r) put(r0 + r, sums[r]);
          }
        },
        [](std::int64_t, std::int64_t, std::int64_t) {});  // inner == 1: rows only
  }
  each_row(x, l, [&](std::int64_t r, const T* xr, bool parallel) { put(r, blocked_sum<kTerms>(l.group, xr, parallel)); });
}

// Per-column totals of each [group, inner] slice (inner > 1) of a contiguous
// x seen as [outer, group, inner], into put(o·inner + j, total): rows are
// taken in blocks of kRowBlock, block(o, r0, rows, j0, width, into) adding
// a block's columns [j0, j0 + width) into `into` (zeroed), and the block
// totals are added in block order: error grows with kRowBlock + group /
// kRowBlock, not with group. Split over (slice, row block) pairs when there
// are enough blocks (each thread streams whole rows; as strips of columns,
// two cores reading alternate parts of each row took longer than one), else
// over strips of columns (whose totals stay in L1 across the rows); the
// arithmetic is the same. With kSums = 2 a block adds two totals per column
// in one pass (into[j] and into[width + j]) and put takes (i, first, second).
template <int kSums = 1, typename Block, typename Put>
void column_blocks(const BlockLayout& l, Block&& block, Put&& put) {
  static_assert(kSums == 1 || kSums == 2, "column_blocks: one or two totals per column");
  const std::int64_t outer = l.outer, group = l.group, inner = l.inner;
  constexpr std::int64_t kRowBlock = 256;
  const std::int64_t blocks = (group + kRowBlock - 1) / kRowBlock;
  const auto run = [&](std::int64_t o, std::int64_t b, std::int64_t j0, std::int64_t width, double* into) {
    const std::int64_t r0 = b * kRowBlock;
    std::fill(into, into + kSums * width, 0.0);
    block(o, r0, std::min(kRowBlock, group - r0), j0, width, into);
  };
  const auto put_totals = [&](std::int64_t i, const double* totals) {
    if constexpr (kSums == 1) put(i, totals[0]);
    else put(i, totals[0], totals[1]);
  };
  if (blocks >= 4 && outer * blocks * inner * kSums <= (std::int64_t{1} << 24)) {
    // Block t's totals at partial[t·kSums·inner], its sum s at s·inner + j.
    std::vector<double> partial(static_cast<std::size_t>(outer * blocks * inner * kSums));
    const std::int64_t grain = std::max<std::int64_t>(1, runtime::kElementwiseGrain / (kRowBlock * inner));
    runtime::parallel_for(0, outer * blocks, grain, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t t = begin; t < end; ++t)
        run(t / blocks, t % blocks, 0, inner, partial.data() + t * kSums * inner);
    });
    const std::int64_t combine_grain = std::max<std::int64_t>(1, runtime::kElementwiseGrain / (blocks * inner));
    runtime::parallel_for(0, outer, combine_grain, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t o = begin; o < end; ++o)
        for (std::int64_t j = 0; j < inner; ++j) {
          double totals[kSums] = {};
          for (std::int64_t b = 0; b < blocks; ++b)
            for (int s = 0; s < kSums; ++s)
              totals[s] += partial[static_cast<std::size_t>(((o * blocks + b) * kSums + s) * inner + j)];
          put_totals(o * inner + j, totals);
        }
    });
    return;
  }
  split_outputs(
      l, [](std::int64_t, std::int64_t) {},  // inner > 1: strips only
      [&](std::int64_t o, std::int64_t j0, std::int64_t width) {
        double acc[kSums * kOutputStrip], part[kSums * kOutputStrip];
        // The first block straight into acc (0 + its total is its total), as
        // the partial path's running total starts.
        run(o, 0, j0, width, acc);
        for (std::int64_t b = 1; b < blocks; ++b) {
          run(o, b, j0, width, part);
          for (std::int64_t j = 0; j < kSums * width; ++j) acc[j] += part[j];
        }
        for (std::int64_t j = 0; j < width; ++j) {
          double totals[kSums];
          for (int s = 0; s < kSums; ++s) totals[s] = acc[s * width + j];
          put_totals(o * inner + j0 + j, totals);
        }
      });
}

// The sums of a contiguous x seen as [outer, group, inner] over the middle
// dim, each times `repeats`, divided by `divisor` and rounded to T into out:
// out[o·inner + j] = (Σ_g x[(o·group + g)·inner + j]) · repeats / divisor.
template <typename T, typename Out = T>
void sums(const T* x, const BlockLayout& l, double repeats, double divisor, Out* out) {
  const auto put = [&](std::int64_t i, double sum) { out[i] = static_cast<Out>(sum * repeats / divisor); };
  if (l.outer * l.inner == 0) return;
  if (l.inner == 1) return row_sums<Terms::Values>(x, l, put);
  const auto add_rows = kernel_for<T>(kernels::active().add_rows_f32, kernels::active().add_rows_f64);
  column_blocks(
      l,
      [&](std::int64_t o, std::int64_t r0, std::int64_t rows, std::int64_t j0, std::int64_t width, double* into) {
        add_rows(rows, width, x + (o * l.group + r0) * l.inner + j0, l.inner, into);
      },
      put);
}

// Σ kernel(block of a, the same block of b) in sum()'s blocks, for
// same-shape contiguous floating a and b; nullopt otherwise.
template <typename Kernel32, typename Kernel64>
std::optional<double> pair_sum(const Tensor& a, const Tensor& b, Kernel32 kernel32, Kernel64 kernel64) {
  if (!elementwise_fast_paths() || !is_floating(a.dtype()) || a.dtype() != b.dtype() || a.shape() != b.shape() ||
      !a.is_contiguous() || !b.is_contiguous())
    return std::nullopt;
  return visit_floating(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T *pa = a.data<T>(), *pb = b.data<T>();
    return blocked<double>(a.numel(), pa, true, [&](std::int64_t len, const T* p) {
      if constexpr (std::is_same_v<T, float>) return kernel32(len, p, pb + (p - pa));
      else return kernel64(len, p, pb + (p - pa));
    });
  });
}

}  // namespace

std::optional<std::vector<double>> fast_squared_deviations(const Tensor& t, const ReducePlan& plan) {
  if (!is_floating(t.dtype())) return std::nullopt;
  const std::optional<BlockLayout> layout = block_layout(t, plan);
  if (!layout || layout->group == 0) return std::nullopt;
  const Tensor x = contiguous_data(t);
  std::vector<double> out(static_cast<std::size_t>(layout->outer * layout->inner));
  if (out.empty()) return out;
  if (layout->inner > 1) {
    // Columns: Σ x by sums(), then Σ (x - mean)² and Σ (x - mean) per
    // column together in sums()'s row blocks (batchNorm's column kernel).
    // Through the generic loop's per-element callbacks, var over dim 0 of
    // [4096, 128] float32 took 283 us on one thread, 778 on two; with the
    // two sums in separate passes 112 and 70, together 86 and 55.
    const BlockLayout l = *layout;
    visit_floating(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const auto deviations = kernel_for<T>(kernels::active().batch_norm_columns_deviations_f32,
                                            kernels::active().batch_norm_columns_deviations_f64);
      const double n = static_cast<double>(l.group);
      const T* px = x.data<T>();
      std::vector<double> mean(out.size()), dev(out.size());
      sums<T, double>(px, l, 1.0, n, mean.data());
      column_blocks<2>(
          l,
          [&](std::int64_t o, std::int64_t r0, std::int64_t rows, std::int64_t j0, std::int64_t width, double* into) {
            deviations(rows, width, l.inner, px + (o * l.group + r0) * l.inner + j0, mean.data() + o * l.inner + j0,
                       into, into + width);
          },
          [&](std::int64_t i, double squares, double deviation) {
            out[static_cast<std::size_t>(i)] = squares;
            dev[static_cast<std::size_t>(i)] = deviation;
          });
      for (std::size_t i = 0; i < out.size(); ++i) out[i] -= dev[i] * dev[i] / n;
    });
    return out;
  }
  visit_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const double n = static_cast<double>(layout->group);
    each_row(x.data<T>(), *layout, [&](std::int64_t r, const T* xr, bool parallel) {
      const double mean = blocked_sum(layout->group, xr, parallel) / n;
      const DeviationSums d = blocked_deviations(layout->group, xr, mean, parallel);
      out[static_cast<std::size_t>(r)] = d.squares - d.deviations * d.deviations / n;
    });
  });
  return out;
}

std::optional<double> fast_sum_squared_differences(const Tensor& a, const Tensor& b) {
  const auto& table = kernels::active();
  return pair_sum(a, b, table.sum_squared_differences_f32, table.sum_squared_differences_f64);
}

std::optional<double> fast_sum_huber(const Tensor& a, const Tensor& b, double delta) {
  const auto& table = kernels::active();
  return pair_sum(
      a, b, [&](std::int64_t n, const float* x, const float* y) { return table.sum_huber_f32(n, x, y, delta); },
      [&](std::int64_t n, const double* x, const double* y) { return table.sum_huber_f64(n, x, y, delta); });
}

std::optional<Tensor> fast_norm(const Tensor& t, const ReducePlan& plan, double p, const char* op) {
  if (!is_floating(t.dtype()) || (p != 1 && p != 2)) return std::nullopt;
  const std::optional<BlockLayout> layout = block_layout(t, plan);
  if (!layout || layout->inner != 1) return std::nullopt;
  const Tensor x = contiguous_data(t);
  Tensor out = empty(plan.out_shape, x.dtype(), op);
  if (layout->outer == 0) return out;
  visit_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* po = out.data<T>();
    if (p == 2)
      row_sums<Terms::Squares>(x.data<T>(), *layout, [po](std::int64_t r, double squares) { po[r] = static_cast<T>(std::sqrt(squares)); });
    else
      row_sums<Terms::Magnitudes>(x.data<T>(), *layout, [po](std::int64_t r, double total) { po[r] = static_cast<T>(total); });
  });
  return out;
}

std::optional<Tensor> fast_sum(const Tensor& t, const ReducePlan& plan, double repeats, double divisor,
                               const char* op) {
  if (!is_floating(t.dtype())) return std::nullopt;
  const std::optional<BlockLayout> layout = block_layout(t, plan);
  const std::optional<TwoBlockLayout> two = layout ? std::nullopt : two_block_layouts(t, plan);
  if (!layout && !two) return std::nullopt;
  const Tensor x = contiguous_data(t);
  Tensor out = empty(plan.out_shape, x.dtype(), op);
  visit_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (layout) return sums<T>(x.data<T>(), *layout, repeats, divisor, out.data<T>());
    // The inner block's sums kept in double, then summed over the outer one.
    std::vector<double> partial(static_cast<std::size_t>(two->inner.outer * two->inner.inner));
    sums<T, double>(x.data<T>(), two->inner, 1.0, 1.0, partial.data());
    sums<double, T>(partial.data(), two->outer, repeats, divisor, out.data<T>());
  });
  return out;
}

}  // namespace tapegrad::ops
