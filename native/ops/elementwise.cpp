#include "ops/elementwise.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <optional>
#include <type_traits>

#include "core/autograd.h"
#include "core/grad_mode.h"
#include "ops/elementwise_fast.h"
#include "ops/elementwise_impl.h"
#include "ops/factory.h"
#include "ops/indexing.h"
#include "ops/shape.h"
#include "ops/unary.h"
#include "ops/unary_math.h"
#include "runtime/parallel.h"

namespace tapegrad::ops {

namespace {

// Brings both operands to the dtype of the result (result_type: a 0-d
// operand does not widen a dimensioned one of its category). The casts are
// recorded, so an op that records the promoted pair sends each input a
// gradient of its own dtype.
std::pair<Tensor, Tensor> promoted(const Tensor& a, const Tensor& b) {
  const DType d = result_type(a.dtype(), a.dim() == 0, b.dtype(), b.dim() == 0);
  return {cast(a, d), cast(b, d)};
}

// out = f(a, b) for operands already of one dtype.
template <typename F>
Tensor arithmetic(const Tensor& a, const Tensor& b, kernels::BinaryOp kernel_op, const char* op, F f) {
  if (auto out = fast_binary(kernel_op, a, b, op)) return *std::move(out);
  return visit_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, std::int32_t>) {
      // Integer overflow wraps, as in PyTorch (signed overflow is undefined in C++).
      return binary_map<T, T>(a, b, a.dtype(), op, [&](T x, T y) {
        return static_cast<T>(f(static_cast<std::uint32_t>(x), static_cast<std::uint32_t>(y)));
      });
    } else {
      return binary_map<T, T>(a, b, a.dtype(), op, [&](T x, T y) { return static_cast<T>(f(x, y)); });
    }
  });
}

// 1 where pred(a, b) holds, else 0, in the promoted dtype. Records nothing.
template <typename P>
Tensor compare(const Tensor& a0, const Tensor& b0, kernels::BinaryOp kernel_op, const char* op, P pred) {
  GradModeGuard no_grad(false);
  auto [a, b] = promoted(a0, b0);
  if (auto out = fast_binary(kernel_op, a, b, op)) return *std::move(out);
  return visit_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    return binary_map<T, T>(a, b, a.dtype(), op, [&](T x, T y) { return pred(x, y) ? T(1) : T(0); });
  });
}

// int32 power by squaring, wrapping on overflow; negative exponents as PyTorch's integer kernel.
std::int32_t int_pow(std::int32_t base, std::int32_t exponent) {
  if (exponent < 0) {
    if (base == 1) return 1;
    if (base == -1) return (exponent & 1) ? -1 : 1;
    return 0;
  }
  std::uint32_t result = 1, b = static_cast<std::uint32_t>(base);
  for (std::uint32_t e = static_cast<std::uint32_t>(exponent); e != 0; e >>= 1) {
    if (e & 1u) result *= b;
    b *= b;
  }
  return static_cast<std::int32_t>(result);
}

// Elementwise max (or min) where NaN wins over any number.
template <bool Max>
Tensor extremum(const Tensor& a, const Tensor& b, const char* op) {
  if (auto out = fast_binary(Max ? kernels::BinaryOp::Maximum : kernels::BinaryOp::Minimum, a, b, op))
    return *std::move(out);
  return visit_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    return binary_map<T, T>(a, b, a.dtype(), op, [](T x, T y) {
      if constexpr (!std::is_same_v<T, std::int32_t>) {
        if (std::isnan(x)) return x;
        if (std::isnan(y)) return y;
      }
      return (Max ? x > y : x < y) ? x : y;
    });
  });
}

// Gradients of maximum (Max) or minimum: all of g to the winner, half each on ties.
Grads extremum_backward(const Tensor& g, const Tensor& x, const Tensor& y, const Node& n, bool is_max) {
  const Tensor zero = scalar(0, g.dtype());
  const Tensor shared = where(eq(x, y), mul(g, scalar(0.5, g.dtype())), g);
  // Where x loses, x gets nothing; where y loses, y gets nothing (NaN: both keep g, as PyTorch).
  const Tensor x_loses = is_max ? lt(x, y) : gt(x, y);
  const Tensor y_loses = is_max ? gt(x, y) : lt(x, y);
  return Grads{n.needs_grad(0) ? sum_to(where(x_loses, zero, shared), x.shape()) : Tensor(),
               n.needs_grad(1) ? sum_to(where(y_loses, zero, shared), y.shape()) : Tensor()};
}

// Refuses an int32 divisor that holds 0: integer division by zero has no
// result (x86 traps it with SIGFPE, which would end the process). Names the
// first zero in the divisor's own order; read in place (an expanded divisor
// is not copied out to its full size).
void check_int32_divisor(const Tensor& b, const char* op) {
  const std::int32_t* p = static_cast<const std::int32_t*>(b.storage().data);
  std::int64_t index = 0, zero_at = -1;
  for_each_row<1>(b.shape(), {&b.strides()}, {b.offset()}, [&](const auto& off, std::int64_t n, const auto& in) {
    for (std::int64_t i = 0; i < n && zero_at < 0; ++i)
      if (p[off[0] + i * in[0]] == 0) zero_at = index + i;
    index += n;
  });
  if (zero_at >= 0)
    throw_range_error(op, ": division by zero: other is 0", b.dim() > 0 ? concat(" at element ", zero_at) : "",
                      ", and int32 has no NaN for the result; convert an operand to a float dtype to get NaN");
}

