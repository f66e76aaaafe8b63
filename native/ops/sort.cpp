#include "ops/sort.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/strided.h"
#include "ops/common.h"
#include "ops/indexing.h"
#include "runtime/error.h"
#include "runtime/parallel.h"

namespace tapegrad::ops {

namespace {

// Whether a comes strictly before b, ascending: NaN last (NaNs equal to each
// other), -0 and +0 equal. Descending is the mirror order, so NaN comes first.
template <typename T>
bool before(T a, T b, bool descending) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a) || std::isnan(b)) return descending ? !std::isnan(b) : !std::isnan(a);
  }
  return descending ? a > b : a < b;
}

// Sorts each line of t along d (read through t's strides) and writes the
// first k of each into values and indices (contiguous, k along d). Ties keep
// input order: the index breaks them, which makes the order total, so plain
// std::sort / std::partial_sort give the stable result. Lines split across
// the pool.
void sort_lines(const Tensor& t, std::int64_t d, std::int64_t k, bool descending, const Tensor& values,
                const Tensor& indices) {
  const std::int64_t n = t.dim() == 0 ? 1 : t.shape()[d];
  const std::int64_t stride = t.dim() == 0 ? 0 : t.strides()[d];
  // The lines: every position with d fixed at 0, walked over `lines` (t's shape with d of size 1).
  Shape lines = t.shape(), in_strides = t.strides(), out_strides = contiguous_strides(values.shape());
  if (t.dim() > 0) lines[d] = 1;
  std::int64_t count = 1;
  for (const std::int64_t size : lines) count *= size;
  if (count == 0 || k == 0) return;
  const std::int64_t out_stride = t.dim() == 0 ? 0 : out_strides[d];
  visit_dtype(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = static_cast<const T*>(t.storage().data);
    T* v = values.data<T>();
    std::int32_t* at = indices.data<std::int32_t>();
    const auto order = [descending](const std::pair<T, std::int32_t>& a, const std::pair<T, std::int32_t>& b) {
      return before(a.first, b.first, descending) || (!before(b.first, a.first, descending) && a.second < b.second);
    };
    // Line r starts at the offsets of position r of `lines` in t and in the outputs.
    const auto offsets = [&](std::int64_t r) {
      std::int64_t in = t.offset(), out = 0;
      for (std::int64_t dd = static_cast<std::int64_t>(lines.size()) - 1; dd >= 0; --dd) {
        const std::int64_t i = r % lines[dd];
        r /= lines[dd];
        in += i * in_strides[dd];
        out += i * out_strides[dd];
      }
      return std::pair{in, out};
    };
    // A few of a long line (k <= n/64): a heap of the first k so far in
    // that order (the last of them on top), which every other element is
    // tested against once, as a value (an equal value comes later, so it
    // loses the tie), without making its pair first (one thread, floats:
    // topk 5 of [512, 1000] 1.14 -> 0.96 ms, 10 of [64, 30000] 3.1 -> 2.1;
    // with more, as 3 of 64 or 100 of 1000, the two ways below were faster).
    const bool few = k < n && k * 64 <= n;
    const auto sort_range = [&](std::int64_t begin, std::int64_t end) {
      std::vector<std::pair<T, std::int32_t>> line(static_cast<std::size_t>(few ? k : n));
      for (std::int64_t r = begin; r < end; ++r) {
        const auto [in, out] = offsets(r);
        if (few) {
          for (std::int64_t i = 0; i < k; ++i) line[i] = {x[in + i * stride], static_cast<std::int32_t>(i)};
          std::make_heap(line.begin(), line.end(), order);
          for (std::int64_t i = k; i < n; ++i) {
            const T value = x[in + i * stride];
            if (!before(value, line.front().first, descending)) continue;
            std::pop_heap(line.begin(), line.end(), order);
            line.back() = {value, static_cast<std::int32_t>(i)};
            std::push_heap(line.begin(), line.end(), order);
          }
          std::sort_heap(line.begin(), line.end(), order);
        } else {
          for (std::int64_t i = 0; i < n; ++i) line[i] = {x[in + i * stride], static_cast<std::int32_t>(i)};
          if (k == n) std::sort(line.begin(), line.end(), order);
          else if (k < 16 || (k < 64 && k * 16 < n))
            std::partial_sort(line.begin(), line.begin() + k, line.end(), order);
          else {
            // The first k found in linear time, then sorted: partial_sort's
            // heap costs log k per element. One thread, floats: 100 of
            // [512, 1000] 7.95 -> 4.97 ms, 1000 of [64, 30000] 21.3 -> 14.7,
            // 20 of [4096, 64] 5.1 -> 3.8; with fewer (3 of 64, 10 of 100,
            // 32 of 1000) partial_sort was as fast or faster (3 of 64: 6x).
            std::nth_element(line.begin(), line.begin() + k, line.end(), order);
            std::sort(line.begin(), line.begin() + k, order);
          }
        }
        for (std::int64_t i = 0; i < k; ++i) {
          v[out + i * out_stride] = line[i].first;
          at[out + i * out_stride] = line[i].second;
        }
      }
    };
    runtime::parallel_for(0, count, std::max<std::int64_t>(1, runtime::kElementwiseGrain / n), sort_range);
  });
}

// The first k of each line of t along dim in the order `descending`; `op` names errors and the graph node.
Sorted sorted_head(const Tensor& t, std::int64_t dim, std::optional<std::int64_t> k_given, bool descending,
                   const char* op) {
  const std::int64_t d = normalize_dim(dim, t.dim(), op);
  const std::int64_t n = t.dim() == 0 ? 1 : t.shape()[d];
  const std::int64_t k = k_given.value_or(n);
  if (k < 0 || k > n)
    throw_range_error(op, ": k must be in [0, ", n, "] (the size of dim ", d, " of a tensor of shape ",
                      shape_str(t.shape()), "), got ", k);
  if (n - 1 > std::numeric_limits<std::int32_t>::max())
    throw_range_error(op, ": dim ", d, " of size ", n, " is too large for int32 indices");
  Shape shape = t.shape();
  if (t.dim() > 0) shape[d] = k;  // a 0-d input keeps its one element (PyTorch does so even for k = 0)
  Sorted out{empty(shape, t.dtype(), op), empty(shape, DType::Int32, op)};
  sort_lines(t, d, t.dim() == 0 ? 1 : k, descending, out.values, out.indices);
  // values = t.gather(d, indices): the gradient goes back to where each value came from.
  record(op, {t}, out.values, [d, in = t.shape(), saved = SavedTensor(out.indices)](const Grads& g, const Node&) {
    return Grads{gather_backward(g[0], d, saved.unpack(), in)};
  });
  return out;
}

}  // namespace

Sorted sort(const Tensor& t, std::int64_t dim, bool descending, const char* op) {
  return sorted_head(t, dim, std::nullopt, descending, op);
}

Sorted topk(const Tensor& t, std::int64_t k, std::int64_t dim, bool largest) {
  return sorted_head(t, dim, k, largest, "topk");
}

}  // namespace tapegrad::ops
