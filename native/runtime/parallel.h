// parallel_for with a lambda, for baseline code (core, ops).
//
// Not for the per-ISA kernel units: the template below would be instantiated
// there with SIMD flags (see kernels/kernels.h); they call the
// function-pointer form in runtime/thread_pool.h.
#pragma once

#include <cstdint>
#include <type_traits>

#include "runtime/thread_pool.h"

namespace tapegrad::runtime {

// Elements per chunk of a parallel elementwise loop, reduction, row-wise
// op or optimizer update: below about 32K elements (128 KiB of float32)
// waking a second thread costs more than it saves.
inline constexpr std::int64_t kElementwiseGrain = std::int64_t{1} << 15;

// fn(begin, end) over [begin, end) split across the pool; see thread_pool.h.
template <typename Fn>
void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain, Fn&& fn) {
  using F = std::remove_reference_t<Fn>;
  parallel_for(
      begin, end, grain,
      [](void* ctx, std::int64_t b, std::int64_t e) { (*static_cast<F*>(ctx))(b, e); },
      const_cast<void*>(static_cast<const void*>(&fn)));
}

}  // namespace tapegrad::runtime