// a mod b: fmod's remainder, which has the sign of a, and with Floored that
// remainder moved into b's sign by adding b where the signs differ (never
// overflows: |r| < |b| and their signs differ). Gradients as PyTorch's: 1
// for a, -floor(a / b) (Floored) or -trunc(a / b) for b.
template <bool Floored>
Tensor modulo(const Tensor& a0, const Tensor& b0, const char* op) {
  auto [a, b] = promoted(a0, b0);
  // The kernel where the layout has one (the same values: kernels.h): the C
  // library's fmodf and the branches after it took 17-23 ns a float32
  // element ([256, 1024], one thread: fmod 4.6 ms, remainder 6.1; now 0.33
  // and 0.36; PyTorch 0.23 and 0.28).
  std::optional<Tensor> fast =
      is_floating(a.dtype()) ? fast_binary(Floored ? kernels::BinaryOp::Remainder : kernels::BinaryOp::Fmod, a, b, op)
                             : std::nullopt;
  Tensor out = fast ? *std::move(fast) : visit_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const auto floored = [](T r, T y) { return Floored && r != T(0) && ((r < T(0)) != (y < T(0))) ? r + y : r; };
    if constexpr (std::is_same_v<T, std::int32_t>) {
      // Zeros refused first (none to refuse when the result is empty). A
      // divisor of -1 leaves no remainder; INT32_MIN % -1 would trap too.
      if (a.numel() > 0) check_int32_divisor(b, op);
      return binary_map<T, T>(a, b, a.dtype(), op, [&](T x, T y) { return y == -1 ? T(0) : floored(x % y, y); });
    } else {
      return binary_map<T, T>(a, b, a.dtype(), op, [&](T x, T y) { return floored(std::fmod(x, y), y); });
    }
  });
  // Only b's gradient reads the operands.
  record(op, {a, b}, out,
         [sa = saved_if(b.requires_grad(), a), sb = saved_if(b.requires_grad(), b), a_shape = a.shape()](
             const Grads& g, const Node& n) {
           if (!n.needs_grad(1)) return Grads{sum_to(g[0], a_shape), Tensor()};
           const Tensor x = sa.unpack(), y = sb.unpack();
           const Tensor quotient = Floored ? floor(div(x, y)) : trunc(div(x, y));
           return Grads{n.needs_grad(0) ? sum_to(g[0], a_shape) : Tensor(), sum_to(neg(mul(g[0], quotient)), y.shape())};
         });
  return out;
}

// Float to int32 truncates toward zero, as PyTorch; a value outside int32's
// range (NaN, ±Infinity, ±2**31 and beyond) has no int32 to become. A C++
// cast of one is undefined (INT_MIN on x86, saturated on arm64), so it throws,
// as tensor([NaN], { dtype: 'int32' }) does. `op` names the caller in messages.
template <typename In>
Tensor float_to_int32(const Tensor& t, const char* op) {
  // What truncates into int32: (-2**31 - 1, 2**31); in float32, whose
  // neighbours of -2**31 are 128 and more away, [-2**31, 2**31).
  const auto fits = [](In x) {
    if constexpr (std::is_same_v<In, float>) return x >= -2147483648.0f && x < 2147483648.0f;
    else return x > -2147483649.0 && x < 2147483648.0;
  };
  std::atomic<bool> outside{false};
  Tensor out = unary_map<In, std::int32_t>(t, DType::Int32, op, [&](In x) {
    if (fits(x)) return static_cast<std::int32_t>(x);
    outside.store(true, std::memory_order_relaxed);
    return std::int32_t{0};
  });
  if (!outside.load()) return out;
  // The error path finds the first such value in the tensor's order, so the
  // message does not depend on which thread saw one first.
  const Tensor dense = contiguous(t);
  const In* p = dense.data<In>();
  std::int64_t i = 0;
  while (fits(p[i])) ++i;
  constexpr const char* range = " does not fit in int32; int32 holds whole numbers in [-2147483648, 2147483647]";
  if (t.dim() == 0) throw_range_error(op, ": value ", static_cast<double>(p[0]), range);
  throw_range_error(op, ": element ", i, " (", static_cast<double>(p[i]), ")", range);
}

// What an in-place write does to autograd history. With grad mode on and
// the target or the operand requiring grad it is recorded, as PyTorch does:
// the target's history becomes a node whose inputs are the target as it was
// and the operand.
enum class InPlace { Add, Sub, Mul, Copy };

// The dims of a base whose elements fill a block of memory once each from
// its first one (contiguous, or permuted: attention's head-merged output; at
// any offset: a detach()ed slice), outermost in memory first; size-1 dims
// left out. None for any other layout.
std::optional<std::vector<std::int64_t>> element_order(const Tensor& base) {
  std::vector<std::int64_t> dims;
  for (std::int64_t d = 0; d < base.dim(); ++d)
    if (base.size(d) > 1) dims.push_back(d);
  const Shape& st = base.strides();
  const auto stride = [&](std::int64_t d) { return st[static_cast<std::size_t>(d)]; };
  std::stable_sort(dims.begin(), dims.end(), [&](std::int64_t p, std::int64_t q) { return stride(p) > stride(q); });
  std::int64_t expected = 1;
  for (auto it = dims.rbegin(); it != dims.rend(); ++it) {
    if (stride(*it) != expected) return std::nullopt;
    expected *= base.size(*it);
  }
  return dims;
}

