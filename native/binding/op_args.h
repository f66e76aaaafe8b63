// The arguments of an op's binding function. The same function serves a call
// from JS and the replay of a traced one (binding/trace.h): from JS, each
// answer is read and checked as the free arg_* helpers do, and recorded when
// a trace is being recorded; in a replay, the answers come back in the order
// they were asked.
#pragma once

#include <napi.h>

#include <type_traits>
#include <vector>

#include "binding/convert.h"
#include "binding/trace.h"

namespace tapegrad::binding {

// A typed array's elements (from JS or from a recorded call).
struct ElementsView {
  const std::uint8_t* bytes;
  DType dtype;
  std::int64_t count;
};

class OpArgs {
 public:
  // A call from JS; `recorder` (null unless this thread records a trace) gets every answer.
  OpArgs(const Napi::CallbackInfo& info, TraceRecorder* recorder) : info_(&info), recorder_(recorder) {}
  // A recorded call, replayed on `values`.
  OpArgs(const std::vector<TraceRead>& reads, const std::vector<Tensor>& values) : replay_(&reads), values_(&values) {}

  Tensor tensor(std::size_t i, const char* op, const char* arg);
  // A tensor, or a number made a 0-d tensor whose dtype suits `like`.
  Tensor tensor_or_number(std::size_t i, const DType* like, const char* op, const char* arg);
  std::vector<Tensor> tensors(std::size_t i, const char* op, const char* arg);
  double number(std::size_t i, const char* op, const char* arg);
  std::int64_t integer(std::size_t i, const char* op, const char* arg);
  bool boolean(std::size_t i, const char* op, const char* arg);
  std::string string(std::size_t i, const char* op, const char* arg);
  DType dtype(std::size_t i, const char* op);
  Shape shape(std::size_t i, const char* op, const char* arg, bool allow_minus_one = false);
  std::vector<std::int64_t> dims(std::size_t i, const char* op);
  ElementsView elements(std::size_t i, const char* op);
  bool present(std::size_t i);
  bool is_number(std::size_t i);
  bool is_string(std::size_t i);
  bool is_array(std::size_t i);

  // What was asked, for the recorder.
  std::vector<TraceRead>& reads() { return reads_; }

 private:
  template <class T, class Read>
  T answer(Read&& read);

  const Napi::CallbackInfo* info_ = nullptr;
  TraceRecorder* recorder_ = nullptr;
  std::vector<TraceRead> reads_;  // recorded answers
  const std::vector<TraceRead>* replay_ = nullptr;
  const std::vector<Tensor>* values_ = nullptr;
  std::size_t next_ = 0;
};

// Binding functions of ops return a Tensor, a list of tensors, or nothing
// (in-place ops, grad mode); they can be replayed from a trace.
template <auto Fn>
std::vector<Tensor> replay_op(OpArgs& args) {
  using R = decltype(Fn(args));
  if constexpr (std::is_void_v<R>) {
    Fn(args);
    return {};
  } else if constexpr (std::is_same_v<R, Tensor>) {
    return {Fn(args)};
  } else {
    return Fn(args);
  }
}

Napi::Value wrap_all(Napi::Env env, std::vector<Tensor> tensors);

template <auto Fn>
Napi::Value op_entry(const Napi::CallbackInfo& info) {
  const char* name = static_cast<const char*>(info.Data());
  try {
    TraceRecorder* recorder = active_trace_recorder();
    OpArgs args(info, recorder);
    using R = decltype(Fn(args));
    if constexpr (std::is_void_v<R>) {
      Fn(args);
      if (recorder) recorder->add_call(&replay_op<Fn>, name, std::move(args.reads()), {});
      return info.Env().Undefined();
    } else if constexpr (std::is_same_v<R, Tensor>) {
      Napi::Value out = wrap(info.Env(), Fn(args));
      if (recorder) recorder->add_call(&replay_op<Fn>, name, std::move(args.reads()), {handle_key(out)});
      return out;
    } else {
      Napi::Value outs = wrap_all(info.Env(), Fn(args));
      if (recorder) recorder->add_call(&replay_op<Fn>, name, std::move(args.reads()), handle_keys(outs));
      return outs;
    }
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw_js(info.Env(), e);
  }
}

// Adds an op's binding function to `exports` (`name` must outlive the addon: a literal).
template <auto Fn>
void define_op(Napi::Env env, Napi::Object exports, const char* name) {
  exports.Set(name, Napi::Function::New<op_entry<Fn>>(env, name, const_cast<char*>(name)));
}

}  // namespace tapegrad::binding
