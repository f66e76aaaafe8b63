// Binary elementwise ops: each takes two tensors, or a tensor and a number;
// where(condition, input, other).
#include "binding/addon.h"
#include "binding/convert.h"
#include "ops/elementwise.h"

namespace tapegrad::binding {

namespace {

// Reads (a, b) where either may be a number, typed to suit the other operand.
std::pair<Tensor, Tensor> operands(const Napi::CallbackInfo& info, const char* op) {
  if (info[0].IsNumber() && info[1].IsNumber()) throw_type_error(op, ": at least one operand must be a Tensor");
  if (info[0].IsNumber()) {
    Tensor b = arg_tensor(info, 1, op, "other");
    DType like = b.dtype();
    return {arg_tensor_or_number(info, 0, &like, op, "input"), b};
  }
  Tensor a = arg_tensor(info, 0, op, "input");
  DType like = a.dtype();
  return {a, arg_tensor_or_number(info, 1, &like, op, "other")};
}

template <Tensor (*Op)(const Tensor&, const Tensor&), const char* Name>
Napi::Value binary(const Napi::CallbackInfo& info) {
  auto [a, b] = operands(info, Name);
  return wrap(info.Env(), Op(a, b));
}

template <void (*Op)(const Tensor&, const Tensor&), const char* Name>
Napi::Value inplace(const Napi::CallbackInfo& info) {
  Tensor a = arg_tensor(info, 0, Name, "input");
  DType like = a.dtype();
  Op(a, arg_tensor_or_number(info, 1, &like, Name, "other"));
  return info[0];
}

// where(condition, input, other): input and other may be numbers; two numbers make float32.
Napi::Value where(const Napi::CallbackInfo& info) {
  Tensor cond = arg_tensor(info, 0, "where", "condition");
  if (!info[1].IsNumber()) {
    Tensor a = arg_tensor(info, 1, "where", "input");
    DType like = a.dtype();
    return wrap(info.Env(), ops::where(cond, a, arg_tensor_or_number(info, 2, &like, "where", "other")));
  }
  if (!info[2].IsNumber()) {
    Tensor b = arg_tensor(info, 2, "where", "other");
    DType like = b.dtype();
    return wrap(info.Env(), ops::where(cond, arg_tensor_or_number(info, 1, &like, "where", "input"), b));
  }
  return wrap(info.Env(), ops::where(cond, arg_tensor_or_number(info, 1, nullptr, "where", "input"),
                                     arg_tensor_or_number(info, 2, nullptr, "where", "other")));
}

Napi::Value cast(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), ops::cast(arg_tensor(info, 0, "to", "input"), arg_dtype(info, 1, "to")));
}

constexpr char kAdd[] = "add", kSub[] = "sub", kMul[] = "mul", kDiv[] = "div", kPow[] = "pow",
               kMaximum[] = "maximum", kMinimum[] = "minimum";
constexpr char kEq[] = "eq", kNe[] = "ne", kLt[] = "lt", kLe[] = "le", kGt[] = "gt", kGe[] = "ge";
constexpr char kAddInPlace[] = "addInPlace", kSubInPlace[] = "subInPlace", kMulInPlace[] = "mulInPlace",
               kCopyFrom[] = "copyFrom";

}  // namespace

void register_elementwise(Napi::Env env, Napi::Object exports) {
  define<binary<ops::add, kAdd>>(env, exports, kAdd);
  define<binary<ops::sub, kSub>>(env, exports, kSub);
  define<binary<ops::mul, kMul>>(env, exports, kMul);
  define<binary<ops::div, kDiv>>(env, exports, kDiv);
  define<binary<ops::pow, kPow>>(env, exports, kPow);
  define<binary<ops::maximum, kMaximum>>(env, exports, kMaximum);
  define<binary<ops::minimum, kMinimum>>(env, exports, kMinimum);
  define<binary<ops::eq, kEq>>(env, exports, kEq);
  define<binary<ops::ne, kNe>>(env, exports, kNe);
  define<binary<ops::lt, kLt>>(env, exports, kLt);
  define<binary<ops::le, kLe>>(env, exports, kLe);
  define<binary<ops::gt, kGt>>(env, exports, kGt);
  define<binary<ops::ge, kGe>>(env, exports, kGe);
  define<where>(env, exports, "where");
  define<inplace<ops::add_inplace, kAddInPlace>>(env, exports, kAddInPlace);
  define<inplace<ops::sub_inplace, kSubInPlace>>(env, exports, kSubInPlace);
  define<inplace<ops::mul_inplace, kMulInPlace>>(env, exports, kMulInPlace);
  define<inplace<ops::copy_inplace, kCopyFrom>>(env, exports, kCopyFrom);
  define<cast>(env, exports, "cast");
}

}  // namespace tapegrad::binding