// A recorded write gives the target a new history, and the tensors sharing
// its memory through views new ones too (rebase_views): as PyTorch's, the
// base's history becomes "the old base with the view's elements replaced",
// and each overlapping view's a strided view of that. Values saved for
// backward are not rebuilt: the version check reports them at backward.
// These histories index the base's elements, so they must fill a block of
// memory once each from its first one (in any dim order), with int32 indices. A
// detach()ed tensor is a base of its own, as in PyTorch: the tensor it was
// detached from keeps its history (its saved values are still checked).
struct SharedMemory {
  Tensor base;
  std::vector<std::shared_ptr<TensorImpl>> views;  // the base's live views
  std::vector<std::int64_t> order;                 // element_order(base)
};

// Refuses a recorded write into `a` whose sharers' histories could not be
// rebuilt; returns what to rebuild, none when `a` shares its memory with no
// other tensor through views.
std::optional<SharedMemory> views_to_rebuild(const Tensor& a, const char* op) {
  TensorImpl* impl = a.impl();
  const char* fix = "; use the out-of-place op, or write inside noGrad() if no gradient should flow through it";
  const Tensor base(impl->view_base ? impl->view_base : a.impl_ptr());
  std::vector<std::shared_ptr<TensorImpl>> views = live_views(*base.impl());
  if (!impl->view_base && views.empty()) return std::nullopt;
  // A leaf that requires grad may be the base or a view of it (a parameter
  // made of a transposed tensor): its memory is not written under autograd.
  bool of_leaf = impl->view_base && base.is_leaf() && base.requires_grad();
  for (const std::shared_ptr<TensorImpl>& other : views) {
    const Tensor view(other);
    if (other.get() != impl && view.is_leaf() && view.requires_grad() && overlaps(view, a)) of_leaf = true;
  }
  if (of_leaf)
    throw_error(op, ": cannot record an in-place write into a view of a leaf tensor that requires grad", fix);
  std::optional<std::vector<std::int64_t>> order = element_order(base);
  if (!order || base.numel() > std::numeric_limits<std::int32_t>::max())
    throw_error(op, ": cannot record an in-place write into ",
                impl->view_base ? "a view of a tensor" : "a tensor with views",
                " whose elements do not fill a block of memory (or of more than 2^31 - 1 elements): ",
                "the views' histories could not be rebuilt", fix);
  return SharedMemory{base, std::move(views), std::move(*order)};
}

// Splits memory position `position` of a dense base into its coordinate in
// each dim of `order` (element_order(base)), calling at(dim, coordinate);
// returns what is left over (nonzero: not the start of an element).
template <typename At>
std::int64_t split_position(std::int64_t position, const SharedMemory& m, At at) {
  position -= m.base.offset();
  for (const std::int64_t d : m.order) {
    const std::int64_t s = m.base.strides()[static_cast<std::size_t>(d)], c = position / s;
    position -= c * s;
    at(d, c);
  }
  return position;
}

// For each element of `view`, the index in the base's element order of the
// base element it shares memory with: int32, view's shape.
Tensor base_index(const Tensor& view, const SharedMemory& m) {
  Tensor index = empty(view.shape(), DType::Int32, "inPlace");
  std::int32_t* out = index.data<std::int32_t>();
  const Shape logical = contiguous_strides(m.base.shape());
  // A contiguous base's element order is its memory order: no division per
  // element (200 column writes into a [64, 12800] buffer: 13 -> 9 ms).
  const bool in_memory_order = m.base.is_contiguous();
  for_each_row<1>(view.shape(), {&view.strides()}, {view.offset()},
                  [&](const auto& off, std::int64_t n, const auto& in) {
                    for (std::int64_t i = 0; i < n; ++i) {
                      const std::int64_t position = off[0] + i * in[0];
                      std::int64_t element = in_memory_order ? position - m.base.offset() : 0;
                      if (!in_memory_order)
                        split_position(position, m, [&](std::int64_t d, std::int64_t c) {
                          element += c * logical[static_cast<std::size_t>(d)];
                        });
                      *out++ = static_cast<std::int32_t>(element);
                    }
                  });
  return index;
}

// The box of the base a view covers: its first element's coordinates in
// each of the base's dims, when the view is one (the base's strides; within
// its sizes in every dim, size-1 dims included: its narrow() slices, the
// steps an RNN writes). None otherwise (a transpose, a stride-2 slice, a
// reshape of a range that wraps past a row).
std::optional<Shape> box_start(const Tensor& view, const SharedMemory& m) {
  const Tensor& base = m.base;
  if (view.strides() != base.strides()) return std::nullopt;
  Shape start(static_cast<std::size_t>(base.dim()), 0);
  if (split_position(view.offset(), m, [&](std::int64_t d, std::int64_t c) { start[static_cast<std::size_t>(d)] = c; }))
    return std::nullopt;
  for (std::int64_t d = 0; d < base.dim(); ++d)
    if (start[static_cast<std::size_t>(d)] + view.size(d) > base.size(d)) return std::nullopt;
  return start;
}

