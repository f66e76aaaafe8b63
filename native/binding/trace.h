// Traced forward passes. While a trace is recorded on a JS thread, every op
// call from JS is kept: which binding function ran and every answer it got
// about its arguments (numbers, dims, which tensors). Replaying the trace
// runs the same binding functions with the same answers and new input
// tensors, without JS, so a training step's forward pass can run on a
// background thread (train.Trainer). Like torch.jit.trace, a trace holds
// what the forward pass did for these input shapes, not the JS code: a call
// that reads tensor values or changes state outside the graph (item(),
// backward, an optimizer step...) makes the trace unusable, and the caller
// runs its forward pass in JS instead.
#pragma once

#include <napi.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "core/random.h"
#include "core/tensor.h"

namespace tapegrad::binding {

class OpArgs;

// A tensor argument: an index into the trace's values (its inputs, the
// tensors it captured from outside, and those its calls made).
struct TensorRef {
  std::int32_t id;
};
struct TensorRefs {
  std::vector<std::int32_t> ids;
};
// The elements of a typed array (tg.tensor(...) inside the forward pass).
struct Bytes {
  std::shared_ptr<const std::vector<std::uint8_t>> data;
  DType dtype;
  std::int64_t count;
};
using TraceRead = std::variant<bool, double, std::int64_t, std::string, std::vector<std::int64_t>, Shape,
                               TensorRef, TensorRefs, Bytes>;

// A binding function of an op, run again on recorded answers.
using ReplayFn = std::vector<Tensor> (*)(OpArgs&);

struct TraceCall {
  ReplayFn run;
  const char* name;
  std::vector<TraceRead> reads;
  std::vector<std::int32_t> outputs;
  std::vector<std::int32_t> release;  // values last used by this call
};

class Trace {
 public:
  // Checks that `inputs` can stand for the recorded ones: the same count,
  // shapes and dtypes, and the same tensor where the recording got one
  // tensor twice. RangeError naming `op` otherwise.
  void check_inputs(const std::vector<Tensor>& inputs, const char* op) const;
  // Runs the calls on `inputs` (passed by check_inputs) on the calling thread, with the
  // grad mode the recording started with. Random ops take their numbers
  // from `draws` (drawn ahead for random_calls()), or draw on this thread.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs, const char* op, RandomDraws* draws) const;
  // The tensors it captured (parameters, constants): a job that replays the
  // trace locks them.
  const std::vector<Tensor>& captured() const { return captured_; }
  // Whether the replay writes captured tensor i (an in-place op on it).
  bool writes_captured(std::size_t i) const { return written_[captured_ids_[i]]; }
  // Whether it writes input i.
  bool writes_input(std::size_t i) const { return written_[i]; }
  const std::vector<RandomCall>& random_calls() const { return random_calls_; }

 private:
  friend class TraceRecorder;
  struct Input {
    Shape shape;
    DType dtype;
    std::int32_t same_as;  // the first input that was the same tensor, or -1
  };
  std::vector<Input> inputs_;                  // values 0..n-1
  std::vector<std::int32_t> captured_ids_;     // where captured_ go
  std::vector<Tensor> captured_;
  std::vector<TraceCall> calls_;
  std::vector<std::int32_t> outputs_;
  std::vector<bool> written_;                  // per value: an in-place op writes it
  std::vector<RandomCall> random_calls_;
  std::size_t value_count_ = 0;
  bool grad_enabled_ = true;
};

// Values are keyed by JS handle (handle_key), not by tensor: an op that
// returns its input (contiguous() of a contiguous tensor) gives a second
// handle to the same tensor, and in a replay the two may differ.
class TraceRecorder {
 public:
  TraceRecorder(const std::vector<std::uint64_t>& keys, const std::vector<Tensor>& inputs);

  // The value id of the tensor behind handle `key`; one not seen before is captured as it is.
  std::int32_t id_of(std::uint64_t key, const Tensor& t);
  // A new id for a tensor no handle names (a number operand made a tensor), captured as it is.
  std::int32_t capture(const Tensor& t);
  // A call and the handles of what it returned; `writes_first` for an
  // in-place op (it writes the first tensor it read).
  void add_call(ReplayFn run, const char* name, std::vector<TraceRead> reads, const std::vector<std::uint64_t>& outputs,
                bool writes_first);
  // Marks the trace unusable (the first reason is kept).
  void fail(std::string reason);
  // The finished trace, or null with the reason in `why_not`.
  std::shared_ptr<const Trace> finish(const std::vector<std::uint64_t>& keys, const std::vector<Tensor>& outputs,
                                      std::string& why_not);

 private:
  std::unordered_map<std::uint64_t, std::int32_t> ids_;
  std::vector<std::int32_t> written_ids_;
  Trace trace_;
  std::string failure_;
  RandomCallLog random_log_;  // the random numbers the recorded calls draw
};

// The recorder of this JS thread, or null when none is recording. Read on
// every op call: a global count of recording threads spares the
// thread-local lookup while none records.
inline std::atomic<int> g_recording_threads{0};
inline thread_local TraceRecorder* t_active_recorder = nullptr;
inline TraceRecorder* active_trace_recorder() {
  return g_recording_threads.load(std::memory_order_relaxed) == 0 ? nullptr : t_active_recorder;
}

// A trace made by traceEnd; TypeError for anything else.
const std::shared_ptr<const Trace>& arg_trace(const Napi::CallbackInfo& info, std::size_t i, const char* op);

}  // namespace tapegrad::binding
