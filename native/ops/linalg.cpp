#include "ops/linalg.h"

#include <algorithm>
#include <array>
#include <numeric>
#include <type_traits>
#include <vector>

#include "core/autograd.h"
#include "core/schedule.h"
#include "core/strided.h"
#include "kernels/kernels.h"
#include "ops/common.h"
#include "ops/elementwise.h"
#include "ops/shape.h"
#include "ops/unary.h"
#include "runtime/error.h"
#include "runtime/parallel.h"

namespace tapegrad::ops {

namespace {

using i64 = std::int64_t;

// C = A·B, or C += A·B when `accumulate`, for one matrix: A is rows×k, B is
// k×cols (any strides), C is row-major with row stride c_rs.
template <typename T>
void product(i64 rows, i64 cols, i64 k, const T* a, i64 a_rs, i64 a_cs, const T* b, i64 b_rs, i64 b_cs,
             bool accumulate, T* c, i64 c_rs) {
  if (rows == 0 || cols == 0) return;
  if (k == 0) {  // an empty sum: nothing to read from A or B
    if (!accumulate)
      for (i64 i = 0; i < rows; ++i)
        for (i64 j = 0; j < cols; ++j) c[i * c_rs + j] = T(0);
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    kernels::active().gemm_f32(rows, cols, k, 1.0f, a, a_rs, a_cs, b, b_rs, b_cs, accumulate ? 1.0f : 0.0f, c, c_rs, 1);
  } else if constexpr (std::is_same_v<T, double>) {
    kernels::active().gemm_f64(rows, cols, k, 1.0, a, a_rs, a_cs, b, b_rs, b_cs, accumulate ? 1.0 : 0.0, c, c_rs, 1);
  } else {
    // int32 wraps modulo 2^32 like PyTorch's integer matmul; unsigned math keeps that defined in C++.
    for (i64 i = 0; i < rows; ++i)
      for (i64 j = 0; j < cols; ++j) {
        std::uint32_t acc = accumulate ? static_cast<std::uint32_t>(c[i * c_rs + j]) : 0u;
        for (i64 p = 0; p < k; ++p)
          acc += static_cast<std::uint32_t>(a[i * a_rs + p * a_cs]) * static_cast<std::uint32_t>(b[p * b_rs + j * b_cs]);
        c[i * c_rs + j] = static_cast<std::int32_t>(acc);
      }
  }
}

// How many products of `macs` multiply-adds each one chunk of a parallel
// loop over them takes: all of them where each product is big enough to
// split itself across the threads, else enough to pay for waking a thread.
i64 products_per_chunk(double macs, i64 count) {
  if (macs >= kernels::kGemmParallelMinMacs) return count;
  return std::max<i64>(1, static_cast<i64>(kernels::kGemmParallelMinMacs / std::max(macs, 1.0)));
}

// The batch elements grouped by one operand's offset (0: A, 1: B), so that
// the elements of a group share that operand's matrix, at shared[g]. `order`
// lists the elements group by group (batch order within a group); group g
// is order[starts[g]] up to order[starts[g + 1]].
struct SharedGroups {
  int operand;
  std::vector<i64> order, starts, shared;
  i64 count() const { return static_cast<i64>(shared.size()); }
};

SharedGroups group_by_operand(const std::vector<std::array<i64, 3>>& offsets, int operand) {
  SharedGroups g{operand, std::vector<i64>(offsets.size()), {}, {}};
  std::iota(g.order.begin(), g.order.end(), i64{0});
  const auto key = [&](i64 e) { return offsets[static_cast<std::size_t>(e)][static_cast<std::size_t>(operand)]; };
  std::stable_sort(g.order.begin(), g.order.end(), [&](i64 x, i64 y) { return key(x) < key(y); });
  for (std::size_t i = 0; i < g.order.size(); ++i) {
    if (i > 0 && key(g.order[i]) == g.shared.back()) continue;
    g.starts.push_back(static_cast<i64>(i));
    g.shared.push_back(key(g.order[i]));
  }
  g.starts.push_back(static_cast<i64>(g.order.size()));
  return g;
}

// product() for every element of a batch (offsets[e] = {A, B, C offsets}, C
// row-major with row stride cols) where elements share an operand's matrix
// (a weight broadcast over all or some of the batch dims): the elements are
// grouped by the shared matrix and each group runs as one batched GEMM,
// which packs each block of that matrix once for the whole group instead
// of once per element. False, having done nothing, where no two elements
// share an operand or the kernel leaves such products to one call each
// (they take its unpacked path).
template <typename T>
bool shared_operand_products(const std::vector<std::array<i64, 3>>& offsets, i64 rows, i64 cols, i64 k, const T* a,
                             i64 a_rs, i64 a_cs, const T* b, i64 b_rs, i64 b_cs, bool accumulate, T* c) {
  const T beta = accumulate ? T(1) : T(0);
  const auto& table = kernels::active();
  const auto kernel = kernel_for<T>(table.gemm_batch_f32, table.gemm_batch_f64);
  const auto gemm_batch = [&](i64 count, const T* a0, const i64* a_off, const T* b0, const i64* b_off,
                              const i64* c_off) {
    return kernel(count, rows, cols, k, T(1), a0, a_off, a_rs, a_cs, b0, b_off, b_rs, b_cs, beta, c, c_off, cols, 1);
  };
  // Asked about no elements, the kernel says whether it takes products of
  // this shape and layout at all (its answer is the same for every group).
  const i64 no_offsets = 0;
  if (!gemm_batch(0, a, nullptr, b, &no_offsets, &no_offsets)) return false;

  // Share the operand that saves the most packing: every element of a group
  // after the first reuses the group's packed matrix. (None with k == 0:
  // product() writes the empty sums.)
  const i64 count = static_cast<i64>(offsets.size());
  const SharedGroups by_a = group_by_operand(offsets, 0), by_b = group_by_operand(offsets, 1);
  const double saved_a = static_cast<double>(count - by_a.count()) * static_cast<double>(rows * k);
  const double saved_b = static_cast<double>(count - by_b.count()) * static_cast<double>(k * cols);
  if (saved_a == 0 && saved_b == 0) return false;
  const SharedGroups& groups = saved_a >= saved_b ? by_a : by_b;
  const bool shared_a = groups.operand == 0;

  // The other operand's and C's offsets, group by group.
  std::vector<i64> own_off(offsets.size()), c_off(offsets.size());
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    const auto& o = offsets[static_cast<std::size_t>(groups.order[i])];
    own_off[i] = o[shared_a ? 1 : 0];
    c_off[i] = o[2];
  }
  const double group_macs = static_cast<double>(count) / static_cast<double>(groups.count()) *
                            static_cast<double>(rows) * static_cast<double>(cols) * static_cast<double>(k);
  runtime::parallel_for(0, groups.count(), products_per_chunk(group_macs, groups.count()), [&](i64 begin, i64 end) {
    for (i64 g = begin; g < end; ++g) {
      const std::size_t gi = static_cast<std::size_t>(g);
      const i64 first = groups.starts[gi], size = groups.starts[gi + 1] - first, shared = groups.shared[gi];
      // Taken, as the kernel said above.
      if (shared_a) gemm_batch(size, a + shared, nullptr, b, own_off.data() + first, c_off.data() + first);
      else gemm_batch(size, a, own_off.data() + first, b + shared, nullptr, c_off.data() + first);
    }
  });
  return true;
}

// Whether the dims before the last one of `t` can be read as a single dim of
// rows, and that dim's stride. Lets a stack of matrices times one matrix run
// as a single GEMM instead of one per batch element.
bool merged_rows(const Tensor& t, i64& stride) {
  const i64 nd = t.dim();
  stride = nd >= 2 ? t.strides()[nd - 2] : 0;
  bool first = true;
  i64 expected = 0;
  for (i64 d = nd - 2; d >= 0; --d) {
    const i64 size = t.shape()[d];
    if (size == 1) continue;  // a size-1 dim's stride is never used
    if (first) {
      stride = t.strides()[d];
      first = false;
    } else if (t.strides()[d] != expected) {
      return false;
    }
    expected = t.strides()[d] * size;
  }
  return true;
}

// Whether the kernel takes the same path (kernels.h, gemm_route) for a
// product of `rows` rows of A, `a_rs` apart, as for one of `total` rows
// `total_rs` apart, into a row-major C. Integer products are exact in any
// order.
template <typename T>
bool same_gemm_route(i64 rows, i64 a_rs, i64 total, i64 total_rs, i64 cols, i64 k, i64 a_cs, i64 b_rs, i64 b_cs) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    const auto& table = kernels::active();
    const auto route = kernel_for<T>(table.gemm_route_f32, table.gemm_route_f64);
    return route(rows, cols, k, a_rs, a_cs, b_rs, b_cs, cols, 1) ==
           route(total, cols, k, total_rs, a_cs, b_rs, b_cs, cols, 1);
  } else {
    return true;
  }
}

