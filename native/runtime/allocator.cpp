#include "runtime/allocator.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#if !defined(_WIN32)
#include <sys/mman.h>
#endif

#include "runtime/error.h"
#include "runtime/system_limits.h"

namespace tapegrad::runtime {

namespace {

constexpr std::size_t kAlignment = 64;

// Size classes: 64, 128, ..., 1024 (16 classes), then four per power of two
// (1280, 1536, 1792, 2048, 2560, ...) up to 2 GiB. Larger buffers are
// allocated exactly and never cached.
constexpr int kSmallClasses = 16;
constexpr int kMaxLog2 = 31;
constexpr int kNumClasses = kSmallClasses + (kMaxLog2 - 10) * 4;
constexpr std::size_t kMaxCachedSize = std::size_t{1} << kMaxLog2;
// Classes up to this size may sit in a thread's own cache, up to kThreadCacheBytes.
constexpr std::size_t kThreadClassMax = 64 * 1024;
constexpr std::int64_t kThreadCacheBytes = 1 << 20;
// Class sizes from here up come from mmap: given back, they return to the
// system at once instead of fragmenting the malloc heap.
constexpr std::size_t kMmapThreshold = 256 * 1024;
// mmap'd buffers from here up are backed by huge pages where the system allows.
constexpr std::size_t kHugePageThreshold = 4 * 1024 * 1024;
constexpr std::int64_t kDefaultCacheLimit = std::int64_t{256} << 20;

constexpr int floor_log2(std::size_t n) { return 63 - __builtin_clzll(static_cast<unsigned long long>(n)); }

// The class of an n-byte request (n > 0), or -1 when it is too large to cache.
constexpr int class_of(std::size_t n) {
  if (n <= 1024) return static_cast<int>((n + kAlignment - 1) / kAlignment) - 1;
  if (n > kMaxCachedSize) return -1;
  const int p = floor_log2(n - 1);  // 2^p < n <= 2^(p+1)
  const std::size_t base = std::size_t{1} << p, step = base >> 2;
  const int idx = static_cast<int>((n - base + step - 1) / step);  // 1..4
  return kSmallClasses + (p - 10) * 4 + idx - 1;
}

constexpr std::size_t class_size(int c) {
  if (c < kSmallClasses) return static_cast<std::size_t>(c + 1) * kAlignment;
  const int p = 10 + (c - kSmallClasses) / 4;
  const std::size_t base = std::size_t{1} << p;
  return base + (base >> 2) * static_cast<std::size_t>((c - kSmallClasses) % 4 + 1);
}

constexpr int kThreadClasses = class_of(kThreadClassMax) + 1;
static_assert(class_size(class_of(1025)) == 1280 && class_size(class_of(2049)) == 2560 &&
              class_size(class_of(kMaxCachedSize)) == kMaxCachedSize && class_of(kMaxCachedSize) == kNumClasses - 1);

#ifdef TAPEGRAD_SANITIZE
constexpr bool kSanitize = true;
#else
constexpr bool kSanitize = false;
#endif

bool read_enabled() {
  if (kSanitize) return false;
  const char* env = std::getenv("TAPEGRAD_BUFFER_CACHE");
  return !(env && (std::strcmp(env, "0") == 0 || std::strcmp(env, "off") == 0 || std::strcmp(env, "false") == 0));
}
const bool g_enabled = read_enabled();

std::atomic<std::int64_t> g_live_bytes{0};
std::atomic<std::int64_t> g_peak_bytes{0};
std::atomic<std::int64_t> g_live_buffers{0};
std::atomic<std::int64_t> g_cached_bytes{0};
std::atomic<std::int64_t> g_scratch_bytes{0};
// Set by set_cache_limit; kFollowPeak (the default) means the larger of
// kDefaultCacheLimit and the most bytes ever live at once (cache_limit()).
constexpr std::int64_t kFollowPeak = -1;
std::atomic<std::int64_t> g_cache_limit{kFollowPeak};
// Bumped by empty_cache and by a lower limit: threads flush their own cache
// when they see a new value.
std::atomic<std::uint64_t> g_epoch{0};

// The limit in force: by default as many bytes as were ever live at once
// (at least kDefaultCacheLimit), so that every buffer of a training step,
// however large, is reused by the next step instead of going back to the
// system and returning through mmap and its page faults (25% of a step's
// time measured with a 420 MB working set under a fixed 256 MiB limit).
std::int64_t cache_limit() {
  const std::int64_t set = g_cache_limit.load(std::memory_order_relaxed);
  if (set != kFollowPeak) return set;
  const std::int64_t peak = g_peak_bytes.load(std::memory_order_relaxed);
  return peak > kDefaultCacheLimit ? peak : kDefaultCacheLimit;
}

// The system's memory, without the cache.
void* system_allocate(std::size_t size) {
  // Where the kernel overcommits (vm.overcommit_memory=1, common on container
  // hosts) mmap grants any size the address space holds, and filling a buffer
  // larger than the machine's memory ends in the OOM killer, not an error.
  if (size > memory_ceiling()) return nullptr;
#if !defined(_WIN32)
  if (g_enabled && size >= kMmapThreshold) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
#ifdef MADV_HUGEPAGE
    // Large buffers ask for transparent huge pages, as NumPy's do (where the
    // system grants them on request): a matrix's rows a few KiB apart then
    // share TLB entries instead of taking one page each.
    if (size >= kHugePageThreshold) madvise(p, size, MADV_HUGEPAGE);
#endif
    return p;
  }
  void* p = nullptr;
  return posix_memalign(&p, kAlignment, size) == 0 ? p : nullptr;
#else
  return _aligned_malloc(size, kAlignment);
#endif
}

void system_release(void* p, std::size_t size) {
#if !defined(_WIN32)
  if (g_enabled && size >= kMmapThreshold) {
    munmap(p, size);
    return;
  }
  std::free(p);
#else
  _aligned_free(p);
#endif
}

// Cached buffers form singly linked lists through their first bytes.
struct FreeBuffer {
  FreeBuffer* next;
};

struct SharedCache {
  std::mutex mutex;
  FreeBuffer* head[kNumClasses] = {};

