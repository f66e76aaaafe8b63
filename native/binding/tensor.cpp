// Creating tensors, reading them back, and the facts about the backend.
#include <cmath>
#include <cstdint>

#include "binding/addon.h"
#include "binding/convert.h"
#include "binding/op_args.h"
#include "core/random.h"
#include "core/strided.h"
#include "kernels/kernels.h"
#include "ops/factory.h"
#include "runtime/allocator.h"
#include "runtime/cpu_features.h"
#include "runtime/error.h"

namespace tapegrad::binding {

namespace {

// fromData(typedArray, shape, dtype, opName)
Tensor from_data(OpArgs& info) {
  const std::string op = info.is_string(3) ? info.string(3, "tensor", "opName") : "tensor";
  // The shape and dtype first: reading them can run JS (an array getter)
  // that detaches or shrinks the data's buffer. No JS runs between taking
  // the data pointer and copying from it.
  const Shape shape = info.shape(1, op.c_str(), "shape");
  const DType dtype = info.dtype(2, op.c_str());
  const ElementsView data = info.elements(0, op.c_str());
  return ops::from_data(data.bytes, data.dtype, data.count, shape, dtype, op.c_str());
}

// full(shape, value, dtype, opName)
Tensor full(OpArgs& info) {
  const std::string op = info.is_string(3) ? info.string(3, "full", "opName") : "full";
  const Shape shape = info.shape(0, op.c_str(), "shape");
  const double value = info.number(1, op.c_str(), "value");
  return ops::full(shape, value, info.dtype(2, op.c_str()), op.c_str());
}

// arange(start, end, step, dtype?): without a dtype, the native layer chooses one.
Tensor arange(OpArgs& info) {
  const double start = info.number(0, "arange", "start"), end = info.number(1, "arange", "end"),
               step = info.number(2, "arange", "step");
  std::optional<DType> dtype;
  if (info.present(3)) dtype = info.dtype(3, "arange");
  return ops::arange(start, end, step, dtype);
}

Tensor linspace(OpArgs& info) {
  return ops::linspace(info.number(0, "linspace", "start"), info.number(1, "linspace", "end"),
                       info.integer(2, "linspace", "steps"), info.dtype(3, "linspace"));
}

Tensor eye(OpArgs& info) {
  const std::int64_t n = info.integer(0, "eye", "n");
  const std::int64_t m = info.integer(1, "eye", "m");
  if (n < 0 || m < 0) throw_range_error("eye: n and m must be non-negative, got ", n, " and ", m);
  return ops::eye(n, m, info.dtype(2, "eye"));
}

Tensor rand(OpArgs& info) {
  return ops::rand(info.shape(0, "rand", "shape"), info.dtype(1, "rand"));
}

Tensor randn(OpArgs& info) {
  return ops::randn(info.shape(0, "randn", "shape"), info.dtype(1, "randn"));
}

Tensor randint(OpArgs& info) {
  return ops::randint(info.integer(0, "randint", "low"), info.integer(1, "randint", "high"),
                      info.shape(2, "randint", "shape"), info.dtype(3, "randint"));
}

Napi::Value manual_seed(const Napi::CallbackInfo& info) {
  const std::int64_t seed = arg_int(info, 0, "manualSeed", "seed");
  tapegrad::manual_seed(static_cast<std::uint64_t>(seed));
  return info.Env().Undefined();
}

Napi::Value shape(const Napi::CallbackInfo& info) {
  const Tensor t = arg_tensor(info, 0, "shape", "tensor");
  Napi::Array out = Napi::Array::New(info.Env(), t.shape().size());
  for (std::uint32_t i = 0; i < t.shape().size(); ++i) out.Set(i, static_cast<double>(t.shape()[i]));
  return out;
}

Napi::Value dtype(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), dtype_name(arg_tensor(info, 0, "dtype", "tensor").dtype()));
}

Napi::Value strides(const Napi::CallbackInfo& info) {
  const Tensor t = arg_tensor(info, 0, "strides", "tensor");
  Napi::Array out = Napi::Array::New(info.Env(), t.strides().size());
  for (std::uint32_t i = 0; i < t.strides().size(); ++i) out.Set(i, static_cast<double>(t.strides()[i]));
  return out;
}

Napi::Value is_contiguous(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), arg_tensor(info, 0, "isContiguous", "tensor").is_contiguous());
}

// data(handle): a typed-array copy of the elements in row-major order.
Napi::Value data(const Napi::CallbackInfo& info) {
  const Tensor t = contiguous_data(arg_tensor(info, 0, "data", "tensor"));
  const std::size_t bytes = static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype());
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(info.Env(), bytes);
  copy_memory(static_cast<const std::uint8_t*>(t.storage().data) + t.offset() * dtype_size(t.dtype()), buffer.Data(),
              static_cast<std::int64_t>(bytes));
  const auto n = static_cast<std::size_t>(t.numel());
  switch (t.dtype()) {
    case DType::Float32: return Napi::Float32Array::New(info.Env(), n, buffer, 0);
    case DType::Float64: return Napi::Float64Array::New(info.Env(), n, buffer, 0);
    default: return Napi::Int32Array::New(info.Env(), n, buffer, 0);
  }
}