// Whether two views of the base share an element: exactly when both are
// boxes of it, else by their memory ranges, which may also say yes for
// interleaved views (a rebuilt history is then unneeded, not wrong).
bool share_elements(const Tensor& x, const Tensor& y, const SharedMemory& m) {
  if (x.numel() == 0 || y.numel() == 0) return false;
  const std::optional<Shape> bx = box_start(x, m), by = box_start(y, m);
  if (!bx || !by) return overlaps(x, y);
  for (std::int64_t d = 0; d < m.base.dim(); ++d) {
    const std::int64_t cx = (*bx)[static_cast<std::size_t>(d)], cy = (*by)[static_cast<std::size_t>(d)];
    if (cx + x.size(d) <= cy || cy + y.size(d) <= cx) return false;
  }
  return true;
}

// After a recorded write into `a`: a view's base gets the history "old base
// with a's elements from a's new value" (copySlices), and every other live
// view overlapping `a` that of a strided view of the base (asStrided).
// Both backward rules gather and scatter-add through base_index, so they
// are differentiable.
void rebase_views(const Tensor& a, const SharedMemory& m) {
  const Tensor& base = m.base;
  const Shape base_shape = base.shape();
  const Shape flat{base.numel()};
  if (a.impl()->view_base) {
    const Tensor index = reshape(base_index(a, m), {a.numel()});
    record("copySlices", {base, a}, base,
           [base_shape, flat, view_shape = a.shape(), saved = SavedTensor(index)](const Grads& g, const Node& n) {
             const Tensor index = saved.unpack();
             const Tensor g_flat = reshape(g[0], flat);
             const Tensor region = gather(g_flat, 0, index);
             return Grads{n.needs_grad(0) ? reshape(sub(g_flat, gather_backward(region, 0, index, flat)), base_shape)
                                          : Tensor(),
                          n.needs_grad(1) ? reshape(region, view_shape) : Tensor()};
           });
  }
  for (const std::shared_ptr<TensorImpl>& other : m.views) {
    const Tensor view(other);
    if (other.get() == a.impl() || !share_elements(view, a, m)) continue;
    other->view_without_history = false;
    const Tensor index = reshape(base_index(view, m), {view.numel()});
    record("asStrided", {base}, view, [base_shape, flat, saved = SavedTensor(index)](const Grads& g, const Node&) {
      const Tensor index = saved.unpack();
      return Grads{reshape(gather_backward(reshape(g[0], {index.numel()}), 0, index, flat), base_shape)};
    });
  }
}

// Rejects in-place writes autograd could not follow, and writes into a view
// some of whose elements share memory (an expanded view: each would be
// written several times), as PyTorch does. Returns whether the write is
// recorded. `b`: the operand, already of a's dtype.
bool check_inplace(const Tensor& a, const Tensor& b, const char* op) {
  // As PyTorch: the view has none of its base's history to record the write
  // in, and unrecorded (an operand without grad) it would change values its
  // base's history does not know of.
  if (grad_enabled() && a.impl()->view_without_history)
    throw_error(op, ": cannot write in place with grad mode on into a view made inside noGrad() of a tensor that ",
                "requires grad: the view has none of its history; make the view with grad mode on, or write inside ",
                "noGrad() if no gradient should flow through it");
  const bool recorded = grad_enabled() && (a.requires_grad() || b.requires_grad());
  if (recorded && a.is_leaf() && a.requires_grad())
    throw_error(op, ": cannot modify a leaf tensor that requires grad in place; write it inside noGrad() (as an ",
                "optimizer step does), or use the out-of-place op");
  if (locked_against_writes(a.storage()))
    throw_error(op, ": the tensor is in use by a running async operation; await it before writing");
  for (std::int64_t d = 0; d < a.dim(); ++d)
    if (a.size(d) > 1 && a.strides()[static_cast<std::size_t>(d)] == 0)
      throw_error(op, ": cannot write in place into an expanded view (shape ", shape_str(a.shape()), ", strides ",
                  shape_str(a.strides()), "): several of its elements share memory; write into a clone() instead");
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  if (shape != a.shape())
    throw_range_error(op, ": the operand of shape ", shape_str(b.shape()), " cannot be broadcast to the shape ",
                      shape_str(a.shape()), " of the tensor written in place");
  return recorded;
}

// The operand of an in-place write into `a`, read as it was before the
// write: one that overlaps `a` in another layout (a.T, a shifted slice, a
// broadcast row of a) is copied first, as NumPy does; one laid out as `a`
// (a itself) reads each element just before it is written.
Tensor inplace_operand(const Tensor& a, const Tensor& b, const char* op) {
  if (!overlaps(a, b) || b.dim() > a.dim()) return b;
  const Shape sb = broadcast_strides(b, a.shape());
  bool same_layout = a.offset() == b.offset();
  for (std::int64_t d = 0; d < a.dim(); ++d) {
    const auto i = static_cast<std::size_t>(d);
    if (a.size(d) > 1 && sb[i] != a.strides()[i]) same_layout = false;
  }
  return same_layout ? b : copy_of(b, op);
}

