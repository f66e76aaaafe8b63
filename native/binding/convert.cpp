#include "binding/convert.h"

#include <cmath>
#include <limits>
#include <new>
#include <string>
#include <string_view>

#include "binding/addon.h"
#include "binding/trace.h"
#include "core/autograd.h"
#include "ops/elementwise.h"
#include "runtime/error.h"

namespace tapegrad::binding {

namespace {

// Handle values: bit 63 set (never a user-space pointer), the generation in
// bits 24..62 and the slot in bits 0..23.
constexpr std::uint64_t kHandleMark = std::uint64_t{1} << 63;
constexpr int kSlotBits = 24;
constexpr std::uint64_t kSlotMask = (std::uint64_t{1} << kSlotBits) - 1;
constexpr std::uint64_t kGenerationMask = (std::uint64_t{1} << (63 - kSlotBits)) - 1;
constexpr std::int64_t kReportStep = 1 << 20;

std::uint64_t encode_handle(std::uint32_t slot, std::uint64_t generation) {
  return kHandleMark | ((generation & kGenerationMask) << kSlotBits) | slot;
}

std::int64_t owned_bytes(const Tensor& t) {
  return t.impl()->is_view ? 0 : static_cast<std::int64_t>(t.storage().nbytes);
}

std::string describe(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return v.As<Napi::Boolean>().Value() ? "true" : "false";
    case napi_number: return number_text(v.As<Napi::Number>().DoubleValue());
    case napi_string: return "'" + v.As<Napi::String>().Utf8Value() + "'";
    case napi_object: return v.IsArray() ? "an array" : "an object";
    case napi_function: return "a function";
    case napi_external: return "a native handle";
    case napi_bigint: return "a BigInt";
    default: return "a value of another type";
  }
}

void report_external(Napi::Env env, AddonData& d, std::int64_t delta) {
  d.unreported_bytes += delta;
  if (d.unreported_bytes >= kReportStep || d.unreported_bytes <= -kReportStep) {
    Napi::MemoryManagement::AdjustExternalMemory(env, d.unreported_bytes);
    d.unreported_bytes = 0;
  }
}

enum class Lookup { Live, Disposed, NotAHandle };

// The slot a handle value names; `slot` is set for Live and Disposed.
Lookup lookup(AddonData& d, const Napi::Value& v, HandleSlot** slot) {
  // Fails (napi_bigint_expected) for anything but a BigInt: no separate type check needed.
  std::uint64_t bits = 0;
  bool lossless = false;
  if (napi_get_value_bigint_uint64(v.Env(), v, &bits, &lossless) != napi_ok || !lossless) return Lookup::NotAHandle;
  if (!(bits & kHandleMark)) return Lookup::NotAHandle;
  const std::uint64_t index = bits & kSlotMask;
  const std::uint64_t generation = (bits & ~kHandleMark) >> kSlotBits;
  if (index >= d.handles.size()) return Lookup::NotAHandle;
  HandleSlot& s = d.handles[index];
  const std::uint64_t current = s.generation & kGenerationMask;
  if (generation == current && s.tensor.defined()) {
    *slot = &s;
    return Lookup::Live;
  }
  if (generation == 0 || generation > current) return Lookup::NotAHandle;
  *slot = &s;
  return Lookup::Disposed;
}

void release_slot(Napi::Env env, AddonData& d, HandleSlot& s) {
  // Freed last, after the table is consistent: freeing a graph runs destructors.
  Tensor released = std::move(s.tensor);
  s.tensor = Tensor();
  s.generation++;
  const std::int64_t bytes = s.reported_bytes;
  s.reported_bytes = 0;
  d.free_slots.push_back(static_cast<std::uint32_t>(&s - d.handles.data()));
  d.live_handles--;
  report_external(env, d, -bytes);
}

}  // namespace

Napi::Value wrap(Napi::Env env, Tensor t, bool report) {
  AddonData& d = addon_data(env);
  std::uint32_t index;
  if (!d.free_slots.empty()) {
    index = d.free_slots.back();
    d.free_slots.pop_back();
  } else {
    if (d.handles.size() > kSlotMask) throw_range_error("tapegrad: too many live tensors (", d.handles.size(), ")");
    index = static_cast<std::uint32_t>(d.handles.size());
    d.handles.emplace_back();
  }
  HandleSlot& s = d.handles[index];
  s.reported_bytes = report ? owned_bytes(t) : 0;
  s.tensor = std::move(t);
  report_external(env, d, s.reported_bytes);
  d.live_handles++;
  napi_value handle;
  if (napi_create_bigint_uint64(env, encode_handle(index, s.generation), &handle) != napi_ok) {
    release_slot(env, d, s);
    throw Napi::Error::New(env, "tapegrad: cannot create a tensor handle");
  }
  return Napi::Value(env, handle);
}

