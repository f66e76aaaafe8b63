#include "core/strided.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "kernels/kernels.h"
#include "runtime/cpu_features.h"
#include "runtime/parallel.h"

namespace tapegrad {

namespace {

using i64 = std::int64_t;

// A copy whose source runs along another dim than the destination's last
// (x.transpose(0, 1).contiguous(), a permute of attention heads) copied
// element by element reads a new cache line, and often a new page, for every
// element it writes. Instead, blocks of kBlock × kBlock elements of the two
// dims (the pages each touches stay in the TLB) in tiles of kTile × kTile
// (each tile's lines stay in L1), split across the pool as copy_tiled says.
// [4096,1024]ᵀ float32, one thread: 28.4 ms element by element, 12.2 with
// 32 × 32 tiles alone (the sweep along a row of tiles thrashed the TLB),
// 3.5 as here; in a standalone test 16 × 16 tiles in 512-blocks took 4.2,
// 8 × 8 2.8. Each block goes to the kernel table's transposing copy, which
// shuffles tiles in vectors where the source is contiguous along the dim (a
// plain transpose): [2048,2048]ᵀ float32 on a Zen 1 through contiguous(),
// 10.5-13.8 ms as element tiles, 6.6-7.0 so.
constexpr i64 kBlock = 512;
constexpr i64 kTiledMin = 1 << 14;
// The fewest rows along the source's contiguous dim that tasks split by.
constexpr i64 kRunRowsMin = 64;

template <typename T>
bool copy_tiled(const Tensor& src, const Tensor& dst) {
  const Shape& shape = src.shape();
  const std::size_t nd = shape.size();
  if (nd < 2 || src.numel() < kTiledMin) return false;
  const Shape &ss = src.strides(), &ds = dst.strides();
  const std::size_t last = nd - 1;
  if (ds[last] != 1 || ss[last] == 0 || std::abs(ss[last]) == 1) return false;
  // p: the dim the source is laid out along (its smallest stride).
  std::size_t p = nd;
  for (std::size_t k = 0; k < last; ++k)
    if (shape[k] > 1 && ss[k] != 0 && (p == nd || std::abs(ss[k]) < std::abs(ss[p]))) p = k;
  if (p == nd || std::abs(ss[p]) >= std::abs(ss[last])) return false;
  // The other dims, in the destination's order: those before p (prefix)
  // and those between p and the last (suffix), each walked from a flat
  // index (last one fastest).
  struct Dims {
    Shape shape, src, dst;
    i64 count = 1;
    void add(i64 n, i64 s, i64 d) {
      shape.push_back(n);
      src.push_back(s);
      dst.push_back(d);
      count *= n;
    }
    void offsets(i64 flat, i64& s_off, i64& d_off) const {
      for (std::size_t k = shape.size(); k-- > 0;) {
        const i64 i = flat % shape[k];
        flat /= shape[k];
        s_off += i * src[k];
        d_off += i * dst[k];
      }
    }
  };
  Dims prefix, suffix;
  for (std::size_t k = 0; k < last; ++k)
    if (k != p) (k < p ? prefix : suffix).add(shape[k], ss[k], ds[k]);
  const i64 rows = shape[p], cols = shape[last];
  const i64 s_row = ss[p], s_col = ss[last], d_row = ds[p];
  const T* s = static_cast<const T*>(src.storage().data) + src.offset();
  T* d = static_cast<T*>(dst.storage().data) + dst.offset();
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "the transposing copies move 4- or 8-byte elements");
  const auto transpose = sizeof(T) == 4 ? kernels::active().transpose_32 : kernels::active().transpose_64;
  // Rows [r0, r1) of p at the given offsets, every column, block by block.
  const auto copy_rows = [&](i64 s_off, i64 d_off, i64 r0, i64 r1) {
    for (i64 c0 = 0; c0 < cols; c0 += kBlock)
      transpose(r1 - r0, std::min(cols, c0 + kBlock) - c0, s + s_off + r0 * s_row + c0 * s_col, s_row, s_col,
                d + d_off + r0 * d_row + c0, d_row);
  };
  if (rows >= kRunRowsMin) {
    // Tasks are runs of p's rows (those of every prefix index laid end to
    // end), each with every suffix index: in a contiguous destination a task
    // writes one contiguous region. Split by column blocks (or by suffix
    // dims), two threads wrote the halves of each destination row or plane,
    // and so of the same pages, which ran slower than one thread on Zen 5
    // ([1024, 128]ᵀ float32: 29 µs on one thread, 39 on two).
    const i64 grain = std::max<i64>(1, runtime::kElementwiseGrain / std::max<i64>(suffix.count * cols, 1));
    runtime::parallel_for(0, prefix.count * rows, grain, [&](i64 begin, i64 end) {
      for (i64 at = begin; at < end;) {
        const i64 o = at / rows, r_begin = at % rows, r_end = std::min(end, (o + 1) * rows) - o * rows;
        i64 s_pre = 0, d_pre = 0;
        prefix.offsets(o, s_pre, d_pre);
        for (i64 r0 = r_begin; r0 < r_end;) {
          const i64 r1 = std::min(r_end, (r0 / kBlock + 1) * kBlock);
          for (i64 q = 0; q < suffix.count; ++q) {
            i64 s_off = s_pre, d_off = d_pre;
            suffix.offsets(q, s_off, d_off);
            copy_rows(s_off, d_off, r0, r1);
          }
          r0 = r1;
        }
        at += r_end - r_begin;
      }
    });
    return true;
  }
  // Fewer rows than that: each source line holds all of them, so split by
  // them every thread would read the whole source ([1, 512, 512, 3] NHWC ->
  // NCHW, two threads: 155 µs so, 245 by rows; [4000000, 2]ᵀ 1.9 ms against
  // 2.5). Tasks are then each prefix and suffix index's column blocks, in
  // the destination's order: each thread reads its own part of the source
  // and writes long runs of each destination row.
  const i64 col_blocks = (cols + kBlock - 1) / kBlock;
  const i64 grain = std::max<i64>(1, runtime::kElementwiseGrain / (rows * std::min(cols, kBlock)));
  runtime::parallel_for(0, prefix.count * suffix.count * col_blocks, grain, [&](i64 begin, i64 end) {
    for (i64 task = begin; task < end; ++task) {
      const i64 outer = task / col_blocks, c0 = (task % col_blocks) * kBlock;
      i64 s_off = c0 * s_col, d_off = c0;
      prefix.offsets(outer / suffix.count, s_off, d_off);
      suffix.offsets(outer % suffix.count, s_off, d_off);
      transpose(rows, std::min(cols, c0 + kBlock) - c0, s + s_off, s_row, s_col, d + d_off, d_row);
    }
  });
  return true;
}

}  // namespace

