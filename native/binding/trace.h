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

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

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
using TraceRead = std::variant<bool, double, std::int64_t, std::string, std::vector<std::int64_t>, TensorRef,
                               TensorRefs, Bytes>;

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
  // Runs the calls on `inputs` (same shapes and dtypes as when recorded) on
  // the calling thread, with the grad mode the recording started with.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs, const char* op) const;
  // The tensors it captured (parameters, constants): a job that replays the
  // trace locks them.
  const std::vector<Tensor>& captured() const { return captured_; }

 private:
  friend class TraceRecorder;
  struct Input {
    Shape shape;
    DType dtype;
  };
  std::vector<Input> inputs_;                  // values 0..n-1
  std::vector<std::int32_t> captured_ids_;     // where captured_ go
  std::vector<Tensor> captured_;
  std::vector<TraceCall> calls_;
  std::vector<std::int32_t> outputs_;
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
  void add_call(ReplayFn run, const char* name, std::vector<TraceRead> reads, const std::vector<std::uint64_t>& outputs);
  // Marks the trace unusable (the first reason is kept).
  void fail(std::string reason);
  // The finished trace, or null with the reason in `why_not`.
  std::shared_ptr<const Trace> finish(const std::vector<std::uint64_t>& keys, const std::vector<Tensor>& outputs,
                                      std::string& why_not);

 private:
  std::unordered_map<std::uint64_t, std::int32_t> ids_;
  Trace trace_;
  std::string failure_;
};

// The recorder of this JS thread, or null when none is recording.
TraceRecorder* active_trace_recorder();

// A trace made by traceEnd; TypeError for anything else.
const std::shared_ptr<const Trace>& arg_trace(const Napi::CallbackInfo& info, std::size_t i, const char* op);

}  // namespace tapegrad::binding
