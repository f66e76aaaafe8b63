// Reductions: (tensor, dims | undefined, keepDim), plus the extra arguments
// of argmax (one dim), var / std (correction) and norm (p); the ops along one
// dim: cumsum, cumprod, sort, argsort, topk.
#include <cmath>
#include <optional>

#include "binding/addon.h"
#include "binding/convert.h"
#include "binding/op_args.h"
#include "ops/reduce.h"
#include "ops/sort.h"

namespace tapegrad::binding {

namespace {

using DimsOp = Tensor (*)(const Tensor&, const std::vector<std::int64_t>&, bool);

template <DimsOp Op, const char* Name>
Tensor over_dims(OpArgs& info) {
  const Tensor t = info.tensor(0, Name, "input");
  return Op(t, info.dims(1, Name), info.boolean(2, Name, "keepDim"));
}

// argmax / argmin take one dim (or none, for the flat index), as in PyTorch.
template <Tensor (*Op)(const Tensor&, std::optional<std::int64_t>, bool), const char* Name>
Tensor over_dim(OpArgs& info) {
  const Tensor t = info.tensor(0, Name, "input");
  std::optional<std::int64_t> dim;
  if (info.present(1)) {
    if (info.is_array(1)) throw_type_error(Name, ": dim must be a single integer or undefined, got an array");
    dim = info.integer(1, Name, "dim");
  }
  return Op(t, dim, info.boolean(2, Name, "keepDim"));
}

// (tensor, dims, correction, keepDim); correction defaults to 1.
template <Tensor (*Op)(const Tensor&, const std::vector<std::int64_t>&, double, bool), const char* Name>
Tensor moments(OpArgs& info) {
  const Tensor t = info.tensor(0, Name, "input");
  const std::vector<std::int64_t> dims = info.dims(1, Name);
  const double correction = !info.present(2) ? 1.0 : info.number(2, Name, "correction");
  return Op(t, dims, correction, info.boolean(3, Name, "keepDim"));
}

// (tensor, p, dims, keepDim): p is a number or 'fro' (the 2-norm); defaults to 2.
Tensor norm(OpArgs& info) {
  const Tensor t = info.tensor(0, "norm", "input");
  double p = 2;
  if (info.is_string(1)) {
    const std::string name = info.string(1, "norm", "p");
    if (name != "fro")
      throw_range_error("norm: p must be a number or 'fro', got '", name, "'");
  } else if (info.present(1)) {
    p = info.number(1, "norm", "p");
  }
  return ops::norm(t, p, info.dims(2, "norm"), info.boolean(3, "norm", "keepDim"));
}

// logsumexp needs its dims, as in PyTorch.
Tensor logsumexp(OpArgs& info) {
  const Tensor t = info.tensor(0, "logsumexp", "input");
  if (!info.present(1))
    throw_type_error("logsumexp: dim is required (an integer or an array of integers)");
  return ops::logsumexp(t, info.dims(1, "logsumexp"), info.boolean(2, "logsumexp", "keepDim"));
}

Tensor cumsum(OpArgs& info) {
  return ops::cumsum(info.tensor(0, "cumsum", "input"), info.integer(1, "cumsum", "dim"));
}

Tensor cumprod(OpArgs& info) {
  return ops::cumprod(info.tensor(0, "cumprod", "input"), info.integer(1, "cumprod", "dim"));
}

// sort(t, dim, descending) -> [values, indices]
std::vector<Tensor> sort(OpArgs& info) {
  const Tensor t = info.tensor(0, "sort", "input");
  const std::int64_t dim = info.integer(1, "sort", "dim");
  ops::Sorted s = ops::sort(t, dim, info.boolean(2, "sort", "descending"));
  return {std::move(s.values), std::move(s.indices)};
}

Tensor argsort(OpArgs& info) {
  const Tensor t = info.tensor(0, "argsort", "input");
  const std::int64_t dim = info.integer(1, "argsort", "dim");
  return ops::sort(t, dim, info.boolean(2, "argsort", "descending"), "argsort").indices;
}

// topk(t, k, dim, largest) -> [values, indices]
std::vector<Tensor> topk(OpArgs& info) {
  const Tensor t = info.tensor(0, "topk", "input");
  const std::int64_t k = info.integer(1, "topk", "k");
  const std::int64_t dim = info.integer(2, "topk", "dim");
  ops::Sorted s = ops::topk(t, k, dim, info.boolean(3, "topk", "largest"));
  return {std::move(s.values), std::move(s.indices)};
}

constexpr char kSum[] = "sum", kMean[] = "mean", kProd[] = "prod", kMax[] = "max", kMin[] = "min",
               kArgmax[] = "argmax", kArgmin[] = "argmin", kVar[] = "var", kStd[] = "std";

}  // namespace

void register_reduce(Napi::Env env, Napi::Object exports) {
  define_op<over_dims<ops::sum, kSum>>(env, exports, kSum);
  define_op<over_dims<ops::mean, kMean>>(env, exports, kMean);
  define_op<over_dims<ops::prod, kProd>>(env, exports, kProd);
  define_op<over_dims<ops::amax, kMax>>(env, exports, kMax);
  define_op<over_dims<ops::amin, kMin>>(env, exports, kMin);
  define_op<over_dim<ops::argmax, kArgmax>>(env, exports, kArgmax);
  define_op<over_dim<ops::argmin, kArgmin>>(env, exports, kArgmin);
  define_op<moments<ops::variance, kVar>>(env, exports, kVar);
  define_op<moments<ops::std_dev, kStd>>(env, exports, kStd);
  define_op<logsumexp>(env, exports, "logsumexp");
  define_op<norm>(env, exports, "norm");
  define_op<cumsum>(env, exports, "cumsum");
  define_op<cumprod>(env, exports, "cumprod");
  define_op<sort>(env, exports, "sort");
  define_op<argsort>(env, exports, "argsort");
  define_op<topk>(env, exports, "topk");
}

}  // namespace tapegrad::binding
