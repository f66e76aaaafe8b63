#include "binding/trace.h"

#include <algorithm>

#include "binding/addon.h"
#include "binding/convert.h"
#include "binding/op_args.h"
#include "core/autograd.h"
#include "core/grad_mode.h"
#include "runtime/error.h"

namespace tapegrad::binding {

// ---- OpArgs -----------------------------------------------------------------

namespace {

Tensor replayed(const std::vector<Tensor>& values, std::int32_t id) {
  const Tensor& t = values.at(static_cast<std::size_t>(id));
  if (!t.defined()) throw std::logic_error("trace replay: a value was used after its release");
  return t;
}

}  // namespace

Tensor OpArgs::traced_tensor(std::size_t i, const char* op, const char* arg, const char* expected) {
  if (replay_) return replayed(*values_, answer<TensorRef>([] { return TensorRef{}; }).id);
  const Napi::Value handle = (*info_)[i];
  Tensor t = unwrap(handle, op, arg, expected);
  reads_.emplace_back(TensorRef{recorder_->id_of(handle_key(handle), t)});
  return t;
}

Tensor OpArgs::traced_tensor_or_number(std::size_t i, const DType* like, const char* op, const char* arg) {
  // A number becomes a new 0-d tensor, captured by the trace as a constant.
  if (replay_) return replayed(*values_, answer<TensorRef>([] { return TensorRef{}; }).id);
  if (!(*info_)[i].IsNumber()) return traced_tensor(i, op, arg, kNumberOrTensor);
  Tensor t = arg_tensor_or_number(*info_, i, like, op, arg);
  reads_.emplace_back(TensorRef{recorder_->capture(t)});
  return t;
}

std::vector<Tensor> OpArgs::traced_tensors(std::size_t i, const char* op, const char* arg) {
  if (replay_) {
    std::vector<Tensor> out;
    for (std::int32_t id : answer<TensorRefs>([] { return TensorRefs{}; }).ids) out.push_back(replayed(*values_, id));
    return out;
  }
  std::vector<std::uint64_t> keys;
  std::vector<Tensor> ts = tensor_list((*info_)[i], op, arg, &keys);
  TensorRefs refs;
  for (std::size_t k = 0; k < ts.size(); ++k) refs.ids.push_back(recorder_->id_of(keys[k], ts[k]));
  reads_.emplace_back(std::move(refs));
  return ts;
}

ElementsView OpArgs::elements(std::size_t i, const char* op) {
  if (replay_) {
    const Bytes b = answer<Bytes>([] { return Bytes{}; });
    return {b.data->data(), b.dtype, b.count};
  }
  const Napi::Value v = (*info_)[i];
  if (!v.IsTypedArray()) throw_type_error(op, ": data must be a typed array");
  const Napi::TypedArray array = v.As<Napi::TypedArray>();
  DType dtype;
  switch (array.TypedArrayType()) {
    case napi_float32_array: dtype = DType::Float32; break;
    case napi_float64_array: dtype = DType::Float64; break;
    case napi_int32_array: dtype = DType::Int32; break;
    default: throw_type_error(op, ": data must be a Float32Array, Float64Array or Int32Array");
  }
  // The element pointer straight from the typed array: its buffer may be a
  // SharedArrayBuffer, which Napi::ArrayBuffer refuses ("Invalid argument").
  void* first = nullptr;
  if (napi_get_typedarray_info(v.Env(), v, nullptr, nullptr, &first, nullptr, nullptr) != napi_ok)
    throw_type_error(op, ": cannot read the data's typed array");
  const auto* bytes = static_cast<const std::uint8_t*>(first);
  const auto count = static_cast<std::int64_t>(array.ElementLength());
  if (recorder_) {  // (plain calls come here too)
    // The elements as they are now: a later change to the JS array does not reach the replay.
    auto copy = std::make_shared<std::vector<std::uint8_t>>(bytes, bytes + array.ByteLength());
    reads_.emplace_back(Bytes{std::move(copy), dtype, count});
  }
  return {bytes, dtype, count};
}


// ---- recording --------------------------------------------------------------

TraceRecorder::TraceRecorder(const std::vector<std::uint64_t>& keys, const std::vector<Tensor>& inputs) {
  trace_.grad_enabled_ = grad_enabled();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    // One tensor given twice (an autoencoder's input and target) is one
    // value: a replay must get one tensor there too.
    const auto [at, fresh] = ids_.emplace(keys[i], static_cast<std::int32_t>(i));
    trace_.inputs_.push_back({inputs[i].shape(), inputs[i].dtype(), fresh ? -1 : at->second});
    trace_.value_count_++;
  }
}

