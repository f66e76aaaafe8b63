// Layers as functions: layerNorm, batchNorm (training), dropout, embedding, oneHot.
#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <type_traits>
#include <vector>

#include "core/autograd.h"
#include "core/random.h"
#include "core/strided.h"
#include "kernels/kernels.h"
#include "ops/common.h"
#include "ops/elementwise.h"
#include "ops/factory.h"
#include "ops/nn.h"
#include "ops/reduce.h"
#include "ops/shape.h"
#include "ops/unary.h"
#include "runtime/error.h"
#include "runtime/parallel.h"

namespace tapegrad::ops {

namespace {

using i64 = std::int64_t;

std::vector<i64> last_dims(i64 ndim, i64 count) {
  std::vector<i64> dims;
  for (i64 d = ndim - count; d < ndim; ++d) dims.push_back(d);
  return dims;
}

// Elements per parallel chunk of layerNorm's row loops, as for the
// elementwise kernels.
constexpr i64 kRowGrain = runtime::kElementwiseGrain;

// The affine gradients are summed over rows in blocks of about this many
// elements, one partial sum per block, and the blocks combined in order: a
// partition fixed by the shape alone, so the sums are identical for any
// thread count. At most kMaxRowBlocks blocks, of at least kMinBlockRows rows
// (partials of 2 doubles per column then take at most half a float32
// input's memory), bound the partials' memory.
constexpr i64 kRowBlockElements = i64{1} << 14;
constexpr i64 kMaxRowBlocks = 32;
constexpr i64 kMinBlockRows = 8;

// Records norm_stats: mean and rstd = 1/sqrt(var + eps) (biased variance)
// of groups of `group` elements of x (layerNorm: over its last dims;
// batchNorm: per channel), kept as size-1 dims, computed by the op's fused
// kernel. An op of its own, named as the op, so that the backward, which
// reads them, can be differentiated again:
// d mean = 1/D, d rstd = -rstd³·(x - mean)/D.
void record_norm_stats(const char* op, const Tensor& x, const Tensor& mean, const Tensor& rstd, i64 group) {
  record(op, std::vector<Tensor>{x}, std::vector<Tensor>{mean, rstd},
         [sx = SavedTensor(x), sm = SavedTensor::output(mean, 0), sr = SavedTensor::output(rstd, 1),
          group](const Grads& g, const Node& node) {
           const Tensor x = sx.unpack(), m = sm.unpack(&node), r = sr.unpack(&node);
           const DType d = x.dtype();
           const Tensor from_mean = div(g[0], scalar(static_cast<double>(group), d));
           const Tensor r3 = mul(mul(r, r), r);
           const Tensor from_rstd = mul(mul(g[1], r3), mul(sub(x, m), scalar(-1.0 / static_cast<double>(group), d)));
           return Grads{add(from_mean, from_rstd)};
         });
}

// The fused forward: out, and the per-row mean and rstd, rows split over the pool.
template <typename T>
void layer_norm_forward(const Tensor& xc, const Tensor& wc, const Tensor& bc, double eps, i64 rows, i64 cols,
                        const Tensor& out, const Tensor& mean, const Tensor& rstd) {
  const auto& table = kernels::active();
  const auto kernel = kernel_for<T>(table.layer_norm_f32, table.layer_norm_f64);
  const T *px = xc.data<T>(), *pw = data_or_null<T>(wc), *pb = data_or_null<T>(bc);
  T *po = out.data<T>(), *pm = mean.data<T>(), *pr = rstd.data<T>();
  runtime::parallel_for(0, rows, std::max<i64>(1, kRowGrain / std::max<i64>(cols, 1)), [&](i64 begin, i64 end) {
    kernel(end - begin, cols, px + begin * cols, pw, pb, eps, po + begin * cols, pm + begin, pr + begin);
  });
}

// The fused first-order backward: dx (when defined), and when dweight/dbias
// are defined, their sums over rows (per row block in double, blocks
// combined in order). At least one of dx and dweight is defined.
template <typename T>
void layer_norm_backward_kernel(const Tensor& gc, const Tensor& xc, const Tensor& mean, const Tensor& rstd,
                                const Tensor& wc, i64 rows, i64 cols, const Tensor& dx, const Tensor& dweight,
                                const Tensor& dbias) {
  const auto& table = kernels::active();
  const auto kernel = kernel_for<T>(table.layer_norm_backward_f32, table.layer_norm_backward_f64);
  const T *pg = gc.data<T>(), *px = xc.data<T>(), *pm = mean.data<T>(), *pr = rstd.data<T>();
  const T* pw = data_or_null<T>(wc);
  T* pdx = dx.defined() ? dx.data<T>() : nullptr;
  const bool affine = dweight.defined();
  const i64 numel = rows * cols;
  const i64 blocks =
      std::clamp<i64>(numel / kRowBlockElements, 1, std::min(kMaxRowBlocks, std::max<i64>(rows / kMinBlockRows, 1)));
  const i64 rows_per_block = (rows + blocks - 1) / blocks;
  // Per block: cols sums of g·x̂, then cols sums of g.
  std::vector<double> partials(affine ? static_cast<std::size_t>(blocks * 2 * cols) : 0, 0.0);
  const i64 block_grain = std::max<i64>(1, kRowGrain / std::max<i64>(rows_per_block * cols, 1));
  runtime::parallel_for(0, blocks, block_grain, [&](i64 first, i64 last) {
    for (i64 b = first; b < last; ++b) {
      const i64 begin = std::min(rows, b * rows_per_block), end = std::min(rows, begin + rows_per_block);
      double* block_partials = affine ? partials.data() + b * 2 * cols : nullptr;
      kernel(end - begin, cols, pg + begin * cols, px + begin * cols, pm + begin, pr + begin, pw,
             pdx ? pdx + begin * cols : nullptr, block_partials, affine ? block_partials + cols : nullptr);
    }
  });
  if (!affine) return;
  // Into block 0, blocks in order; block-major, so the reads are sequential.
  double* total = partials.data();
  for (i64 b = 1; b < blocks; ++b) {
    const double* block = partials.data() + b * 2 * cols;
    for (i64 j = 0; j < 2 * cols; ++j) total[j] += block[j];
  }
  T *pdw = dweight.data<T>(), *pdb = dbias.data<T>();
  for (i64 j = 0; j < cols; ++j) {
    pdw[j] = static_cast<T>(total[j]);
    pdb[j] = static_cast<T>(total[cols + j]);
  }
}

struct NormGrads {
  Tensor dx, dweight, dbias;  // each only when asked for
};

// How a normalisation's statistics and affine parameters lie against its
// input x: the dims each statistic reduces (kept as size-1 dims), how many
// elements that is, and the weight's shape as it broadcasts against x
// (layerNorm's normalizedShape; batchNorm's [1, C, 1, ...]) and as given
// (normalizedShape; [C]).
struct NormLayout {
  std::vector<i64> dims;
  i64 count;
  Shape affine_view, affine_shape;
};

// Records the first-order gradients `out` of a normalisation (layerNorm,
// batchNorm) as `op` ("layerNormBackward", "batchNormBackward") with inputs
// {grad, x, mean, rstd, weight}, its own backward written in differentiable
// ops, so that gradients of any order work. Without dx (x needs no
// gradient, and so neither do mean and rstd, its statistics, which
// norm_stats records only for an x that does) only dweight and dbias were
// computed, and are recorded with grad as their only input.
void record_norm_backward(const char* op, const Tensor& grad, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                          const Tensor& weight, const NormLayout& layout, bool affine_grads, const NormGrads& out) {
  const auto as_view = [view = layout.affine_view](const Tensor& t) { return t.defined() ? reshape(t, view) : t; };
  if (!out.dx.defined()) {
    // dweight = Σ g·x̂ and dbias = Σ g over the groups are linear in g: with
    // vw and vb their gradients, grad's is vw·x̂ + vb.
    record(op, std::vector<Tensor>{grad}, std::vector<Tensor>{out.dweight, out.dbias},
           [sx = SavedTensor(x), sm = SavedTensor(mean), sr = SavedTensor(rstd), as_view](const Grads& gg, const Node&) {
             const Tensor xhat = mul(sub(sx.unpack(), sm.unpack()), sr.unpack());
             return Grads{add(mul(as_view(gg[0]), xhat), as_view(gg[1]))};
           });
    return;
  }
  std::vector<Tensor> outputs{out.dx};
  if (affine_grads) {
    outputs.push_back(out.dweight);
    outputs.push_back(out.dbias);
  }
  // With u, vw, vb the gradients of dx, dweight, dbias, ur = u·rstd, and
  // P, Q the gradients reaching ĝ and x̂:
  // P = ur - mean(ur) - x̂·mean(ur·x̂),  Q = -ur·mean(ĝ·x̂) - ĝ·mean(ur·x̂) + vw·g;
  // then grad = P·weight + vw·x̂ + vb, weight: Σ P·g, x: Q·rstd,
  // mean: -rstd·ΣQ, rstd: Σ u·(ĝ - mean(ĝ) - x̂·mean(ĝ·x̂)) + Σ Q·(x - mean).
  record(op, std::vector<Tensor>{grad, x, mean, rstd, weight}, outputs,
         [sg = SavedTensor(grad), sx = SavedTensor(x), sm = SavedTensor(mean), sr = SavedTensor(rstd),
          sw = SavedTensor(weight), layout, affine_grads, as_view](const Grads& gg, const Node& node) {
           const Tensor g = sg.unpack(), x = sx.unpack(), m = sm.unpack(), r = sr.unpack(), w = as_view(sw.unpack());
           const std::vector<i64>& dims = layout.dims;
           const Tensor n = scalar(static_cast<double>(layout.count), x.dtype());
           const auto group_mean = [&](const Tensor& t) { return div(sum(t, dims, true), n); };
           const Tensor& u = gg[0];
           const Tensor x_centered = sub(x, m), xhat = mul(x_centered, r);
           const Tensor gh = w.defined() ? mul(g, w) : g;
           const Tensor mean_ghx = group_mean(mul(gh, xhat));
           const Tensor ur = mul(u, r);
           const Tensor mean_urx = group_mean(mul(ur, xhat));
           const Tensor p = sub(sub(ur, group_mean(ur)), mul(xhat, mean_urx));
           Tensor q = sub(neg(mul(ur, mean_ghx)), mul(gh, mean_urx));
           if (affine_grads) q = add(q, mul(as_view(gg[1]), g));
           Grads result(5);
           if (node.needs_grad(0)) {
             Tensor for_grad = w.defined() ? mul(p, w) : p;
             if (affine_grads) for_grad = add(add(for_grad, mul(as_view(gg[1]), xhat)), as_view(gg[2]));
             result[0] = for_grad;
           }
           if (node.needs_grad(1)) result[1] = mul(q, r);
           if (node.needs_grad(2)) result[2] = neg(mul(sum(q, dims, true), r));
           if (node.needs_grad(3)) {
             const Tensor dx_over_rstd = sub(sub(gh, group_mean(gh)), mul(xhat, mean_ghx));
             result[3] = sum(add(mul(u, dx_over_rstd), mul(q, x_centered)), dims, true);
           }
           if (node.needs_grad(4)) result[4] = reshape(sum_to(mul(p, g), layout.affine_view), layout.affine_shape);
           return result;
         });
}

// The first-order gradients of layerNorm in one fused pass per row, from the
// output's gradient and the forward's saved mean and rstd (the outputs of
// norm_stats), recorded by record_norm_backward.
NormGrads layer_norm_backward(const Tensor& grad0, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                              const Tensor& weight, i64 nd, bool with_dx, bool affine_grads) {
  const Tensor grad = grad0.dtype() == x.dtype() ? grad0 : cast(grad0, x.dtype());
  const Shape normalized_shape(x.shape().end() - nd, x.shape().end());
  const i64 rows = mean.numel(), cols = checked_numel(normalized_shape, "layerNormBackward");
  NormGrads out;
  if (with_dx) out.dx = empty(x.shape(), x.dtype(), "layerNormBackward");
  if (affine_grads) {
    out.dweight = empty(normalized_shape, x.dtype(), "layerNormBackward");
    out.dbias = empty(normalized_shape, x.dtype(), "layerNormBackward");
  }
  {
    const Tensor gc = contiguous_data(grad), xc = contiguous_data(x);
    const Tensor wc = weight.defined() ? contiguous_data(weight) : weight;
    visit_floating(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      layer_norm_backward_kernel<T>(gc, xc, mean, rstd, wc, rows, cols, out.dx, out.dweight, out.dbias);
    });
  }
  record_norm_backward("layerNormBackward", grad, x, mean, rstd, weight,
                       NormLayout{last_dims(x.dim(), nd), cols, normalized_shape, normalized_shape}, affine_grads, out);
  return out;
}

// ---- batchNorm (training) ----------------------------------------------
// x seen as [N, C, S] (S the product of the dims after the channels, 1 for
// [N, C]); channel c's elements are the N runs x[n, c, :].
struct Channels {
  i64 n, c, s;
};

// f(c0, c1) for blocks of channels split across the pool, each channel on
// one thread, a block holding as many elements as the elementwise kernels take.
template <typename F>
void each_channel_block(const Channels& l, F f) {
  runtime::parallel_for(0, l.c, std::max<i64>(1, kRowGrain / std::max<i64>(l.n * l.s, 1)), f);
}

// from[the channel of column k] for each of the `columns` columns k of x
// seen as N rows of C·S (runs of S per channel).
template <typename V>
std::vector<V> spread_channels(const Channels& l, i64 columns, const V* from) {
  std::vector<V> to(static_cast<std::size_t>(columns));
  for (i64 k = 0; k < columns; ++k) to[static_cast<std::size_t>(k)] = from[k / l.s];
  return to;
}

// Channels [c0, c1) with runs shorter than 16 (S < 16; [N, C] has S = 1),
// as the columns j0 = c0·S ... c1·S of x seen as N rows of C·S, for the
// batch_norm_columns kernels: per-column sums (in row order), then each
// channel's S column sums in order; per-column copies of per-channel values.
struct ChannelColumns {
  const Channels& l;
  i64 c0, c1, j0, width, stride;
  std::vector<double> a, b;  // column sums, zeroed

