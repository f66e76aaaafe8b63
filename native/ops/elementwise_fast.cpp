#include "ops/elementwise_fast.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "core/strided.h"
#include "ops/common.h"
#include "runtime/cpu_features.h"
#include "runtime/parallel.h"

namespace tapegrad::ops {

namespace {

using runtime::kElementwiseGrain;

// How one operand is read, row by row, for an output seen as rows × inner:
// row r starts at base + r * row_stride (base + (r mod period) * row_stride
// when the rows repeat with a period) and steps by `step` (0 or 1).
struct Access {
  std::int64_t row_stride = 0;
  std::int64_t step = 0;
  std::int64_t period = 0;  // 0: the rows do not repeat

  std::int64_t row_offset(std::int64_t r) const { return (period != 0 ? r % period : r) * row_stride; }
};

// True when `strides` (as broadcast to `shape`) read dims [from, to) as one
// contiguous block; dims of size 1 do not matter.
bool contiguous_span(const Shape& shape, const Shape& strides, std::size_t from, std::size_t to) {
  std::int64_t expected = 1;
  for (std::size_t d = to; d-- > from;) {
    if (shape[d] != 1 && strides[d] != expected) return false;
    expected *= shape[d];
  }
  return true;
}

// True when `strides` repeat one value over dims [from, to).
bool zero_span(const Shape& shape, const Shape& strides, std::size_t from, std::size_t to) {
  for (std::size_t d = from; d < to; ++d)
    if (shape[d] != 1 && strides[d] != 0) return false;
  return true;
}

// The access of an operand with broadcast strides `s` when the output splits
// at dim k into rows (dims before k) × inner (dims from k): full, a repeated
// row, a repeated column value, or one value; or a value per row that
// repeats over leading dims (a per-channel [C, 1, 1] operand of an
// [N, C, H, W] output: a conv bias, a batch norm's scale).
std::optional<Access> access_at(const Shape& shape, const Shape& s, std::size_t k, std::int64_t inner) {
  const std::size_t nd = shape.size();
  const bool rows_contig = contiguous_span(shape, s, 0, k), rows_zero = zero_span(shape, s, 0, k);
  const bool inner_contig = contiguous_span(shape, s, k, nd), inner_zero = zero_span(shape, s, k, nd);
  if (inner_contig && rows_zero) return Access{0, 1};
  if (inner_zero && rows_zero) return Access{0, 0};
  if (inner_contig && contiguous_span(shape, s, 0, nd)) return Access{inner, 1};
  if (inner_zero && rows_contig) return Access{1, 0};
  if (inner_zero)
    for (std::size_t j = 1; j < k; ++j)
      if (zero_span(shape, s, 0, j) && contiguous_span(shape, s, j, k)) {
        std::int64_t period = 1;
        for (std::size_t d = j; d < k; ++d) period *= shape[d];
        return Access{1, 0, period};
      }
  return std::nullopt;
}

std::int64_t bytes_of(const Tensor& t) { return t.numel() * static_cast<std::int64_t>(dtype_size(t.dtype())); }

// Elements per chunk of an op: a transcendental function per element splits
// from fewer elements than a pass over memory (runtime/parallel.h). Not exp
// (float32 about 0.2 ns an element, under twice an add's): split from 4096
// elements, its output was then half in the other core's cache for the
// consumer, a cheap op that does not split below 32768 (its gradient g·y
// among them): [32, 1024] exp forward and backward, two threads, 19 -> 13 µs
// (forward alone 6.1 -> 8.7). The gradients of tanh and sigmoid read y as
// well: they split as their forward ops, each thread reading the rows it
// wrote ([32, 1024] forward and backward 24 -> 19 µs).
std::int64_t grain_of(kernels::UnaryOp op) {
  using U = kernels::UnaryOp;
  switch (op) {
    case U::Log: case U::Tanh: case U::Sigmoid: case U::Gelu: case U::GeluTanh: case U::Silu:
    case U::Elu: case U::Softplus: case U::Sin: case U::Cos: case U::Log1p: case U::Expm1:
      return runtime::kTranscendentalGrain;
    default:
      return kElementwiseGrain;
  }
}
std::int64_t grain_of(kernels::BinaryOp op) {
  using B = kernels::BinaryOp;
  switch (op) {
    case B::GeluBackward: case B::GeluTanhBackward: case B::SiluBackward: case B::Pow: case B::Fmod: case B::Remainder:
    case B::TanhBackward: case B::SigmoidBackward:
      return runtime::kTranscendentalGrain;
    default:
      return kElementwiseGrain;
  }
}

template <typename T>
void run_binary(kernels::BinaryOp op, std::int64_t rows, std::int64_t inner, const T* pa, Access aa, const T* pb,
                Access ab, T* po, bool streaming) {
  const auto& table = kernels::active();
  const auto kernel = kernel_for<T>(table.binary_f32, table.binary_f64);
  if (rows == 1) {
    // One flat run: split it by elements.
    const kernels::Store store = streaming ? kernels::Store::Streamed : kernels::Store::Plain;
    runtime::parallel_for(0, inner, grain_of(op), [&](std::int64_t begin, std::int64_t end) {
      kernel(op, end - begin, pa + begin * aa.step, aa.step, pb + begin * ab.step, ab.step, po + begin, store);
    });
    return;
  }
  const std::int64_t grain = std::max<std::int64_t>(1, grain_of(op) / inner);
  // One kernel call per row, streamed without a fence each: one fence ends
  // each run of rows. (A fence per row made [4096,1024] + a bias 1.1 ms
  // instead of 0.65, and rows under 2 KiB slower streamed than plain; now
  // [65536,128] + a column takes 1.8 ms streamed, 2.2 plain.)
  const kernels::Store store = streaming ? kernels::Store::StreamedUnfenced : kernels::Store::Plain;
  runtime::parallel_for(0, rows, grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r)
      kernel(op, inner, pa + aa.row_offset(r), aa.step, pb + ab.row_offset(r), ab.step, po + r * inner, store);
    if (streaming) table.fence_streamed_stores();
  });
}

}  // namespace

