// Background threads for jobs that must not disturb the JS thread: on
// Linux they never preempt another thread when they wake (SCHED_BATCH) and
// run at a lower priority (nice 5), so the event loop's timers and I/O
// callbacks get a core at once while a job computes. With no other demand
// for the CPU they run at full speed.
#pragma once

#include <functional>

namespace tapegrad::runtime {

// Runs `fn` on a background thread and returns when it has finished,
// rethrowing what it threw. Threads are reused; one is started when all are
// busy. Thread-local settings of the caller (grad mode, thread caps) do not
// carry over: set them inside `fn`.
void run_in_background(const std::function<void()>& fn);

}  // namespace tapegrad::runtime
