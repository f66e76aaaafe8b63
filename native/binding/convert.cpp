#include "binding/convert.h"

#include <charconv>
#include <cmath>
#include <new>

#include "binding/addon.h"
#include "ops/elementwise.h"
#include "runtime/error.h"

namespace tapegrad::binding {

namespace {

// Tags tensor handles so that any other External is rejected.
constexpr napi_type_tag kTensorTag = {0x7461706567726164ULL, 0x74656e736f720001ULL};

std::int64_t owned_bytes(const Tensor& t) {
  return t.impl()->is_view ? 0 : static_cast<std::int64_t>(t.storage().nbytes);
}

// Numbers as JavaScript prints them.
std::string js_number(double x) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, end);
}

std::string describe(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return v.As<Napi::Boolean>().Value() ? "true" : "false";
    case napi_number: return js_number(v.As<Napi::Number>().DoubleValue());
    case napi_string: return "'" + v.As<Napi::String>().Utf8Value() + "'";
    case napi_object: return v.IsArray() ? "an array" : "an object";
    case napi_function: return "a function";
    case napi_external: return "a native handle";
    default: return "a value of another type";
  }
}

TensorBox* box_of(const Napi::Value& v, const char* op, const char* arg) {
  bool tagged = false;
  if (v.IsExternal()) napi_check_object_type_tag(v.Env(), v, &kTensorTag, &tagged);
  if (!tagged) throw_type_error(op, ": ", arg, " must be a Tensor, got ", describe(v));
  return v.As<Napi::External<TensorBox>>().Data();
}

}  // namespace

Napi::Value wrap(Napi::Env env, Tensor t) {
  auto* box = new TensorBox{std::move(t), 0};
  box->reported_bytes = owned_bytes(box->tensor);
  auto handle = Napi::External<TensorBox>::New(env, box, [](Napi::Env env, TensorBox* b) {
    if (b->reported_bytes) Napi::MemoryManagement::AdjustExternalMemory(env, -b->reported_bytes);
    delete b;
  });
  napi_type_tag_object(env, handle, &kTensorTag);
  if (box->reported_bytes) Napi::MemoryManagement::AdjustExternalMemory(env, box->reported_bytes);
  addon_data(env).live_handles++;
  return handle;
}

void dispose(Napi::Env env, const Napi::Value& handle) {
  TensorBox* box = box_of(handle, "dispose", "tensor");
  if (!box->tensor.defined()) return;
  if (box->tensor.storage().locks.load() != 0)
    throw_error("dispose: the tensor is in use by a running async operation; await it first");
  box->tensor = Tensor();
  if (box->reported_bytes) Napi::MemoryManagement::AdjustExternalMemory(env, -box->reported_bytes);
  box->reported_bytes = 0;
  addon_data(env).live_handles--;
}

Tensor unwrap(const Napi::Value& v, const char* op, const char* arg) {
  TensorBox* box = box_of(v, op, arg);
  if (!box->tensor.defined()) throw_error(op, ": ", arg, " is a disposed tensor");
  return box->tensor;
}

Tensor arg_tensor(const Napi::CallbackInfo& info, std::size_t i, const char* op, const char* arg) {
  return unwrap(info[i], op, arg);
}

Tensor arg_tensor_or_number(const Napi::CallbackInfo& info, std::size_t i, const DType* like, const char* op,
                            const char* arg) {
  const Napi::Value v = info[i];
  if (!v.IsNumber()) return unwrap(v, op, arg);
  const double x = v.As<Napi::Number>().DoubleValue();
  DType d = DType::Float32;
  if (like) {
    if (is_floating(*like)) d = *like;
    else if (std::trunc(x) == x && std::fabs(x) <= 2147483647.0) d = DType::Int32;
  }
  return ops::scalar(x, d);
}

double arg_number(const Napi::CallbackInfo& info, std::size_t i, const char* op, const char* arg) {
  const Napi::Value v = info[i];
  if (!v.IsNumber()) throw_type_error(op, ": ", arg, " must be a number, got ", describe(v));
  return v.As<Napi::Number>().DoubleValue();
}

std::int64_t arg_int(const Napi::CallbackInfo& info, std::size_t i, const char* op, const char* arg) {
  const Napi::Value v = info[i];
  if (!v.IsNumber()) throw_type_error(op, ": ", arg, " must be an integer, got ", describe(v));
  const double x = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(x) || std::trunc(x) != x || std::fabs(x) > 9007199254740991.0)
    throw_range_error(op, ": ", arg, " must be an integer, got ", describe(v));
  return static_cast<std::int64_t>(x);
}

bool arg_bool(const Napi::CallbackInfo& info, std::size_t i, const char* op, const char* arg) {
  const Napi::Value v = info[i];
  if (v.IsUndefined()) return false;
  if (!v.IsBoolean()) throw_type_error(op, ": ", arg, " must be a boolean, got ", describe(v));
  return v.As<Napi::Boolean>().Value();
}

