// The arguments of an op's binding function. The same function serves a call
// from JS and the replay of a traced one (binding/trace.h): from JS, each
// answer is read and checked as the free arg_* helpers do, and recorded when
// a trace is being recorded; in a replay, the answers come back in the order
// they were asked.
#pragma once

#include <napi.h>

#include <stdexcept>
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

  // Each accessor reads and checks as the arg_* helper of the same name
  // does; only while recording or replaying does it take the slower path.
  // `expected` names what the argument may be in the TypeError.
  Tensor tensor(std::size_t i, const char* op, const char* arg, const char* expected = "a Tensor") {
    return plain() ? unwrap((*info_)[i], op, arg, expected) : traced_tensor(i, op, arg, expected);
  }
  // A tensor, or a number made a 0-d tensor whose dtype suits `like`.
  Tensor tensor_or_number(std::size_t i, const DType* like, const char* op, const char* arg) {
    return plain() ? arg_tensor_or_number(*info_, i, like, op, arg) : traced_tensor_or_number(i, like, op, arg);
  }
  std::vector<Tensor> tensors(std::size_t i, const char* op, const char* arg) {
    return plain() ? arg_tensors(*info_, i, op, arg) : traced_tensors(i, op, arg);
  }
  double number(std::size_t i, const char* op, const char* arg) {
    return answer<double>([&] { return arg_number(*info_, i, op, arg); });
  }
  std::int64_t integer(std::size_t i, const char* op, const char* arg) {
    return answer<std::int64_t>([&] { return arg_int(*info_, i, op, arg); });
  }
  bool boolean(std::size_t i, const char* op, const char* arg) {
    return answer<bool>([&] { return arg_bool(*info_, i, op, arg); });
  }
  std::string string(std::size_t i, const char* op, const char* arg) {
    return answer<std::string>([&] { return arg_string(*info_, i, op, arg); });
  }
  DType dtype(std::size_t i, const char* op) {
    return static_cast<DType>(
        answer<std::int64_t>([&] { return static_cast<std::int64_t>(arg_dtype(*info_, i, op)); }));
  }
  Shape shape(std::size_t i, const char* op, const char* arg, bool allow_minus_one = false) {
    return answer<Shape>([&] { return arg_shape(*info_, i, op, arg, allow_minus_one); });
  }
  Shape sizes(std::size_t i, const char* op, const char* arg) {
    return answer<Shape>([&] { return arg_sizes(*info_, i, op, arg); });
  }
  std::vector<std::int64_t> dims(std::size_t i, const char* op) {
    return answer<std::vector<std::int64_t>>([&] { return arg_dims(*info_, i, op); });
  }
  ElementsView elements(std::size_t i, const char* op);
  bool present(std::size_t i) {
    return answer<bool>([&] { return arg_present(*info_, i); });
  }
  bool is_number(std::size_t i) {
    return answer<bool>([&] { return (*info_)[i].IsNumber(); });
  }
  bool is_string(std::size_t i) {
    return answer<bool>([&] { return (*info_)[i].IsString(); });
  }
  bool is_array(std::size_t i) {
    return answer<bool>([&] { return (*info_)[i].IsArray(); });
  }

  // What was asked, for the recorder.
  std::vector<TraceRead>& reads() { return reads_; }

 private:
  bool plain() const { return recorder_ == nullptr && replay_ == nullptr; }
  // From JS, `read()`'s answer (recorded when a trace records); in a replay, the recorded one.
  template <class T, class Read>
  T answer(Read&& read) {
    if (plain()) return read();
    return traced_answer<T>(read);
  }
  template <class T, class Read>
  T traced_answer(Read& read);
  Tensor traced_tensor(std::size_t i, const char* op, const char* arg, const char* expected = "a Tensor");
  Tensor traced_tensor_or_number(std::size_t i, const DType* like, const char* op, const char* arg);
  std::vector<Tensor> traced_tensors(std::size_t i, const char* op, const char* arg);

  const Napi::CallbackInfo* info_ = nullptr;
  TraceRecorder* recorder_ = nullptr;
  std::vector<TraceRead> reads_;  // recorded answers
  const std::vector<TraceRead>* replay_ = nullptr;
  const std::vector<Tensor>* values_ = nullptr;
  std::size_t next_ = 0;
};

template <class T, class Read>
T OpArgs::traced_answer(Read& read) {
  if (replay_) {
    if (next_ >= replay_->size()) throw std::logic_error("trace replay: a call asked more than was recorded");
    return std::get<T>((*replay_)[next_++]);
  }
  T value = read();
  reads_.emplace_back(value);
  return value;
}

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

template <auto Fn>
Napi::Value op_entry(const Napi::CallbackInfo& info) {
  const char* name = static_cast<const char*>(info.Data());
  return run_guarded(info.Env(), [&]() -> Napi::Value {
    TraceRecorder* recorder = active_trace_recorder();
    OpArgs args(info, recorder);
    using R = decltype(Fn(args));
    if constexpr (std::is_void_v<R>) {
      Fn(args);
      if (recorder) recorder->add_call(&replay_op<Fn>, name, std::move(args.reads()), {}, true);
      return info.Env().Undefined();
    } else if constexpr (std::is_same_v<R, Tensor>) {
      Napi::Value out = wrap(info.Env(), Fn(args));
      if (recorder) recorder->add_call(&replay_op<Fn>, name, std::move(args.reads()), {handle_key(out)}, false);
      return out;
    } else {
      Napi::Value outs = wrap_all(info.Env(), Fn(args));
      if (recorder) recorder->add_call(&replay_op<Fn>, name, std::move(args.reads()), handle_keys(outs), false);
      return outs;
    }
  });
}

// Adds an op's binding function to `exports` (`name` must outlive the addon: a literal).
template <auto Fn>
void define_op(Napi::Env env, Napi::Object exports, const char* name) {
  exports.Set(name, Napi::Function::New<op_entry<Fn>>(env, name, const_cast<char*>(name)));
}

}  // namespace tapegrad::binding