// The operand in a's dtype. add, sub and mul refuse a floating operand into
// an int32 target (PyTorch: "result type Float can't be cast to Int");
// copyFrom and fill truncate it, as copy_ and fill_ do.
Tensor inplace_cast(const Tensor& a, const Tensor& b, InPlace kind, const char* op) {
  if (!is_floating(a.dtype()) && is_floating(b.dtype())) {
    if (kind != InPlace::Copy)
      throw_type_error(op, ": cannot write a ", dtype_name(b.dtype()), " result into an int32 tensor in place");
    return visit_dtype(b.dtype(), [&](auto tag) -> Tensor {
      if constexpr (std::is_floating_point_v<decltype(tag)>) return float_to_int32<decltype(tag)>(b, op);
      else return b;
    });
  }
  return cast(b, a.dtype());
}

// Records the write of `b` into `a` (a has its new values). The gradient of
// a product needs each factor as it was: `a_before` (a copy of a, taken
// before the write, when b needs a gradient) and `b_before` (b, or a copy
// if b overlaps a, when a does).
void record_inplace(InPlace kind, const Tensor& a, const Tensor& b, const Tensor& a_before, const Tensor& b_before,
                    const char* op) {
  const Shape sa = a.shape(), sb = b.shape();
  const DType dtype = a.dtype();
  switch (kind) {
    case InPlace::Add:
    case InPlace::Sub:
      record(op, {a, b}, a, [sb, negate = kind == InPlace::Sub](const Grads& g, const Node& n) {
        return Grads{n.needs_grad(0) ? g[0] : Tensor(),
                     n.needs_grad(1) ? sum_to(negate ? neg(g[0]) : g[0], sb) : Tensor()};
      });
      return;
    case InPlace::Mul:
      record(op, {a, b}, a, [sa = SavedTensor(a_before), sb_ = SavedTensor(b_before), sb](const Grads& g, const Node& n) {
        return Grads{n.needs_grad(0) ? mul(g[0], sb_.unpack()) : Tensor(),
                     n.needs_grad(1) ? sum_to(mul(g[0], sa.unpack()), sb) : Tensor()};
      });
      return;
    case InPlace::Copy:
      // The values a held are gone: their history gets zeros, as PyTorch's.
      record(op, {a, b}, a, [sa, sb, dtype](const Grads& g, const Node& n) {
        return Grads{n.needs_grad(0) ? full(sa, 0, dtype) : Tensor(), n.needs_grad(1) ? sum_to(g[0], sb) : Tensor()};
      });
      return;
  }
}

template <typename F>
void arithmetic_inplace(const Tensor& a, const Tensor& b0, InPlace kind, std::optional<kernels::BinaryOp> kernel_op,
                        const char* op, F f) {
  const Tensor b_cast = inplace_cast(a, b0, kind, op);
  const bool recorded = check_inplace(a, b_cast, op);
  const std::optional<SharedMemory> shared = recorded ? views_to_rebuild(a, op) : std::nullopt;
  Tensor a_before, b_before;
  if (recorded && kind == InPlace::Mul) {
    if (b_cast.requires_grad()) a_before = clone(a);
    if (a.requires_grad()) b_before = overlaps(a, b_cast) ? clone(b_cast) : b_cast;
  }
  const Tensor b = inplace_operand(a, b_cast, op);
  if (!(kernel_op && fast_binary_inplace(*kernel_op, a, b, op))) {
    visit_dtype(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_same_v<T, std::int32_t>) {
        inplace_map<T>(a, b, [&](T x, T y) {
          return static_cast<T>(f(static_cast<std::uint32_t>(x), static_cast<std::uint32_t>(y)));
        });
      } else {
        inplace_map<T>(a, b, [&](T x, T y) { return static_cast<T>(f(x, y)); });
      }
    });
  }
  a.bump_version();
  if (recorded) {
    record_inplace(kind, a, b_cast, a_before, b_before, op);
    if (shared) rebase_views(a, *shared);
  }
}

}  // namespace

Tensor scalar(double value, DType dtype) {
  Tensor t = empty({}, dtype, "scalar");
  visit_dtype(dtype, [&](auto tag) { *t.data<decltype(tag)>() = static_cast<decltype(tag)>(value); });
  return t;
}

Tensor cast(const Tensor& t, DType dtype, const char* op) {
  if (t.dtype() == dtype) return t;
  Tensor out = visit_dtype(t.dtype(), [&](auto in_tag) {
    using In = decltype(in_tag);
    return visit_dtype(dtype, [&](auto out_tag) -> Tensor {
      using Out = decltype(out_tag);
      if constexpr (std::is_floating_point_v<In> && std::is_same_v<Out, std::int32_t>) return float_to_int32<In>(t, op);
      else return unary_map<In, Out>(t, dtype, op, [](In x) { return static_cast<Out>(x); });
    });
  });
  if (is_floating(t.dtype()) && is_floating(dtype)) {
    const DType from = t.dtype();
    record("cast", {t}, out, [from](const Grads& g, const Node&) { return Grads{cast(g[0], from)}; });
  }
  return out;
}

Tensor add(const Tensor& a0, const Tensor& b0) {
  auto [a, b] = promoted(a0, b0);
  Tensor out = arithmetic(a, b, kernels::BinaryOp::Add, "add", [](auto x, auto y) { return x + y; });
  record("add", {a, b}, out, [sa = a.shape(), sb = b.shape()](const Grads& g, const Node& n) {
    return Grads{n.needs_grad(0) ? sum_to(g[0], sa) : Tensor(), n.needs_grad(1) ? sum_to(g[0], sb) : Tensor()};
  });
  return out;
}

