// Extrema: max / min (values, PyTorch's amax / amin) and argmax / argmin.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/autograd.h"
#include "kernels/kernels.h"
#include "ops/common.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "ops/reduce_impl.h"
#include "ops/shape.h"
#include "runtime/error.h"
#include "runtime/parallel.h"

namespace tapegrad::ops {

namespace {

template <typename T>
bool is_nan(T x) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(x);
  return false;
}

// True when x should replace the current extremum. NaN wins (it propagates,
// as in PyTorch) and ties keep the earlier element.
template <bool Max, typename T>
bool beats(T x, T current) {
  if (is_nan(x)) return !is_nan(current);
  return Max ? x > current : x < current;
}

// Where a row's extremum is ±0 or NaN, the only values whose copies can
// differ in bits, the first element equal to it, as the generic loop keeps.
template <typename T>
T first_equal(std::int64_t n, const T* x, T a) {
  if (a == T(0) || a != a)
    for (std::int64_t i = 0; i < n; ++i)
      if (x[i] == a || (a != a && x[i] != x[i])) return x[i];
  return a;
}

// The extrema of `rows` contiguous rows of n >= 1 elements into out, each
// the generic loop's element: floats by the kernel table's lanes, which
// find the value (first_equal picks its element), int32 in order.
template <bool Max, typename T>
void rows_extrema(std::int64_t rows, std::int64_t n, const T* x, T init, T* out) {
  if constexpr (std::is_floating_point_v<T>) {
    kernel_for<T>(kernels::active().extremum_rows_f32, kernels::active().extremum_rows_f64)(rows, n, x, out, Max);
    for (std::int64_t r = 0; r < rows; ++r) out[r] = first_equal(n, x + r * n, out[r]);
  } else {
    for (std::int64_t r = 0; r < rows; ++r) {
      T a = init;
      for (std::int64_t i = 0; i < n; ++i)
        if (beats<Max>(x[r * n + i], a)) a = x[r * n + i];
      out[r] = a;
    }
  }
}

// One row's extremum as rows_extrema's, floats in pieces of 2^16 on the
// pool when `parallel` (the pieces' values straight from the kernel:
// first_equal runs once, over the whole row).
template <bool Max, typename T>
T row_extremum(std::int64_t n, const T* x, T init, bool parallel) {
  constexpr std::int64_t kPiece = std::int64_t{1} << 16;
  T a = init;
  if constexpr (std::is_floating_point_v<T>) {
    if (parallel && n > kPiece) {
      const auto kernel = kernel_for<T>(kernels::active().extremum_rows_f32, kernels::active().extremum_rows_f64);
      const auto piece = [&](std::int64_t lo, std::int64_t len) {
        T v;
        kernel(1, len, x + lo, &v, Max);
        return v;
      };
      for (const T v : piece_values<T>(n, kPiece, true, 1, piece))
        if (beats<Max>(v, a)) a = v;
      return first_equal(n, x, a);
    }
  }
  rows_extrema<Max>(1, n, x, init, &a);
  return a;
}

// The extrema of a contiguous x seen as [outer, group, inner] over the
// middle dim, into out: each group's extremum as the generic loop finds it
// (its elements in increasing order, so the same element wins ties), split
// across the pool by rows (inner == 1, rows_extrema) or by columns.
// (for_each_reduced walks the same layout through a per-element callback;
// these loops are selects that vectorise: [64,8,128,128] over dim 1 5.6 ms,
// against 29.7 for norm(Infinity) through the callback.)
template <bool Max, typename T>
void extrema(const T* x, const BlockLayout& l, T init, T* out) {
  const std::int64_t group = l.group, inner = l.inner;
  if (inner == 1) {
    if (l.outer == 1) {
      out[0] = row_extremum<Max>(group, x, init, true);
      return;
    }
    return split_outputs(
        l,
        [&](std::int64_t begin, std::int64_t end) {
          rows_extrema<Max>(end - begin, group, x + begin * group, init, out + begin);
        },
        [](std::int64_t, std::int64_t, std::int64_t) {});  // inner == 1: rows only
  }
  split_outputs(
      l, [](std::int64_t, std::int64_t) {},  // inner > 1: strips only
      [&](std::int64_t o, std::int64_t j0, std::int64_t width) {
        T* a = out + o * inner + j0;
        std::fill(a, a + width, init);
        if constexpr (std::is_floating_point_v<T>) {
          kernel_for<T>(kernels::active().extremum_columns_f32, kernels::active().extremum_columns_f64)(
              group, width, x + o * group * inner + j0, inner, a, Max);
        } else {
          for (std::int64_t g = 0; g < group; ++g) {
            const T* row = x + (o * group + g) * inner + j0;
            for (std::int64_t j = 0; j < width; ++j) a[j] = beats<Max>(row[j], a[j]) ? row[j] : a[j];
          }
        }
      });
}

// The gradient weights of max / min for a contiguous x seen as [outer,
// group, inner], into w (x's shape): 1/count for each element equal to its
// group's extremum r (the NaN elements where r is NaN), 0 elsewhere. Two
// passes over each row or column strip while it is in cache, split across
// the pool as extrema(); the same values as the generic walk below.
template <typename T>
void extrema_weights(const T* x, const BlockLayout& l, const T* r, T* w) {
  const std::int64_t group = l.group, inner = l.inner;
  const auto hits = [](T v, T target, bool nan_target) { return (v == target) | (nan_target & (v != v)); };
  split_outputs(
      l,
      [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t o = begin; o < end; ++o) {
          const T* row = x + o * group;
          T* wr = w + o * group;
          const T target = r[o];
          const bool nan_target = target != target;
          std::int64_t count = 0;
          for (std::int64_t g = 0; g < group; ++g) count += hits(row[g], target, nan_target) ? 1 : 0;
          const T weight = static_cast<T>(1.0 / static_cast<double>(count));
          for (std::int64_t g = 0; g < group; ++g) wr[g] = hits(row[g], target, nan_target) ? weight : T(0);
        }
      },
      [&](std::int64_t o, std::int64_t j0, std::int64_t width) {
        const T* target = r + o * inner + j0;
        std::int64_t count[kOutputStrip] = {};
        for (std::int64_t g = 0; g < group; ++g) {
          const T* row = x + (o * group + g) * inner + j0;
          for (std::int64_t j = 0; j < width; ++j) count[j] += hits(row[j], target[j], target[j] != target[j]) ? 1 : 0;
        }
        T weight[kOutputStrip];
        for (std::int64_t j = 0; j < width; ++j) weight[j] = static_cast<T>(1.0 / static_cast<double>(count[j]));
        for (std::int64_t g = 0; g < group; ++g) {
          const std::int64_t at = (o * group + g) * inner + j0;
          for (std::int64_t j = 0; j < width; ++j)
            w[at + j] = hits(x[at + j], target[j], target[j] != target[j]) ? weight[j] : T(0);
        }
      },
      runtime::kElementwiseGrain, sizeof(T));
}