  ChannelColumns(const Channels& layout, i64 first, i64 last)
      : l(layout), c0(first), c1(last), j0(first * layout.s), width((last - first) * layout.s),
        stride(layout.c * layout.s), a(static_cast<std::size_t>(width)), b(a.size()) {}

  double channel(const std::vector<double>& sums_of_columns, i64 c) const {
    double total = 0.0;
    for (i64 s = 0; s < l.s; ++s) total += sums_of_columns[static_cast<std::size_t>((c - c0) * l.s + s)];
    return total;
  }
  // from[the channel of column k, less c0] for each column k.
  template <typename V>
  std::vector<V> spread(const V* from) const {
    return spread_channels(l, width, from);
  }
};

// f(r0, r1) for blocks of the N rows of x seen as [N, C·S], split over the
// pool: the passes that write every element. Split by channels as the sums
// are, two cores wrote alternate parts of each row, and the pair took twice
// one core's time ([4096, 128] forward 0.13 -> 0.27 ms on Zen 5).
template <typename F>
void each_row_block(const Channels& l, F f) {
  runtime::parallel_for(0, l.n, std::max<i64>(1, kRowGrain / std::max<i64>(l.c * l.s, 1)), f);
}

// body(c0, c1, columns) for blocks of channels split over the pool.
template <typename Body>
void batch_norm_columns(const Channels& l, Body body) {
  each_channel_block(l, [&](i64 c0, i64 c1) {
    ChannelColumns columns(l, c0, c1);
    body(c0, c1, columns);
  });
}

// Per channel: mean and biased variance in double (two passes), rstd =
// 1/sqrt(var + eps), then out = ((x - mean)·rstd)·weight + bias in T with
// the rounded statistics, as the backward recomputes x̂. Channels split over
// the pool; each is summed whole by one thread: runs of 16 elements or more
// by the batch_norm kernels (each run in lanes), shorter ones ([N, C],
// [N, C, 3, 3]) as columns (ChannelColumns).
template <typename T>
void batch_norm_forward(const T* x, const T* w, const T* b, double eps, const Channels& l, T* out, T* mean, T* var,
                        T* rstd) {
  const double count = static_cast<double>(l.n * l.s);
  const auto finish = [&](i64 c, double m, double v) {
    mean[c] = static_cast<T>(m);
    var[c] = static_cast<T>(v);
    rstd[c] = static_cast<T>(1.0 / std::sqrt(v + eps));
  };
  if (l.s < 16) {
    const auto& table = kernels::active();
    const auto add_rows = kernel_for<T>(table.add_rows_f32, table.add_rows_f64);
    const auto deviations =
        kernel_for<T>(table.batch_norm_columns_deviations_f32, table.batch_norm_columns_deviations_f64);
    const auto apply = kernel_for<T>(table.batch_norm_columns_apply_f32, table.batch_norm_columns_apply_f64);
    batch_norm_columns(l, [&](i64 c0, i64 c1, ChannelColumns& cols) {
      const T* xc = x + cols.j0;
      add_rows(l.n, cols.width, xc, cols.stride, cols.a.data());
      std::vector<double> m(static_cast<std::size_t>(c1 - c0));
      for (i64 c = c0; c < c1; ++c) m[static_cast<std::size_t>(c - c0)] = cols.channel(cols.a, c) / count;
      deviations(l.n, cols.width, cols.stride, xc, cols.spread(m.data()).data(), cols.b.data(), nullptr);
      for (i64 c = c0; c < c1; ++c) finish(c, m[static_cast<std::size_t>(c - c0)], cols.channel(cols.b, c) / count);
    });
    const i64 width = l.c * l.s;
    const std::vector<T> m = spread_channels(l, width, mean), r = spread_channels(l, width, rstd),
                         ws = w ? spread_channels(l, width, w) : std::vector<T>(),
                         bs = b ? spread_channels(l, width, b) : std::vector<T>();
    each_row_block(l, [&](i64 r0, i64 r1) {
      apply(r1 - r0, width, width, x + r0 * width, m.data(), r.data(), w ? ws.data() : nullptr,
            b ? bs.data() : nullptr, out + r0 * width);
    });
    return;
  }
  const auto& table = kernels::active();
  const auto moments = kernel_for<T>(table.batch_norm_moments_f32, table.batch_norm_moments_f64);
  const auto apply = kernel_for<T>(table.batch_norm_apply_f32, table.batch_norm_apply_f64);
  each_channel_block(l, [&](i64 c0, i64 c1) {
    for (i64 c = c0; c < c1; ++c) {
      double m, v;
      moments(l.n, l.c * l.s, l.s, x + c * l.s, &m, &v);
      finish(c, m, v);
      apply(l.n, l.c * l.s, l.s, x + c * l.s, mean[c], rstd[c], w ? w + c : nullptr, b ? b + c : nullptr,
            out + c * l.s);
    }
  });
}

// The first-order backward per channel: Σ g and Σ g·x̂ (x̂ = (x - mean)·rstd
// in T, as the forward rounds it) in double, then dweight, dbias = those
// sums and dx = weight·rstd·(g - mean(g) - x̂·mean(g·x̂)), in double, rounded
// once. dx, dweight and dbias may each be null (not asked for). Split and
// summed as the forward.
template <typename T>
void batch_norm_backward_kernel(const T* g, const T* x, const T* mean, const T* rstd, const T* w, const Channels& l,
                                T* dx, T* dweight, T* dbias) {
  const double count = static_cast<double>(l.n * l.s);
  const auto scale_of = [&](i64 c) { return (w ? static_cast<double>(w[c]) : 1.0) * static_cast<double>(rstd[c]); };
  if (l.s < 16) {
    const auto& table = kernels::active();
    const auto grad_sums =
        kernel_for<T>(table.batch_norm_columns_grad_sums_f32, table.batch_norm_columns_grad_sums_f64);
    const auto grad_input =
        kernel_for<T>(table.batch_norm_columns_grad_input_f32, table.batch_norm_columns_grad_input_f64);
    const i64 width = l.c * l.s;
    const std::vector<T> m = spread_channels(l, width, mean), r = spread_channels(l, width, rstd);
    std::vector<double> scale(static_cast<std::size_t>(l.c)), mean_g(scale.size()), mean_gx(scale.size());
    batch_norm_columns(l, [&](i64 c0, i64 c1, ChannelColumns& cols) {
      grad_sums(l.n, cols.width, cols.stride, g + cols.j0, x + cols.j0, m.data() + cols.j0, r.data() + cols.j0,
                cols.a.data(), cols.b.data());
      for (i64 c = c0; c < c1; ++c) {
        const double sum_g = cols.channel(cols.a, c), sum_gx = cols.channel(cols.b, c);
        if (dweight) dweight[c] = static_cast<T>(sum_gx);
        if (dbias) dbias[c] = static_cast<T>(sum_g);
        const auto at = static_cast<std::size_t>(c);
        scale[at] = scale_of(c), mean_g[at] = sum_g / count, mean_gx[at] = sum_gx / count;
      }
    });
    if (!dx) return;
    const std::vector<double> scales = spread_channels(l, width, scale.data()),
                              mean_gs = spread_channels(l, width, mean_g.data()),
                              mean_gxs = spread_channels(l, width, mean_gx.data());
    each_row_block(l, [&](i64 r0, i64 r1) {
      const i64 at = r0 * width;
      grad_input(r1 - r0, width, width, g + at, x + at, m.data(), r.data(), scales.data(), mean_gs.data(),
                 mean_gxs.data(), dx + at);
    });
    return;
  }
  const auto& table = kernels::active();
  const auto grad_sums = kernel_for<T>(table.batch_norm_grad_sums_f32, table.batch_norm_grad_sums_f64);
  const auto grad_input = kernel_for<T>(table.batch_norm_grad_input_f32, table.batch_norm_grad_input_f64);
  each_channel_block(l, [&](i64 c0, i64 c1) {
    for (i64 c = c0; c < c1; ++c) {
      const i64 at = c * l.s, stride = l.c * l.s;
      double sums[2];
      grad_sums(l.n, stride, l.s, g + at, x + at, mean[c], rstd[c], sums);
      if (dweight) dweight[c] = static_cast<T>(sums[1]);
      if (dbias) dbias[c] = static_cast<T>(sums[0]);
      if (dx) grad_input(l.n, stride, l.s, g + at, x + at, mean[c], rstd[c], scale_of(c), sums[0] / count,
                         sums[1] / count, dx + at);
    }
  });
}

Channels channels_of(const Tensor& x) {
  const i64 n = x.size(0), c = x.size(1);
  return {n, c, n * c == 0 ? 0 : x.numel() / (n * c)};
}

// The layout of batchNorm's statistics: over every dim but 1.
NormLayout batch_norm_layout(const Tensor& x) {
  const Channels l = channels_of(x);
  NormLayout layout{{}, l.n * l.s, Shape(static_cast<std::size_t>(x.dim()), 1), Shape{l.c}};
  for (i64 d = 0; d < x.dim(); ++d)
    if (d != 1) layout.dims.push_back(d);
  layout.affine_view[1] = l.c;
  return layout;
}

NormGrads batch_norm_backward(const Tensor& grad0, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                              const Tensor& weight, bool with_dx, bool affine_grads) {
  const char* op = "batchNormBackward";
  const Tensor grad = grad0.dtype() == x.dtype() ? grad0 : cast(grad0, x.dtype());
  const Channels l = channels_of(x);
  NormGrads out;
  if (with_dx) out.dx = empty(x.shape(), x.dtype(), op);
  if (affine_grads) {
    out.dweight = empty({l.c}, x.dtype(), op);
    out.dbias = empty({l.c}, x.dtype(), op);
  }
  {
    const Tensor gc = contiguous_data(grad), xc = contiguous_data(x);
    const Tensor wc = weight.defined() ? contiguous_data(weight) : weight;
    visit_floating(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      batch_norm_backward_kernel<T>(gc.data<T>(), xc.data<T>(), mean.data<T>(), rstd.data<T>(), data_or_null<T>(wc),
                                    l, with_dx ? out.dx.data<T>() : nullptr,
                                    affine_grads ? out.dweight.data<T>() : nullptr,
                                    affine_grads ? out.dbias.data<T>() : nullptr);
    });
  }
  record_norm_backward(op, grad, x, mean, rstd, weight, batch_norm_layout(x), affine_grads, out);
  return out;
}

