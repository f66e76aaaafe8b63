#include "runtime/background.h"

#include <algorithm>
#include <cerrno>
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

void release(struct Runner* r);

// One background thread and its hand-over slot.
struct Runner {
  std::mutex m;
  std::condition_variable cv;
  std::function<void()> task;

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
      std::function<void()> run;
      {
        std::unique_lock<std::mutex> lock(m);
        cv.wait(lock, [&] { return static_cast<bool>(task); });
        run = std::move(task);
        task = nullptr;
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
  r->cv.notify_one();
}

}  // namespace tapegrad::runtime