template <bool Max>
Tensor extremum(const Tensor& t, const std::vector<std::int64_t>& dims, bool keepdim, const char* op) {
  const ReducePlan plan = plan_reduce(t, dims, keepdim, op);
  require_nonempty_groups(t, plan, op);
  // Repeats of a value change no extremum (the first copy of one is the first repeat's).
  const Unrepeated u = without_repeats(t, plan);
  const std::optional<BlockLayout> layout = block_layout(u.view, u.plan);
  Tensor out = visit_dtype(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    // Starting from the far end of the range gives the right value for any non-empty group.
    using L = std::numeric_limits<T>;
    T init = Max ? L::lowest() : L::max();
    if constexpr (L::has_infinity) init = Max ? -L::infinity() : L::infinity();
    if (layout) {
      const Tensor x = contiguous_data(u.view);
      Tensor result = empty(plan.out_shape, t.dtype(), op);
      extrema<Max, T>(x.data<T>(), *layout, init, result.data<T>());
      return result;
    }
    auto acc = reduce_into<T, T>(u.view, u.plan, init, [](T& a, T x, std::int64_t) {
      if (beats<Max>(x, a)) a = x;
    });
    return tensor_from<T>(acc, plan.out_shape, op);
  });
  // d out / d x: 1 / count for each element equal to its group's extremum
  // (split evenly among ties, as amax / amin do); NaN extrema send the
  // gradient to the NaN elements.
  record(op, {t}, out, [plan, op, x = SavedTensor(t), o = SavedTensor::output(out)](const Grads& g, const Node& node) {
    const Tensor in = x.unpack();
    const Tensor res = contiguous_data(o.unpack(&node));
    Tensor weights = visit_floating(in.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* r = res.data<T>();
      if (const std::optional<BlockLayout> layout = block_layout(in, plan)) {
        const Tensor x = contiguous_data(in);
        Tensor w = empty(in.shape(), in.dtype(), op);
        if (x.numel() > 0) extrema_weights<T>(x.data<T>(), *layout, r, w.data<T>());
        return w;
      }
      auto hits = [&](std::int64_t pos, T v) { return is_nan(r[pos]) ? is_nan(v) : v == r[pos]; };
      std::vector<double> count(static_cast<std::size_t>(plan.outputs), 0.0);
      for_each_reduced<T>(in, plan, [&](std::int64_t pos, T v, std::int64_t) { count[pos] += hits(pos, v) ? 1 : 0; });
      return map_reduced<T>(in, plan, op, [&](std::int64_t pos, T v) { return hits(pos, v) ? 1.0 / count[pos] : 0.0; });
    });
    return Grads{mul(expand_reduced(g[0], plan, in.shape()), weights)};
  });
  return out;
}