void check_channel_param(const Tensor& t, const Tensor& x, const char* arg) {
  if (!t.defined()) return;
  if (t.dim() != 1 || t.size(0) != x.size(1))
    throw_range_error("batchNorm: ", arg, " must have shape [", x.size(1), "] (the input's channels), got ",
                      shape_str(t.shape()));
  if (t.dtype() != x.dtype())
    throw_type_error("batchNorm: ", arg, " must have the input's dtype ", dtype_name(x.dtype()), ", got ",
                     dtype_name(t.dtype()));
}

void check_affine(const Tensor& t, const Tensor& x, const Shape& normalized_shape, const char* arg) {
  if (!t.defined()) return;
  if (t.dtype() != x.dtype())
    throw_type_error("layerNorm: ", arg, " must have the input's dtype ", dtype_name(x.dtype()), ", got ",
                     dtype_name(t.dtype()));
  if (t.shape() != normalized_shape)
    throw_range_error("layerNorm: ", arg, " must have the normalizedShape ", shape_str(normalized_shape), ", got ",
                      shape_str(t.shape()));
}

// Scatter-adds the rows of g (shape indices + [D]) into a [rows, D] zero
// tensor: embedding's gradient. Lookups of row `pad` (-1: none) add nothing,
// so the padding row's gradient stays 0, as PyTorch's padding_idx. Its own
// gradient is embedding again, 0 at those lookups.
Tensor embedding_output(const Tensor& indices, const Tensor& weight);
Tensor embedding_rows(const Tensor& indices, const Tensor& contiguous_indices, const Tensor& weight, i64 pad, Tensor out);