std::int32_t TraceRecorder::id_of(std::uint64_t key, const Tensor& t) {
  const auto found = ids_.find(key);
  if (found != ids_.end()) return found->second;
  const std::int32_t id = capture(t);
  ids_[key] = id;
  return id;
}

std::int32_t TraceRecorder::capture(const Tensor& t) {
  // Its graph would be walked by every replay's backward, and freed by the first.
  if (t.grad_fn())
    fail(concat("the forward pass uses a tensor computed outside it by '", t.grad_fn()->name(),
                "' (a tensor with a graph); compute it inside the forward pass, or detach() it"));
  const auto id = static_cast<std::int32_t>(trace_.value_count_++);
  trace_.captured_ids_.push_back(id);
  trace_.captured_.push_back(t);
  return id;
}

void TraceRecorder::add_call(ReplayFn run, const char* name, std::vector<TraceRead> reads,
                             const std::vector<std::uint64_t>& outputs, bool writes_first) {
  if (writes_first)
    for (const TraceRead& r : reads)
      if (const auto* ref = std::get_if<TensorRef>(&r)) {
        written_ids_.push_back(ref->id);
        break;
      }
  TraceCall call{run, name, std::move(reads), {}, {}};
  for (std::uint64_t key : outputs) {
    const auto id = static_cast<std::int32_t>(trace_.value_count_++);
    ids_[key] = id;
    call.outputs.push_back(id);
  }
  trace_.calls_.push_back(std::move(call));
}

void TraceRecorder::fail(std::string reason) {
  if (failure_.empty()) failure_ = std::move(reason);
}

std::shared_ptr<const Trace> TraceRecorder::finish(const std::vector<std::uint64_t>& keys,
                                                   const std::vector<Tensor>& outputs, std::string& why_not) {
  if (!failure_.empty()) {
    why_not = failure_;
    return nullptr;
  }
  for (std::size_t i = 0; i < outputs.size(); ++i) trace_.outputs_.push_back(id_of(keys[i], outputs[i]));
  if (!failure_.empty()) {  // an output captured from outside with a graph
    why_not = failure_;
    return nullptr;
  }
  trace_.written_.assign(trace_.value_count_, false);
  for (std::int32_t id : written_ids_) trace_.written_[id] = true;
  trace_.random_calls_ = std::move(random_log_.calls);
  // Each value is released after the call that reads it last (or makes it,
  // if none reads it), unless it is captured or an output.
  std::vector<std::int64_t> last(trace_.value_count_, -1);
  for (std::size_t c = 0; c < trace_.calls_.size(); ++c) {
    const TraceCall& call = trace_.calls_[c];
    for (std::int32_t id : call.outputs) last[id] = static_cast<std::int64_t>(c);
    for (const TraceRead& r : call.reads) {
      if (const auto* ref = std::get_if<TensorRef>(&r)) last[ref->id] = static_cast<std::int64_t>(c);
      if (const auto* refs = std::get_if<TensorRefs>(&r))
        for (std::int32_t id : refs->ids) last[id] = static_cast<std::int64_t>(c);
    }
  }
  for (std::int32_t id : trace_.captured_ids_) last[id] = -1;
  for (std::int32_t id : trace_.outputs_) last[id] = -1;
  for (std::size_t id = 0; id < last.size(); ++id)
    if (last[id] >= 0) trace_.calls_[last[id]].release.push_back(static_cast<std::int32_t>(id));
  return std::make_shared<const Trace>(std::move(trace_));
}

// ---- replay -----------------------------------------------------------------

void Trace::check_inputs(const std::vector<Tensor>& inputs, const char* op) const {
  if (inputs.size() != inputs_.size())
    throw_range_error(op, ": the traced forward pass takes ", inputs_.size(), " tensors, got ", inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Input& in = inputs_[i];
    if (inputs[i].shape() != in.shape || inputs[i].dtype() != in.dtype)
      throw_range_error(op, ": tensor ", i, " of the batch has shape ", shape_str(inputs[i].shape()), " and dtype ",
                        dtype_name(inputs[i].dtype()), ", the trace was recorded with ", shape_str(in.shape), " and ",
                        dtype_name(in.dtype));
    if (in.same_as >= 0 && !inputs[i].same(inputs[static_cast<std::size_t>(in.same_as)]))
      throw_range_error(op, ": tensors ", in.same_as, " and ", i,
                        " of the batch were one tensor when the trace was recorded; a replay needs one there too");
  }
}

