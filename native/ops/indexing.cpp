#include "ops/indexing.h"

#include <algorithm>
#include <climits>
#include <optional>
#include <type_traits>

#include "core/autograd.h"
#include "core/strided.h"
#include "ops/common.h"
#include "ops/factory.h"
#include "ops/shape.h"
#include "runtime/error.h"
#include "runtime/parallel.h"

namespace tapegrad::ops {

namespace {

// Where an operand's elements sit for one loop over an iteration shape.
struct Strided {
  Shape strides;
  std::int64_t offset;
};

// t, or a one-element 1-D view of a 0-d t, so that kernels always have a dim to index.
Tensor at_least_1d(const Tensor& t) { return t.dim() == 0 ? make_view(t, {1}, {1}, t.offset()) : t; }

void require_index(const Tensor& index, const char* op) {
  if (index.dtype() != DType::Int32)
    throw_type_error(op, ": index must be an int32 tensor, got ", dtype_name(index.dtype()));
}

// Every index value must lie in [0, size) before a kernel reads through it.
// A row is tested whole first, without a branch per value (a loop that
// vectorises in the baseline ISA: 32-bit lanes, no 64-bit compares; gather
// of [1024, 64] indices, one thread, 45 -> 14 us), and only a row that
// fails is read again for its first bad value.
void check_index_values(const Tensor& index, std::int64_t dim, std::int64_t size, const char* op) {
  const auto* p = static_cast<const std::int32_t*>(index.storage().data);
  // Unsigned, a negative value is at least 2^31: bad against any size that
  // an int32 can reach; beyond, only negative values are bad.
  const std::uint32_t limit = size > INT32_MAX ? 0x80000000u : static_cast<std::uint32_t>(size);
  // A contiguous index as one run: row by row, [1024, 64] paid a call per
  // row of 64 values (gather of [1024, 64] from [1024, 1024], one thread
  // 94-100 -> 84-95 us, two threads 30 -> 24-29).
  const Shape flat{index.numel()}, unit{1};
  const bool contiguous = index.is_contiguous();
  for_each_row<1>(contiguous ? flat : index.shape(), {contiguous ? &unit : &index.strides()}, {index.offset()},
                  [&](const auto& off, std::int64_t n, const auto& in) {
                    const std::int32_t* row = p + off[0];
                    const std::int64_t step = in[0];
                    std::uint32_t bad = 0;
                    if (step == 1)
                      for (std::int64_t i = 0; i < n; ++i) bad |= static_cast<std::uint32_t>(row[i]) >= limit;
                    else
                      for (std::int64_t i = 0; i < n; ++i) bad |= static_cast<std::uint32_t>(row[i * step]) >= limit;
                    if (bad == 0) return;
                    for (std::int64_t i = 0; i < n; ++i) {
                      const std::int32_t v = row[i * step];
                      if (v < 0 || v >= size)
                        throw_range_error(op, ": index ", v, " is out of range for dim ", dim, " of size ", size);
                    }
                  });
}

// Strides of t with `dim` zeroed: the index supplies that coordinate.
Strided without_dim(const Tensor& t, std::int64_t dim) {
  Strided s{t.strides(), t.offset()};
  s.strides[dim] = 0;
  return s;
}

// Integer sums wrap, as in PyTorch (signed overflow is undefined in C++).
template <typename T>
T add_wrapping(T a, T b) {
  if constexpr (std::is_same_v<T, std::int32_t>)
    return static_cast<T>(static_cast<std::uint32_t>(a) + static_cast<std::uint32_t>(b));
  else
    return a + b;
}

// Over `shape`: out[p] = src[p + index[p] * step] (reads through the index).
void gather_kernel(const Shape& shape, const Tensor& out, const Tensor& src, const Strided& s, std::int64_t step,
                   const Tensor& index, const Strided& x) {
  const auto* idx = static_cast<const std::int32_t*>(index.storage().data);
  visit_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* po = static_cast<T*>(out.storage().data);
    const T* ps = static_cast<const T*>(src.storage().data);
    // out is a fresh tensor: rows split across the pool. A row whose index
    // is one value (index_select along an earlier dim) is a plain copy.
    parallel_for_each_row<3>(shape, {&out.strides(), &s.strides, &x.strides}, {out.offset(), s.offset, x.offset},
                             runtime::kElementwiseGrain, [&](const auto& off, std::int64_t n, const auto& in) {
                               if (in[0] == 1 && in[1] == 1 && in[2] == 0) {
                                 std::copy_n(ps + off[1] + idx[off[2]] * step, n, po + off[0]);
                                 return;
                               }
                               for (std::int64_t i = 0; i < n; ++i)
                                 po[off[0] + i * in[0]] = ps[off[1] + i * in[1] + idx[off[2] + i * in[2]] * step];
                             });
  });
}

