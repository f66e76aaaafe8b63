#include "runtime/allocator.h"

#include <atomic>
#include <cstdlib>

#include "runtime/error.h"

namespace tapegrad::runtime {

namespace {
constexpr std::size_t kAlignment = 64;
std::atomic<std::int64_t> g_live_bytes{0};
std::atomic<std::int64_t> g_peak_bytes{0};
std::atomic<std::int64_t> g_live_buffers{0};
}  // namespace

void* allocate(std::size_t nbytes, const char* op) {
  // Round up so that vector loops may read whole registers at the tail.
  std::size_t rounded = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded == 0) rounded = kAlignment;
  if (rounded < nbytes) throw_range_error(op, ": cannot allocate ", nbytes, " bytes");
  void* ptr = nullptr;
  if (posix_memalign(&ptr, kAlignment, rounded) != 0 || ptr == nullptr)
    throw_range_error(op, ": cannot allocate ", nbytes, " bytes (out of memory)");
  std::int64_t live = g_live_bytes.fetch_add(static_cast<std::int64_t>(nbytes)) + nbytes;
  std::int64_t peak = g_peak_bytes.load();
  while (live > peak && !g_peak_bytes.compare_exchange_weak(peak, live)) {
  }
  g_live_buffers.fetch_add(1);
  return ptr;
}

void release(void* ptr, std::size_t nbytes) {
  if (!ptr) return;
  std::free(ptr);
  g_live_bytes.fetch_sub(static_cast<std::int64_t>(nbytes));
  g_live_buffers.fetch_sub(1);
}

MemoryStats memory_stats() {
  return {g_live_bytes.load(), g_peak_bytes.load(), g_live_buffers.load()};
}

namespace {
struct ScratchSet {
  void* ptr[kScratchSlots] = {};
  std::size_t size[kScratchSlots] = {};
  ~ScratchSet() {
    for (void* p : ptr) std::free(p);
  }
};
thread_local ScratchSet t_scratch;
}  // namespace

void* scratch(int slot, std::size_t nbytes, const char* op) {
  ScratchSet& s = t_scratch;
  if (nbytes <= s.size[slot] && s.ptr[slot]) return s.ptr[slot];
  std::size_t rounded = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded < nbytes) throw_range_error(op, ": cannot allocate ", nbytes, " bytes of scratch memory");
  std::free(s.ptr[slot]);
  s.ptr[slot] = nullptr;
  s.size[slot] = 0;
  void* ptr = nullptr;
  if (posix_memalign(&ptr, kAlignment, rounded ? rounded : kAlignment) != 0 || ptr == nullptr)
    throw_range_error(op, ": cannot allocate ", nbytes, " bytes of scratch memory (out of memory)");
  s.ptr[slot] = ptr;
  s.size[slot] = rounded;
  return ptr;
}

}  // namespace tapegrad::runtime
