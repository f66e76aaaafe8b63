#include "runtime/object_pool.h"

#include <cstdint>

namespace tapegrad::runtime {

namespace {

constexpr std::size_t kGranule = 16;
constexpr int kClasses = static_cast<int>(kPoolMaxBlock / kGranule);
// Per thread and class; beyond it, freed blocks go back to operator delete.
constexpr std::uint32_t kMaxBlocksPerClass = 8192;

#ifdef TAPEGRAD_SANITIZE
constexpr bool kBypass = true;
#else
constexpr bool kBypass = false;
#endif

struct FreeBlock {
  FreeBlock* next;
};

// Trivially constructible and destructible, so that reaching it costs one
// TLS lookup and no initialisation guard (this runs several times per op).
struct Pool {
  FreeBlock* head[kClasses];
  std::uint32_t count[kClasses];
  bool registered;  // the reaper below exists for this thread
  bool dead;        // this thread is exiting: free blocks directly
};
thread_local Pool t_pool;

// Frees the thread's blocks when the thread exits.
struct PoolReaper {
  ~PoolReaper() {
    Pool& p = t_pool;
    p.dead = true;
    for (int c = 0; c < kClasses; ++c)
      while (FreeBlock* b = p.head[c]) {
        p.head[c] = b->next;
        ::operator delete(b);
      }
  }
};

Pool* pool() {
  Pool* p = &t_pool;
  if (__builtin_expect(!p->registered, 0)) {
    if (p->dead) return nullptr;
    p->registered = true;
    static thread_local PoolReaper reaper;
    (void)reaper;
  }
  return p->dead ? nullptr : p;
}

int class_of(std::size_t size) { return static_cast<int>((size + kGranule - 1) / kGranule) - 1; }

}  // namespace

void* pool_allocate(std::size_t size) {
  if (!kBypass) {
    const int c = class_of(size);
    if (Pool* p = pool(); p && p->head[c]) {
      FreeBlock* b = p->head[c];
      p->head[c] = b->next;
      p->count[c]--;
      // The next pop reads that block's link: start loading it now.
      __builtin_prefetch(p->head[c]);
      return b;
    }
    return ::operator new(static_cast<std::size_t>(c + 1) * kGranule);
  }
  return ::operator new(size);
}

void pool_release(void* ptr, std::size_t size) noexcept {
  if (!ptr) return;
  if (!kBypass) {
    const int c = class_of(size);
    if (Pool* p = pool(); p && p->count[c] < kMaxBlocksPerClass) {
      auto* b = static_cast<FreeBlock*>(ptr);
      b->next = p->head[c];
      p->head[c] = b;
      p->count[c]++;
      return;
    }
  }
  ::operator delete(ptr);
}

}  // namespace tapegrad::runtime