// Over `shape`: out[p + index[p] * step] += src[p] (writes through the index
// along dim d; out a fresh tensor), each output element's adds in the order
// of d. Elements that differ in another coordinate never write the same
// output element, so large walks split across the pool along the outermost
// dim other than d (of extent > 1), each part in row-major order: the same
// bits for any thread count (gather's gradient along dim 1 of [1024, 1024],
// 64 indices a row, forward and backward, two threads: 0.42 -> 0.19 ms;
// PyTorch 0.23).
// How scatter_add_kernel splits its walk across the pool: along dim `at`,
// at least `grain` slices a task (grain 0: on one thread).
struct ScatterSplit {
  std::int64_t at, grain, extent;
  bool parallel() const { return grain > 0 && runtime::parallel_chunks(extent, grain) > 1; }
};
ScatterSplit scatter_split(const Shape& shape, std::int64_t d) {
  const auto dims = static_cast<std::int64_t>(shape.size());
  std::int64_t split = 0, numel = 1;
  while (split < dims && (split == d || shape[split] < 2)) ++split;
  for (const std::int64_t extent : shape) numel *= extent;
  if (split == dims || numel < 2 * runtime::kElementwiseGrain) return {split, 0, 0};
  const std::int64_t extent = shape[static_cast<std::size_t>(split)], per_slice = numel / extent;
  // Split along the rows themselves (the last dim), each part keeps runs
  // of at least 1024 elements: [4096, 256] split into halves of 128 a row
  // had each core stream every row's lines, 1.2x the one thread's time.
  const std::int64_t min_part = split == dims - 1 ? 1024 : 1;
  return {split, std::max(min_part, runtime::kElementwiseGrain / per_slice), extent};
}

void scatter_add_kernel(const Shape& shape, std::int64_t d, const Tensor& out, const Strided& o, std::int64_t step,
                        const Tensor& src, const Tensor& index, const Strided& x) {
  const auto* idx = static_cast<const std::int32_t*>(index.storage().data);
  const ScatterSplit split = scatter_split(shape, d);
  visit_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* po = static_cast<T*>(out.storage().data);
    const T* ps = static_cast<const T*>(src.storage().data);
    const auto row = [&](const auto& off, std::int64_t n, const auto& in) {
      // A row whose index is one value (index_select's gradient along
      // an earlier dim): one vectorised row sum.
      if (in[0] == 1 && in[1] == 1 && in[2] == 0) {
        T* y = po + off[0] + idx[off[2]] * step;
        const T* v = ps + off[1];
        for (std::int64_t i = 0; i < n; ++i) y[i] = add_wrapping(y[i], v[i]);
        return;
      }
      for (std::int64_t i = 0; i < n; ++i) {
        T& y = po[off[0] + i * in[0] + idx[off[2] + i * in[2]] * step];
        y = add_wrapping(y, ps[off[1] + i * in[1]]);
      }
    };
    const std::array<const Shape*, 3> strides{&o.strides, &src.strides(), &x.strides};
    if (split.grain == 0) {
      for_each_row<3>(shape, strides, {o.offset, src.offset(), x.offset}, row);
      return;
    }
    const auto at = static_cast<std::size_t>(split.at);
    runtime::parallel_for(0, shape[at], split.grain, [&](std::int64_t k0, std::int64_t k1) {
      Shape part = shape;
      part[at] = k1 - k0;
      for_each_row<3>(part, strides,
                      {o.offset + k0 * o.strides[at], src.offset() + k0 * src.strides()[at], x.offset + k0 * x.strides[at]},
                      row);
    });
  });
}