Napi::Value dispose_handle(const Napi::CallbackInfo& info) {
  dispose(info.Env(), info[0]);
  return info.Env().Undefined();
}

// adopt(tensorObject, handle): the handle's tensor is freed when the object is collected.
Napi::Value adopt_handle(const Napi::CallbackInfo& info) {
  adopt(info.Env(), info[0], info[1]);
  return info.Env().Undefined();
}

Napi::Value backend_info(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("isa", runtime::isa_name(kernels::active().isa));
  out.Set("detectedIsa", runtime::isa_name(runtime::detect_isa()));
  out.Set("version", TAPEGRAD_VERSION);
  out.Set("buildType", TAPEGRAD_BUILD_TYPE);
  return out;
}

Napi::Value memory(const Napi::CallbackInfo& info) {
  const runtime::MemoryStats s = runtime::memory_stats();
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("liveTensors", static_cast<double>(addon_data(info.Env()).live_handles));
  out.Set("liveBytes", static_cast<double>(s.live_bytes));
  out.Set("peakBytes", static_cast<double>(s.peak_bytes));
  out.Set("liveBuffers", static_cast<double>(s.live_buffers));
  out.Set("cachedBytes", static_cast<double>(s.cached_bytes));
  out.Set("cacheLimitBytes", static_cast<double>(s.cache_limit));
  out.Set("scratchBytes", static_cast<double>(s.scratch_bytes));
  return out;
}

Napi::Value set_cache_limit(const Napi::CallbackInfo& info) {
  const double bytes = arg_number(info, 0, "setCacheLimit", "bytes");
  if (!(bytes >= 0)) throw_range_error("setCacheLimit: bytes must be a non-negative number (Infinity: no limit), got ", bytes);
  runtime::set_cache_limit(bytes >= 9.2e18 ? INT64_MAX : static_cast<std::int64_t>(bytes));
  return info.Env().Undefined();
}

Napi::Value empty_cache(const Napi::CallbackInfo& info) {
  runtime::empty_cache();
  return info.Env().Undefined();
}

// Exercises the kernel table from tests: sumKernel(Float32Array|Float64Array).
Napi::Value sum_kernel(const Napi::CallbackInfo& info) {
  if (!info[0].IsTypedArray()) throw_type_error("sumKernel: expected a Float32Array or Float64Array");
  const Napi::TypedArray a = info[0].As<Napi::TypedArray>();
  const auto* p = static_cast<const std::uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
  const auto n = static_cast<std::int64_t>(a.ElementLength());
  if (a.TypedArrayType() == napi_float32_array)
    return Napi::Number::New(info.Env(), kernels::active().sum_f32(n, reinterpret_cast<const float*>(p)));
  if (a.TypedArrayType() == napi_float64_array)
    return Napi::Number::New(info.Env(), kernels::active().sum_f64(n, reinterpret_cast<const double*>(p)));
  throw_type_error("sumKernel: expected a Float32Array or Float64Array");
}

}  // namespace

void register_tensor(Napi::Env env, Napi::Object exports) {
  define_op<from_data>(env, exports, "fromData");
  define_op<full>(env, exports, "full");
  define_op<arange>(env, exports, "arange");
  define_op<linspace>(env, exports, "linspace");
  define_op<eye>(env, exports, "eye");
  define_op<rand>(env, exports, "rand");
  define_op<randn>(env, exports, "randn");
  define_op<randint>(env, exports, "randint");
  define<manual_seed>(env, exports, "manualSeed");
  define<shape>(env, exports, "shape", InTrace::Ignored);
  define<dtype>(env, exports, "dtype", InTrace::Ignored);
  // The layout is not part of what a replay checks (shapes and dtypes are):
  // a forward pass that looks at it cannot be traced.
  define<strides>(env, exports, "strides");
  define<is_contiguous>(env, exports, "isContiguous");
  define<data>(env, exports, "data");
  define<dispose_handle>(env, exports, "dispose", InTrace::Ignored);
  define<adopt_handle>(env, exports, "adopt", InTrace::Ignored);
  define<set_cache_limit>(env, exports, "setCacheLimit");
  define<empty_cache>(env, exports, "emptyCache");
  define<backend_info>(env, exports, "backendInfo", InTrace::Ignored);
  define<memory>(env, exports, "memory", InTrace::Ignored);
  define<sum_kernel>(env, exports, "sumKernel");
}

}  // namespace tapegrad::binding