bool elementwise_fast_paths() {
  static const bool enabled = [] {
    const char* mode = std::getenv("TAPEGRAD_ELEMENTWISE");
    return !(mode && std::strcmp(mode, "generic") == 0);
  }();
  return enabled;
}

namespace {

// A broadcast binary op laid out for the kernels: the output seen as
// rows × inner, each operand with its Access.
struct BinaryPlan {
  Shape shape;
  std::int64_t rows = 1, inner = 0;
  Access a, b;
};

// One operand's shape and strides: a tensor's, or those of its contiguous copy.
struct Layout {
  const Shape& shape;
  Shape strides;
};

std::optional<BinaryPlan> plan_layouts(const Layout& a, const Layout& b, const char* name) {
  BinaryPlan plan;
  if (a.shape == b.shape) {
    plan.shape = a.shape;
  } else {
    try {
      plan.shape = broadcast_shapes(a.shape, b.shape, name);
    } catch (...) {
      return std::nullopt;  // the generic path reports it
    }
  }
  const Shape& shape = plan.shape;
  const Shape sa = broadcast_strides(a.shape, a.strides, shape), sb = broadcast_strides(b.shape, b.strides, shape);
  const std::size_t nd = shape.size();
  std::int64_t numel = 1;
  for (std::int64_t s : shape) numel *= s;
  // The first split (k = 0 is one flat run) at which both operands have an access.
  std::int64_t rows = 1;
  for (std::size_t k = 0; k < (nd == 0 ? 1 : nd); ++k) {
    if (k > 0) rows *= shape[k - 1];
    const std::int64_t inner = rows == 0 ? 0 : numel / rows;
    const std::optional<Access> aa = access_at(shape, sa, k, inner), ab = access_at(shape, sb, k, inner);
    if (aa && ab) {
      plan.rows = rows;
      plan.inner = inner;
      plan.a = *aa;
      plan.b = *ab;
      return plan;
    }
  }
  return std::nullopt;
}

bool fast_dtypes(const Tensor& a, const Tensor& b) {
  return elementwise_fast_paths() && a.dtype() == b.dtype() && is_floating(a.dtype());
}

std::optional<BinaryPlan> plan_binary(const Tensor& a, const Tensor& b, const char* name) {
  if (!fast_dtypes(a, b)) return std::nullopt;
  return plan_layouts({a.shape(), a.strides()}, {b.shape(), b.strides()}, name);
}

// `streaming`: write the output with streaming stores (never in place: an
// output that is also an operand is in cache as it is read).
void run_plan(kernels::BinaryOp op, const BinaryPlan& plan, const Tensor& a, const Tensor& b, const Tensor& out,
              bool streaming) {
  if (plan.rows == 0 || plan.inner == 0) return;
  if (a.dtype() == DType::Float32)
    run_binary<float>(op, plan.rows, plan.inner, a.data<float>(), plan.a, b.data<float>(), plan.b, out.data<float>(),
                      streaming);
  else
    run_binary<double>(op, plan.rows, plan.inner, a.data<double>(), plan.a, b.data<double>(), plan.b,
                       out.data<double>(), streaming);
}

// Whether a strided operand the kernels cannot read as rows (a transpose, a
// permuted view) may be copied contiguous first (tiled and split across the
// pool, copy_elements), as fast_unary copies: one extra pass instead of the
// generic loop's element-by-element strides (a [1024, 1024] transpose plus
// a matrix, one thread: 9.6 ms so, 1.6 copied; PyTorch 6.8). Only an
// operand whose copy holds no more than its own elements: an expanded one
// (a stride 0) would grow to the output's size, and keeps the generic loop.
bool copyable(const Tensor& t) {
  if (t.is_contiguous()) return false;
  for (std::int64_t d = 0; d < t.dim(); ++d)
    if (t.size(d) > 1 && t.strides()[static_cast<std::size_t>(d)] == 0) return false;
  return true;
}

// Whether b is a's view exactly: the same memory, offset, shape and strides.
bool same_view(const Tensor& a, const Tensor& b) {
  return b.storage().data == a.storage().data && b.offset() == a.offset() && b.strides() == a.strides() &&
         b.shape() == a.shape();
}

// plan_binary; where there is no plan for the operands as they are, the
// plan for contiguous copies of the copyable ones, which are then made
// (a and b become the copies; one copy when both are the same view). No
// copy is made unless it gets a plan.
std::optional<BinaryPlan> plan_binary_copying(Tensor& a, Tensor& b, const char* name) {
  std::optional<BinaryPlan> plan = plan_binary(a, b, name);
  if (plan || !fast_dtypes(a, b)) return plan;
  const bool copy_a = copyable(a), copy_b = copyable(b);
  if (!copy_a && !copy_b) return plan;
  plan = plan_layouts({a.shape(), copy_a ? contiguous_strides(a.shape()) : a.strides()},
                      {b.shape(), copy_b ? contiguous_strides(b.shape()) : b.strides()}, name);
  if (!plan) return plan;
  const bool one_view = same_view(a, b);
  if (copy_a) a = copy_of(a, name);
  if (copy_b) b = one_view ? a : copy_of(b, name);
  return plan;
}

}  // namespace

