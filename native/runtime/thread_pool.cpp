#include "runtime/thread_pool.h"

#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "runtime/error.h"
#include "runtime/system_limits.h"

namespace tapegrad::runtime {

namespace {

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// How long a worker (or a waiting caller) spins before sleeping in the
// kernel: back-to-back regions (a training step's kernels) then start
// without a futex wake-up, and an idle pool costs nothing after this.
constexpr auto kSpin = std::chrono::microseconds(100);

// One parallel region: chunk c covers [begin + c*len/chunks, begin + (c+1)*len/chunks).
struct Region {
  RangeFn fn;
  void* ctx;
  std::int64_t begin;
  std::int64_t len;
  std::int64_t chunks;
  std::atomic<std::int64_t> next{0};
  std::mutex error_mutex;
  std::exception_ptr error;

  // Takes and runs chunks until none are left.
  void work() {
    for (;;) {
      const std::int64_t c = next.fetch_add(1, std::memory_order_relaxed);
      if (c >= chunks) return;
      const std::int64_t b = begin + c * len / chunks;
      const std::int64_t e = begin + (c + 1) * len / chunks;
      try {
        fn(ctx, b, e);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    }
  }
};

thread_local bool t_in_region = false;
thread_local int t_thread_cap = kMaxThreads;  // see ThreadCapScope

// A worker owns one slot holding 0 (idle), the address of a region offered
// to it, that address | 1 once the worker has claimed it, or kStop. The
// region lives on the caller's stack. After its own chunks the caller takes
// back offers not yet claimed (a worker the OS has not scheduled yet then
// costs nothing) and waits only for claimed ones to go back to 0.
constexpr std::uintptr_t kIdle = 0, kClaimed = 1, kStop = 2;

struct alignas(64) Slot {
  std::atomic<std::uintptr_t> state{kIdle};
};

// Waits until done() holds, spinning for kSpin first, then sleeping on
// `a` while it still holds `old`.
template <typename Pred>
void spin_then_wait(std::atomic<std::uintptr_t>& a, std::uintptr_t old, Pred done) {
  const auto until = std::chrono::steady_clock::now() + kSpin;
  for (int i = 0; !done(); ++i) {
    if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) {
      while (!done()) a.wait(old, std::memory_order_acquire);
      return;
    }
    cpu_relax();
  }
}

class Pool {
 public:
  int threads() {
    std::lock_guard<std::mutex> lock(config_mutex_);
    if (threads_ == 0) threads_ = default_num_threads();
    return threads_;
  }

  void set_threads(int n) {
    // Waits for a running region, then restarts the workers lazily.
    std::lock_guard<std::mutex> region_lock(region_mutex_);
    std::lock_guard<std::mutex> lock(config_mutex_);
    stop_workers();
    threads_ = n;
  }

  // Threads a region opened on this thread may use (1: inline).
  int region_threads() {
    if (t_in_region) return 1;
    const int n = threads();
    return n < t_thread_cap ? n : t_thread_cap;
  }

  // The chunks a region over len >= 1 elements takes on this thread (1: inline).
  std::int64_t chunks_for(std::int64_t len, std::int64_t grain) {
    if (grain < 1) grain = 1;
    const std::int64_t chunks = len / grain;
    if (chunks <= 1) return 1;
    const int n = region_threads();
    return chunks < n ? chunks : n;
  }

  void run(std::int64_t begin, std::int64_t end, std::int64_t grain, RangeFn fn, void* ctx) {
    const std::int64_t len = end - begin;
    if (len <= 0) return;
    const std::int64_t chunks = chunks_for(len, grain);
    std::unique_lock<std::mutex> region_lock(region_mutex_, std::defer_lock);
    if (chunks <= 1 || !region_lock.try_lock()) {
      fn(ctx, begin, end);
      return;
    }
    ensure_workers();
    Region region;
    region.fn = fn;
    region.ctx = ctx;
    region.begin = begin;
    region.len = len;
    region.chunks = chunks;
    const auto helpers = static_cast<std::size_t>(chunks - 1) < slots_.size() ? static_cast<std::size_t>(chunks - 1)
                                                                               : slots_.size();
    const auto offer = reinterpret_cast<std::uintptr_t>(&region);
    for (std::size_t w = 0; w < helpers; ++w) {
      slots_[w]->state.store(offer, std::memory_order_release);
      slots_[w]->state.notify_one();
    }
    t_in_region = true;
    region.work();
    t_in_region = false;
    for (std::size_t w = 0; w < helpers; ++w) {
      std::atomic<std::uintptr_t>& state = slots_[w]->state;
      std::uintptr_t expected = offer;
      if (state.compare_exchange_strong(expected, kIdle, std::memory_order_acq_rel)) continue;  // taken back
      spin_then_wait(state, offer | kClaimed, [&] { return state.load(std::memory_order_acquire) == kIdle; });
    }
    region_lock.unlock();
    if (region.error) std::rethrow_exception(region.error);
  }

