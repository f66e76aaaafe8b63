// The process-wide thread pool that kernels and ops split work across.
//
// One pool per process, shared by every JS thread that loaded the addon.
// A parallel region runs on the calling thread plus pool workers; a region
// opened inside a region (nested), or while another thread's region holds
// the pool, runs inline on the calling thread: no deadlock, no
// oversubscription beyond the one extra caller.
//
// Shared by SIMD units and baseline code: declarations only (see
// kernels/kernels.h). Baseline code may use the lambda form in
// runtime/parallel.h.
#pragma once

#include <cstdint>

namespace tapegrad::runtime {

// fn(ctx, begin, end) processes the half-open range [begin, end).
using RangeFn = void (*)(void* ctx, std::int64_t begin, std::int64_t end);

// Threads a parallel region may use, the caller included (>= 1).
int num_threads();

// Sets the thread count for later regions (1 ... kMaxThreads). Waits for a
// running region to finish. Throws a TapegradError inside a parallel region.
void set_num_threads(int n);
inline constexpr int kMaxThreads = 1024;

// The default: physical cores in this process's CPU affinity mask, capped by
// a cgroup CPU quota when one is set.
int default_num_threads();

// The threads a region opened on this thread now may use, itself included:
// 1 inside a region, else num_threads() within this thread's cap (see
// ThreadCapScope). What work is split into, so that a capped job does not
// cut a product into more blocks than it has threads to run them.
int region_threads();

// While it lives, regions opened on this thread use at most `max` threads
// (the caller included). Async training jobs use it to leave a core to the
// JS thread, so the event loop is not starved while they compute.
class ThreadCapScope {
 public:
  explicit ThreadCapScope(int max);
  ~ThreadCapScope();
  ThreadCapScope(const ThreadCapScope&) = delete;
  ThreadCapScope& operator=(const ThreadCapScope&) = delete;

 private:
  int previous_;
};

// Runs fn over [begin, end) in chunks of at least `grain` elements, one
// chunk per thread at most; runs it inline (one call over the whole range)
// when the range is too small to split, when nested, or when the pool is
// busy. The first exception a chunk throws is rethrown here after every
// chunk has finished. Chunk bounds depend only on the range, grain and
// thread count, never on timing.
void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain, RangeFn fn, void* ctx);

// The chunks parallel_for over `len` elements with this grain splits into
// on the calling thread (1: inline), unless the pool is busy: for ops that
// must run two loops alike (zeros filled where they are added into).
std::int64_t parallel_chunks(std::int64_t len, std::int64_t grain);

}  // namespace tapegrad::runtime
