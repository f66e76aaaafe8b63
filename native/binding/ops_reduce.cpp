// Reductions: (tensor, dims | undefined, keepDim), plus the extra arguments
// of argmax (one dim), var / std (correction) and norm (p).
#include <cmath>
#include <optional>

#include "binding/addon.h"
#include "binding/convert.h"
#include "ops/reduce.h"

namespace tapegrad::binding {

namespace {

using DimsOp = Tensor (*)(const Tensor&, const std::vector<std::int64_t>&, bool);

template <DimsOp Op, const char* Name>
Napi::Value over_dims(const Napi::CallbackInfo& info) {
  const Tensor t = arg_tensor(info, 0, Name, "input");
  return wrap(info.Env(), Op(t, arg_dims(info, 1, Name), arg_bool(info, 2, Name, "keepDim")));
}

// argmax / argmin take one dim (or none, for the flat index), as in PyTorch.
template <Tensor (*Op)(const Tensor&, std::optional<std::int64_t>, bool), const char* Name>
Napi::Value over_dim(const Napi::CallbackInfo& info) {
  const Tensor t = arg_tensor(info, 0, Name, "input");
  std::optional<std::int64_t> dim;
  if (!info[1].IsUndefined() && !info[1].IsNull()) {
    if (info[1].IsArray()) throw_type_error(Name, ": dim must be a single integer or undefined, got an array");
    dim = arg_int(info, 1, Name, "dim");
  }
  return wrap(info.Env(), Op(t, dim, arg_bool(info, 2, Name, "keepDim")));
}

// (tensor, dims, correction, keepDim); correction defaults to 1.
template <Tensor (*Op)(const Tensor&, const std::vector<std::int64_t>&, double, bool), const char* Name>
Napi::Value moments(const Napi::CallbackInfo& info) {
  const Tensor t = arg_tensor(info, 0, Name, "input");
  const std::vector<std::int64_t> dims = arg_dims(info, 1, Name);
  const double correction = info[2].IsUndefined() ? 1.0 : arg_number(info, 2, Name, "correction");
  return wrap(info.Env(), Op(t, dims, correction, arg_bool(info, 3, Name, "keepDim")));
}

// (tensor, p, dims, keepDim): p is a number or 'fro' (the 2-norm); defaults to 2.
Napi::Value norm(const Napi::CallbackInfo& info) {
  const Tensor t = arg_tensor(info, 0, "norm", "input");
  double p = 2;
  if (info[1].IsString()) {
    const std::string name = info[1].As<Napi::String>().Utf8Value();
    if (name != "fro")
      throw_range_error("norm: p must be a number or 'fro', got '", name, "'");
  } else if (!info[1].IsUndefined()) {
    p = arg_number(info, 1, "norm", "p");
  }
  return wrap(info.Env(), ops::norm(t, p, arg_dims(info, 2, "norm"), arg_bool(info, 3, "norm", "keepDim")));
}

// logsumexp needs its dims, as in PyTorch.
Napi::Value logsumexp(const Napi::CallbackInfo& info) {
  const Tensor t = arg_tensor(info, 0, "logsumexp", "input");
  if (info[1].IsUndefined() || info[1].IsNull())
    throw_type_error("logsumexp: dim is required (an integer or an array of integers)");
  return wrap(info.Env(), ops::logsumexp(t, arg_dims(info, 1, "logsumexp"), arg_bool(info, 2, "logsumexp", "keepDim")));
}

constexpr char kSum[] = "sum", kMean[] = "mean", kProd[] = "prod", kMax[] = "max", kMin[] = "min",
               kArgmax[] = "argmax", kArgmin[] = "argmin", kVar[] = "var", kStd[] = "std";

}  // namespace

void register_reduce(Napi::Env env, Napi::Object exports) {
  define<over_dims<ops::sum, kSum>>(env, exports, kSum);
  define<over_dims<ops::mean, kMean>>(env, exports, kMean);
  define<over_dims<ops::prod, kProd>>(env, exports, kProd);
  define<over_dims<ops::amax, kMax>>(env, exports, kMax);
  define<over_dims<ops::amin, kMin>>(env, exports, kMin);
  define<over_dim<ops::argmax, kArgmax>>(env, exports, kArgmax);
  define<over_dim<ops::argmin, kArgmin>>(env, exports, kArgmin);
  define<moments<ops::variance, kVar>>(env, exports, kVar);
  define<moments<ops::std_dev, kStd>>(env, exports, kStd);
  define<logsumexp>(env, exports, "logsumexp");
  define<norm>(env, exports, "norm");
}

}  // namespace tapegrad::binding
