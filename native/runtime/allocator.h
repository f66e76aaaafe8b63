// 64-byte aligned buffers for tensor storage, with counters that
// tg.memory() reports.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tapegrad::runtime {

// Throws a RangeError naming `op` when the memory cannot be had.
void* allocate(std::size_t nbytes, const char* op);
void release(void* ptr, std::size_t nbytes);

struct MemoryStats {
  std::int64_t live_bytes;
  std::int64_t peak_bytes;
  std::int64_t live_buffers;
};
MemoryStats memory_stats();

// A per-thread scratch buffer, 64-byte aligned and at least `nbytes` long,
// for kernels' temporary data (GEMM pack buffers). It is kept and reused by
// later calls with the same slot on the same thread (it only grows), and
// freed when the thread exits. Valid until the next call with that slot on
// that thread. Not tensor memory: memory_stats() does not count it.
// Throws a RangeError naming `op` when the memory cannot be had.
inline constexpr int kScratchSlots = 4;
void* scratch(int slot, std::size_t nbytes, const char* op);

}  // namespace tapegrad::runtime