Tensor embedding_backward(const Tensor& g, const Tensor& indices, i64 rows, i64 pad) {
  const i64 dim = g.shape().back();
  Tensor out = full({rows, dim}, 0, g.dtype(), "embedding");
  const Tensor gc = contiguous_data(g), ic = contiguous_data(indices);
  const std::int32_t* pi = ic.data<std::int32_t>();
  visit_floating(g.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pg = gc.data<T>();
    T* po = out.data<T>();
    const i64 n = ic.numel();
    // Split by output rows: each thread adds, in index order, the lookups
    // that fall in its rows, so each sum has the same order on any thread
    // count; split in halves, its rows are those full() zeroed on it.
    // (Split by columns, two threads wrote parts of every row, into zeros
    // half of which the other core had written: [10000, 128] float32, 2048
    // lookups, 331 µs on two threads against 134 on one; now 77.)
    runtime::parallel_for(0, rows, std::max<i64>(1, runtime::kElementwiseGrain / std::max<i64>(dim, 1)), [&](i64 r0, i64 r1) {
      for (i64 k = 0; k < n; ++k) {
        const i64 r = pi[k];
        if (r == pad || r < r0 || r >= r1) continue;
        T* row = po + r * dim;
        const T* src = pg + k * dim;
        for (i64 j = 0; j < dim; ++j) row[j] += src[j];
      }
    });
  });
  record("embeddingBackward", {g}, out, [si = SavedTensor(indices), pad](const Grads& gg, const Node&) {
    const Tensor indices = si.unpack();
    const Tensor looked_up =
        embedding_rows(indices, contiguous_data(indices), gg[0], pad, embedding_output(indices, gg[0]));
    if (pad < 0) return Grads{looked_up};
    const Tensor at_pad = unsqueeze(eq(indices, scalar(static_cast<double>(pad), DType::Int32)), -1);
    return Grads{where(at_pad, scalar(0, looked_up.dtype()), looked_up)};
  });
  return out;
}

