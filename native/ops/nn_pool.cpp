// 2-D pooling: maxPool2d and avgPool2d, as PyTorch's, on planes of
// [N, C, H, W] (or [C, H, W]) inputs. Each output reads a window of its
// plane; the backward rules are recorded ops (a scatter-add through the
// argmax, the adjoint of the average), so both have gradients of every order.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <type_traits>
#include <vector>

#include "core/autograd.h"
#include "core/strided.h"
#include "ops/common.h"
#include "ops/indexing.h"
#include "ops/nn.h"
#include "ops/reduce_fast.h"
#include "ops/shape.h"
#include "ops/window.h"
#include "runtime/error.h"
#include "runtime/parallel.h"

namespace tapegrad::ops {

namespace {

using i64 = std::int64_t;

// The window of one pooling op on one plane: sizes, steps, padding and
// dilation per spatial dim, the plane's size and the output's. An adaptive
// window (adaptive_avg_pool2d's) tiles the input into the output size given
// and uses none of the others.
struct Window {
  Pair kernel, stride, padding, dilation;
  Pair in, out;
  i64 planes;  // N·C
  bool adaptive = false;
};

// Outputs along one dim, as PyTorch's pooling_output_shape: with ceil_mode
// the last window may run past the end but must start inside the input or
// its left padding.
// Window arguments are at most kMaxWindowArg (as PyTorch's int), so these
// products fit: dilation·(k - 1) < 2^62.
i64 pooled_size(i64 in, i64 k, i64 pad, i64 stride, i64 dilation, bool ceil_mode) {
  const i64 span = in + 2 * pad - dilation * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  i64 out = (span >= 0 ? span / stride : -((-span + stride - 1) / stride)) + 1;
  // (out - 1)·stride >= in + pad, without the product.
  if (ceil_mode && out - 1 >= (in + pad + stride - 1) / stride) --out;
  return out;
}

inline constexpr i64 kMaxWindowArg = 2147483647;

// Planes per parallel chunk for `work` element visits per plane (in double:
// a huge window over an empty batch must not overflow).
i64 planes_grain(double work) {
  return static_cast<i64>(std::max(1.0, static_cast<double>(runtime::kElementwiseGrain) / std::max(work, 1.0)));
}

// Checks the input and the window arguments as PyTorch does, naming `op`.
Window plan(const Tensor& x, const Pair& kernel, const Pair& stride, const Pair& padding, const Pair& dilation,
            bool ceil_mode, const char* op) {
  check_image_input(x, op);
  const char* names[] = {"kernelSize", "stride", "dilation", "padding"};
  const Pair* pairs[] = {&kernel, &stride, &dilation, &padding};
  for (int a = 0; a < 4; ++a)
    for (const i64 v : *pairs[a]) {
      if (a < 3 && v <= 0) throw_range_error(op, ": ", names[a], " must be positive, got [", (*pairs[a])[0], ", ", (*pairs[a])[1], "]");
      if (v > kMaxWindowArg)
        throw_range_error(op, ": ", names[a], " must be at most ", kMaxWindowArg, ", got [", (*pairs[a])[0], ", ",
                          (*pairs[a])[1], "]");
    }
  for (int d = 0; d < 2; ++d)
    if (padding[d] < 0 || 2 * padding[d] > kernel[d])
      throw_range_error(op, ": padding must be between 0 and half the kernel size, got padding [", padding[0], ", ",
                        padding[1], "] for kernelSize [", kernel[0], ", ", kernel[1], "]");
  Window w{kernel, stride, padding, dilation, {x.size(x.dim() - 2), x.size(x.dim() - 1)}, {}, 1};
  for (i64 d = 0; d < x.dim() - 2; ++d) w.planes *= x.size(d);
  for (int d = 0; d < 2; ++d)
    w.out[d] = pooled_size(w.in[d], kernel[d], padding[d], stride[d], dilation[d], ceil_mode);
  if (w.out[0] < 1 || w.out[1] < 1)
    throw_range_error(op, ": the output would be ", std::max<i64>(w.out[0], 0), "x", std::max<i64>(w.out[1], 0),
                      " for input ", w.in[0], "x", w.in[1], ", kernelSize [", kernel[0], ", ", kernel[1],
                      "], padding [", padding[0], ", ", padding[1], "] and dilation [", dilation[0], ", ", dilation[1],
                      "]: too small");
  // With dilation above the input's size a window starting in the padding
  // can skip the input entirely (taps at -1 and 1 of one row): it has no
  // maximum and no tap to send a gradient to (PyTorch 1.13 wrote outside its
  // buffer). Only the first outputs start in the padding, and such a
  // dilation leaves at most a kernel of 2 and a padding of 1 there.
  for (int d = 0; d < 2; ++d)
    for (i64 o = 0; dilation[d] > w.in[d] && o < w.out[d] && o * stride[d] < padding[d]; ++o) {
      const i64 start = o * stride[d] - padding[d];
      if (start + (-start + dilation[d] - 1) / dilation[d] * dilation[d] >= w.in[d])
        throw_range_error(op, ": the window of output ", o, " along dim ", x.dim() - 2 + d, " (padding ", padding[d],
                          ", dilation ", dilation[d], ") covers no element of the input of size ", w.in[d]);
    }
  return w;
}

Shape pooled_shape(const Tensor& x, const Window& w) {
  Shape shape = x.shape();
  shape[shape.size() - 2] = w.out[0];
  shape[shape.size() - 1] = w.out[1];
  return shape;
}

// First in-bounds tap of a window starting at `start` (may be negative) and
// one past its last, along one dim, stepping by `dilation`.
struct Taps {
  i64 first, end;
};
Taps taps(i64 start, i64 k, i64 dilation, i64 in) {
  i64 first = start;
  if (first < 0) first += ((-first + dilation - 1) / dilation) * dilation;
  return {first, std::min(start + (k - 1) * dilation + 1, in)};
}

// Values and int32 argmax positions (h·W + w in the plane). As PyTorch's:
// the first largest value wins, a NaN wins over anything (the last NaN), and
// a window of -Infinity keeps its first in-bounds tap. A row of outputs at a
// time, tap by tap in window order, with selects instead of branches, so the
// inner loop vectorises (a window per output with a branch per tap took 6.6
// ms on [128, 16, 28, 28], window 2, one thread; this 1.0).
// Whether tap value v takes the place of `best`: larger, or NaN.
template <typename T>
inline bool replaces(T v, T best) {
  return v > best || v != v;
}
// best and at take v and its position where v replaces best: selected by bit
// masks, so that the scalar tail of a row does not branch on the data either
// (on random inputs GCC's branches there mispredicted: [4, 32, 28, 28],
// window 2, one thread, 67 µs, against 25 on the same input repeated).
template <typename T>
inline __attribute__((always_inline)) void take_if_replaces(T v, std::int32_t position, T& best,
                                                            std::int32_t& at) {
  using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  const U mask = U(0) - static_cast<U>(replaces(v, best));
  best = std::bit_cast<T>((std::bit_cast<U>(v) & mask) | (std::bit_cast<U>(best) & ~mask));
  const auto take = static_cast<std::int32_t>(mask);
  at = (position & take) | (at & ~take);
}

template <typename T>
void max_forward(const T* x, const Window& w, T* out, std::int32_t* index) {
  const i64 H = w.in[0], W = w.in[1], OH = w.out[0], OW = w.out[1];
  const i64 sw = w.stride[1];
  const double window = static_cast<double>(w.kernel[0]) * static_cast<double>(w.kernel[1]);
  if (w.kernel == Pair{2, 2} && w.stride == Pair{2, 2} && w.dilation == Pair{1, 1} && w.padding == Pair{0, 0} &&
      2 * OH <= H && 2 * OW <= W) {
    // The common 2×2 window at stride 2 with every tap inside: the four taps
    // of each output in one pass, in window order ([128, 32, 14, 14], one
    // thread: 2.0 ms through the general loops, whose work per row is four
    // passes over 7 outputs; 1.0 ms).
    runtime::parallel_for(0, w.planes, planes_grain(4.0 * static_cast<double>(OH) * static_cast<double>(OW)),
                          [&](i64 p0, i64 p1) {
                            for (i64 p = p0; p < p1; ++p)
                              for (i64 oh = 0; oh < OH; ++oh) {
                                const T* r0 = x + p * H * W + 2 * oh * W;
                                const T* r1 = r0 + W;
                                T* best = out + (p * OH + oh) * OW;
                                std::int32_t* at = index + (p * OH + oh) * OW;
                                const auto first = static_cast<std::int32_t>(2 * oh * W);
                                const auto width = static_cast<std::int32_t>(W);
                                for (i64 ow = 0; ow < OW; ++ow) {
                                  T b = r0[2 * ow];
                                  std::int32_t a = first + static_cast<std::int32_t>(2 * ow);
                                  const auto tap = [&](T v, std::int32_t position) __attribute__((always_inline)) {
                                    take_if_replaces(v, position, b, a);
                                  };
                                  const std::int32_t a0 = a;
                                  tap(r0[2 * ow + 1], a0 + 1);
                                  tap(r1[2 * ow], a0 + width);
                                  tap(r1[2 * ow + 1], a0 + width + 1);
                                  best[ow] = b;
                                  at[ow] = a;
                                }
                              }
                          });
    return;
  }
  // What does not depend on the plane or the output row, once: each output
  // column's first in-bounds tap, and each kernel column's outputs inside.
  std::vector<std::int32_t> first_column(static_cast<std::size_t>(OW));
  for (i64 ow = 0; ow < OW; ++ow)
    first_column[static_cast<std::size_t>(ow)] =
        static_cast<std::int32_t>(taps(ow * sw - w.padding[1], w.kernel[1], w.dilation[1], W).first);
  std::vector<Span> spans(static_cast<std::size_t>(w.kernel[1]));
  for (i64 j = 0; j < w.kernel[1]; ++j)
    spans[static_cast<std::size_t>(j)] = inside(j * w.dilation[1] - w.padding[1], sw, W, OW);
  runtime::parallel_for(0, w.planes, planes_grain(static_cast<double>(OH) * static_cast<double>(OW) * window),
                        [&](i64 p0, i64 p1) {
                          for (i64 p = p0; p < p1; ++p) {
                            const T* plane = x + p * H * W;
                            for (i64 oh = 0; oh < OH; ++oh) {
                              const Taps th = taps(oh * w.stride[0] - w.padding[0], w.kernel[0], w.dilation[0], H);
                              T* best = out + (p * OH + oh) * OW;
                              std::int32_t* at = index + (p * OH + oh) * OW;
                              const auto first_row = static_cast<std::int32_t>(th.first * W);
                              for (i64 ow = 0; ow < OW; ++ow) {
                                best[ow] = -std::numeric_limits<T>::infinity();
                                at[ow] = first_row + first_column[static_cast<std::size_t>(ow)];
                              }
                              for (i64 ih = th.first; ih < th.end; ih += w.dilation[0])
                                for (i64 j = 0; j < w.kernel[1]; ++j) {
                                  const i64 off = j * w.dilation[1] - w.padding[1];
                                  const Span span = spans[static_cast<std::size_t>(j)];
                                  const T* row = plane + ih * W;  // tap ow at row[ow·sw + off], off may be < 0
                                  const auto base = static_cast<std::int32_t>(ih * W + off);
                                  const auto tap = [&](i64 ow, i64 step) __attribute__((always_inline)) {
                                    take_if_replaces(row[ow * step + off], base + static_cast<std::int32_t>(ow * step),
                                                     best[ow], at[ow]);
                                  };
                                  // Stride 2 (most pools) as a constant: GCC then reads the
                                  // taps as two-element groups and vectorises.
                                  if (sw == 2)
                                    for (i64 ow = span.lo; ow < span.hi; ++ow) tap(ow, 2);
                                  else
                                    for (i64 ow = span.lo; ow < span.hi; ++ow) tap(ow, sw);
                                }
                            }
                          }
                        });
}

// Along one dim of an average window, as PyTorch's avg_pool2d: output o's
// in-bounds taps [lo, hi) and how many its divisor counts: the window clipped
// to the padded input (countIncludePad) or to the input. An adaptive window
// tiles the input instead: output i of n covers [floor(i·in/n),
// ceil((i + 1)·in/n)), in 128 bits (i·in may pass 2^63).
struct Extent {
  i64 lo, hi, counted;
};
std::vector<Extent> extents(const Window& w, int d, bool count_include_pad) {
  const i64 in = w.in[d], n = w.out[d];
  std::vector<Extent> e(static_cast<std::size_t>(n));
  for (i64 o = 0; o < n; ++o) {
    i64 lo, hi, padded;
    if (w.adaptive) {
      lo = static_cast<i64>(static_cast<__int128>(o) * in / n);
      hi = static_cast<i64>((static_cast<__int128>(o + 1) * in + n - 1) / n);
      padded = hi - lo;
    } else {
      lo = o * w.stride[d] - w.padding[d];
      hi = std::min(lo + w.kernel[d], in + w.padding[d]);
      padded = hi - lo;
      lo = std::max<i64>(lo, 0), hi = std::min(hi, in);
    }
    e[static_cast<std::size_t>(o)] = {lo, hi, count_include_pad ? padded : std::max<i64>(hi - lo, 0)};
  }
  return e;
}

// out = the windows' averages of x (Forward), or x = the adjoint: each
// output's gradient spread over its window (!Forward). Each output sums its
// taps in double, row by row, and divides once; the adjoint adds each
// output's share into its taps in output order, per plane, on one thread.
// Fixed-size windows take a row of outputs at a time, tap by tap, so the
// inner loops run along the row and vectorise, in the same order per output
// as one output at a time ([128, 16, 28, 28], window 3, stride 1, one
// thread: forward 14.5 ms one output at a time, 6.0 a row at a time;
// adjoint 14.6 and 4.2).
template <bool Forward, typename T>
void avg_pass(const T* src, T* dst, const Window& w, bool count_include_pad, std::optional<i64> divisor) {
  const i64 H = w.in[0], W = w.in[1], OH = w.out[0], OW = w.out[1];
  const std::vector<Extent> rows = extents(w, 0, count_include_pad), cols = extents(w, 1, count_include_pad);
  // What the output of row extent r and column extent c divides by
  // (divisorOverride is never given for an adaptive window).
  const auto divide_by = [&](const Extent& r, const Extent& c) {
    return static_cast<double>(divisor ? *divisor : r.counted * c.counted);
  };
  const double per_plane = std::max(static_cast<double>(H) * static_cast<double>(W), static_cast<double>(OH) * static_cast<double>(OW));
  const i64 sw = w.stride[1];
  std::vector<Span> spans;  // per kernel column: the outputs whose tap there lies inside
  if (!w.adaptive)
    for (i64 j = 0; j < w.kernel[1]; ++j) spans.push_back(inside(j - w.padding[1], sw, W, OW));
  runtime::parallel_for(0, w.planes, planes_grain(per_plane), [&](i64 p0, i64 p1) {
    std::vector<double> sums(static_cast<std::size_t>(Forward && !w.adaptive ? OW : 0));
    std::vector<T> shares(static_cast<std::size_t>(!Forward && !w.adaptive ? OW : 0));
    for (i64 p = p0; p < p1; ++p) {
      const T* in = src + p * (Forward ? H * W : OH * OW);
      T* out = dst + p * (Forward ? OH * OW : H * W);
      if constexpr (!Forward) std::fill(out, out + H * W, T(0));
      for (i64 oh = 0; oh < OH; ++oh) {
        const Extent& r = rows[static_cast<std::size_t>(oh)];
        if (w.adaptive) {
          for (i64 ow = 0; ow < OW; ++ow) {
            const Extent& c = cols[static_cast<std::size_t>(ow)];
            const double by = divide_by(r, c);
            if constexpr (Forward) {
              double sum = 0;
              for (i64 ih = r.lo; ih < r.hi; ++ih)
                for (i64 iw = c.lo; iw < c.hi; ++iw) sum += static_cast<double>(in[ih * W + iw]);
              out[oh * OW + ow] = static_cast<T>(sum / by);
            } else {
              const T share = static_cast<T>(static_cast<double>(in[oh * OW + ow]) / by);
              for (i64 ih = r.lo; ih < r.hi; ++ih)
                for (i64 iw = c.lo; iw < c.hi; ++iw) out[ih * W + iw] += share;
            }
          }
          continue;
        }
        if constexpr (Forward) {
          std::fill(sums.begin(), sums.end(), 0.0);
          double* sum = sums.data();
          for (i64 ih = r.lo; ih < r.hi; ++ih)
            for (i64 j = 0; j < w.kernel[1]; ++j) {
              const Span span = spans[static_cast<std::size_t>(j)];
              const T* row = in + ih * W;
              const i64 off = j - w.padding[1];  // output ow reads row[ow·sw + off], off may be < 0
              // Strides 1 and 2 as constants, so GCC vectorises them.
              if (sw == 1)
                for (i64 ow = span.lo; ow < span.hi; ++ow) sum[ow] += static_cast<double>(row[ow + off]);
              else if (sw == 2)
                for (i64 ow = span.lo; ow < span.hi; ++ow) sum[ow] += static_cast<double>(row[2 * ow + off]);
              else
                for (i64 ow = span.lo; ow < span.hi; ++ow) sum[ow] += static_cast<double>(row[ow * sw + off]);
            }
          // An empty window (none reads the input) averages to 0.
          T* y = out + oh * OW;
          const bool rows_empty = r.lo >= r.hi;
          for (i64 ow = 0; ow < OW; ++ow) {
            const Extent& c = cols[static_cast<std::size_t>(ow)];
            y[ow] = rows_empty || c.lo >= c.hi ? T(0) : static_cast<T>(sum[ow] / divide_by(r, c));
          }
        } else {
          T* share = shares.data();
          for (i64 ow = 0; ow < OW; ++ow)
            share[ow] = static_cast<T>(static_cast<double>(in[oh * OW + ow]) / divide_by(r, cols[static_cast<std::size_t>(ow)]));
          // Kernel columns from the last, so each input takes its outputs'
          // shares in output order.
          for (i64 ih = r.lo; ih < r.hi; ++ih)
            for (i64 j = w.kernel[1] - 1; j >= 0; --j) {
              const Span span = spans[static_cast<std::size_t>(j)];
              T* row = out + ih * W;
              const i64 off = j - w.padding[1];
              if (sw == 1)
                for (i64 ow = span.lo; ow < span.hi; ++ow) row[ow + off] += share[ow];
              else
                for (i64 ow = span.lo; ow < span.hi; ++ow) row[ow * sw + off] += share[ow];
            }
        }
      }
    }
  });
}

struct AvgArgs {
  Window window;
  bool count_include_pad;
  std::optional<i64> divisor;
};

Tensor avg_pool_adjoint(const Tensor& g, const Shape& in_shape, const AvgArgs& a, const char* op);

// A global average (adaptive, to 1×1): each plane's mean, as mean() over
// its last two dims computes it (many short planes a call: [64, 256, 7, 7],
// one thread, 0.39 -> 0.17 ms); nullopt where mean() has no fast path.
std::optional<Tensor> global_average(const Tensor& x, const AvgArgs& a, const char* op) {
  const Window& w = a.window;
  if (!w.adaptive || w.out != Pair{1, 1}) return std::nullopt;
  const ReducePlan plan = plan_reduce(x, {x.dim() - 2, x.dim() - 1}, true, op);
  return fast_sum(x, plan, 1.0, static_cast<double>(w.in[0] * w.in[1]), op);
}

// The averages of x's windows, recorded: the gradient is the adjoint.
Tensor avg_pool_forward(const Tensor& x, const Shape& out_shape, const AvgArgs& a, const char* op) {
  std::optional<Tensor> global = global_average(x, a, op);
  Tensor out = global ? *global : empty(out_shape, x.dtype(), op);
  if (!global) {
    const Tensor xc = contiguous_data(x, op);
    visit_floating(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      avg_pass<true>(xc.data<T>(), out.data<T>(), a.window, a.count_include_pad, a.divisor);
    });
  }
  record(op, {x}, out, [in_shape = x.shape(), a, op](const Grads& g, const Node&) {
    return Grads{avg_pool_adjoint(g[0], in_shape, a, op)};
  });
  return out;
}

// Each output gradient spread over its window, recorded: its gradient is
// the forward average again.
Tensor avg_pool_adjoint(const Tensor& g, const Shape& in_shape, const AvgArgs& a, const char* op) {
  Tensor out = empty(in_shape, g.dtype(), op);
  const Tensor gc = contiguous_data(g, op);
  visit_floating(g.dtype(), [&](auto tag) {
    using T = decltype(tag);
    avg_pass<false>(gc.data<T>(), out.data<T>(), a.window, a.count_include_pad, a.divisor);
  });
  // Node names: "avgPool2dBackward", "adaptiveAvgPool2dBackward".
  record(a.window.adaptive ? "adaptiveAvgPool2dBackward" : "avgPool2dBackward", {g}, out,
         [out_shape = g.shape(), a, op](const Grads& gg, const Node&) {
           return Grads{avg_pool_forward(gg[0], out_shape, a, op)};
         });
  return out;
}

}  // namespace