// The positions of the extrema of a contiguous x seen as [outer, group,
// inner] within their groups, into out: as extrema(), the first element of
// a group starts it and only a beating element replaces it.
template <bool Max, typename T>
void arg_extrema(const T* x, const BlockLayout& l, std::int32_t* out) {
  const std::int64_t group = l.group, inner = l.inner;
  split_outputs(
      l,
      // By value: captured by reference, GCC 12 kept a slower loop (argmax of
      // [8192,1000] 5.9-6.0 against 4.7-4.9 ms).
      [x, group, out](std::int64_t begin, std::int64_t end) {
        for (std::int64_t r = begin; r < end; ++r) {
          const T* row = x + r * group;
          T best = row[0];
          std::int64_t at = 0;
          for (std::int64_t g = 1; g < group; ++g)
            if (beats<Max>(row[g], best)) best = row[g], at = g;
          out[r] = static_cast<std::int32_t>(at);
        }
      },
      [&](std::int64_t o, std::int64_t j0, std::int64_t width) {
        T best[kOutputStrip];
        std::int32_t* at = out + o * inner + j0;
        std::copy_n(x + o * group * inner + j0, width, best);
        std::fill(at, at + width, 0);
        for (std::int64_t g = 1; g < group; ++g) {
          const T* row = x + (o * group + g) * inner + j0;
          for (std::int64_t j = 0; j < width; ++j) {
            // Selects, not a branch: the loop vectorises.
            const bool wins = beats<Max>(row[j], best[j]);
            best[j] = wins ? row[j] : best[j];
            at[j] = wins ? static_cast<std::int32_t>(g) : at[j];
          }
        }
      });
}

// argmax / argmin give the index along `dim`, or without one (and for a 0-d
// input) the flat index over all elements.
bool along_dim_of(const Tensor& t, std::optional<std::int64_t> dim) { return dim && t.dim() > 0; }