// The output of embedding: [...indices.shape, embeddingDim].
Tensor embedding_output(const Tensor& indices, const Tensor& weight) {
  Shape shape = indices.shape();
  shape.push_back(weight.size(1));
  return empty(shape, weight.dtype(), "embedding");
}

// embedding into out (embedding_output) with indices already checked
// against weight's rows, read from contiguous_indices (their data, copied
// once by the caller); indices itself is what backward keeps.
Tensor embedding_rows(const Tensor& indices, const Tensor& contiguous_indices, const Tensor& weight, i64 pad,
                      Tensor out) {
  const i64 dim = weight.size(1);
  const std::int32_t* pi = contiguous_indices.data<std::int32_t>();
  visit_floating(weight.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pw = static_cast<const T*>(weight.storage().data);
    T* po = out.data<T>();
    const i64 rs = weight.strides()[0], cs = weight.strides()[1];
    runtime::parallel_for(0, contiguous_indices.numel(), std::max<i64>(1, runtime::kElementwiseGrain / std::max<i64>(dim, 1)), [&](i64 k0, i64 k1) {
      if (cs == 1)  // rows as whole copies ([50000, 256], 8192 lookups: 0.85 -> 0.79 ms; PyTorch 0.81)
        for (i64 k = k0; k < k1; ++k) std::copy_n(pw + weight.offset() + pi[k] * rs, dim, po + k * dim);
      else
        for (i64 k = k0; k < k1; ++k)
          for (i64 j = 0; j < dim; ++j) po[k * dim + j] = pw[weight.offset() + pi[k] * rs + j * cs];
    });
  });
  record("embedding", {weight}, out,
         [si = SavedTensor(indices), rows = weight.size(0), pad](const Grads& g, const Node&) {
           return Grads{embedding_backward(g[0], si.unpack(), rows, pad)};
         });
  return out;
}

}  // namespace

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  require_floating(x, "layerNorm", "input");
  const i64 nd = static_cast<i64>(normalized_shape.size());
  if (nd == 0) throw_range_error("layerNorm: normalizedShape must have at least one dim, got []");
  if (nd > x.dim() || !std::equal(normalized_shape.begin(), normalized_shape.end(), x.shape().end() - nd))
    throw_range_error("layerNorm: normalizedShape ", shape_str(normalized_shape),
                      " does not match the trailing dims of input shape ", shape_str(x.shape()));
  if (!(eps >= 0) || !std::isfinite(eps))
    throw_range_error("layerNorm: eps must be a finite non-negative number, got ", eps);
  check_affine(weight, x, normalized_shape, "weight");
  check_affine(bias, x, normalized_shape, "bias");

  const i64 group = checked_numel(normalized_shape, "layerNorm");
  Shape kept = x.shape();
  for (i64 d = x.dim() - nd; d < x.dim(); ++d) kept[d] = 1;
  Tensor out = empty(x.shape(), x.dtype(), "layerNorm");
  Tensor mean = empty(kept, x.dtype(), "layerNorm"), rstd = empty(kept, x.dtype(), "layerNorm");
  {
    const Tensor xc = contiguous_data(x);
    const Tensor wc = weight.defined() ? contiguous_data(weight) : weight;
    const Tensor bc = bias.defined() ? contiguous_data(bias) : bias;
    visit_floating(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      layer_norm_forward<T>(xc, wc, bc, eps, mean.numel(), group, out, mean, rstd);
    });
  }
  record_norm_stats("layerNorm", x, mean, rstd, group);

  record("layerNorm", {x, weight, bias}, out,
         [sx = SavedTensor(x), sm = SavedTensor(mean), sr = SavedTensor(rstd), sw = SavedTensor(weight),
          nd](const Grads& g, const Node& node) {
           // dx only for an input that needs it: after a frozen embedding, or
           // on an input batch, the rows' sums and the dx pass are skipped.
           const bool with_dx = node.needs_grad(0);
           const bool affine_grads = node.needs_grad(1) || node.needs_grad(2);
           NormGrads grads = layer_norm_backward(g[0], sx.unpack(), sm.unpack(), sr.unpack(), sw.unpack(), nd,
                                                      with_dx, affine_grads);
           return Grads{grads.dx, node.needs_grad(1) ? grads.dweight : Tensor(),
                        node.needs_grad(2) ? grads.dbias : Tensor()};
         });
  return out;
}