MaxPooled max_pool2d(const Tensor& x, const Pair& kernel, const Pair& stride, const Pair& padding,
                      const Pair& dilation, bool ceil_mode) {
  const Window w = plan(x, kernel, stride, padding, dilation, ceil_mode, "maxPool2d");
  const Shape shape = pooled_shape(x, w);
  if (w.in[0] * w.in[1] > std::numeric_limits<std::int32_t>::max())
    throw_range_error("maxPool2d: planes of more than 2^31 - 1 elements are not supported, got ", w.in[0], "x", w.in[1]);
  Tensor values = empty(shape, x.dtype(), "maxPool2d"), indices = empty(shape, DType::Int32, "maxPool2d");
  const Tensor xc = contiguous_data(x, "maxPool2d");
  visit_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    max_forward(xc.data<T>(), w, values.data<T>(), indices.data<std::int32_t>());
  });
  // Each output's gradient goes to its argmax: a scatter-add over the plane
  // (gather_backward), whose own gradient gathers.
  const Shape planes{w.planes, w.out[0] * w.out[1]}, in_planes{w.planes, w.in[0] * w.in[1]};
  record("maxPool2d", {x}, values,
         [si = SavedTensor(indices), in_shape = x.shape(), planes, in_planes](const Grads& g, const Node&) {
           const Tensor index = reshape(si.unpack(), planes);
           return Grads{reshape(gather_backward(reshape(g[0], planes), 1, index, in_planes), in_shape)};
         });
  return {values, indices};
}

