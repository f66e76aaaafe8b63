// 64-byte aligned buffers for tensor storage, kept in a size-class cache so
// that a training step reuses memory instead of calling malloc/free per op,
// with counters that tg.memory() reports.
//
// Requests are rounded up to a size class (multiples of 64 bytes up to 1 KiB,
// then four classes per power of two, so at most 25% is lost to rounding).
// A freed buffer goes to a cache of its class instead of back to the system,
// while the bytes cached stay within a limit: by default the most bytes ever
// live at once (at least 256 MiB), so a training step's buffers are all
// reused by the next; set_cache_limit fixes it. To stay within it, cached
// buffers of other classes are returned first (the one just freed is more
// likely to be needed again). Each thread
// has a small cache of its own for buffers up to 64 KiB, so the common path
// takes no lock; larger buffers and overflow go to a shared cache behind a
// mutex. Large buffers come from mmap, so memory given back is returned to
// the system at once (no heap fragmentation).
//
// Sanitizer builds (TAPEGRAD_SANITIZE) and processes started with
// TAPEGRAD_BUFFER_CACHE=0 bypass the cache: every buffer is malloc'd and
// freed exactly, so AddressSanitizer sees use after free.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tapegrad::runtime {

// Throws a RangeError naming `op` when the memory cannot be had.
void* allocate(std::size_t nbytes, const char* op);
// `nbytes` must be the size passed to allocate. Any thread may release.
void release(void* ptr, std::size_t nbytes);

struct MemoryStats {
  std::int64_t live_bytes;     // bytes requested by buffers not yet released
  std::int64_t peak_bytes;     // the most live_bytes ever reached
  std::int64_t live_buffers;
  std::int64_t cached_bytes;   // freed buffers kept for reuse (their class size)
  std::int64_t cache_limit;    // the most cached_bytes may reach now
  std::int64_t scratch_bytes;  // every thread's scratch buffers (see scratch())
};
MemoryStats memory_stats();

// Sets the most bytes the cache may hold (0 disables caching), instead of
// the default that follows peak_bytes, and trims it.
// Buffers in other threads' own caches are trimmed when those threads next
// allocate or free; a thread's own cache is at most 1 MiB.
void set_cache_limit(std::int64_t bytes);
// Returns every cached buffer to the system (other threads' own caches: at
// their next allocation or free, or when they exit).
void empty_cache();
// False when the cache is bypassed (sanitizer build or TAPEGRAD_BUFFER_CACHE=0).
bool cache_enabled();

// A per-thread scratch buffer, 64-byte aligned and at least `nbytes` long,
// for kernels' temporary data (GEMM pack buffers). It is kept and reused by
// later calls with the same slot on the same thread (it only grows), and
// freed when the thread exits. Valid until the next call with that slot on
// that thread. Not tensor memory: memory_stats() counts it apart, in
// scratch_bytes.
// Throws a RangeError naming `op` when the memory cannot be had.
inline constexpr int kScratchSlots = 4;
void* scratch(int slot, std::size_t nbytes, const char* op);

}  // namespace tapegrad::runtime
