// Layers as functions: layerNorm, dropout, embedding, oneHot.
#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/random.h"
#include "core/strided.h"
#include "ops/common.h"
#include "ops/elementwise.h"
#include "ops/factory.h"
#include "ops/nn.h"
#include "ops/reduce.h"
#include "ops/shape.h"
#include "runtime/error.h"

namespace tapegrad::ops {

namespace {

using i64 = std::int64_t;

std::vector<i64> last_dims(i64 ndim, i64 count) {
  std::vector<i64> dims;
  for (i64 d = ndim - count; d < ndim; ++d) dims.push_back(d);
  return dims;
}

// Mean and 1/sqrt(var + eps) (biased variance) over the last `nd` dims of x,
// kept as size-1 dims. An op of its own so that layerNorm's backward, which
// uses them, can be differentiated again: d mean = 1/D, d rstd = -rstd³·(x - mean)/D.
std::pair<Tensor, Tensor> norm_stats(const Tensor& x, i64 nd, double eps) {
  Shape kept = x.shape();
  i64 group = 1;
  for (i64 d = x.dim() - nd; d < x.dim(); ++d) {
    group *= kept[d];
    kept[d] = 1;
  }
  Tensor mean = empty(kept, x.dtype(), "layerNorm"), rstd = empty(kept, x.dtype(), "layerNorm");
  const Tensor xc = contiguous_data(x);
  visit_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = xc.data<T>();
    T* pm = mean.data<T>();
    T* pr = rstd.data<T>();
    for (i64 r = 0, rows = mean.numel(); r < rows; ++r) {
      const T* row = px + r * group;
      double m = 0, v = 0;
      for (i64 j = 0; j < group; ++j) m += row[j];
      m /= static_cast<double>(group);
      for (i64 j = 0; j < group; ++j) v += (row[j] - m) * (row[j] - m);  // two passes: no cancellation
      v /= static_cast<double>(group);
      pm[r] = static_cast<T>(m);
      pr[r] = static_cast<T>(1.0 / std::sqrt(v + eps));
    }
  });
  auto saved_mean = std::make_shared<SavedTensor>(), saved_rstd = std::make_shared<SavedTensor>();
  record("layerNorm", std::vector<Tensor>{x}, std::vector<Tensor>{mean, rstd},
         [sx = SavedTensor(x), saved_mean, saved_rstd, group](const Grads& g, const Node&) {
           const Tensor x = sx.unpack(), m = saved_mean->unpack(), r = saved_rstd->unpack();
           const DType d = x.dtype();
           const Tensor from_mean = div(g[0], scalar(static_cast<double>(group), d));
           const Tensor r3 = mul(mul(r, r), r);
           const Tensor from_rstd = mul(mul(g[1], r3), mul(sub(x, m), scalar(-1.0 / static_cast<double>(group), d)));
           return Grads{add(from_mean, from_rstd)};
         });
  *saved_mean = SavedTensor(mean, true);
  *saved_rstd = SavedTensor(rstd, true);
  return {mean, rstd};
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
// tensor: embedding's gradient. Its own gradient is embedding again.
Tensor embedding_rows(const Tensor& indices, const Tensor& weight);

Tensor embedding_backward(const Tensor& g, const Tensor& indices, i64 rows) {
  const i64 dim = g.shape().back();
  Tensor out = full({rows, dim}, 0, g.dtype(), "embedding");
  const Tensor gc = contiguous_data(g), ic = contiguous_data(indices);
  const std::int32_t* pi = ic.data<std::int32_t>();
  visit_floating(g.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pg = gc.data<T>();
    T* po = out.data<T>();
    for (i64 k = 0, n = ic.numel(); k < n; ++k)
      for (i64 j = 0; j < dim; ++j) po[pi[k] * dim + j] += pg[k * dim + j];
  });
  record("embeddingBackward", {g}, out, [si = SavedTensor(indices)](const Grads& gg, const Node&) {
    return Grads{embedding_rows(si.unpack(), gg[0])};
  });
  return out;
}

