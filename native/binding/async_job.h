// Jobs that run the backward engine (and optimizer updates after it) on a
// background thread of our own (runtime/background.h: lower priority, never
// preempts the JS thread), so the event loop keeps serving while they run
// and no libuv worker (file system, DNS, crypto) is held by a training step.
#pragma once

#include <napi.h>

#include <functional>
#include <vector>

#include "binding/trace.h"
#include "core/engine.h"

namespace tapegrad::binding {

// What a job locks besides what it finds itself: tensors it writes (the
// optimizer updates' parameters and state) and tensors it only reads (the
// batch). A written storage is the job's alone; one only read may be shared
// by jobs that only read it.
struct LockSets {
  std::vector<Tensor> writes, reads;
};

// Queues backward from `roots`, then each of `updates` in order, on a
// background thread; the promise settles on the JS thread. Until then the storages of
// the roots, of every leaf the backward reaches (and of its .grad) and of
// `also_lock` are locked: writes, optimizer steps, .grad access and
// dispose() from JS fail with a clear error instead of racing the job.
// Throws at once (naming `op`) when the graph has JS hooks or a tensor is
// already in use by another job. The job's kernels use at most `threads`
// threads; 0 leaves one core to the JS thread (all but one of the pool's).
Napi::Promise queue_backward_job(Napi::Env env, const char* op, std::vector<Tensor> roots, std::vector<Tensor> grads,
                                 BackwardOptions options, std::vector<std::function<void()>> updates,
                                 const LockSets& also_lock, int threads = 0);

// A whole training step: replays `trace` (a recorded forward pass and loss)
// on `inputs`, runs backward from its first output, then `updates`, all on
// the background thread. The promise resolves with handles to the trace's
// outputs. Locked until then: `inputs`, `also_lock` and every tensor the
// trace captured (the parameters) with its gradient. The random numbers the
// trace's ops take are drawn from the calling JS thread's stream when the
// job is queued, as the same step on the JS thread would draw them.
Napi::Promise queue_traced_step_job(Napi::Env env, const char* op, std::shared_ptr<const Trace> trace,
                                    std::vector<Tensor> inputs, std::vector<std::function<void()>> updates,
                                    const LockSets& also_lock, int threads);

}  // namespace tapegrad::binding
