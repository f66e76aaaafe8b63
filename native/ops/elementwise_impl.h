// The loop behind every elementwise op: broadcast the operands, promote to
// one dtype, then run a per-element function over any strides, split across
// the pool when large (f must be a pure function of its arguments: each
// element is computed once, on whichever thread). Only op families include
// this file.
#pragma once

#include <array>

#include "core/strided.h"
#include "ops/common.h"
#include "runtime/error.h"
#include "runtime/parallel.h"

namespace tapegrad::ops {

// out[i] = f(a[i], b[i]) with a, b of dtype In broadcast to one shape.
template <typename In, typename Out, typename F>
Tensor binary_map(const Tensor& a, const Tensor& b, DType out_dtype, const char* op, F f) {
  const Shape shape = a.shape() == b.shape() ? a.shape() : broadcast_shapes(a.shape(), b.shape(), op);
  Tensor out = empty(shape, out_dtype, op);
  const In* pa = static_cast<const In*>(a.storage().data);
  const In* pb = static_cast<const In*>(b.storage().data);
  Out* po = out.data<Out>();
  if (a.shape() == shape && b.shape() == shape && a.is_contiguous() && b.is_contiguous()) {
    pa += a.offset();
    pb += b.offset();
    runtime::parallel_for(0, out.numel(), runtime::kElementwiseGrain, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) po[i] = f(pa[i], pb[i]);
    });
    return out;
  }
  const Shape sa = broadcast_strides(a, shape), sb = broadcast_strides(b, shape);
  const Shape& so = out.strides();
  parallel_for_each_row<3>(shape, {&sa, &sb, &so}, {a.offset(), b.offset(), 0}, runtime::kElementwiseGrain,
                           [&](const auto& off, std::int64_t n, const auto& in) {
                             for (std::int64_t i = 0; i < n; ++i)
                               po[off[2] + i * in[2]] = f(pa[off[0] + i * in[0]], pb[off[1] + i * in[1]]);
                           });
  return out;
}

// out[i] = f(a[i]).
template <typename In, typename Out, typename F>
Tensor unary_map(const Tensor& a, DType out_dtype, const char* op, F f) {
  Tensor out = empty(a.shape(), out_dtype, op);
  const In* pa = static_cast<const In*>(a.storage().data);
  Out* po = out.data<Out>();
  if (a.is_contiguous()) {
    pa += a.offset();
    runtime::parallel_for(0, out.numel(), runtime::kElementwiseGrain, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) po[i] = f(pa[i]);
    });
    return out;
  }
  const Shape& so = out.strides();
  parallel_for_each_row<2>(a.shape(), {&a.strides(), &so}, {a.offset(), 0}, runtime::kElementwiseGrain,
                           [&](const auto& off, std::int64_t n, const auto& in) {
                             for (std::int64_t i = 0; i < n; ++i) po[off[1] + i * in[1]] = f(pa[off[0] + i * in[0]]);
                           });
  return out;
}

// a[i] = f(a[i], b[i]) with b broadcast to a's shape (the caller checked it broadcasts).
template <typename T, typename F>
void inplace_map(const Tensor& a, const Tensor& b, F f) {
  const Shape& shape = a.shape();
  T* pa = static_cast<T*>(a.storage().data);
  const T* pb = static_cast<const T*>(b.storage().data);
  const Shape sb = broadcast_strides(b, shape);
  for_each_row<2>(shape, {&a.strides(), &sb}, {a.offset(), b.offset()}, [&](const auto& off, std::int64_t n, const auto& in) {
    for (std::int64_t i = 0; i < n; ++i) {
      T& x = pa[off[0] + i * in[0]];
      x = f(x, pb[off[1] + i * in[1]]);
    }
  });
}

}  // namespace tapegrad::ops
