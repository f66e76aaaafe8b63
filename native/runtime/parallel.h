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

// Elements per chunk where each element takes a transcendental function
// (tanh, gelu, softmax's exponentials, their fused gradients; not exp on
// its own, see ops/elementwise_fast.cpp's grain_of): 1-4 ns
// per float32 element on one thread (float64 4-15) against about 0.1 for an
// add, so a second thread pays from far fewer elements. avx2, two threads,
// the pool awake (a training step's back-to-back ops), 16384 floats: gelu
// 67 -> 35 µs, exp 21 -> 13, tanh 32 -> 18; 8192: gelu 34 -> 20, exp
// 11 -> 7.4. Calls 2 ms apart (workers asleep) took as long split or not.
inline constexpr std::int64_t kTranscendentalGrain = kElementwiseGrain / 8;

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