Tensor sub(const Tensor& a0, const Tensor& b0) {
  auto [a, b] = promoted(a0, b0);
  Tensor out = arithmetic(a, b, kernels::BinaryOp::Sub, "sub", [](auto x, auto y) { return x - y; });
  record("sub", {a, b}, out, [sa = a.shape(), sb = b.shape()](const Grads& g, const Node& n) {
    return Grads{n.needs_grad(0) ? sum_to(g[0], sa) : Tensor(),
                 n.needs_grad(1) ? sum_to(mul(g[0], scalar(-1, g[0].dtype())), sb) : Tensor()};
  });
  return out;
}

Tensor mul(const Tensor& a0, const Tensor& b0) {
  auto [a, b] = promoted(a0, b0);
  Tensor out = arithmetic(a, b, kernels::BinaryOp::Mul, "mul", [](auto x, auto y) { return x * y; });
  // Each factor is kept only for the other's gradient (a frozen weight's
  // input, dropout-style masks' activations are not held).
  record("mul", {a, b}, out,
         [sa = saved_if(b.requires_grad(), a), sb = saved_if(a.requires_grad(), b), a_shape = a.shape(),
          b_shape = b.shape()](const Grads& g, const Node& n) {
           return Grads{n.needs_grad(0) ? sum_to(mul(g[0], sb.unpack()), a_shape) : Tensor(),
                        n.needs_grad(1) ? sum_to(mul(g[0], sa.unpack()), b_shape) : Tensor()};
         });
  return out;
}

Tensor div(const Tensor& a0, const Tensor& b0) {
  // True division: integer operands divide as float32, as in PyTorch.
  const bool ints = !is_floating(a0.dtype()) && !is_floating(b0.dtype());
  auto [a, b] = promoted(ints ? cast(a0, DType::Float32) : a0, ints ? cast(b0, DType::Float32) : b0);
  Tensor out = arithmetic(a, b, kernels::BinaryOp::Div, "div", [](auto x, auto y) { return x / y; });
  // The dividend is read only by the divisor's gradient.
  record("div", {a, b}, out,
         [sa = saved_if(b.requires_grad(), a), sb = SavedTensor(b), a_shape = a.shape()](const Grads& g,
                                                                                        const Node& n) {
           const Tensor y = sb.unpack();
           const Tensor ga = div(g[0], y);
           return Grads{n.needs_grad(0) ? sum_to(ga, a_shape) : Tensor(),
                        n.needs_grad(1) ? sum_to(mul(mul(ga, div(sa.unpack(), y)), scalar(-1, g[0].dtype())), y.shape())
                                        : Tensor()};
         });
  return out;
}

// The value of a one-element floating tensor.
double single_value(const Tensor& t) {
  return visit_floating(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    return static_cast<double>(static_cast<const T*>(t.storage().data)[t.offset()]);
  });
}