  // Frees cached buffers, largest class first and never of class `keep`,
  // until at most `target` bytes are cached in all.
  void trim(std::int64_t target, int keep = -1) {
    std::lock_guard<std::mutex> lock(mutex);
    for (int c = kNumClasses; c-- > 0 && g_cached_bytes.load(std::memory_order_relaxed) > target;) {
      if (c == keep) continue;
      const std::size_t size = class_size(c);
      while (head[c] && g_cached_bytes.load(std::memory_order_relaxed) > target) {
        FreeBuffer* b = head[c];
        head[c] = b->next;
        g_cached_bytes.fetch_sub(static_cast<std::int64_t>(size), std::memory_order_relaxed);
        system_release(b, size);
      }
    }
  }

  // Makes room under `limit` for a buffer of class `keep` and `size` bytes
  // by returning cached buffers of other classes, and reserves it; false
  // (nothing reserved) if that is not enough. The buffer just freed belongs
  // to the working set; cached ones of other sizes have waited longer (left
  // by a phase with other shapes, they would otherwise keep every buffer of
  // the new shapes out and send each to mmap and its page faults).
  bool make_room(int keep, std::int64_t size, std::int64_t limit) {
    trim(limit - size, keep);
    if (g_cached_bytes.fetch_add(size, std::memory_order_relaxed) + size <= limit) return true;
    g_cached_bytes.fetch_sub(size, std::memory_order_relaxed);
    return false;
  }
};
SharedCache& shared_cache() {
  static SharedCache* cache = new SharedCache();  // never destroyed: threads may free at exit
  return *cache;
}

// Trivially constructible and destructible, so that reaching it costs one
// TLS lookup and no initialisation guard.
struct ThreadCache {
  FreeBuffer* head[kThreadClasses];
  std::int64_t bytes;
  std::uint64_t epoch;
  bool registered;  // the reaper below exists for this thread
  bool dead;        // this thread is exiting: bypass the cache