// The flat index in `to` of the element at flat index i of `from`, a shape of
// the same rank whose sizes are no larger.
std::int64_t unravel_in(std::int64_t i, const Shape& from, const Shape& to) {
  std::int64_t flat = 0, scale = 1;
  for (std::size_t d = from.size(); d-- > 0;) {
    flat += (i % from[d]) * scale;
    i /= from[d];
    scale *= to[d];
  }
  return flat;
}

template <bool Max>
Tensor arg_extremum(const Tensor& t, std::optional<std::int64_t> dim, bool keepdim, const char* op) {
  std::vector<std::int64_t> dims;
  if (dim) dims.push_back(*dim);
  const ReducePlan plan = plan_reduce(t, dims, keepdim, op);
  require_nonempty_groups(t, plan, op);
  if (plan.group - 1 > std::numeric_limits<std::int32_t>::max())
    throw_range_error(op, ": the reduced size ", plan.group, " is too large for int32 indices");
  // A dim that repeats one value gives index 0 along it: the search runs on
  // the view without repeats, and a flat index found there is the same
  // position's in the whole view (row-major order compares coordinates
  // whatever the sizes, and repeated dims' coordinates are 0).
  if (const Unrepeated u = without_repeats(t, plan); u.repeats > 1) {
    const Tensor found = arg_extremum<Max>(u.view, dim, keepdim, op);
    if (along_dim_of(t, dim)) return found;
    const std::int64_t flat = unravel_in(found.data<std::int32_t>()[0], u.view.shape(), t.shape());
    return tensor_from<std::int32_t>(std::vector<std::int64_t>{flat}, plan.out_shape, op);
  }
  // Position of an element inside its group: its index along `dim`, or its
  // flat index when reducing everything (a 0-d input has only index 0).
  std::int64_t inner = 1, extent = 1;
  const bool along_dim = along_dim_of(t, dim);
  if (along_dim) {
    const std::int64_t d = plan.dims[0];
    for (std::int64_t k = d + 1; k < t.dim(); ++k) inner *= t.shape()[k];
    extent = t.shape()[d];
  }
  // The reduced dims of size > 1 are one block (a single dim, or every dim):
  // a position in the group is the index along `dim`, or the flat index.
  const std::optional<BlockLayout> layout = block_layout(t, plan);
  return visit_dtype(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (layout) {
      const Tensor x = contiguous_data(t);
      Tensor result = empty(plan.out_shape, DType::Int32, op);
      arg_extrema<Max, T>(x.data<T>(), *layout, result.data<std::int32_t>());
      return result;
    }
    std::vector<T> best(static_cast<std::size_t>(plan.outputs));
    std::vector<std::int32_t> at(static_cast<std::size_t>(plan.outputs), -1);
    for_each_reduced<T>(t, plan, [&](std::int64_t pos, T x, std::int64_t index) {
      if (at[pos] >= 0 && !beats<Max>(x, best[pos])) return;
      best[pos] = x;
      at[pos] = static_cast<std::int32_t>(along_dim ? (index / inner) % extent : index);
    });
    return tensor_from<std::int32_t>(at, plan.out_shape, op);
  });
}

}  // namespace

Tensor amax(const Tensor& t, const std::vector<std::int64_t>& dims, bool keepdim) {
  return extremum<true>(t, dims, keepdim, "max");
}
Tensor amin(const Tensor& t, const std::vector<std::int64_t>& dims, bool keepdim) {
  return extremum<false>(t, dims, keepdim, "min");
}
Tensor argmax(const Tensor& t, std::optional<std::int64_t> dim, bool keepdim) {
  return arg_extremum<true>(t, dim, keepdim, "argmax");
}
Tensor argmin(const Tensor& t, std::optional<std::int64_t> dim, bool keepdim) {
  return arg_extremum<false>(t, dim, keepdim, "argmin");
}

}  // namespace tapegrad::ops