Tensor pow(const Tensor& a0, const Tensor& b0) {
  auto [a, b] = promoted(a0, b0);
  // A constant exponent of 2 or -1 (x.pow(2), x.pow(-1)): the vectorised
  // square and reciprocal, whose results are the C library's pow there (the
  // exact value rounded once, special values included); their own backward
  // rules give the same derivatives (2x, -1/x²) as pow's. [4096,1024] float32
  // squared, one thread: 37 ms through std::pow element by element, 1.0 so.
  const bool constant_exponent = is_floating(a.dtype()) && b.numel() == 1 && b.dim() <= a.dim() && !b.requires_grad();
  const double exponent = constant_exponent ? single_value(b) : 0.0;
  if (constant_exponent && exponent == 2.0) return square(a);
  if (constant_exponent && exponent == -1.0) return reciprocal(a);
  // float32 evaluated in double and rounded once, by the kernels or (other
  // layouts, TAPEGRAD_ELEMENTWISE=generic) the C library's double pow. A
  // constant 3 as x·x·x in double (x² exact) and 0.5 as the square root
  // (correctly rounded, pow's special values), both memory-bound: x.pow(3)
  // of [4096,1024] float32, one thread, 11.1 ms through the pow kernel,
  // 0.75-0.85 so (PyTorch 1.1); x.pow(0.5) 11.2 -> 0.8 (0.9). float64's
  // exponent 3, constant or not, as math_f64.inc's cube (Dekker's exact
  // products; the C library's pow took 35 ns per element).
  std::optional<Tensor> fast;
  if (constant_exponent && exponent == 3.0) fast = fast_unary(kernels::UnaryOp::Cube, a, "pow");
  if (constant_exponent && exponent == 0.5) fast = fast_unary(kernels::UnaryOp::SqrtPow, a, "pow");
  if (!fast) fast = fast_binary(kernels::BinaryOp::Pow, a, b, "pow");
  if (!fast && is_floating(a.dtype()) && elementwise_fast_paths()) {
    // Other layouts (a broadcast the kernels do not take, as an expanded
    // operand beside a strided one; fast_binary copies a strided operand
    // that is not expanded itself): both made contiguous at the output's
    // shape, so that every layout gives the kernel's bits, as unary ops do,
    // and faster than the generic loop's double pow ([4096,1024] float32
    // with a transposed base, one thread: 56.7 -> 16.6 ms).
    const Shape shape = broadcast_shapes(a.shape(), b.shape(), "pow");
    fast = fast_binary(kernels::BinaryOp::Pow, contiguous_data(expand(detach(a), shape)),
                       contiguous_data(expand(detach(b), shape)), "pow");
  }
  Tensor out = fast ? *std::move(fast) : visit_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, std::int32_t>)
      return binary_map<T, T>(a, b, a.dtype(), "pow", int_pow);
    else
      return binary_map<T, T>(a, b, a.dtype(), "pow", [](T x, T y) {
        // float64 as the kernels compute it (math_f64.inc: x³ its own).
        if constexpr (std::is_same_v<T, double>) return math::pow_f64(x, y);
        else return static_cast<T>(std::pow(static_cast<double>(x), static_cast<double>(y)));
      });
  });
  record("pow", {a, b}, out,
         [sa = SavedTensor(a), sb = SavedTensor(b),
          so = saved_output_if(b.requires_grad(), out)](const Grads& g, const Node& n) {
           Tensor x = sa.unpack(), y = sb.unpack();
           const Tensor zero = scalar(0, g[0].dtype()), one = scalar(1, g[0].dtype());
           Tensor ga, gb;
           // d/da = b·a^(b-1), taken as 0 where b == 0 (so 0^0 has gradient 0,
           // not 0·inf); for a single-value b, the branch it takes.
           if (n.needs_grad(0)) {
             if (y.numel() == 1 && single_value(y) == 0.0)
               ga = full(x.shape(), 0.0, g[0].dtype());
             else if (y.numel() == 1)
               ga = sum_to(mul(mul(g[0], y), pow(x, sub(y, one))), x.shape());
             else
               ga = sum_to(where(eq(y, zero), zero, mul(mul(g[0], y), pow(x, sub(y, one)))), x.shape());
           }
           // d/db = a^b·log(a), taken as 0 where a == 0 and b >= 0 (the limit; log(0) would give NaN).
           if (n.needs_grad(1)) {
             const Tensor at_zero = mul(eq(x, zero), ge(y, zero));
             gb = sum_to(where(at_zero, zero, mul(g[0], mul(so.unpack(&n), log(x)))), y.shape());
           }
           return Grads{ga, gb};
         });
  return out;
}

Tensor maximum(const Tensor& a0, const Tensor& b0) {
  auto [a, b] = promoted(a0, b0);
  Tensor out = extremum<true>(a, b, "maximum");
  record("maximum", {a, b}, out, [sa = SavedTensor(a), sb = SavedTensor(b)](const Grads& g, const Node& n) {
    return extremum_backward(g[0], sa.unpack(), sb.unpack(), n, true);
  });
  return out;
}

Tensor minimum(const Tensor& a0, const Tensor& b0) {
  auto [a, b] = promoted(a0, b0);
  Tensor out = extremum<false>(a, b, "minimum");
  record("minimum", {a, b}, out, [sa = SavedTensor(a), sb = SavedTensor(b)](const Grads& g, const Node& n) {
    return extremum_backward(g[0], sa.unpack(), sb.unpack(), n, false);
  });
  return out;
}

Tensor remainder(const Tensor& a, const Tensor& b) { return modulo<true>(a, b, "remainder"); }
Tensor fmod(const Tensor& a, const Tensor& b) { return modulo<false>(a, b, "fmod"); }

Tensor eq(const Tensor& a, const Tensor& b) {
  return compare(a, b, kernels::BinaryOp::Eq, "eq", [](auto x, auto y) { return x == y; });
}
Tensor ne(const Tensor& a, const Tensor& b) {
  return compare(a, b, kernels::BinaryOp::Ne, "ne", [](auto x, auto y) { return x != y; });
}
Tensor lt(const Tensor& a, const Tensor& b) {
  return compare(a, b, kernels::BinaryOp::Lt, "lt", [](auto x, auto y) { return x < y; });
}
Tensor le(const Tensor& a, const Tensor& b) {
  return compare(a, b, kernels::BinaryOp::Le, "le", [](auto x, auto y) { return x <= y; });
}
Tensor gt(const Tensor& a, const Tensor& b) {
  return compare(a, b, kernels::BinaryOp::Gt, "gt", [](auto x, auto y) { return x > y; });
}
Tensor ge(const Tensor& a, const Tensor& b) {
  return compare(a, b, kernels::BinaryOp::Ge, "ge", [](auto x, auto y) { return x >= y; });
}