  void flush() {
    for (int c = 0; c < kThreadClasses; ++c) {
      const std::size_t size = class_size(c);
      while (FreeBuffer* b = head[c]) {
        head[c] = b->next;
        system_release(b, size);
        g_cached_bytes.fetch_sub(static_cast<std::int64_t>(size), std::memory_order_relaxed);
      }
    }
    bytes = 0;
  }
};
thread_local ThreadCache t_cache;

// Returns the thread's cached buffers when the thread exits.
struct ThreadCacheReaper {
  ~ThreadCacheReaper() {
    t_cache.dead = true;
    t_cache.flush();
  }
};

ThreadCache* thread_cache() {
  ThreadCache* cache = &t_cache;
  if (__builtin_expect(!cache->registered, 0)) {
    if (cache->dead) return nullptr;
    cache->registered = true;
    cache->epoch = g_epoch.load(std::memory_order_relaxed);
    static thread_local ThreadCacheReaper reaper;
    (void)reaper;
  }
  if (cache->dead) return nullptr;
  const std::uint64_t epoch = g_epoch.load(std::memory_order_relaxed);
  if (cache->epoch != epoch) {
    cache->flush();
    cache->epoch = epoch;
  }
  return cache;
}

void count_allocation(std::size_t nbytes) {
  const auto n = static_cast<std::int64_t>(nbytes);
  const std::int64_t live = g_live_bytes.fetch_add(n, std::memory_order_relaxed) + n;
  std::int64_t peak = g_peak_bytes.load(std::memory_order_relaxed);
  while (live > peak && !g_peak_bytes.compare_exchange_weak(peak, live, std::memory_order_relaxed)) {
  }
  g_live_buffers.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

void* allocate(std::size_t nbytes, const char* op) {
  // Round up so that vector loops may read whole registers at the tail.
  std::size_t rounded = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded == 0) rounded = kAlignment;
  if (rounded < nbytes) throw_range_error(op, ": cannot allocate ", nbytes, " bytes");
  const int c = g_enabled ? class_of(rounded) : -1;
  void* ptr = nullptr;
  if (c >= 0) {
    const std::size_t size = class_size(c);
    if (c < kThreadClasses) {
      if (ThreadCache* tc = thread_cache(); tc && tc->head[c]) {
        FreeBuffer* b = tc->head[c];
        tc->head[c] = b->next;
        __builtin_prefetch(tc->head[c]);  // the next pop reads its link
        tc->bytes -= static_cast<std::int64_t>(size);
        g_cached_bytes.fetch_sub(static_cast<std::int64_t>(size), std::memory_order_relaxed);
        ptr = b;
      }
    }
    if (!ptr && g_cached_bytes.load(std::memory_order_relaxed) > 0) {
      SharedCache& shared = shared_cache();
      std::lock_guard<std::mutex> lock(shared.mutex);
      if (FreeBuffer* b = shared.head[c]) {
        shared.head[c] = b->next;
        g_cached_bytes.fetch_sub(static_cast<std::int64_t>(size), std::memory_order_relaxed);
        ptr = b;
      }
    }
    if (!ptr) ptr = system_allocate(size);
  } else {
    ptr = system_allocate(rounded);
  }
  if (!ptr) throw_range_error(op, ": cannot allocate ", nbytes, " bytes (out of memory)");
  count_allocation(nbytes);
  return ptr;
}

void release(void* ptr, std::size_t nbytes) {
  if (!ptr) return;
  g_live_bytes.fetch_sub(static_cast<std::int64_t>(nbytes), std::memory_order_relaxed);
  g_live_buffers.fetch_sub(1, std::memory_order_relaxed);
  std::size_t rounded = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded == 0) rounded = kAlignment;
  const int c = g_enabled ? class_of(rounded) : -1;
  if (c < 0) {
    system_release(ptr, rounded);
    return;
  }
  const std::size_t size = class_size(c);
  const auto isize = static_cast<std::int64_t>(size);
  // Reserve room under the limit first, so concurrent releases cannot overshoot it.
  const std::int64_t limit = cache_limit();
  if (g_cached_bytes.fetch_add(isize, std::memory_order_relaxed) + isize > limit) {
    g_cached_bytes.fetch_sub(isize, std::memory_order_relaxed);
    if (isize > limit || !shared_cache().make_room(c, isize, limit)) {
      system_release(ptr, size);
      return;
    }
  }
  auto* b = static_cast<FreeBuffer*>(ptr);
  if (c < kThreadClasses) {
    ThreadCache* tc = thread_cache();
    if (tc && tc->bytes + isize <= kThreadCacheBytes) {
      b->next = tc->head[c];
      tc->head[c] = b;
      tc->bytes += isize;
      return;
    }
  }
  SharedCache& shared = shared_cache();
  std::lock_guard<std::mutex> lock(shared.mutex);
  b->next = shared.head[c];
  shared.head[c] = b;
}

