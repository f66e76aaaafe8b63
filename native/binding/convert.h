// Conversions between JavaScript values and core types, with the argument
// checks that turn bad input into JS errors naming the function and the
// argument. No math here.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "runtime/error.h"

namespace tapegrad::binding {

// A JS tensor handle is a BigInt that encodes a slot of the environment's
// handle table and the slot's generation (see addon.h). A BigInt is cheap to
// make (no weak reference, unlike an External) and cannot be mistaken for a
// number operand. It has no finalizer of its own, so ops inside tidy() pay
// for none; a tensor that outlives every tidy scope gets one through adopt().

// A new JS handle owning a reference to `t`. Its bytes are reported to V8 as
// external memory unless `report` is false: for a tensor that something
// native owns anyway (a leaf's gradient), freeing the handle usually frees
// nothing, and reporting it again on every read would only make V8 collect
// garbage more often. (If the leaf then drops its gradient, the handle is
// the last owner of bytes V8 was never told about.)
Napi::Value wrap(Napi::Env env, Tensor t, bool report = true);
// An array of new handles.
Napi::Value wrap_all(Napi::Env env, std::vector<Tensor> tensors);
// Releases the handle's reference now (idempotent).
void dispose(Napi::Env env, const Napi::Value& handle);
// Frees the handle's tensor when `owner` (the JS Tensor object) is collected.
void adopt(Napi::Env env, const Napi::Value& owner, const Napi::Value& handle);
// The handle's bits: an identity no other handle shares, even after it is
// disposed (the slot's next handle has a new generation). Traces tell
// tensors apart by it: two handles may hold one tensor (an op that returns
// its input), yet a replay may give them different tensors.
std::uint64_t handle_key(const Napi::Value& handle);
// The keys of an array of handles.
std::vector<std::uint64_t> handle_keys(const Napi::Value& array);
// The tensor behind a handle; TypeError when `v` is not a tensor handle
// ("<op>: <arg> must be <expected>, got ..."), TapegradError when it was
// disposed.
Tensor unwrap(const Napi::Value& v, const char* op, const char* arg, const char* expected = "a Tensor");

Tensor arg_tensor(const Napi::CallbackInfo& info, std::size_t i, const char* op, const char* arg);
inline constexpr char kNumberOrTensor[] = "a number or a Tensor";
// A tensor handle, or a number turned into a 0-d tensor whose dtype suits
// `like`: like's floating dtype; with int32, int32 for a whole number (a
// RangeError beyond int32's range) and float32 otherwise; float32 without.
Tensor arg_tensor_or_number(const Napi::CallbackInfo& info, std::size_t i, const DType* like, const char* op,
                            const char* arg);
double arg_number(const Napi::CallbackInfo& info, std::size_t i, const char* op, const char* arg);
// Whether x is an integer a double holds exactly: finite, no fraction,
// |x| < 2^53.
bool is_safe_integer(double x);
// An integer argument (rejects NaN, fractions, values beyond 2^53).
std::int64_t arg_int(const Napi::CallbackInfo& info, std::size_t i, const char* op, const char* arg);
bool arg_bool(const Napi::CallbackInfo& info, std::size_t i, const char* op, const char* arg);
std::string arg_string(const Napi::CallbackInfo& info, std::size_t i, const char* op, const char* arg);
DType arg_dtype(const Napi::CallbackInfo& info, std::size_t i, const char* op);
// An array of integers; with allow_minus_one, -1 entries pass (reshape).
Shape arg_shape(const Napi::CallbackInfo& info, std::size_t i, const char* op, const char* arg,
                bool allow_minus_one = false);
// An array of non-negative integers of any length (split's piece sizes).
Shape arg_sizes(const Napi::CallbackInfo& info, std::size_t i, const char* op, const char* arg);
// A number or an array of integer dims; undefined/null gives an empty list (all dims).
std::vector<std::int64_t> arg_dims(const Napi::CallbackInfo& info, std::size_t i, const char* op);
// An array of tensor handles; with `keys`, also each handle's key (read
// once: an element getter cannot make the two disagree).
std::vector<Tensor> tensor_list(const Napi::Value& v, const char* op, const char* arg,
                                std::vector<std::uint64_t>* keys = nullptr);
std::vector<Tensor> arg_tensors(const Napi::CallbackInfo& info, std::size_t i, const char* op, const char* arg);
bool arg_present(const Napi::CallbackInfo& info, std::size_t i);

// Runs `Fn`, turning core errors into JS TypeError / RangeError / TapegradError.
// While a trace is recorded on this thread (binding/trace.h), a function
// defined with InTrace::Breaks makes that trace unusable.
Napi::Value call_guarded(const Napi::CallbackInfo& info, Napi::Value (*fn)(const Napi::CallbackInfo&));
template <Napi::Value (*Fn)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  return call_guarded(info, Fn);
}

// What a call to a function other than an op (those are binding/op_args.h's
// define_op) does to a trace being recorded: most read values or change
// state the trace cannot replay (Breaks); metadata reads and dispose do not
// matter to it (Ignored).
enum class InTrace { Breaks, Ignored };

// Adds a guarded function to `exports` (`name` must outlive the addon: a literal).
template <Napi::Value (*Fn)(const Napi::CallbackInfo&)>
void define(Napi::Env env, Napi::Object exports, const char* name, InTrace in_trace = InTrace::Breaks) {
  exports.Set(name, Napi::Function::New<guarded<Fn>>(env, name,
                                                     in_trace == InTrace::Breaks ? const_cast<char*>(name) : nullptr));
}

// Throws a JS error of the matching class for a core error.
[[noreturn]] void throw_js(Napi::Env env, const std::exception& e);

// Returns fn(), turning core errors into JS errors (see throw_js).
template <typename F>
Napi::Value run_guarded(Napi::Env env, F&& fn) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw_js(env, e);
  }
}

}  // namespace tapegrad::binding