// embedding with indices already checked against weight's rows.
Tensor embedding_rows(const Tensor& indices, const Tensor& weight) {
  const i64 dim = weight.size(1);
  Shape shape = indices.shape();
  shape.push_back(dim);
  Tensor out = empty(shape, weight.dtype(), "embedding");
  const Tensor ic = contiguous_data(indices);
  const std::int32_t* pi = ic.data<std::int32_t>();
  visit_floating(weight.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pw = static_cast<const T*>(weight.storage().data);
    T* po = out.data<T>();
    const i64 rs = weight.strides()[0], cs = weight.strides()[1];
    for (i64 k = 0, n = ic.numel(); k < n; ++k)
      for (i64 j = 0; j < dim; ++j) po[k * dim + j] = pw[weight.offset() + pi[k] * rs + j * cs];
  });
  record("embedding", {weight}, out, [si = SavedTensor(indices), rows = weight.size(0)](const Grads& g, const Node&) {
    return Grads{embedding_backward(g[0], si.unpack(), rows)};
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

  const auto [mean, rstd] = norm_stats(x, nd, eps);
  i64 group = 1;
  for (i64 s : normalized_shape) group *= s;
  Tensor out = empty(x.shape(), x.dtype(), "layerNorm");
  const Tensor xc = contiguous_data(x);
  const Tensor wc = weight.defined() ? contiguous_data(weight) : weight, bc = bias.defined() ? contiguous_data(bias) : bias;
  visit_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = xc.data<T>();
    const T* pm = mean.data<T>();
    const T* pr = rstd.data<T>();
    const T* pw = wc.defined() ? wc.data<T>() : nullptr;
    const T* pb = bc.defined() ? bc.data<T>() : nullptr;
    T* po = out.data<T>();
    for (i64 r = 0, rows = mean.numel(); r < rows; ++r)
      for (i64 j = 0; j < group; ++j) {
        T v = (px[r * group + j] - pm[r]) * pr[r];
        if (pw) v *= pw[j];
        if (pb) v += pb[j];
        po[r * group + j] = v;
      }
  });

  // With x̂ = (x - mean)·rstd and ĝ = g·weight, over the normalised dims:
  // dx = rstd·(ĝ - mean(ĝ) - x̂·mean(ĝ·x̂)), dweight = Σ g·x̂, dbias = Σ g.
  record("layerNorm", {x, weight, bias}, out,
         [sx = SavedTensor(x), sm = SavedTensor(mean), sr = SavedTensor(rstd), sw = SavedTensor(weight), nd,
          group, shape = normalized_shape](const Grads& g, const Node& node) {
           const Tensor x = sx.unpack(), rstd = sr.unpack(), w = sw.unpack();
           const Tensor xhat = mul(sub(x, sm.unpack()), rstd);
           Tensor gx, gw, gb;
           if (node.needs_grad(0)) {
             const std::vector<i64> dims = last_dims(x.dim(), nd);
             const Tensor n = scalar(static_cast<double>(group), x.dtype());
             const Tensor gh = w.defined() ? mul(g[0], w) : g[0];
             const Tensor mean_gh = div(sum(gh, dims, true), n);
             const Tensor mean_ghx = div(sum(mul(gh, xhat), dims, true), n);
             gx = mul(rstd, sub(sub(gh, mean_gh), mul(xhat, mean_ghx)));
           }
           if (node.needs_grad(1)) gw = sum_to(mul(g[0], xhat), shape);
           if (node.needs_grad(2)) gb = sum_to(g[0], shape);
           return Grads{gx, gw, gb};
         });
  return out;
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
  record("dropout", {x}, out, [mask](const Grads& g, const Node&) { return Grads{mul(g[0], mask)}; });
  return out;
}

Tensor embedding(const Tensor& indices, const Tensor& weight) {
  if (indices.dtype() != DType::Int32)
    throw_type_error("embedding: indices must be an int32 tensor, got ", dtype_name(indices.dtype()));
  require_floating(weight, "embedding", "weight");
  if (weight.dim() != 2)
    throw_range_error("embedding: weight must be 2-D [numEmbeddings, embeddingDim], got shape ",
                      shape_str(weight.shape()));
  const Tensor ic = contiguous_data(indices);
  const std::int32_t* pi = ic.data<std::int32_t>();
  for (i64 k = 0, n = ic.numel(); k < n; ++k)
    if (pi[k] < 0 || pi[k] >= weight.size(0))
      throw_range_error("embedding: index ", pi[k], " is out of range for a weight with ", weight.size(0), " rows");
  return embedding_rows(indices, weight);
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