std::vector<Tensor> Trace::run(const std::vector<Tensor>& inputs, const char* op, RandomDraws* draws) const {
  std::vector<Tensor> values(value_count_);
  std::copy(inputs.begin(), inputs.end(), values.begin());
  for (std::size_t k = 0; k < captured_.size(); ++k) values[captured_ids_[k]] = captured_[k];
  GradModeGuard grad_mode(grad_enabled_);
  RandomDrawsScope random(draws);
  for (const TraceCall& call : calls_) {
    OpArgs args(call.reads, values);
    std::vector<Tensor> outs = call.run(args);
    if (outs.size() != call.outputs.size())
      throw_error(op, ": the traced call to ", call.name, " made ", outs.size(), " tensors on replay, ",
                  call.outputs.size(), " when recorded");
    for (std::size_t k = 0; k < outs.size(); ++k) values[call.outputs[k]] = std::move(outs[k]);
    for (std::int32_t id : call.release) values[id] = Tensor();
  }
  std::vector<Tensor> out;
  for (std::int32_t id : outputs_) out.push_back(values[id]);
  return out;
}

// ---- JS functions -----------------------------------------------------------

namespace {

thread_local std::unique_ptr<TraceRecorder> t_recorder;

constexpr napi_type_tag kTraceTag = {0x7a3c1e5b9d2f4a60ULL, 0x8b1d3f5e7a9c2e41ULL};

using TraceBox = std::shared_ptr<const Trace>;

// traceBegin(inputs): records the op calls from here on this thread.
Napi::Value trace_begin(const Napi::CallbackInfo& info) {
  if (t_recorder) throw_error("traceBegin: a trace is already being recorded on this thread");
  std::vector<std::uint64_t> keys;
  const std::vector<Tensor> inputs = tensor_list(info[0], "traceBegin", "inputs", &keys);
  t_recorder = std::make_unique<TraceRecorder>(keys, inputs);
  t_active_recorder = t_recorder.get();
  g_recording_threads.fetch_add(1);
  return info.Env().Undefined();
}

// traceEnd(outputs) -> { trace, reason }: the trace, or null and why it cannot be replayed.
Napi::Value trace_end(const Napi::CallbackInfo& info) {
  if (!t_recorder) throw_error("traceEnd: no trace is being recorded on this thread");
  std::unique_ptr<TraceRecorder> recorder = std::move(t_recorder);
  t_active_recorder = nullptr;
  g_recording_threads.fetch_sub(1);
  std::string why_not;
  std::vector<std::uint64_t> keys;
  const std::vector<Tensor> outputs = tensor_list(info[0], "traceEnd", "outputs", &keys);
  TraceBox trace = recorder->finish(keys, outputs, why_not);
  recorder.reset();
  Napi::Object out = Napi::Object::New(info.Env());
  if (!trace) {
    out.Set("trace", info.Env().Null());
    out.Set("reason", why_not);
    return out;
  }
  auto external = Napi::External<TraceBox>::New(info.Env(), new TraceBox(std::move(trace)),
                                                [](Napi::Env, TraceBox* box) { delete box; });
  external.TypeTag(&kTraceTag);
  out.Set("trace", external);
  out.Set("reason", info.Env().Null());
  return out;
}

// traceAbort(): stops recording (the forward pass threw).
Napi::Value trace_abort(const Napi::CallbackInfo& info) {
  if (t_recorder) g_recording_threads.fetch_sub(1);
  t_active_recorder = nullptr;
  t_recorder.reset();
  return info.Env().Undefined();
}

// _traceRun(trace, inputs) -> handles: replays on the JS thread (tests compare it with the JS forward pass).
Napi::Value trace_run(const Napi::CallbackInfo& info) {
  const TraceBox& trace = arg_trace(info, 0, "_traceRun");
  const std::vector<Tensor> inputs = arg_tensors(info, 1, "_traceRun", "inputs");
  trace->check_inputs(inputs, "_traceRun");
  return wrap_all(info.Env(), trace->run(inputs, "_traceRun", nullptr));
}

}  // namespace

const std::shared_ptr<const Trace>& arg_trace(const Napi::CallbackInfo& info, std::size_t i, const char* op) {
  const Napi::Value v = info[i];
  if (!v.IsExternal() || !v.As<Napi::External<TraceBox>>().CheckTypeTag(&kTraceTag))
    throw_type_error(op, ": trace must be a trace from traceEnd");
  return *v.As<Napi::External<TraceBox>>().Data();
}


void register_trace(Napi::Env env, Napi::Object exports) {
  define<trace_begin>(env, exports, "traceBegin", InTrace::Ignored);
  define<trace_end>(env, exports, "traceEnd", InTrace::Ignored);
  define<trace_abort>(env, exports, "traceAbort", InTrace::Ignored);
  define<trace_run>(env, exports, "_traceRun");
}

}  // namespace tapegrad::binding
