// A per-thread pool for the small objects every op creates (tensor
// metadata, storages, graph nodes): freed blocks are kept on the freeing
// thread's lists and handed out again, so a long chain of ops does not pay
// malloc's slow paths for each of them. Blocks may be freed on any thread.
// Sanitizer builds bypass the pool (plain new/delete) so ASan sees misuse.
// Only for baseline code: not to be included by per-ISA kernel files.
#pragma once

#include <cstddef>
#include <new>

namespace tapegrad::runtime {

// Blocks up to this size are pooled; larger ones go to operator new.
inline constexpr std::size_t kPoolMaxBlock = 512;

void* pool_allocate(std::size_t size);
void pool_release(void* p, std::size_t size) noexcept;

// A stateless allocator for std::allocate_shared and small vectors.
template <typename T>
struct PoolAllocator {
  using value_type = T;
  PoolAllocator() = default;
  template <typename U>
  PoolAllocator(const PoolAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if (pooled(n)) return static_cast<T*>(pool_allocate(n * sizeof(T)));
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{alignof(T)}));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (pooled(n))
      pool_release(p, n * sizeof(T));
    else
      ::operator delete(p, std::align_val_t{alignof(T)});
  }
  static constexpr bool pooled(std::size_t n) {
    return n != 0 && n <= kPoolMaxBlock / sizeof(T) && alignof(T) <= alignof(std::max_align_t);
  }
  template <typename U>
  bool operator==(const PoolAllocator<U>&) const noexcept { return true; }
};

}  // namespace tapegrad::runtime