 private:
  // Called with region_mutex_ held.
  void ensure_workers() {
    std::lock_guard<std::mutex> lock(config_mutex_);
    if (threads_ == 0) threads_ = default_num_threads();
    const auto want = static_cast<std::size_t>(threads_ - 1);
    // Reserved first, so a failed thread start (std::system_error) leaves
    // slots_ and workers_ paired; an offer to a slot without a worker would
    // only be taken back.
    slots_.reserve(want);
    workers_.reserve(want);
    while (workers_.size() < want) {
      auto slot = std::make_unique<Slot>();
      workers_.emplace_back(worker_main, slot.get());
      slots_.push_back(std::move(slot));
    }
  }

  // Called with both mutexes held.
  void stop_workers() {
    for (auto& slot : slots_) {
      slot->state.store(kStop, std::memory_order_release);
      slot->state.notify_one();
    }
    for (auto& t : workers_) t.join();
    workers_.clear();
    slots_.clear();
  }

  static void worker_main(Slot* slot) {
    t_in_region = true;  // anything a worker runs that asks for a region runs inline
    std::atomic<std::uintptr_t>& state = slot->state;
    for (;;) {
      spin_then_wait(state, kIdle, [&] { return state.load(std::memory_order_acquire) != kIdle; });
      std::uintptr_t v = state.load(std::memory_order_acquire);
      if (v == kStop) return;
      // Claim the offer; this fails when the caller took it back meanwhile.
      if (v == kIdle || (v & kClaimed) || !state.compare_exchange_strong(v, v | kClaimed, std::memory_order_acq_rel))
        continue;
      reinterpret_cast<Region*>(v)->work();
      state.store(kIdle, std::memory_order_release);
      state.notify_all();
    }
  }

  std::mutex region_mutex_;  // held by the thread whose region uses the workers
  std::mutex config_mutex_;  // guards threads_, workers_, slots_
  int threads_ = 0;          // 0: not yet read from the system
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::thread> workers_;
};

// Never destroyed: workers may still be parked when the process exits, and a
// static destructor joining them could race with other exit-time teardown.
Pool& pool() {
  static Pool* p = new Pool();
  return *p;
}

}  // namespace

int default_num_threads() {
  int n = 0;
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    // Count physical cores: SMT siblings share one core's FMA units, so a
    // second thread on them only adds contention to GEMM.
    std::set<std::pair<std::string, std::string>> cores;
    int logical = 0;
    bool topology = true;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (!CPU_ISSET(cpu, &set)) continue;
      ++logical;
      const std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
      const auto core = read_tokens(base + "core_id");
      const auto package = read_tokens(base + "physical_package_id");
      if (core.empty() || package.empty()) {
        topology = false;
        continue;
      }
      cores.insert({package[0], core[0]});
    }
    n = topology && !cores.empty() ? static_cast<int>(cores.size()) : logical;
  }
  const int limit = cgroup_cpu_limit();
  if (limit > 0 && (n == 0 || limit < n)) n = limit;
#endif
  if (n <= 0) {
    const unsigned hw = std::thread::hardware_concurrency();
    n = hw > 0 ? static_cast<int>(hw) : 1;
  }
  return n < kMaxThreads ? n : kMaxThreads;
}

int num_threads() { return pool().threads(); }

void set_num_threads(int n) {
  if (n < 1 || n > kMaxThreads)
    throw_range_error("setNumThreads: n must be an integer from 1 to ", kMaxThreads, ", got ", n);
  if (t_in_region) throw_error("setNumThreads: cannot change the thread count inside a parallel region");
  pool().set_threads(n);
}

int region_threads() { return pool().region_threads(); }

ThreadCapScope::ThreadCapScope(int max) : previous_(t_thread_cap) { t_thread_cap = max < 1 ? 1 : max; }
ThreadCapScope::~ThreadCapScope() { t_thread_cap = previous_; }

std::int64_t parallel_chunks(std::int64_t len, std::int64_t grain) {
  return len < 1 ? 1 : pool().chunks_for(len, grain);
}

void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain, RangeFn fn, void* ctx) {
  pool().run(begin, end, grain, fn, ctx);
}

}  // namespace tapegrad::runtime
