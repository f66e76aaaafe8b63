// scaledDotProductAttention: per batch element one GEMM for the scores, a
// masked max-shifted softmax over each row in place (the kernel table's
// softmax_rows), one GEMM for the output.
// The strided GEMM reads Kᵀ, Pᵀ and head-split views of q/k/v in place, so
// nothing is transposed or copied.
//
// Backward has two forms of the same math. Without createGraph it is fused
// like the forward (four GEMMs and one pass over the scores per batch
// element). With createGraph the rule is written with differentiable ops
// (matmul, softmax, ...) that recompute the probabilities, so gradients of
// gradients flow through every input, as in every other rule.
#include "ops/attention.h"

#include <algorithm>
#include <cstdint>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/grad_mode.h"
#include "core/strided.h"
#include "kernels/kernels.h"
#include "ops/common.h"
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "ops/nn.h"
#include "ops/reduce.h"
#include "ops/shape.h"
#include "runtime/error.h"
#include "runtime/parallel.h"

namespace tapegrad::ops {

namespace {

using i64 = std::int64_t;
constexpr const char* kOp = "scaledDotProductAttention";

enum class MaskKind { None, Boolean, Additive };

// An operand read as batch + [rows, cols]: strides of the batch dims (0 where
// it broadcasts) and of its two matrix dims.
struct Layout {
  Shape batch_strides;
  i64 rs = 0, cs = 0;
};

Layout layout_of(const Tensor& t, const Shape& batch, i64 rows, i64 cols) {
  Shape full = batch;
  full.push_back(rows);
  full.push_back(cols);
  Shape s = broadcast_strides(t, full);
  Layout l;
  l.cs = s.back();
  l.rs = s[s.size() - 2];
  s.resize(batch.size());
  l.batch_strides = std::move(s);
  return l;
}

// Element offset of batch element `b` (row-major flat index over `batch`).
i64 batch_offset(i64 b, const Shape& batch, const Shape& strides) {
  i64 off = 0;
  for (std::size_t d = batch.size(); d-- > 0;) {
    off += (b % batch[d]) * strides[d];
    b /= batch[d];
  }
  return off;
}

// C (row-major, row stride c_rs) = alpha·A·B + beta·C, A rows×k and B k×cols
// with any strides. An empty sum (k == 0) reads neither A nor B.
template <typename T>
void gemm(i64 rows, i64 cols, i64 k, T alpha, const T* a, i64 a_rs, i64 a_cs, const T* b, i64 b_rs, i64 b_cs, T beta,
          T* c, i64 c_rs) {
  if (rows == 0 || cols == 0) return;
  if (k == 0) {
    for (i64 i = 0; i < rows; ++i)
      for (i64 j = 0; j < cols; ++j) c[i * c_rs + j] = beta == T(0) ? T(0) : beta * c[i * c_rs + j];
    return;
  }
  const auto& table = kernels::active();
  kernel_for<T>(table.gemm_f32, table.gemm_f64)(rows, cols, k, alpha, a, a_rs, a_cs, b, b_rs, b_cs, beta, c, c_rs, 1);
}

// Everything the kernels need, checked once.
struct Plan {
  Shape batch;  // broadcast batch dims of q, k, v
  i64 nbatch = 1, L = 0, S = 0, E = 0, Ev = 0;
  Layout q, k, v, mask;
  MaskKind kind = MaskKind::None;
  bool causal = false;
  double scale = 1;
};

Shape with_matrix(const Shape& batch, i64 rows, i64 cols) {
  Shape s = batch;
  s.push_back(rows);
  s.push_back(cols);
  return s;
}

Plan make_plan(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, bool is_causal,
               std::optional<double> scale) {
  require_floating(q, kOp, "query");
  const struct {
    const Tensor* t;
    const char* name;
    const char* form;
  } args[] = {{&q, "query", "[..., L, E]"}, {&k, "key", "[..., S, E]"}, {&v, "value", "[..., S, Ev]"}};
  for (const auto& a : args) {
    if (a.t->dtype() != q.dtype())
      throw_type_error(kOp, ": ", a.name, " must have the query's dtype ", dtype_name(q.dtype()), ", got ",
                       dtype_name(a.t->dtype()));
    if (a.t->dim() < 2)
      throw_range_error(kOp, ": ", a.name, " must be at least 2-D ", a.form, ", got shape ", shape_str(a.t->shape()));
  }
  Plan p;
  p.L = q.shape()[q.dim() - 2];
  p.E = q.shape().back();
  p.S = k.shape()[k.dim() - 2];
  p.Ev = v.shape().back();
  if (k.shape().back() != p.E)
    throw_range_error(kOp, ": key must be [..., S, E] with the query's E = ", p.E, ", got shape ",
                      shape_str(k.shape()), " (query shape ", shape_str(q.shape()), ")");
  if (v.shape()[v.dim() - 2] != p.S)
    throw_range_error(kOp, ": value must be [..., S, Ev] with the key's S = ", p.S, ", got shape ",
                      shape_str(v.shape()), " (key shape ", shape_str(k.shape()), ")");
  // Batch dims broadcast as NumPy's, right-aligned.
  const std::size_t nb = std::max({q.dim(), k.dim(), v.dim()}) - 2;
  p.batch.assign(nb, 1);
  for (const auto& a : args) {
    const std::size_t tb = a.t->shape().size() - 2;
    for (std::size_t i = 0; i < tb; ++i) {
      const i64 size = a.t->shape()[i];
      i64& out = p.batch[nb - tb + i];
      if (size != 1 && out != 1 && size != out)
        throw_range_error(kOp, ": the batch dims of query ", shape_str(q.shape()), ", key ", shape_str(k.shape()),
                          " and value ", shape_str(v.shape()), " cannot be broadcast together (", out, " vs ", size,
                          " in ", a.name, ")");
      if (size != 1) out = size;
    }
  }
  for (i64 s : p.batch) p.nbatch *= s;
  p.q = layout_of(q, p.batch, p.L, p.E);
  p.k = layout_of(k, p.batch, p.S, p.E);
  p.v = layout_of(v, p.batch, p.S, p.Ev);

  if (mask.defined()) {
    if (is_causal)
      throw_range_error(kOp, ": attnMask and isCausal cannot both be given (isCausal is a mask of its own)");
    if (mask.dtype() == DType::Int32)
      p.kind = MaskKind::Boolean;
    else if (mask.dtype() == q.dtype())
      p.kind = MaskKind::Additive;
    else
      throw_type_error(kOp, ": attnMask must be int32 (a boolean mask) or the query's dtype ", dtype_name(q.dtype()),
                       " (added to the scores), got ", dtype_name(mask.dtype()));
    const Shape weights = with_matrix(p.batch, p.L, p.S);
    bool fits = mask.shape().size() <= weights.size();
    for (std::size_t i = 0; fits && i < mask.shape().size(); ++i) {
      const i64 m = mask.shape()[i], w = weights[weights.size() - mask.shape().size() + i];
      fits = m == 1 || m == w;
    }
    if (!fits)
      throw_range_error(kOp, ": attnMask of shape ", shape_str(mask.shape()),
                        " cannot be broadcast to the attention weights' shape ", shape_str(weights));
    p.mask = layout_of(mask, p.batch, p.L, p.S);
  }
  p.causal = is_causal;
  if (!scale.has_value() && p.E == 0)
    throw_range_error(kOp, ": the query and key have an empty last dim (E = 0, query shape ", shape_str(q.shape()),
                      "), so the default scale 1/sqrt(E) is undefined; pass scale");
  p.scale = scale.has_value() ? *scale : 1.0 / std::sqrt(static_cast<double>(p.E));
  if (!std::isfinite(p.scale)) throw_range_error(kOp, ": scale must be a finite number, got ", p.scale);
  return p;
}

// scores[i, :] → softmax(scores[i, :] + mask[i, :]) in place for the rows of
// one batch element. Masked-out positions get exactly 0; a row with no
// position left is NaN (0/0), as PyTorch's softmax over all -inf.
template <typename T>
void masked_softmax(const Plan& p, T* scores, const void* mask, i64 row_begin, i64 row_end) {
  const T neg_inf = -std::numeric_limits<T>::infinity();
  for (i64 i = row_begin; i < row_end; ++i) {
    T* row = scores + i * p.S;
    if (p.kind == MaskKind::Additive) {
      const T* m = static_cast<const T*>(mask) + i * p.mask.rs;
      for (i64 j = 0; j < p.S; ++j) row[j] += m[j * p.mask.cs];
    } else if (p.kind == MaskKind::Boolean) {
      const std::int32_t* m = static_cast<const std::int32_t*>(mask) + i * p.mask.rs;
      for (i64 j = 0; j < p.S; ++j) row[j] = m[j * p.mask.cs] == 0 ? neg_inf : row[j];
    } else if (p.causal) {
      for (i64 j = i + 1; j < p.S; ++j) row[j] = neg_inf;
    }
  }
  const auto& table = kernels::active();
  kernel_for<T>(table.softmax_rows_f32, table.softmax_rows_f64)(row_end - row_begin, p.S, scores + row_begin * p.S,
                                                                scores + row_begin * p.S, false);
}

template <typename T>
const T* at(const Tensor& t) {
  return static_cast<const T*>(t.storage().data) + t.offset();
}

// A result [..., B, rows, cols] for an operand `like`: contiguous, or stored
// as [..., rows, B, cols] (B the last batch dim) when `like` is laid out so,
// as the head-split views of MultiheadAttention are. For the output, that is
// the layout in which merging the heads, [N, H, L, D] → [N, L, H·D], is a
// view instead of a copy (PyTorch's CPU flash-attention kernel returns the
// same layout); for the gradients of q, k and v, the one in which the head
// split's backward is a view too.
Tensor result_like(const Plan& p, const Tensor& like, i64 rows, i64 cols) {
  const std::size_t nb = p.batch.size();
  const DType dtype = like.dtype();
  const i64 nd = like.dim();
  const bool heads_inner = nb > 0 && p.batch.back() > 1 && nd >= 3 && like.shape()[nd - 3] > 1 &&
                           like.shape()[nd - 2] > 1 && like.strides()[nd - 3] < like.strides()[nd - 2];
  if (!heads_inner) return empty(with_matrix(p.batch, rows, cols), dtype, kOp);
  Shape storage_shape(p.batch.begin(), p.batch.end() - 1);
  storage_shape.push_back(rows);
  storage_shape.push_back(p.batch.back());
  storage_shape.push_back(cols);
  const Tensor base = empty(storage_shape, dtype, kOp);
  Shape strides = contiguous_strides(storage_shape);  // [..., rows, B, cols]
  std::swap(strides[nb - 1], strides[nb]);            // read as [..., B, rows, cols]
  return relayout(base, with_matrix(p.batch, rows, cols), strides);
}

// probs (contiguous) ← softmax(scale·Q·Kᵀ + mask), out ← probs·V.
template <typename T>
void forward_kernel(const Plan& p, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, T* probs,
                    const Tensor& out) {
  const Layout o = layout_of(out, p.batch, p.L, p.Ev);
  T* po = out.data<T>();
  const T* pq = at<T>(q);
  const T* pk = at<T>(k);
  const T* pv = at<T>(v);
  // The mask is T (additive) or int32 (boolean): offsets count its own elements.
  const bool boolean = p.kind == MaskKind::Boolean;
  const std::size_t m_size = boolean ? sizeof(std::int32_t) : sizeof(T);
  const char* pm = mask.defined() ? static_cast<const char*>(mask.storage().data) : nullptr;
  const i64 LS = p.L * p.S;
  const T scale = static_cast<T>(p.scale);
  // Query rows are independent: with few batch elements each is also split
  // into blocks of at least 32 rows, so the softmax runs in parallel too (the
  // GEMMs inside a parallel region run on one thread). The split depends on
  // the shape only, never on the thread count, so results do not either.
  constexpr i64 kTasks = 8;
  const i64 blocks =
      p.nbatch >= kTasks ? 1 : std::max<i64>(1, std::min((p.L + 31) / 32, (kTasks + p.nbatch - 1) / p.nbatch));
  const i64 block_rows = (p.L + blocks - 1) / blocks;
  runtime::parallel_for(0, p.nbatch * blocks, 1, [&](i64 begin, i64 end) {
    for (i64 task = begin; task < end; ++task) {
      const i64 b = task / blocks, r0 = (task % blocks) * block_rows, r1 = std::min(p.L, r0 + block_rows);
      if (r0 >= r1) continue;
      const T* qb = pq + batch_offset(b, p.batch, p.q.batch_strides);
      const T* kb = pk + batch_offset(b, p.batch, p.k.batch_strides);
      const T* vb = pv + batch_offset(b, p.batch, p.v.batch_strides);
      T* sb = probs + b * LS;
      // Kᵀ: element (e, j) of the right operand is k[j, e].
      gemm<T>(r1 - r0, p.S, p.E, scale, qb + r0 * p.q.rs, p.q.rs, p.q.cs, kb, p.k.cs, p.k.rs, T(0), sb + r0 * p.S, p.S);
      const void* mb =
          pm ? pm + m_size * static_cast<std::size_t>(mask.offset() + batch_offset(b, p.batch, p.mask.batch_strides))
             : nullptr;
      masked_softmax<T>(p, sb, mb, r0, r1);
      gemm<T>(r1 - r0, p.Ev, p.S, T(1), sb + r0 * p.S, p.S, 1, vb, p.v.rs, p.v.cs, T(0),
              po + batch_offset(b, p.batch, o.batch_strides) + r0 * o.rs, o.rs);
    }
  });
}

// Gradients of q, k, v and an additive mask, fused per batch element:
//   dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P ⊙ (dP - rowsum(dP ⊙ P)),
//   dQ = scale·dS·K, dK = scale·dSᵀ·Q, dMask = dS.
// Results cover the full batch; the caller sums broadcast dims away.
template <typename T>
void backward_kernel(const Plan& p, const Tensor& q, const Tensor& k, const Tensor& v, const T* probs,
                     const Tensor& grad, const Tensor& gq, const Tensor& gk, const Tensor& gv, T* dmask) {
  // Where each batch element's gradient goes (see result_like).
  auto target = [&](const Tensor& t, i64 rows, i64 cols) {
    return t.defined() ? std::make_pair(t.data<T>(), layout_of(t, p.batch, rows, cols)) : std::make_pair(nullptr, Layout{});
  };
  const auto [dq, lq] = target(gq, p.L, p.E);
  const auto [dk, lk] = target(gk, p.S, p.E);
  const auto [dv, lv] = target(gv, p.S, p.Ev);
  const T* pq = at<T>(q);
  const T* pk = at<T>(k);
  const T* pv = at<T>(v);
  const T* pg = at<T>(grad);
  const Layout g = layout_of(grad, p.batch, p.L, p.Ev);
  const i64 LS = p.L * p.S;
  const T scale = static_cast<T>(p.scale);
  const auto& table = kernels::active();
  const auto softmax_backward = kernel_for<T>(table.softmax_backward_rows_f32, table.softmax_backward_rows_f64);
  runtime::parallel_for(0, p.nbatch, 1, [&](i64 begin, i64 end) {
    std::vector<T> scratch(dmask ? 0 : static_cast<std::size_t>(LS));
    for (i64 b = begin; b < end; ++b) {
      const T* qb = pq + batch_offset(b, p.batch, p.q.batch_strides);
      const T* kb = pk + batch_offset(b, p.batch, p.k.batch_strides);
      const T* vb = pv + batch_offset(b, p.batch, p.v.batch_strides);
      const T* gb = pg + batch_offset(b, p.batch, g.batch_strides);
      const T* pb = probs + b * LS;
      if (dv)
        gemm<T>(p.S, p.Ev, p.L, T(1), pb, 1, p.S, gb, g.rs, g.cs, T(0), dv + batch_offset(b, p.batch, lv.batch_strides),
                lv.rs);
      if (!dq && !dk && !dmask) continue;
      T* ds = dmask ? dmask + b * LS : scratch.data();
      gemm<T>(p.L, p.S, p.Ev, T(1), gb, g.rs, g.cs, vb, p.v.cs, p.v.rs, T(0), ds, p.S);
      softmax_backward(p.L, p.S, pb, ds, ds, false);
      if (dq)
        gemm<T>(p.L, p.E, p.S, scale, ds, p.S, 1, kb, p.k.rs, p.k.cs, T(0), dq + batch_offset(b, p.batch, lq.batch_strides),
                lq.rs);
      if (dk)
        gemm<T>(p.S, p.E, p.L, scale, ds, 1, p.S, qb, p.q.rs, p.q.cs, T(0), dk + batch_offset(b, p.batch, lk.batch_strides),
                lk.rs);
    }
  });
}

// The mask as a tensor added to the scores: the additive mask itself, a
// boolean mask as 0 / -inf, the causal mask as an [L, S] tensor of 0 / -inf.
Tensor additive_mask(const Plan& p, const Tensor& mask, DType dtype) {
  const double neg_inf = -std::numeric_limits<double>::infinity();
  if (p.kind == MaskKind::Additive) return mask;
  if (p.kind == MaskKind::Boolean) return where(mask, scalar(0, dtype), scalar(neg_inf, dtype));
  if (!p.causal) return Tensor();
  Tensor m = empty({p.L, p.S}, dtype, kOp);
  visit_floating(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* d = m.data<T>();
    for (i64 i = 0; i < p.L; ++i)
      for (i64 j = 0; j < p.S; ++j) d[i * p.S + j] = j <= i ? T(0) : static_cast<T>(neg_inf);
  });
  return m;
}

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn_mask,
                                    bool is_causal, std::optional<double> scale) {
  const Plan plan = make_plan(q, k, v, attn_mask, is_causal, scale);
  Tensor probs = empty(with_matrix(plan.batch, plan.L, plan.S), q.dtype(), kOp);
  Tensor out = result_like(plan, q, plan.L, plan.Ev);
  if (plan.nbatch > 0)
    visit_floating(q.dtype(), [&](auto tag) {
      using T = decltype(tag);
      forward_kernel<T>(plan, q, k, v, attn_mask, probs.data<T>(), out);
    });

  record(kOp, {q, k, v, attn_mask}, out,
         [plan, sq = SavedTensor(q), sk = SavedTensor(k), sv = SavedTensor(v), sm = SavedTensor(attn_mask),
          sp = SavedTensor(probs)](const Grads& g, const Node& node) {
           const Tensor q0 = sq.unpack(), k0 = sk.unpack(), v0 = sv.unpack();
           const Tensor m0 = sm.defined() ? sm.unpack() : Tensor();
           const bool want_mask = node.needs_grad(3) && plan.kind == MaskKind::Additive;
           Tensor gq, gk, gv, gm;
           if (grad_enabled()) {
             // createGraph: the same math as differentiable ops, the
             // probabilities recomputed so that they carry a graph too.
             Tensor scores = mul(matmul(q0, transpose(k0, -1, -2)), scalar(plan.scale, q0.dtype()));
             const Tensor bias = additive_mask(plan, m0, q0.dtype());
             if (bias.defined()) scores = add(scores, bias);
             const Tensor pr = softmax(scores, -1);
             if (node.needs_grad(2)) gv = sum_to(matmul(transpose(pr, -1, -2), g[0]), v0.shape());
             if (node.needs_grad(0) || node.needs_grad(1) || want_mask) {
               const Tensor dp = matmul(g[0], transpose(v0, -1, -2));
               const Tensor ds = mul(pr, sub(dp, sum(mul(dp, pr), {-1}, true)));
               const Tensor sc = scalar(plan.scale, q0.dtype());
               if (node.needs_grad(0)) gq = sum_to(mul(matmul(ds, k0), sc), q0.shape());
               if (node.needs_grad(1)) gk = sum_to(mul(matmul(transpose(ds, -1, -2), q0), sc), k0.shape());
               if (want_mask) gm = sum_to(ds, m0.shape());
             }
             return Grads{gq, gk, gv, gm};
           }
           const Tensor pr = sp.unpack();
           const DType dt = q0.dtype();
           Tensor fq, fk, fv, fm;
           if (node.needs_grad(0)) fq = result_like(plan, q0, plan.L, plan.E);
           if (node.needs_grad(1)) fk = result_like(plan, k0, plan.S, plan.E);
           if (node.needs_grad(2)) fv = result_like(plan, v0, plan.S, plan.Ev);
           if (want_mask) fm = empty(with_matrix(plan.batch, plan.L, plan.S), dt, kOp);
           if (plan.nbatch > 0)
             visit_floating(dt, [&](auto tag) {
               using T = decltype(tag);
               backward_kernel<T>(plan, q0, k0, v0, pr.data<T>(), g[0], fq, fk, fv, fm.defined() ? fm.data<T>() : nullptr);
             });
           if (fq.defined()) gq = sum_to(fq, q0.shape());
           if (fk.defined()) gk = sum_to(fk, k0.shape());
           if (fv.defined()) gv = sum_to(fv, v0.shape());
           if (fm.defined()) gm = sum_to(fm, m0.shape());
           return Grads{gq, gk, gv, gm};
         });
  return out;
}

}  // namespace tapegrad::ops