// Index strides for index_select and its gradient: the 1-D index runs along `dim` only.
Strided index_along(const Tensor& idx, std::size_t ndim, std::int64_t dim) {
  Strided x{Shape(ndim, 0), idx.offset()};
  x.strides[dim] = idx.strides()[0];
  return x;
}

// Checks a 0-d or 1-D int32 index and returns it as 1-D.
Tensor vector_index(const Tensor& index, const char* op) {
  require_index(index, op);
  if (index.dim() > 1)
    throw_range_error(op, ": index must be a 0-d or 1-D tensor, got shape ", shape_str(index.shape()));
  return at_least_1d(index);
}

// Zero-pads t at the end of each dim up to `shape` (differentiable).
Tensor pad_to(Tensor t, const Shape& shape) {
  for (std::size_t k = 0; k < shape.size(); ++k) {
    if (t.shape()[k] == shape[k]) continue;
    Shape grown = t.shape();
    grown[k] = shape[k];
    t = slice_backward(t, grown, static_cast<std::int64_t>(k), 0, 1);
  }
  return t;
}

// The gradients of gather and index_select: grad added through the index
// into zeros of the input's shape, walking `shape` with the index at `x`
// (as the forward read it). The zeros are this op's own, so the sum goes in
// place (scatterAdd copies its input first: for a [4096, 1024]
// float32 input 16 MB more read and written). Differentiable: the gradient
// gathers again (`forward`, the op `op` itself; `name` names this node).
Tensor add_into_zeros(const char* op, const char* name, const Tensor& grad, std::int64_t d, const Tensor& index,
                      const Shape& in, const Shape& shape, const Strided& x,
                      Tensor (*forward)(const Tensor&, std::int64_t, const Tensor&)) {
  // The zeros on the threads that add into them: filled by two threads for
  // one to add into, half of them sat in the other core's cache (gather's
  // gradient along dim 1 of [256, 1024], 64 indices a row, two threads: 84
  // µs against 38 on one; now 33-36).
  std::optional<runtime::ThreadCapScope> one_thread;
  if (!scatter_split(shape, d).parallel()) one_thread.emplace(1);
  Tensor out = full(in, 0.0, grad.dtype(), op);
  one_thread.reset();
  const Tensor out1 = at_least_1d(out);
  scatter_add_kernel(shape, d, out1, without_dim(out1, d), out1.strides()[d], at_least_1d(grad), at_least_1d(index), x);
  record(name, {grad}, out, [d, forward, saved = SavedTensor(index)](const Grads& g, const Node&) {
    return Grads{forward(g[0], d, saved.unpack())};
  });
  return out;
}

}  // namespace

Tensor index_select(const Tensor& t, std::int64_t dim, const Tensor& index) {
  const char* op = "indexSelect";
  const Tensor idx = vector_index(index, op);
  const std::int64_t d = normalize_dim(dim, t.dim(), op);
  const Tensor self = at_least_1d(t);
  const std::int64_t n = idx.shape()[0];
  if (t.dim() == 0 && n != 1) throw_range_error(op, ": a 0-d input takes exactly one index, got ", n);
  check_index_values(idx, d, self.shape()[d], op);
  Shape shape = self.shape();
  shape[d] = n;
  Tensor out = empty(t.dim() == 0 ? Shape{} : shape, t.dtype(), op);
  gather_kernel(shape, at_least_1d(out), self, without_dim(self, d), self.strides()[d], idx,
                index_along(idx, shape.size(), d));
  record(op, {t}, out, [d, in = t.shape(), saved = SavedTensor(index)](const Grads& g, const Node&) {
    const Tensor index = saved.unpack(), idx = at_least_1d(index);
    Shape walked = in.empty() ? Shape{1} : in;
    walked[d] = idx.shape()[0];
    return Grads{add_into_zeros("indexSelect", "indexSelectBackward", g[0], d, index, in, walked,
                                index_along(idx, walked.size(), d), index_select)};
  });
  return out;
}