i64 rows_of(const Shape& s) {
  i64 rows = 1;
  for (std::size_t d = 0; d + 1 < s.size(); ++d) rows *= s[d];
  return rows;
}

// Strides of a ≥2-D tensor's batch dims read as `batch` (0 where it broadcasts).
Shape batch_strides(const Tensor& t, const Shape& batch) {
  const std::size_t nb = batch.size(), tb = t.shape().size() - 2;
  Shape s(nb, 0);
  for (std::size_t i = 0; i < tb; ++i) s[nb - tb + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  return s;
}

// Batch dims of two ≥2-D shapes broadcast together; the message shows the
// operands' shapes as the user passed them.
Shape broadcast_batch(const Shape& a2, const Shape& b2, const Shape& a, const Shape& b, const char* op) {
  const Shape ba(a2.begin(), a2.end() - 2), bb(b2.begin(), b2.end() - 2);
  const std::size_t n = std::max(ba.size(), bb.size());
  Shape out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const i64 da = i < n - ba.size() ? 1 : ba[i - (n - ba.size())];
    const i64 db = i < n - bb.size() ? 1 : bb[i - (n - bb.size())];
    if (da != db && da != 1 && db != 1)
      throw_range_error(op, ": the batch dims of shapes ", shape_str(a), " and ", shape_str(b),
                        " cannot be broadcast together (", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// out (contiguous, laid out as batch + [n, m]) = a·b for each batch element.
// a and b are ≥2-D with batch dims that broadcast to `batch`.
void batched_product(const Tensor& a, const Tensor& b, const Shape& batch, const Tensor& out, bool accumulate) {
  if (out.numel() == 0) return;
  const i64 na = a.dim(), nb = b.dim();
  const i64 n = a.shape()[na - 2], k = a.shape()[na - 1], m = b.shape()[nb - 1];
  const i64 a_rs = a.strides()[na - 2], a_cs = a.strides()[na - 1];
  const i64 b_rs = b.strides()[nb - 2], b_cs = b.strides()[nb - 1];
  visit_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* po = out.data<T>();
    i64 rows_stride = 0;
    // Only where the kernel takes the same path for one element and for all
    // the rows (kernels.h, gemm_route): one row alone is a matrix-vector
    // product, and a deep product of a few rows may take the direct path's
    // depth blocks, each adding up in another order than the tiles of the
    // whole stack would; the batched kernel below keeps each element's
    // order.
    if (nb == 2 && merged_rows(a, rows_stride) &&
        same_gemm_route<T>(n, a_rs, rows_of(a.shape()), rows_stride, m, k, a_cs, b_rs, b_cs)) {
      product<T>(rows_of(a.shape()), m, k, pa, rows_stride, a_cs, pb, b_rs, b_cs, accumulate, po, m);
      return;
    }
    const Shape sa = batch_strides(a, batch), sb = batch_strides(b, batch);
    Shape so = contiguous_strides(batch);
    for (i64& s : so) s *= n * m;
    // The operands' offsets of every product, so that products too small to
    // split their own tiles (attention scores, per head) run side by side.
    std::vector<std::array<i64, 3>> offsets;
    for_each_row<3>(batch, {&sa, &sb, &so}, {0, 0, 0}, [&](const auto& off, i64 count, const auto& in) {
      for (i64 i = 0; i < count; ++i) offsets.push_back({off[0] + i * in[0], off[1] + i * in[1], off[2] + i * in[2]});
    });
    if constexpr (std::is_floating_point_v<T>) {
      if (offsets.size() > 1 &&
          shared_operand_products<T>(offsets, n, m, k, pa, a_rs, a_cs, pb, b_rs, b_cs, accumulate, po))
        return;
    }
    const double macs = static_cast<double>(n) * static_cast<double>(m) * static_cast<double>(k);
    const i64 count = static_cast<i64>(offsets.size());
    runtime::parallel_for(0, count, products_per_chunk(macs, count), [&](i64 begin, i64 end) {
      for (i64 i = begin; i < end; ++i) {
        const auto& o = offsets[static_cast<std::size_t>(i)];
        product<T>(n, m, k, pa + o[0], a_rs, a_cs, pb + o[1], b_rs, b_cs, accumulate, po + o[2], m);
      }
    });
  });
}

Tensor matmul_impl(const Tensor& a, const Tensor& b, const char* op) {
  if (a.dim() == 0 || b.dim() == 0)
    throw_range_error(op, ": both arguments must be at least 1-D, got shapes ", shape_str(a.shape()), " and ",
                      shape_str(b.shape()));
  if (a.dtype() != b.dtype())
    throw_type_error(op, ": both arguments must have the same dtype, got ", dtype_name(a.dtype()), " and ",
                     dtype_name(b.dtype()));
  // A vector is a one-row matrix on the left and a one-column matrix on the
  // right; the added dim is left out of the result.
  const Tensor a2 = a.dim() == 1 ? make_view(a, {1, a.size(0)}, {0, a.strides()[0]}, a.offset()) : a;
  const Tensor b2 = b.dim() == 1 ? make_view(b, {b.size(0), 1}, {b.strides()[0], 0}, b.offset()) : b;
  const i64 k = a2.shape().back(), kb = b2.shape()[b2.shape().size() - 2];
  if (k != kb)
    throw_range_error(op, ": shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()), " cannot be multiplied (",
                      k, " vs ", kb, ")");
  const Shape batch = broadcast_batch(a2.shape(), b2.shape(), a.shape(), b.shape(), op);
  const i64 n = a2.shape()[a2.shape().size() - 2], m = b2.shape().back();
  Shape shape = batch, shape2 = batch;
  if (a.dim() > 1) shape.push_back(n);
  if (b.dim() > 1) shape.push_back(m);
  shape2.push_back(n);
  shape2.push_back(m);
  Tensor out = empty(shape, a.dtype(), op);
  batched_product(a2, b2, batch, out, false);

  // dA reads B and dB reads A: each is kept only for the other's gradient.
  record(op, {a, b}, out,
         [sa = saved_if(b.requires_grad(), a), sb = saved_if(a.requires_grad(), b), a_shape = a.shape(),
          b_shape = b.shape(), as = a2.shape(), bs = b2.shape(), os = shape2](const Grads& g, const Node& node) {
           const Tensor go = reshape(g[0], os);
           Tensor ga, gb;
           // dA = g·Bᵀ and dB = Aᵀ·g, summed over the batch dims each operand was broadcast along.
           auto grad_a = [&] {
             if (node.needs_grad(0))
               ga = reshape(sum_to(matmul(go, transpose(reshape(sb.unpack(), bs), -1, -2)), as), a_shape);
           };
           auto grad_b = [&] {
             if (!node.needs_grad(1)) return;
             const Tensor x = reshape(sa.unpack(), as);
             if (bs.size() == 2 && as.size() > 2) {
               // B was shared by every batch element: fold the batch into the rows so one GEMM also does the sum.
               const i64 rows = rows_of(as);
               gb = matmul(transpose(reshape(x, {rows, as.back()}), 0, 1), reshape(go, {rows, bs.back()}));
             } else {
               gb = sum_to(matmul(transpose(x, -1, -2), go), bs);
             }
             gb = reshape(gb, b_shape);
           };
           if (node.needs_grad(0) && node.needs_grad(1))
             run_side_by_side(2.0 * static_cast<double>(go.numel()) * static_cast<double>(as.back()), grad_a, grad_b);
           else
             grad_a(), grad_b();
           return Grads{ga, gb};
         });
  return out;
}

// Whether `from` broadcasts to exactly `to`.
bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  const std::size_t lead = to.size() - from.size();
  for (std::size_t i = 0; i < from.size(); ++i)
    if (from[i] != 1 && from[i] != to[lead + i]) return false;
  return true;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) { return matmul_impl(a, b, "matmul"); }

Tensor dot(const Tensor& a, const Tensor& b) {
  if (a.dim() != 1 || b.dim() != 1)
    throw_range_error("dot: both arguments must be 1-D, got shapes ", shape_str(a.shape()), " and ",
                      shape_str(b.shape()));
  return matmul_impl(a, b, "dot");
}

Tensor outer(const Tensor& a, const Tensor& b) {
  if (a.dim() != 1 || b.dim() != 1)
    throw_range_error("outer: both arguments must be 1-D, got shapes ", shape_str(a.shape()), " and ",
                      shape_str(b.shape()));
  return mul(reshape(a, {a.size(0), 1}), reshape(b, {1, b.size(0)}));
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias, bool relu_after) {
  if (x.dim() == 0) throw_range_error("linear: input must be at least 1-D, got shape []");
  if (w.dim() != 1 && w.dim() != 2)
    throw_range_error("linear: weight must be 2-D [out_features, in_features] or 1-D, got shape ",
                      shape_str(w.shape()));
  if (x.dtype() != w.dtype())
    throw_type_error("linear: input and weight must have the same dtype, got ", dtype_name(x.dtype()), " and ",
                     dtype_name(w.dtype()));
  if (bias.defined() && bias.dtype() != x.dtype())
    throw_type_error("linear: bias must have the input's dtype ", dtype_name(x.dtype()), ", got ",
                     dtype_name(bias.dtype()));
  const i64 in = x.shape().back();
  if (w.shape().back() != in)
    throw_range_error("linear: input of shape ", shape_str(x.shape()), " does not match weight of shape ",
                      shape_str(w.shape()), " (in_features ", in, " vs ", w.shape().back(), ")");
  Shape shape(x.shape().begin(), x.shape().end() - 1);
  if (w.dim() == 2) shape.push_back(w.size(0));
  if (bias.defined() && !broadcasts_to(bias.shape(), shape))
    throw_range_error("linear: bias of shape ", shape_str(bias.shape()), " cannot be broadcast to the output shape ",
                      shape_str(shape));
  if (w.dim() == 1 || !is_floating(x.dtype())) {
    const Tensor y0 = matmul_impl(x, w.dim() == 2 ? transpose(w, 0, 1) : w, "linear");
    const Tensor y = bias.defined() ? add(y0, bias) : y0;
    return relu_after ? relu(y) : y;
  }

  // One GEMM over all rows, accumulating onto the bias copied into the output.
  const i64 out_f = w.size(0), rows = rows_of(x.shape());
  Tensor out = empty(shape, x.dtype(), "linear");
  if (out.numel() > 0) {
    i64 x_rs = 0;
    const Tensor xs = merged_rows(x, x_rs) ? x : contiguous_data(x);
    if (!xs.same(x)) x_rs = in;
    // The bias broadcast to the output's shape, copied in (rows copied or filled), for the GEMM to add onto.
    if (bias.defined()) copy_elements(make_view(bias, shape, broadcast_strides(bias, shape), bias.offset()), out);
    visit_floating(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* po = out.data<T>();
      product<T>(rows, out_f, in, xs.data<T>(), x_rs, xs.strides().back(), w.data<T>(), w.strides()[1], w.strides()[0],
                 bias.defined(), po, out_f);
    });
    // ReLU right after the product, in the same op (a layer's output is
    // still in cache): relu()'s values, recorded below as this op's.
    if (relu_after) out = relu_values(out);
  }
  record(relu_after ? "linearRelu" : "linear", {x, w, bias}, out,
         [sx = saved_if(w.requires_grad(), x), sw = saved_if(x.requires_grad(), w),
          sy = relu_after ? SavedTensor::output(out) : SavedTensor(), bias_shape = bias.defined() ? bias.shape() : Shape{},
          rows, in, out_f, relu_after](const Grads& g_out, const Node& node) {
           // Through the ReLU first, as relu()'s own backward (from its output).
           const Grads g{relu_after ? relu_backward(g_out[0], sy.unpack(&node)) : g_out[0]};
           Tensor gx, gw, gb;
           auto grad_x = [&] {
             if (node.needs_grad(0)) gx = matmul(g[0], sw.unpack());
           };
           auto grad_w = [&] {
             if (node.needs_grad(1))
               gw = matmul(transpose(reshape(g[0], {rows, out_f}), 0, 1), reshape(sx.unpack(), {rows, in}));
           };
           if (node.needs_grad(0) && node.needs_grad(1))
             run_side_by_side(2.0 * static_cast<double>(rows) * static_cast<double>(out_f) * static_cast<double>(in),
                              grad_x, grad_w);
           else
             grad_x(), grad_w();
           if (node.needs_grad(2)) gb = sum_to(g[0], bias_shape);
           return Grads{gx, gw, gb};
         });
  return out;
}

}  // namespace tapegrad::ops