Tensor adaptive_avg_pool2d(const Tensor& x, const Pair& output_size) {
  const char* op = "adaptiveAvgPool2d";
  check_image_input(x, op);
  if (output_size[0] <= 0 || output_size[1] <= 0 || output_size[0] > kMaxWindowArg || output_size[1] > kMaxWindowArg)
    throw_range_error(op, ": outputSize must be from 1 to ", kMaxWindowArg, ", got [", output_size[0], ", ",
                      output_size[1], "]");
  Window w{{1, 1}, {1, 1}, {0, 0}, {1, 1}, {x.size(x.dim() - 2), x.size(x.dim() - 1)}, output_size, 1, true};
  for (i64 d = 0; d < x.dim() - 2; ++d) w.planes *= x.size(d);
  return avg_pool_forward(x, pooled_shape(x, w), AvgArgs{w, true, std::nullopt}, op);
}

Tensor avg_pool2d(const Tensor& x, const Pair& kernel, const Pair& stride, const Pair& padding, bool ceil_mode,
                  bool count_include_pad, std::optional<std::int64_t> divisor_override) {
  if (divisor_override && *divisor_override == 0) throw_range_error("avgPool2d: divisorOverride must not be 0");
  const AvgArgs a{plan(x, kernel, stride, padding, {1, 1}, ceil_mode, "avgPool2d"), count_include_pad, divisor_override};
  return avg_pool_forward(x, pooled_shape(x, a.window), a, "avgPool2d");
}

}  // namespace tapegrad::ops