Tensor gather(const Tensor& t, std::int64_t dim, const Tensor& index) {
  const char* op = "gather";
  require_index(index, op);
  if (index.dim() != t.dim())
    throw_range_error(op, ": index must have as many dims as the input (", t.dim(), "), got shape ",
                      shape_str(index.shape()));
  const std::int64_t d = normalize_dim(dim, t.dim(), op);
  const Tensor self = at_least_1d(t), idx = at_least_1d(index);
  for (std::int64_t k = 0; k < self.dim(); ++k)
    if (k != d && idx.shape()[k] > self.shape()[k])
      throw_range_error(op, ": index of shape ", shape_str(index.shape()), " is larger than the input of shape ",
                        shape_str(t.shape()), " in dim ", k, " (only dim ", d, " may be larger)");
  check_index_values(idx, d, self.shape()[d], op);
  Tensor out = empty(index.shape(), t.dtype(), op);
  gather_kernel(idx.shape(), at_least_1d(out), self, without_dim(self, d), self.strides()[d], idx,
                {idx.strides(), idx.offset()});
  record(op, {t}, out, [d, in = t.shape(), saved = SavedTensor(index)](const Grads& g, const Node&) {
    return Grads{gather_backward(g[0], d, saved.unpack(), in)};
  });
  return out;
}

Tensor gather_backward(const Tensor& grad, std::int64_t dim, const Tensor& index, const Shape& shape) {
  const Tensor idx = at_least_1d(index);
  return add_into_zeros("gather", "gatherBackward", grad, dim, index, shape, idx.shape(), {idx.strides(), idx.offset()},
                        gather);
}

Tensor scatter_add(const Tensor& t, std::int64_t dim, const Tensor& index, const Tensor& src) {
  const char* op = "scatterAdd";
  require_index(index, op);
  if (src.dtype() != t.dtype())
    throw_type_error(op, ": src must have the input's dtype (", dtype_name(t.dtype()), "), got ",
                     dtype_name(src.dtype()));
  if (index.dim() != t.dim() || src.dim() != t.dim())
    throw_range_error(op, ": input, index and src must have the same number of dims, got shapes ",
                      shape_str(t.shape()), ", ", shape_str(index.shape()), " and ", shape_str(src.shape()));
  const std::int64_t d = normalize_dim(dim, t.dim(), op);
  const Tensor self = at_least_1d(t), idx = at_least_1d(index), from = at_least_1d(src);
  for (std::int64_t k = 0; k < self.dim(); ++k) {
    if (idx.shape()[k] > from.shape()[k])
      throw_range_error(op, ": index of shape ", shape_str(index.shape()), " is larger than src of shape ",
                        shape_str(src.shape()), " in dim ", k);
    if (k != d && idx.shape()[k] > self.shape()[k])
      throw_range_error(op, ": index of shape ", shape_str(index.shape()), " is larger than the input of shape ",
                        shape_str(t.shape()), " in dim ", k, " (only dim ", d, " may be larger)");
  }
  check_index_values(idx, d, self.shape()[d], op);
  Tensor out = copy_of(t, op);
  const Tensor out1 = at_least_1d(out);
  scatter_add_kernel(idx.shape(), d, out1, without_dim(out1, d), out1.strides()[d], from, idx,
                     {idx.strides(), idx.offset()});
  record(op, {t, src}, out, [d, src_shape = src.shape(), saved = SavedTensor(index)](const Grads& g, const Node& node) {
    // src elements that no index entry covers do not reach the output: zero gradient.
    return Grads{node.needs_grad(0) ? g[0] : Tensor(),
                 node.needs_grad(1) ? pad_to(gather(g[0], d, saved.unpack()), src_shape) : Tensor()};
  });
  return out;
}

}  // namespace tapegrad::ops