void copy_memory(const void* src, void* dst, std::int64_t bytes) {
  const auto& table = kernels::active();
  // Large copies stream their output past the caches, as elementwise ops
  // do (source and destination count), fenced once per chunk.
  const bool streaming = runtime::streams_output(2 * bytes);
  const kernels::Store store = streaming ? kernels::Store::StreamedUnfenced : kernels::Store::Plain;
  constexpr i64 kGrainBytes = runtime::kElementwiseGrain * 4;
  const auto* s = static_cast<const unsigned char*>(src);
  auto* d = static_cast<unsigned char*>(dst);
  runtime::parallel_for(0, bytes, kGrainBytes, [&](i64 begin, i64 end) {
    table.copy_bytes(end - begin, s + begin, d + begin, store);
    if (streaming) table.fence_streamed_stores();
  });
}

void copy_elements(const Tensor& src, const Tensor& dst) {
  visit_dtype(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (copy_tiled<T>(src, dst)) return;
    const T* s = static_cast<const T*>(src.storage().data);
    T* d = static_cast<T*>(dst.storage().data);
    // Split across the pool when no element is written twice and the source
    // cannot overlap the destination; else rows in order, as assigned.
    bool disjoint = s != d;
    for (std::size_t k = 0; k < dst.shape().size(); ++k)
      if (dst.shape()[k] > 1 && dst.strides()[k] == 0) disjoint = false;
    const i64 bytes = src.numel() * static_cast<i64>(sizeof(T));
    if (disjoint && src.is_contiguous() && dst.is_contiguous())
      return copy_memory(s + src.offset(), d + dst.offset(), bytes);
    const auto& table = kernels::active();
    const bool streaming = disjoint && runtime::streams_output(2 * bytes);
    const kernels::Store store = streaming ? kernels::Store::StreamedUnfenced : kernels::Store::Plain;
    const auto done = [&] {
      if (streaming) table.fence_streamed_stores();
    };
    // Contiguous rows through the copy kernel, broadcast rows as fills.
    const auto row = [&](const auto& off, i64 n, const auto& inner) {
      if (inner[1] == 1 && inner[0] == 1) {
        if (disjoint) table.copy_bytes(n * static_cast<i64>(sizeof(T)), s + off[0], d + off[1], store);
        else std::copy_n(s + off[0], n, d + off[1]);  // may overlap: a memmove
      } else if (inner[1] == 1 && inner[0] == 0) {
        std::fill_n(d + off[1], n, s[off[0]]);
      } else {
        for (i64 i = 0; i < n; ++i) d[off[1] + i * inner[1]] = s[off[0] + i * inner[0]];
      }
    };
    const std::array<const Shape*, 2> strides{&src.strides(), &dst.strides()};
    const std::array<i64, 2> base{src.offset(), dst.offset()};
    if (disjoint) parallel_for_each_row<2>(src.shape(), strides, base, runtime::kElementwiseGrain, row, done);
    else for_each_row<2>(src.shape(), strides, base, row);
  });
}

Tensor contiguous_data(const Tensor& t, const char* op) {
  if (t.is_contiguous()) return t;
  return copy_of(t, op);
}

Tensor copy_of(const Tensor& t, const char* op) {
  Tensor out = empty(t.shape(), t.dtype(), op);
  copy_elements(t, out);
  return out;
}

namespace {

// The storage elements [first, last] a non-empty tensor covers.
std::pair<std::int64_t, std::int64_t> storage_span(const Tensor& t) {
  std::int64_t first = t.offset(), last = t.offset();
  for (std::int64_t d = 0; d < t.dim(); ++d) {
    const std::int64_t reach = (t.size(d) - 1) * t.strides()[static_cast<std::size_t>(d)];
    (reach < 0 ? first : last) += reach;
  }
  return {first, last};
}

}  // namespace

bool overlaps(const Tensor& a, const Tensor& b) {
  if (&a.storage() != &b.storage() || a.numel() == 0 || b.numel() == 0) return false;
  const auto [a_first, a_last] = storage_span(a);
  const auto [b_first, b_last] = storage_span(b);
  return a_first <= b_last && b_first <= a_last;
}

}  // namespace tapegrad