BatchNormed batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  const char* op = "batchNorm";
  require_floating(x, op, "input");
  if (x.dim() < 2) throw_range_error(op, ": input must have at least 2 dims [N, C, ...], got shape ", shape_str(x.shape()));
  check_channel_param(weight, x, "weight");
  check_channel_param(bias, x, "bias");
  if (!(eps >= 0) || !std::isfinite(eps)) throw_range_error(op, ": eps must be a finite non-negative number, got ", eps);
  const Channels l = channels_of(x);
  if (l.n * l.s <= 1)
    throw_range_error(op, ": training needs more than one value per channel, got input shape ", shape_str(x.shape()));
  const NormLayout layout = batch_norm_layout(x);
  Tensor out = empty(x.shape(), x.dtype(), op);
  Tensor mean = empty(layout.affine_view, x.dtype(), op), rstd = empty(layout.affine_view, x.dtype(), op);
  BatchNormed result{out, empty({l.c}, x.dtype(), op), empty({l.c}, x.dtype(), op)};
  {
    const Tensor xc = contiguous_data(x);
    const Tensor wc = weight.defined() ? contiguous_data(weight) : weight;
    const Tensor bc = bias.defined() ? contiguous_data(bias) : bias;
    visit_floating(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      batch_norm_forward<T>(xc.data<T>(), data_or_null<T>(wc), data_or_null<T>(bc), eps, l, out.data<T>(),
                            mean.data<T>(), result.var.data<T>(), rstd.data<T>());
      std::copy_n(mean.data<T>(), l.c, result.mean.data<T>());
    });
  }
  record_norm_stats(op, x, mean, rstd, l.n * l.s);
  record(op, {x, weight, bias}, out,
         [sx = SavedTensor(x), sm = SavedTensor(mean), sr = SavedTensor(rstd), sw = SavedTensor(weight)](
             const Grads& g, const Node& node) {
           const bool with_dx = node.needs_grad(0);
           const bool affine_grads = node.needs_grad(1) || node.needs_grad(2);
           NormGrads grads =
               batch_norm_backward(g[0], sx.unpack(), sm.unpack(), sr.unpack(), sw.unpack(), with_dx, affine_grads);
           return Grads{grads.dx, node.needs_grad(1) ? grads.dweight : Tensor(),
                        node.needs_grad(2) ? grads.dbias : Tensor()};
         });
  return result;
}

