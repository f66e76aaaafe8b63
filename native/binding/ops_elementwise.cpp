// Binary elementwise ops: each takes two tensors, or a tensor and a number;
// where(condition, input, other); maskedFill(input, mask, value).
#include "binding/addon.h"
#include "binding/convert.h"
#include "binding/op_args.h"
#include "ops/elementwise.h"

namespace tapegrad::binding {

namespace {

constexpr char kOther[] = "other", kSource[] = "source", kValue[] = "value", kPowName[] = "pow";

// Reads (a, b) where either may be a number, typed to suit the other operand.
std::pair<Tensor, Tensor> operands(OpArgs& info, const char* op) {
  if (info.is_number(0) && info.is_number(1)) throw_type_error(op, ": at least one operand must be a Tensor");
  if (info.is_number(0)) {
    Tensor b = info.tensor(1, op, "other");
    DType like = b.dtype();
    return {info.tensor_or_number(0, &like, op, "input"), b};
  }
  Tensor a = info.tensor(0, op, "input");
  DType like = a.dtype();
  return {a, info.tensor_or_number(1, &like, op, "other")};
}

template <Tensor (*Op)(const Tensor&, const Tensor&), const char* Name>
Tensor binary(OpArgs& info) {
  auto [a, b] = operands(info, Name);
  return Op(a, b);
}

// pow(a, b): as the other binary ops, except that an integer tensor raised
// to a negative integer number is refused, as PyTorch refuses it (a tensor
// of exponents computes: 2^-1 is 0, 1^-1 is 1, (-1)^-1 is -1).
Tensor pow(OpArgs& info) {
  auto [a, b] = operands(info, kPowName);
  if (!info.is_number(0) && info.is_number(1) && !is_floating(a.dtype()) && !is_floating(b.dtype()) &&
      b.data<std::int32_t>()[0] < 0)
    throw_range_error("pow: an ", dtype_name(a.dtype()), " input cannot be raised to a negative integer power, got ",
                      b.data<std::int32_t>()[0], " (convert the input to a float dtype first)");
  return ops::pow(a, b);
}

// The dtype a number written into a `target` tensor is read in (copyFrom,
// fill, maskedFill): into int32, float64, so that it truncates from its own
// value rather than from a float32 rounding of it.
DType written_number_dtype(DType target) { return is_floating(target) ? target : DType::Float64; }

// a op= b. copyFrom and fill write the number itself (`Arg` names it).
template <void (*Op)(const Tensor&, const Tensor&), const char* Name, const char* Arg>
void inplace(OpArgs& info) {
  Tensor a = info.tensor(0, Name, "input");
  DType like = Arg == kOther ? a.dtype() : written_number_dtype(a.dtype());
  Op(a, info.tensor_or_number(1, &like, Name, Arg));
}

// where(condition, input, other): input and other may be numbers; two numbers make float32.
Tensor where(OpArgs& info) {
  Tensor cond = info.tensor(0, "where", "condition");
  // Each of input and other may be a number: one that is not must be a tensor.
  if (!info.is_number(1)) {
    Tensor a = info.tensor(1, "where", "input", kNumberOrTensor);
    DType like = a.dtype();
    return ops::where(cond, a, info.tensor_or_number(2, &like, "where", "other"));
  }
  if (!info.is_number(2)) {
    Tensor b = info.tensor(2, "where", "other", kNumberOrTensor);
    DType like = b.dtype();
    return ops::where(cond, info.tensor_or_number(1, &like, "where", "input"), b);
  }
  return ops::where(cond, info.tensor_or_number(1, nullptr, "where", "input"),
                    info.tensor_or_number(2, nullptr, "where", "other"));
}

// maskedFill(input, mask, value): value a number or a 0-d tensor.
Tensor masked_fill(OpArgs& info) {
  Tensor x = info.tensor(0, "maskedFill", "input");
  Tensor mask = info.tensor(1, "maskedFill", "mask");
  const DType like = written_number_dtype(x.dtype());
  return ops::masked_fill(x, mask, info.tensor_or_number(2, &like, "maskedFill", "value"));
}

Tensor cast(OpArgs& info) {
  return ops::cast(info.tensor(0, "to", "input"), info.dtype(1, "to"));
}

constexpr char kAdd[] = "add", kSub[] = "sub", kMul[] = "mul", kDiv[] = "div",
               kMaximum[] = "maximum", kMinimum[] = "minimum", kRemainder[] = "remainder", kFmod[] = "fmod";
constexpr char kEq[] = "eq", kNe[] = "ne", kLt[] = "lt", kLe[] = "le", kGt[] = "gt", kGe[] = "ge";
constexpr char kAddInPlace[] = "addInPlace", kSubInPlace[] = "subInPlace", kMulInPlace[] = "mulInPlace",
               kCopyFrom[] = "copyFrom", kFill[] = "fill";

}  // namespace

void register_elementwise(Napi::Env env, Napi::Object exports) {
  define_op<binary<ops::add, kAdd>>(env, exports, kAdd);
  define_op<binary<ops::sub, kSub>>(env, exports, kSub);
  define_op<binary<ops::mul, kMul>>(env, exports, kMul);
  define_op<binary<ops::div, kDiv>>(env, exports, kDiv);
  define_op<pow>(env, exports, kPowName);
  define_op<binary<ops::maximum, kMaximum>>(env, exports, kMaximum);
  define_op<binary<ops::minimum, kMinimum>>(env, exports, kMinimum);
  define_op<binary<ops::remainder, kRemainder>>(env, exports, kRemainder);
  define_op<binary<ops::fmod, kFmod>>(env, exports, kFmod);
  define_op<binary<ops::eq, kEq>>(env, exports, kEq);
  define_op<binary<ops::ne, kNe>>(env, exports, kNe);
  define_op<binary<ops::lt, kLt>>(env, exports, kLt);
  define_op<binary<ops::le, kLe>>(env, exports, kLe);
  define_op<binary<ops::gt, kGt>>(env, exports, kGt);
  define_op<binary<ops::ge, kGe>>(env, exports, kGe);
  define_op<where>(env, exports, "where");
  define_op<masked_fill>(env, exports, "maskedFill");
  define_op<inplace<ops::add_inplace, kAddInPlace, kOther>>(env, exports, kAddInPlace);
  define_op<inplace<ops::sub_inplace, kSubInPlace, kOther>>(env, exports, kSubInPlace);
  define_op<inplace<ops::mul_inplace, kMulInPlace, kOther>>(env, exports, kMulInPlace);
  define_op<inplace<ops::copy_inplace, kCopyFrom, kSource>>(env, exports, kCopyFrom);
  define_op<inplace<ops::fill_inplace, kFill, kValue>>(env, exports, kFill);
  define_op<cast>(env, exports, "cast");
}

}  // namespace tapegrad::binding
