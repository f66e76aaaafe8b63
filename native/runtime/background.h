// Background threads for jobs that must not disturb the JS thread: on
// Linux they never preempt another thread when they wake (SCHED_BATCH) and
// run 5 nice steps below the thread that started them, so the event loop's
// timers and I/O callbacks get a core at once while a job computes. With no
// other demand for the CPU they run at full speed.
#pragma once

#include <functional>

namespace tapegrad::runtime {

// Runs `fn` on a background thread and returns at once; `fn` must not
// throw. Threads are reused; one is started when all are busy. Thread-local
// settings of the caller (grad mode, thread caps) do not carry over: set
// them inside `fn`.
void post_to_background(std::function<void()> fn);

}  // namespace tapegrad::runtime