Tensor dropout(const Tensor& x, double p, bool training) {
  require_floating(x, "dropout", "input");
  if (!(p >= 0 && p <= 1)) throw_range_error("dropout: p must be between 0 and 1, got ", p);
  if (!training || p == 0) return x;
  // mask = 1/(1-p) where kept (probability 1 - p), 0 where dropped; p = 1 drops everything.
  Tensor mask = empty(x.shape(), x.dtype(), "dropout");
  const double scale = p == 1 ? 0.0 : 1.0 / (1.0 - p);
  visit_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* pm = mask.data<T>();
    constexpr i64 kChunk = 4096;  // draws at a time, to bound the scratch memory
    std::vector<double> u(static_cast<std::size_t>(std::min<i64>(kChunk, mask.numel())));
    for (i64 start = 0, n = mask.numel(); start < n; start += kChunk) {
      const i64 count = std::min(kChunk, n - start);
      random_uniform(u.data(), count);
      for (i64 i = 0; i < count; ++i) pm[start + i] = u[i] < 1.0 - p ? static_cast<T>(scale) : T(0);
    }
  });
  Tensor out = mul(detach(x), mask);
  // Saved (not captured): freed by a backward without retainGraph, as saved tensors are.
  record("dropout", {x}, out, [sm = SavedTensor(mask)](const Grads& g, const Node&) { return Grads{mul(g[0], sm.unpack())}; });
  return out;
}

