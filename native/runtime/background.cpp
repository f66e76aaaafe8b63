#include "runtime/background.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace tapegrad::runtime {

namespace {

// How much nicer than the thread that starts them background threads are
// (nice values run from -20 to 19, the lowest priority).
[[maybe_unused]] constexpr int kBackgroundNiceIncrement = 5;

// How long a runner that finished a task watches for the next one before it
// sleeps. A training loop posts its next step a few tens of microseconds
// after the last one finished, and waking a sleeping thread costs about as
// much again (more in a VM): a small MLP's Trainer step measured ~25% faster.
// It yields the core while it watches, so any other thread that wants the
// core gets it (event-loop delay measured unchanged).
constexpr std::chrono::microseconds kWatchBeforeSleep{100};

void release(struct Runner* r);

// One background thread and its hand-over slot.
struct Runner {
  std::mutex m;
  std::condition_variable cv;
  std::function<void()> task;
  std::atomic<bool> has_task{false};  // set with task, under m

  void main() {
#if defined(__linux__)
    const sched_param param{};
    // Best effort; on Linux both apply to this thread only (a new thread
    // starts with its creator's nice value). Measured on 2 cores: without
    // the lower priority the JS thread waited for a core for up to ~5 ms
    // after queueing a job; 5 steps nicer keeps that under ~0.1 ms while the
    // job still gets about a third of a core against busy processes.
    sched_setscheduler(0, SCHED_BATCH, &param);
    const auto self = static_cast<id_t>(syscall(SYS_gettid));
    errno = 0;
    const int nice = getpriority(PRIO_PROCESS, self);
    if (errno == 0) setpriority(PRIO_PROCESS, self, std::min(19, nice + kBackgroundNiceIncrement));
#endif
    for (;;) {
      const auto watch_end = std::chrono::steady_clock::now() + kWatchBeforeSleep;
      while (!has_task.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < watch_end)
        std::this_thread::yield();
      std::function<void()> run;
      {
        std::unique_lock<std::mutex> lock(m);
        cv.wait(lock, [&] { return has_task.load(std::memory_order_relaxed); });
        run = std::move(task);
        task = nullptr;
        has_task.store(false, std::memory_order_relaxed);
      }
      run();
      run = nullptr;  // what the task holds is freed before the runner is handed out again
      release(this);
    }
  }
};

// Idle runners. Never destroyed: the threads are detached and live as long
// as the process, so exit never waits for them or tears down a slot in use.
struct Runners {
  std::mutex m;
  std::vector<Runner*> idle;
};

Runners& runners() {
  static auto* r = new Runners();
  return *r;
}

Runner* acquire() {
  Runners& all = runners();
  {
    std::lock_guard<std::mutex> lock(all.m);
    if (!all.idle.empty()) {
      Runner* r = all.idle.back();
      all.idle.pop_back();
      return r;
    }
  }
  auto* r = new Runner();
  std::thread([r] { r->main(); }).detach();
  return r;
}

void release(Runner* r) {
  Runners& all = runners();
  std::lock_guard<std::mutex> lock(all.m);
  all.idle.push_back(r);
}

}  // namespace

void post_to_background(std::function<void()> fn) {
  Runner* r = acquire();
  std::lock_guard<std::mutex> lock(r->m);
  r->task = std::move(fn);
  r->has_task.store(true, std::memory_order_release);
  r->cv.notify_one();
}

}  // namespace tapegrad::runtime
