#include "runtime/background.h"

#include <condition_variable>
#include <exception>
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

// The nice value of background threads (0 is the default, 19 the lowest).
[[maybe_unused]] constexpr int kBackgroundNice = 5;

// One background thread and its hand-over slot.
struct Runner {
  std::mutex m;
  std::condition_variable cv;
  const std::function<void()>* task = nullptr;
  std::exception_ptr error;
  bool done = false;

  void main() {
#if defined(__linux__)
    const sched_param param{};
    // Best effort; on Linux both apply to this thread only. Measured on 2
    // cores: without the lower priority the JS thread waited for a core for
    // up to ~5 ms after queueing a job; nice 5 keeps it under ~0.1 ms while
    // the job still gets a third of a core against busy processes.
    sched_setscheduler(0, SCHED_BATCH, &param);
    setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), kBackgroundNice);
#endif
    std::unique_lock<std::mutex> lock(m);
    for (;;) {
      cv.wait(lock, [&] { return task != nullptr; });
      try {
        (*task)();
      } catch (...) {
        error = std::current_exception();
      }
      task = nullptr;
      done = true;
      cv.notify_all();
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

void run_in_background(const std::function<void()>& fn) {
  Runner* r = acquire();
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(r->m);
    r->task = &fn;
    r->done = false;
    r->cv.notify_all();
    r->cv.wait(lock, [&] { return r->done; });
    error = r->error;
    r->error = nullptr;
  }
  release(r);
  if (error) std::rethrow_exception(error);
}

}  // namespace tapegrad::runtime