void dispose(Napi::Env env, const Napi::Value& handle) {
  AddonData& d = addon_data(env);
  HandleSlot* s = nullptr;
  switch (lookup(d, handle, &s)) {
    case Lookup::NotAHandle: throw_type_error("dispose: tensor must be a Tensor, got ", describe(handle));
    case Lookup::Disposed: return;
    case Lookup::Live: break;
  }
  if (held_by_job(s->tensor))
    throw_error("dispose: the tensor is in use by a running async operation; await it first");
  release_slot(env, d, *s);
}

void adopt(Napi::Env env, const Napi::Value& owner, const Napi::Value& handle) {
  AddonData& d = addon_data(env);
  HandleSlot* s = nullptr;
  if (lookup(d, handle, &s) != Lookup::Live) return;
  if (!owner.IsObject()) throw_type_error("adopt: owner must be an object");
  void* data = reinterpret_cast<void*>(encode_handle(static_cast<std::uint32_t>(s - d.handles.data()), s->generation));
  const napi_status status = napi_add_finalizer(
      env, owner, data,
      [](napi_env raw_env, void* value, void*) {
        Napi::Env e(raw_env);
        AddonData* data_ptr = nullptr;
        if (napi_get_instance_data(raw_env, reinterpret_cast<void**>(&data_ptr)) != napi_ok || !data_ptr) return;
        AddonData& d = *data_ptr;
        const auto bits = reinterpret_cast<std::uint64_t>(value);
        const std::uint64_t index = bits & kSlotMask;
        if (index >= d.handles.size()) return;
        HandleSlot& slot = d.handles[index];
        // A slot disposed (and maybe reused) since has another generation.
        if (((bits & ~kHandleMark) >> kSlotBits) != (slot.generation & kGenerationMask) || !slot.tensor.defined()) return;
        release_slot(e, d, slot);
      },
      nullptr, nullptr);
  if (status != napi_ok) throw Napi::Error::New(env, "tapegrad: cannot register a tensor finalizer");
}

std::uint64_t handle_key(const Napi::Value& handle) {
  std::uint64_t bits = 0;
  bool lossless = false;
  napi_get_value_bigint_uint64(handle.Env(), handle, &bits, &lossless);
  return bits;
}

std::vector<std::uint64_t> handle_keys(const Napi::Value& array) {
  const Napi::Array a = array.As<Napi::Array>();
  std::vector<std::uint64_t> keys;
  for (std::uint32_t k = 0; k < a.Length(); ++k) keys.push_back(handle_key(a.Get(k)));
  return keys;
}

Napi::Value wrap_all(Napi::Env env, std::vector<Tensor> tensors) {
  Napi::Array out = Napi::Array::New(env, tensors.size());
  for (std::uint32_t i = 0; i < tensors.size(); ++i) out.Set(i, wrap(env, std::move(tensors[i])));
  return out;
}

Tensor unwrap(const Napi::Value& v, const char* op, const char* arg, const char* expected) {
  HandleSlot* s = nullptr;
  switch (lookup(addon_data(v.Env()), v, &s)) {
    case Lookup::Live: return s->tensor;
    case Lookup::Disposed: throw_error(op, ": ", arg, " is a disposed tensor");
    case Lookup::NotAHandle: break;
  }
  throw_type_error(op, ": ", arg, " must be ", expected, ", got ", describe(v));
}

Tensor arg_tensor(const Napi::CallbackInfo& info, std::size_t i, const char* op, const char* arg) {
  return unwrap(info[i], op, arg);
}

Tensor arg_tensor_or_number(const Napi::CallbackInfo& info, std::size_t i, const DType* like, const char* op,
                            const char* arg) {
  const Napi::Value v = info[i];
  if (!v.IsNumber()) return unwrap(v, op, arg, kNumberOrTensor);
  const double x = v.As<Napi::Number>().DoubleValue();
  DType d = DType::Float32;
  if (like) {
    if (is_floating(*like)) {
      d = *like;
    } else if (std::isfinite(x) && std::trunc(x) == x) {
      // A whole number with an int32 operand is an int32. One beyond int32
      // would wrap (PyTorch) or turn the result float32 (a non-integer's
      // promotion); neither is what the caller meant, so it is refused.
      if (!(x >= -2147483648.0 && x <= 2147483647.0))
        throw_range_error(op, ": ", arg, " ", describe(v),
                          " does not fit in int32, the dtype of the other operand; int32 holds whole numbers in "
                          "[-2147483648, 2147483647] (convert the tensor with .to('float64') first)");
      d = DType::Int32;
    }
  }
  return ops::scalar(x, d);
}

