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

}  // namespace tapegrad::runtime