namespace {

// Scales each distinct row of weight listed in `rows` (checked indices)
// whose norm exceeds max_norm by max_norm / (norm + 1e-7), as PyTorch's
// embedding_renorm_ (norm in double; a row is multiplied by the scale
// rounded to its dtype). Not recorded: as PyTorch's, under no grad.
void renorm_rows(const Tensor& weight, const std::int32_t* rows, i64 count, double max_norm, double norm_type) {
  if (locked_against_writes(weight.storage()))
    throw_error("embedding: maxNorm rescales rows of weight in place, but weight is in use by a running async ",
                "operation; await it first");
  if ((weight.size(0) > 1 && weight.strides()[0] == 0) || (weight.size(1) > 1 && weight.strides()[1] == 0))
    throw_error("embedding: maxNorm rescales rows of weight in place, but weight is an expanded view whose ",
                "elements share memory; pass a clone() instead");
  std::vector<std::int32_t> distinct(rows, rows + count);
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  bool wrote = false;
  visit_floating(weight.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* pw = static_cast<T*>(weight.storage().data) + weight.offset();
    const i64 rs = weight.strides()[0], cs = weight.strides()[1], dim = weight.size(1);
    for (const std::int32_t r : distinct) {
      T* row = pw + r * rs;
      double norm = 0;
      if (std::isinf(norm_type)) {
        for (i64 j = 0; j < dim; ++j) norm = std::max(norm, std::fabs(static_cast<double>(row[j * cs])));
      } else if (norm_type == 2) {
        for (i64 j = 0; j < dim; ++j) norm += static_cast<double>(row[j * cs]) * static_cast<double>(row[j * cs]);
        norm = std::sqrt(norm);
      } else {
        for (i64 j = 0; j < dim; ++j) norm += std::pow(std::fabs(static_cast<double>(row[j * cs])), norm_type);
        norm = std::pow(norm, 1 / norm_type);
      }
      if (!(norm > max_norm)) continue;
      const T scale = static_cast<T>(max_norm / (norm + 1e-7));
      for (i64 j = 0; j < dim; ++j) row[j * cs] *= scale;
      wrote = true;
    }
  });
  if (wrote) weight.bump_version();
}

}  // namespace

Tensor embedding(const Tensor& indices, const Tensor& weight, std::optional<std::int64_t> padding_idx,
                 std::optional<double> max_norm, double norm_type) {
  if (indices.dtype() != DType::Int32)
    throw_type_error("embedding: indices must be an int32 tensor, got ", dtype_name(indices.dtype()));
  require_floating(weight, "embedding", "weight");
  if (weight.dim() != 2)
    throw_range_error("embedding: weight must be 2-D [numEmbeddings, embeddingDim], got shape ",
                      shape_str(weight.shape()));
  const i64 rows = weight.size(0);
  if (padding_idx && (*padding_idx < -rows || *padding_idx >= rows))
    throw_range_error("embedding: paddingIdx must be in [", -rows, ", ", rows - 1, "] (weight has ", rows,
                      " rows), got ", *padding_idx);
  if (max_norm && !(*max_norm >= 0 && std::isfinite(*max_norm)))
    throw_range_error("embedding: maxNorm must be a finite non-negative number, got ", *max_norm);
  if (max_norm && !(norm_type > 0))
    throw_range_error("embedding: normType must be a positive number (Infinity for the largest magnitude), got ", norm_type);
  // The output first: one too large for memory fails here, before the
  // indices (possibly a huge broadcast view) are copied and checked.
  Tensor out = embedding_output(indices, weight);
  const Tensor ic = contiguous_data(indices);
  const std::int32_t* pi = ic.data<std::int32_t>();
  for (i64 k = 0, n = ic.numel(); k < n; ++k)
    if (pi[k] < 0 || pi[k] >= rows)
      throw_range_error("embedding: index ", pi[k], " is out of range for a weight with ", rows, " rows");
  const i64 pad = !padding_idx ? -1 : *padding_idx < 0 ? *padding_idx + rows : *padding_idx;
  if (max_norm) renorm_rows(weight, pi, ic.numel(), *max_norm, norm_type);
  return embedding_rows(indices, ic, weight, pad, std::move(out));
}

Tensor one_hot(const Tensor& indices, std::int64_t num_classes) {
  if (indices.dtype() != DType::Int32)
    throw_type_error("oneHot: indices must be an int32 tensor, got ", dtype_name(indices.dtype()));
  if (num_classes < -1) throw_range_error("oneHot: numClasses must be -1 (infer) or non-negative, got ", num_classes);
  const Tensor ic = contiguous_data(indices);
  const std::int32_t* pi = ic.data<std::int32_t>();
  const i64 n = ic.numel();
  for (i64 k = 0; k < n; ++k)
    if (pi[k] < 0) throw_range_error("oneHot: class index ", pi[k], " is negative");
  if (num_classes == -1) {
    if (n == 0) throw_range_error("oneHot: cannot infer numClasses from an empty tensor; pass numClasses");
    num_classes = 0;
    for (i64 k = 0; k < n; ++k) num_classes = std::max<i64>(num_classes, static_cast<i64>(pi[k]) + 1);
  }
  for (i64 k = 0; k < n; ++k)
    if (pi[k] >= num_classes)
      throw_range_error("oneHot: class index ", pi[k], " is out of range for ", num_classes, " classes");
  Shape shape = indices.shape();
  shape.push_back(num_classes);
  Tensor out = full(shape, 0, DType::Int32, "oneHot");
  std::int32_t* po = out.data<std::int32_t>();
  for (i64 k = 0; k < n; ++k) po[k * num_classes + pi[k]] = 1;
  return out;
}

}  // namespace tapegrad::ops