namespace {

// where(cond, a, b) for a and b of one dtype, at `shape` (all three
// broadcast to it, checked by the caller); `op` names the backward node.
Tensor select(const char* op, const Tensor& cond, const Tensor& a, const Tensor& b, const Shape& shape) {
  Tensor out = empty(shape, a.dtype(), op);
  const Shape sc = broadcast_strides(cond, shape), sa = broadcast_strides(a, shape), sb = broadcast_strides(b, shape);
  const Shape& so = out.strides();
  visit_dtype(cond.dtype(), [&](auto cond_tag) {
    using C = decltype(cond_tag);
    visit_dtype(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const C* pc = static_cast<const C*>(cond.storage().data);
      const T* pa = static_cast<const T*>(a.storage().data);
      const T* pb = static_cast<const T*>(b.storage().data);
      T* po = out.data<T>();
      // Rows split across the pool (out is fresh); the common rows (every
      // operand contiguous along the row, or one value a repeated number)
      // as plain indexed loops reading both values, so that the choice is a
      // select and the loop vectorises (a branch on a random mask
      // mispredicts half the time: [4096,1024], one thread, 20 -> 2.2 ms).
      parallel_for_each_row<4>(
          shape, {&sc, &sa, &sb, &so}, {cond.offset(), a.offset(), b.offset(), 0}, runtime::kElementwiseGrain,
          [&](const auto& off, std::int64_t n, const auto& in) {
            const C* c = pc + off[0];
            const T *x = pa + off[1], *y = pb + off[2];
            T* o = po + off[3];
            if (in[0] == 1 && in[3] == 1 && in[1] == 1 && in[2] == 1) {
              for (std::int64_t i = 0; i < n; ++i) {
                const T xi = x[i], yi = y[i];
                o[i] = c[i] != C(0) ? xi : yi;
              }
            } else if (in[0] == 1 && in[3] == 1 && in[1] == 1 && in[2] == 0) {
              const T yv = *y;
              for (std::int64_t i = 0; i < n; ++i) {
                const T xi = x[i];
                o[i] = c[i] != C(0) ? xi : yv;
              }
            } else if (in[0] == 1 && in[3] == 1 && in[1] == 0 && in[2] == 1) {
              const T xv = *x;
              for (std::int64_t i = 0; i < n; ++i) {
                const T yi = y[i];
                o[i] = c[i] != C(0) ? xv : yi;
              }
            } else {
              for (std::int64_t i = 0; i < n; ++i) o[i * in[3]] = c[i * in[0]] != C(0) ? x[i * in[1]] : y[i * in[2]];
            }
          });
    });
  });
  record(op, {a, b}, out, [sc = SavedTensor(cond), sa = a.shape(), sb = b.shape()](const Grads& g, const Node& n) {
    const Tensor c = sc.unpack(), zero = scalar(0, g[0].dtype());
    return Grads{n.needs_grad(0) ? sum_to(where(c, g[0], zero), sa) : Tensor(),
                 n.needs_grad(1) ? sum_to(where(c, zero, g[0]), sb) : Tensor()};
  });
  return out;
}

}  // namespace

Tensor where(const Tensor& cond, const Tensor& a0, const Tensor& b0) {
  auto [a, b] = promoted(a0, b0);
  Shape shape;
  try {
    shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  } catch (const Error&) {
    throw_range_error("where: shapes ", shape_str(cond.shape()), " (condition), ", shape_str(a.shape()), " (input) and ",
                      shape_str(b.shape()), " (other) cannot be broadcast together");
  }
  return select("where", cond, a, b, shape);
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, const Tensor& value) {
  if (value.dim() != 0)
    throw_range_error("maskedFill: value must be a number or a 0-d tensor, got a tensor of shape ",
                      shape_str(value.shape()));
  // The mask and the input broadcast together, as PyTorch's out-of-place
  // masked_fill (its in-place masked_fill_ broadcasts only the mask).
  Shape shape;
  try {
    shape = broadcast_shapes(mask.shape(), x.shape(), "maskedFill");
  } catch (const Error&) {
    throw_range_error("maskedFill: mask of shape ", shape_str(mask.shape()), " and input of shape ",
                      shape_str(x.shape()), " cannot be broadcast together");
  }
  // An int32 input takes the value truncated toward zero, as PyTorch's.
  if (!is_floating(x.dtype()) && is_floating(value.dtype())) {
    const double v = single_value(value);
    if (!(v > -2147483649.0 && v < 2147483648.0))
      throw_range_error("maskedFill: value ", v, " does not fit in the int32 input; int32 holds whole numbers in ",
                        "[-2147483648, 2147483647]");
  }
  return select("maskedFill", mask, cast(value, x.dtype()), x, shape);
}

void add_inplace(const Tensor& a, const Tensor& b) {
  arithmetic_inplace(a, b, InPlace::Add, kernels::BinaryOp::Add, "addInPlace", [](auto x, auto y) { return x + y; });
}
void sub_inplace(const Tensor& a, const Tensor& b) {
  arithmetic_inplace(a, b, InPlace::Sub, kernels::BinaryOp::Sub, "subInPlace", [](auto x, auto y) { return x - y; });
}
void mul_inplace(const Tensor& a, const Tensor& b) {
  arithmetic_inplace(a, b, InPlace::Mul, kernels::BinaryOp::Mul, "mulInPlace", [](auto x, auto y) { return x * y; });
}
void copy_inplace(const Tensor& dst, const Tensor& src) {
  arithmetic_inplace(dst, src, InPlace::Copy, std::nullopt, "copyFrom", [](auto, auto y) { return y; });
}
void fill_inplace(const Tensor& dst, const Tensor& value) {
  if (value.dim() != 0)
    throw_range_error("fill: value must be a number or a 0-d tensor, got a tensor of shape ", shape_str(value.shape()));
  arithmetic_inplace(dst, value, InPlace::Copy, std::nullopt, "fill", [](auto, auto y) { return y; });
}

}  // namespace tapegrad::ops