std::string arg_string(const Napi::CallbackInfo& info, std::size_t i, const char* op, const char* arg) {
  const Napi::Value v = info[i];
  if (!v.IsString()) throw_type_error(op, ": ", arg, " must be a string, got ", describe(v));
  return v.As<Napi::String>().Utf8Value();
}

DType arg_dtype(const Napi::CallbackInfo& info, std::size_t i, const char* op) {
  const Napi::Value v = info[i];
  if (!v.IsString()) throw_type_error(op, ": dtype must be 'float32', 'float64' or 'int32', got ", describe(v));
  return parse_dtype(v.As<Napi::String>().Utf8Value(), op);
}

Shape arg_shape(const Napi::CallbackInfo& info, std::size_t i, const char* op, const char* arg, bool allow_minus_one) {
  const Napi::Value v = info[i];
  if (!v.IsArray()) throw_type_error(op, ": ", arg, " must be an array of integers, got ", describe(v));
  const Napi::Array a = v.As<Napi::Array>();
  const std::uint32_t n = a.Length();
  if (n > 64) throw_range_error(op, ": ", arg, " has ", n, " dimensions; at most 64 are supported");
  Shape shape(n);
  for (std::uint32_t k = 0; k < n; ++k) {
    const Napi::Value e = a.Get(k);
    const double x = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : NAN;
    if (!std::isfinite(x) || std::trunc(x) != x || x < (allow_minus_one ? -1 : 0) || x > 9007199254740991.0)
      throw_range_error(op, ": ", arg, " must hold ", allow_minus_one ? "non-negative integers or -1" : "non-negative integers",
                        ", got ", describe(e), " at index ", k);
    shape[k] = static_cast<std::int64_t>(x);
  }
  return shape;
}

std::vector<std::int64_t> arg_dims(const Napi::CallbackInfo& info, std::size_t i, const char* op) {
  const Napi::Value v = info[i];
  if (v.IsUndefined() || v.IsNull()) return {};
  if (v.IsNumber()) return {arg_int(info, i, op, "dim")};
  if (!v.IsArray()) throw_type_error(op, ": dim must be an integer or an array of integers, got ", describe(v));
  const Napi::Array a = v.As<Napi::Array>();
  std::vector<std::int64_t> dims;
  for (std::uint32_t k = 0; k < a.Length(); ++k) {
    const Napi::Value e = a.Get(k);
    const double x = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : NAN;
    if (!std::isfinite(x) || std::trunc(x) != x || std::fabs(x) > 9007199254740991.0)
      throw_range_error(op, ": dims must be integers, got ", describe(e), " at index ", k);
    dims.push_back(static_cast<std::int64_t>(x));
  }
  return dims;
}

std::vector<Tensor> arg_tensors(const Napi::CallbackInfo& info, std::size_t i, const char* op, const char* arg) {
  return tensor_list(info[i], op, arg);
}

std::vector<Tensor> tensor_list(const Napi::Value& v, const char* op, const char* arg) {
  if (!v.IsArray()) throw_type_error(op, ": ", arg, " must be an array of tensors, got ", describe(v));
  const Napi::Array a = v.As<Napi::Array>();
  std::vector<Tensor> out;
  out.reserve(a.Length());
  for (std::uint32_t k = 0; k < a.Length(); ++k) {
    const std::string name = concat(arg, "[", k, "]");
    out.push_back(unwrap(a.Get(k), op, name.c_str()));
  }
  return out;
}

bool arg_present(const Napi::CallbackInfo& info, std::size_t i) {
  return i < info.Length() && !info[i].IsUndefined() && !info[i].IsNull();
}

void throw_js(Napi::Env env, const std::exception& e) {
  if (const auto* err = dynamic_cast<const Error*>(&e)) {
    switch (err->kind()) {
      case ErrorKind::Type: throw Napi::TypeError::New(env, err->what());
      case ErrorKind::Range: throw Napi::RangeError::New(env, err->what());
      case ErrorKind::Tapegrad: {
        Napi::FunctionReference& ctor = addon_data(env).tapegrad_error;
        if (!ctor.IsEmpty()) throw Napi::Error(env, ctor.New({Napi::String::New(env, err->what())}));
        throw Napi::Error::New(env, err->what());
      }
    }
  }
  if (dynamic_cast<const std::bad_alloc*>(&e)) throw Napi::RangeError::New(env, "out of memory");
  throw Napi::Error::New(env, e.what());
}

Napi::Value call_guarded(const Napi::CallbackInfo& info, Napi::Value (*fn)(const Napi::CallbackInfo&)) {
  try {
    return fn(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw_js(info.Env(), e);
  }
}

}  // namespace tapegrad::binding