std::optional<Tensor> fast_binary(kernels::BinaryOp op, const Tensor& a0, const Tensor& b0, const char* name) {
  Tensor a = a0, b = b0;
  const std::optional<BinaryPlan> plan = plan_binary_copying(a, b, name);
  if (!plan) return std::nullopt;
  Tensor out = empty(plan->shape, a.dtype(), name);
  run_plan(op, *plan, a, b, out, runtime::streams_output(bytes_of(a) + bytes_of(b) + bytes_of(out)));
  return out;
}

bool fast_binary_inplace(kernels::BinaryOp op, const Tensor& a, const Tensor& b0, const char* name) {
  if (!a.is_contiguous()) return false;
  if (b0.storage().data == a.storage().data && !same_view(a, b0))
    return false;  // b is some other view of a's memory: the generic loop's order applies
  Tensor a_view = a, b = b0;  // a is contiguous: never copied
  const std::optional<BinaryPlan> plan = plan_binary_copying(a_view, b, name);
  // a is read and written at the same positions only when it is the full operand.
  if (!plan || plan->shape != a.shape() || plan->a.step != 1 || plan->a.period != 0 ||
      (plan->rows > 1 && plan->a.row_stride != plan->inner))
    return false;
  run_plan(op, *plan, a, b, a, false);
  return true;
}

std::optional<Tensor> fast_unary(kernels::UnaryOp op, const Tensor& x, const char* name, double lo, double hi) {
  if (!elementwise_fast_paths() || !is_floating(x.dtype())) return std::nullopt;
  if (op == kernels::UnaryOp::Clamp && x.dtype() == DType::Float32 &&
      (static_cast<double>(static_cast<float>(lo)) != lo || static_cast<double>(static_cast<float>(hi)) != hi))
    return std::nullopt;  // a bound float cannot hold exactly: the generic clamp compares in double
  // A strided x (a transpose, a slice, a broadcast) is copied (tiled and split
  // across the pool, copy_elements) and computed in place: one extra pass, but
  // the vectorised kernel and its results for every layout. [64,8,128,128]
  // transposed, exp, one thread: 30.4 ms element by element through the C
  // library, 20.1 so (PyTorch 19.6).
  const bool copied = !x.is_contiguous();
  Tensor out = empty(x.shape(), x.dtype(), name);  // an allocation failure names the op
  if (copied) copy_elements(x, out);
  const std::int64_t n = x.numel();
  const bool streaming = !copied && runtime::streams_output(bytes_of(x) + bytes_of(out));
  const kernels::Store store = streaming ? kernels::Store::Streamed : kernels::Store::Plain;
  const auto& table = kernels::active();
  visit_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const auto kernel = kernel_for<T>(table.unary_f32, table.unary_f64);
    T* po = out.data<T>();
    const T* px = copied ? po : x.data<T>();
    const T l = static_cast<T>(lo), h = static_cast<T>(hi);
    runtime::parallel_for(0, n, grain_of(op), [&](std::int64_t begin, std::int64_t end) {
      kernel(op, end - begin, px + begin, po + begin, l, h, store);
    });
  });
  return out;
}

}  // namespace tapegrad::ops