MemoryStats memory_stats() {
  return {g_live_bytes.load(), g_peak_bytes.load(), g_live_buffers.load(), g_cached_bytes.load(),
          g_enabled ? cache_limit() : 0, g_scratch_bytes.load()};
}

void set_cache_limit(std::int64_t bytes) {
  if (bytes < 0) bytes = 0;
  g_cache_limit.store(bytes);
  if (!g_enabled) return;
  if (g_cached_bytes.load() > bytes) {
    // Threads' own caches are flushed whole; then the shared cache is trimmed.
    g_epoch.fetch_add(1);
    (void)thread_cache();  // flushes this thread's own cache
    shared_cache().trim(bytes);
  }
}

void empty_cache() {
  if (!g_enabled) return;
  g_epoch.fetch_add(1);
  (void)thread_cache();  // flushes this thread's own cache
  shared_cache().trim(0);
}

bool cache_enabled() { return g_enabled; }

namespace {
struct ScratchSet {
  void* ptr[kScratchSlots] = {};
  std::size_t size[kScratchSlots] = {};
  void drop(int slot) {
    std::free(ptr[slot]);
    g_scratch_bytes.fetch_sub(static_cast<std::int64_t>(size[slot]));
    ptr[slot] = nullptr;
    size[slot] = 0;
  }
  ~ScratchSet() {
    for (int slot = 0; slot < kScratchSlots; ++slot) drop(slot);
  }
};
thread_local ScratchSet t_scratch;
}  // namespace

void* scratch(int slot, std::size_t nbytes, const char* op) {
  ScratchSet& s = t_scratch;
  if (nbytes <= s.size[slot] && s.ptr[slot]) return s.ptr[slot];
  std::size_t rounded = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded < nbytes) throw_range_error(op, ": cannot allocate ", nbytes, " bytes of scratch memory");
  s.drop(slot);
  void* ptr = nullptr;
  // Above the ceiling as in system_allocate: the kernel might grant it.
  if (rounded > memory_ceiling() || posix_memalign(&ptr, kAlignment, rounded ? rounded : kAlignment) != 0 ||
      ptr == nullptr)
    throw_range_error(op, ": cannot allocate ", nbytes, " bytes of scratch memory (out of memory)");
  s.ptr[slot] = ptr;
  s.size[slot] = rounded;
  g_scratch_bytes.fetch_add(static_cast<std::int64_t>(rounded));
  return ptr;
}

}  // namespace tapegrad::runtime