double arg_number(const Napi::CallbackInfo& info, std::size_t i, const char* op, const char* arg) {
  const Napi::Value v = info[i];
  if (!v.IsNumber()) throw_type_error(op, ": ", arg, " must be a number, got ", describe(v));
  return v.As<Napi::Number>().DoubleValue();
}

bool is_safe_integer(double x) { return std::isfinite(x) && std::trunc(x) == x && std::fabs(x) <= 9007199254740991.0; }

std::int64_t arg_int(const Napi::CallbackInfo& info, std::size_t i, const char* op, const char* arg) {
  const Napi::Value v = info[i];
  if (!v.IsNumber()) throw_type_error(op, ": ", arg, " must be an integer, got ", describe(v));
  const double x = v.As<Napi::Number>().DoubleValue();
  if (!is_safe_integer(x)) {
    const bool whole = std::isfinite(x) && std::trunc(x) == x;
    throw_range_error(op, ": ", arg,
                      whole ? " must be a safe integer (at most 2^53 - 1 in magnitude)" : " must be an integer",
                      ", got ", describe(v));
  }
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

namespace {

// An array of integers, each >= 0 (or -1 when allowed), of at most `max_length`
// entries (named `entries` in the message).
Shape arg_integers(const Napi::CallbackInfo& info, std::size_t i, const char* op, const char* arg, bool allow_minus_one,
                   std::uint32_t max_length, const char* entries) {
  const Napi::Value v = info[i];
  if (!v.IsArray()) throw_type_error(op, ": ", arg, " must be an array of integers, got ", describe(v));
  const Napi::Array a = v.As<Napi::Array>();
  const std::uint32_t n = a.Length();
  if (n > max_length) throw_range_error(op, ": ", arg, " has ", n, " ", entries, "; at most ", max_length, " are supported");
  Shape shape(n);
  for (std::uint32_t k = 0; k < n; ++k) {
    const Napi::Value e = a.Get(k);
    const char* expected = allow_minus_one ? "non-negative integers or -1" : "non-negative integers";
    // Not a number: a TypeError; a number that is no such integer: a RangeError.
    if (!e.IsNumber()) throw_type_error(op, ": ", arg, " must hold ", expected, ", got ", describe(e), " at index ", k);
    const double x = e.As<Napi::Number>().DoubleValue();
    if (!is_safe_integer(x) || x < (allow_minus_one ? -1 : 0))
      throw_range_error(op, ": ", arg, " must hold ", expected, ", got ", describe(e), " at index ", k);
    shape[k] = static_cast<std::int64_t>(x);
  }
  return shape;
}

}  // namespace

Shape arg_shape(const Napi::CallbackInfo& info, std::size_t i, const char* op, const char* arg, bool allow_minus_one) {
  return arg_integers(info, i, op, arg, allow_minus_one, static_cast<std::uint32_t>(kMaxDims), "dimensions");
}

Shape arg_sizes(const Napi::CallbackInfo& info, std::size_t i, const char* op, const char* arg) {
  return arg_integers(info, i, op, arg, false, std::numeric_limits<std::uint32_t>::max(), "entries");
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
    if (!e.IsNumber()) throw_type_error(op, ": dims must be integers, got ", describe(e), " at index ", k);
    const double x = e.As<Napi::Number>().DoubleValue();
    if (!is_safe_integer(x))
      throw_range_error(op, ": dims must be integers, got ", describe(e), " at index ", k);
    dims.push_back(static_cast<std::int64_t>(x));
  }
  return dims;
}

std::vector<Tensor> arg_tensors(const Napi::CallbackInfo& info, std::size_t i, const char* op, const char* arg) {
  return tensor_list(info[i], op, arg);
}

std::vector<Tensor> tensor_list(const Napi::Value& v, const char* op, const char* arg,
                                std::vector<std::uint64_t>* keys) {
  if (!v.IsArray()) throw_type_error(op, ": ", arg, " must be an array of tensors, got ", describe(v));
  const Napi::Array a = v.As<Napi::Array>();
  std::vector<Tensor> out;
  out.reserve(a.Length());
  for (std::uint32_t k = 0; k < a.Length(); ++k) {
    const std::string name = concat(arg, "[", k, "]");
    const Napi::Value element = a.Get(k);
    out.push_back(unwrap(element, op, name.c_str()));
    if (keys) keys->push_back(handle_key(element));
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
  if (info.Data() != nullptr)
    if (TraceRecorder* recorder = active_trace_recorder()) {
      const std::string_view name = static_cast<const char*>(info.Data());
      // item() and toArray() read through data: name what the user called.
      recorder->fail(name == "data" ? std::string("the forward pass reads tensor values (item(), toArray() or data())")
                                    : concat("the forward pass calls ", name,
                                             ", which reads tensor values or changes state outside the graph"));
    }
  return run_guarded(info.Env(), [&] { return fn(info); });
}

}  // namespace tapegrad::binding
