// Convolution: unfold (im2col), fold (col2im) and conv2d built on them.
// unfold and fold are each other's adjoint, so each one's backward is the
// other and gradients of any order follow. conv2d is one node over chunks
// of images (unfold, then a matmul per chunk) whose backward unfolds again:
// a layer keeps its input for backward, not its columns (kh·kw times as
// large); with createGraph the backward is made of recorded ops, so
// gradients of any order follow there too.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <vector>

#include "core/autograd.h"
#include "core/grad_mode.h"
#include "core/strided.h"
#include "kernels/kernels.h"
#include "ops/common.h"
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "ops/nn.h"
#include "ops/reduce.h"
#include "ops/shape.h"
#include "ops/window.h"
#include "runtime/error.h"
#include "runtime/parallel.h"
#include "runtime/thread_pool.h"

namespace tapegrad::ops {

namespace {

using i64 = std::int64_t;

std::string pair_str(const Pair& p) { return "[" + std::to_string(p[0]) + ", " + std::to_string(p[1]) + "]"; }

// Where the blocks sit on a [H, W] plane: the kernel, its dilation, the zero
// padding before the first row and column, the stride, and the grid of
// blocks (oh × ow). Padding after the last row and column is implied by the grid.
struct Window {
  Pair kernel, dilation, pad, stride, grid;
};

// kernelSize, dilation and stride positive, padding non-negative.
void check_window(const char* op, const Pair& kernel, const Pair& dilation, const Pair& padding, const Pair& stride) {
  const auto check = [&](const Pair& p, const char* arg, i64 min) {
    if (p[0] < min || p[1] < min)
      throw_range_error(op, ": ", arg, min == 1 ? " must be positive" : " must be non-negative", ", got ", pair_str(p));
  };
  check(kernel, "kernelSize", 1);
  check(dilation, "dilation", 1);
  check(padding, "padding", 0);
  check(stride, "stride", 1);
}

// dilation·(kernel - 1) + 1 in each dim, or -1 past 2^53 (no plane is that large).
Pair extent(const Pair& kernel, const Pair& dilation) {
  Pair e{};
  for (int d = 0; d < 2; ++d) {
    i64 span = 0;
    e[d] = __builtin_mul_overflow(dilation[d], kernel[d] - 1, &span) || span >= (i64{1} << 53) ? -1 : span + 1;
  }
  return e;
}

// a·b, or a RangeError naming `op` past int64 (a grid or a column length no
// tensor could hold; sizes that fit are checked again when allocated).
i64 checked_mul(i64 a, i64 b, const char* op) {
  i64 r = 0;
  if (__builtin_mul_overflow(a, b, &r)) throw_range_error(op, ": the output would have too many elements");
  return r;
}

// Blocks along one dim of `size` padded by `before` and `after`: 0 when the
// kernel's extent does not fit.
i64 blocks_along(i64 size, i64 before, i64 after, i64 ext, i64 stride) {
  if (ext < 0) return 0;
  const i64 room = size + before + after - ext;
  return room < 0 ? 0 : room / stride + 1;
}

// One kernel tap's columns (oh rows of ow = w) of an image plane [h, w]
// at stride 1, where the tap of output (oy, ox) is image[oy + row_off,
// ox + off] and ox in `span` (not empty) are those inside along a row:
// the rows inside are one run of the image (each output row continues
// where the last ended, as the image's rows do), copied at once, then the
// columns outside each row set to 0. Row by row, the short copies cost
// more than their elements: one thread, kernel 3, padding 1, unfold of
// [1, 16, 28, 28] 24 -> 11 us, [1, 64, 14, 14] 44 -> 12; conv2d of
// [32, 16, 28, 28] to 32 channels forward 2.27 -> 1.71 ms, forward and
// backward 7.6 -> 6.6 (PyTorch 3.3 and 7.0); measured with the zeroing
// column by column below and against the row-by-row build of the day.
template <typename T>
void unfold_tap_rows(const T* image, T* cols, i64 h, i64 w, i64 oh, i64 row_off, i64 off, const Span& span) {
  const i64 oy0 = std::clamp<i64>(-row_off, 0, oh), oy1 = std::clamp<i64>(h - row_off, oy0, oh);
  std::fill(cols, cols + oy0 * w, T(0));
  std::fill(cols + oy1 * w, cols + oh * w, T(0));
  if (oy0 == oy1) return;
  // From the first row's first tap inside to the last row's last: inside
  // the plane (rows oy0 + row_off ... oy1 - 1 + row_off of the image).
  T* run = cols + oy0 * w;
  const T* from = image + (oy0 + row_off) * w + off;
  const i64 end = (oy1 - oy0 - 1) * w + span.hi;
  std::copy(from + span.lo, from + end, run + span.lo);
  // Column by column: a fill per row called memset for a column or two.
  const auto zero_column = [&](i64 ox) {
    for (i64 oy = oy0; oy < oy1; ++oy) cols[oy * w + ox] = T(0);
  };
  for (i64 ox = 0; ox < span.lo; ++ox) zero_column(ox);
  for (i64 ox = span.hi; ox < w; ++ox) zero_column(ox);
}

// The phase planes of an image plane at stride (sh, sw): phase (py, px)
// holds image[sh·y + py, sw·x + px], a plane of ceil((h - py)/sh) rows of
// ceil((w - px)/sw). A kernel tap (i, j) reads one phase plane at stride 1
// (the output (oy, ox) at its row oy + row_off, column ox + off), so where
// that plane is ow wide its rows run on as at stride 1 (unfold_tap_rows).
// Only the phases such taps read are split out, once per image plane (at
// stride 1 the one phase is the image itself). One thread, 3×3, stride 2,
// padding 1: unfold of [1, 32, 28, 28] 25.7 -> 12.9 us; conv2d of
// [32, 32, 28, 28] to 64 channels forward 2.45 -> 2.12 ms (PyTorch 1.62),
// forward and backward 7.85 -> 7.5 (PyTorch 8.4).
struct Phases {
  struct Tap {
    bool runs;           // the tap reads a phase plane ow wide, some column inside
    i64 at, h;           // the plane's offset in the split buffer, its rows
    i64 row_off, off;    // output (oy, ox) reads the plane at (oy + row_off, ox + off)
    Span span;           // the columns ox inside the plane
  };
  i64 h, w, sh, sw;
  bool identity;                // stride 1: the one phase is the image (nothing split)
  std::vector<Tap> taps;        // by kernel tap i·kw + j
  std::vector<std::array<i64, 3>> used;  // split phases: py, px, offset in the buffer (none: no split)
  i64 kw, size = 0;             // the split buffer's elements

  static i64 floor_div(i64 a, i64 b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
  i64 rows(i64 py) const { return (h - py + sh - 1) / sh; }
  i64 cols(i64 px) const { return (w - px + sw - 1) / sw; }

  Phases(i64 height, i64 width, const Window& win)
      : h(height), w(width), sh(win.stride[0]), sw(win.stride[1]), identity(sh == 1 && sw == 1), kw(win.kernel[1]) {
    const i64 ow = win.grid[1];
    for (i64 i = 0; i < win.kernel[0]; ++i)
      for (i64 j = 0; j < kw; ++j) {
        const i64 qy = i * win.dilation[0] - win.pad[0], qx = j * win.dilation[1] - win.pad[1];
        const i64 dy = floor_div(qy, sh), dx = floor_div(qx, sw), py = qy - dy * sh, px = qx - dx * sw;
        Tap tap{false, 0, rows(py), dy, dx, inside(dx, 1, cols(px), ow)};
        tap.runs = cols(px) == ow && tap.span.lo < tap.span.hi;
        if (tap.runs && !identity) {
          // At most kh·kw phases are read (the strides may be far larger).
          const auto read = std::find_if(used.begin(), used.end(),
                                         [&](const std::array<i64, 3>& u) { return u[0] == py && u[1] == px; });
          if (read != used.end()) {
            tap.at = (*read)[2];
          } else {
            tap.at = size;
            used.push_back({py, px, size});
            size += rows(py) * cols(px);
          }
        }
        taps.push_back(tap);
      }
  }
  const Tap& tap(i64 i, i64 j) const { return taps[static_cast<std::size_t>(i * kw + j)]; }

  // The phases the taps read, of one image plane, into `buffer`.
  template <typename T>
  void split_plane(const T* image, std::vector<T>& buffer) const {
    buffer.resize(static_cast<std::size_t>(size));
    for (const auto& [py, px, at] : used) {
      const i64 ph = rows(py), pw = cols(px);
      for (i64 y = 0; y < ph; ++y) {
        const T* row = image + (sh * y + py) * w + px;
        T* to = buffer.data() + at + y * pw;
        if (sw == 2)
          for (i64 x = 0; x < pw; ++x) to[x] = row[2 * x];
        else
          for (i64 x = 0; x < pw; ++x) to[x] = row[x * sw];
      }
    }
  }
};

// col2im of one plane at column stride 1 with three taps a kernel row
// (3×3 kernels): per kernel row i and output row oy, the three taps'
// columns added into their image row in one pass, each element's adds in
// tap order as tap by tap (the same bits); the columns that not every tap
// reaches, element by element. One thread: fold of [1, 144, 784] into
// [1, 16, 28, 28] 26.7 -> 18.0 us, of [1, 576, 196] into [1, 64, 14, 14]
// 34.5 -> 23.1.
template <typename T>
void fold_three_taps(const T* cols, T* image, i64 h, i64 w, const Window& win) {
  const i64 kh = win.kernel[0], oh = win.grid[0], ow = win.grid[1], tap_size = oh * ow;
  i64 off[3];
  Span span[3];
  i64 x0 = 0, x1 = w;  // the image columns every tap reaches
  for (int j = 0; j < 3; ++j) {
    off[j] = j * win.dilation[1] - win.pad[1];
    span[j] = inside(off[j], 1, w, ow);
    x0 = std::max(x0, span[j].lo + off[j]);
    x1 = std::min(x1, span[j].hi + off[j]);
  }
  x0 = std::min(x0, w);  // a tap with no column inside may sit past the row
  x1 = std::max(x0, x1);
  for (i64 i = 0; i < kh; ++i)
    for (i64 oy = 0; oy < oh; ++oy) {
      const i64 iy = oy * win.stride[0] - win.pad[0] + i * win.dilation[0];
      if (iy < 0 || iy >= h) continue;
      T* row = image + iy * w;
      const T* c[3];
      for (int j = 0; j < 3; ++j) c[j] = cols + (i * 3 + j) * tap_size + oy * ow;
      const auto edge = [&](i64 x) {
        for (int j = 0; j < 3; ++j) {
          const i64 ox = x - off[j];
          if (ox >= span[j].lo && ox < span[j].hi) row[x] += c[j][ox];
        }
      };
      for (i64 x = 0; x < x0; ++x) edge(x);
      for (i64 x = x0; x < x1; ++x) row[x] = ((row[x] + c[0][x - off[0]]) + c[1][x - off[1]]) + c[2][x - off[2]];
      for (i64 x = x1; x < w; ++x) edge(x);
    }
}

// From `in` to `out`: ToColumns (im2col), image to columns,
// cols[n, (c·kh + i)·kw + j, oy·ow + ox] = image[n, c, oy·sh - ph + i·dh,
// ox·sw - pw + j·dw] (0 outside); otherwise (col2im, its adjoint) columns to
// image, each column entry added into the position it was read from. A row
// of blocks at a time: the in-bounds taps (a plain copy at stride 1) between
// zeros ([128, 16, 14, 14], kernel 3, padding 1, one thread: 4.9 ms with a
// bounds test per element, 1.2 this way). Planes are disjoint, and each
// plane's sums run in the same order (kernel tap, then block) whatever the
// thread count.
template <bool ToColumns, typename T>
void columns_pass(const T* in, T* out, i64 planes, i64 h, i64 w, const Window& win) {
  if (planes == 0) return;  // otherwise per_plane fits: the columns hold planes·per_plane elements
  const i64 kh = win.kernel[0], kw = win.kernel[1], oh = win.grid[0], ow = win.grid[1], sw = win.stride[1];
  const i64 per_plane = kh * kw * oh * ow;
  const std::optional<Phases> phases = ToColumns ? std::optional<Phases>(std::in_place, h, w, win) : std::nullopt;
  runtime::parallel_for(0, planes, std::max<i64>(1, runtime::kElementwiseGrain / std::max<i64>(per_plane, 1)),
                        [&](i64 p0, i64 p1) {
                          std::vector<T> split;  // this task's phase planes
                          for (i64 p = p0; p < p1; ++p) {
                            // This plane's image and columns.
                            const T* src = in + p * (ToColumns ? h * w : per_plane);
                            T* dst = out + p * (ToColumns ? per_plane : h * w);
                            if constexpr (!ToColumns) {
                              std::fill(dst, dst + h * w, T(0));
                              if (sw == 1 && kw == 3) {
                                fold_three_taps(src, dst, h, w, win);
                                continue;
                              }
                            }
                            if constexpr (ToColumns)
                              if (!phases->used.empty()) phases->split_plane(src, split);
                            for (i64 i = 0; i < kh; ++i)
                              for (i64 j = 0; j < kw; ++j) {
                                if constexpr (ToColumns) {
                                  const Phases::Tap& tap = phases->tap(i, j);
                                  if (tap.runs) {
                                    const T* plane = phases->identity ? src : split.data() + tap.at;
                                    unfold_tap_rows(plane, dst, tap.h, ow, oh, tap.row_off, tap.off, tap.span);
                                    dst += oh * ow;
                                    continue;
                                  }
                                }
                                const i64 off = j * win.dilation[1] - win.pad[1];
                                const Span span = inside(off, sw, w, ow);
                                for (i64 oy = 0; oy < oh; ++oy) {
                                  const i64 iy = oy * win.stride[0] - win.pad[0] + i * win.dilation[0];
                                  const bool row_inside = iy >= 0 && iy < h;
                                  // Tap ox of this row is at [iy·w + ox·sw + off]; off may be < 0.
                                  if constexpr (ToColumns) {
                                    T* col = dst;
                                    dst += ow;
                                    if (!row_inside) {
                                      std::fill(col, col + ow, T(0));
                                      continue;
                                    }
                                    const T* row = src + iy * w;
                                    std::fill(col, col + span.lo, T(0));
                                    // Strides 1 and 2 as constants, so GCC vectorises them
                                    // ([32, 32, 28, 28], kernel 3, stride 2, one thread:
                                    // unfold 1.08 -> 0.70 ms).
                                    if (sw == 1)
                                      for (i64 ox = span.lo; ox < span.hi; ++ox) col[ox] = row[ox + off];
                                    else if (sw == 2)
                                      for (i64 ox = span.lo; ox < span.hi; ++ox) col[ox] = row[2 * ox + off];
                                    else
                                      for (i64 ox = span.lo; ox < span.hi; ++ox) col[ox] = row[ox * sw + off];
                                    std::fill(col + span.hi, col + ow, T(0));
                                  } else {
                                    const T* col = src;
                                    src += ow;
                                    if (!row_inside) continue;
                                    T* row = dst + iy * w;
                                    if (sw == 1)
                                      for (i64 ox = span.lo; ox < span.hi; ++ox) row[ox + off] += col[ox];
                                    else
                                      for (i64 ox = span.lo; ox < span.hi; ++ox) row[ox * sw + off] += col[ox];
                                  }
                                }
                              }
                          }
                        });
}

Tensor fold_checked(const Tensor& cols, i64 h, i64 w, const Window& win, const char* op = "fold");

// unfold of a checked 4-D x [N, C, H, W]: [N, C·kh·kw, oh·ow]. `op` names
// an allocation that fails (conv2d's own, inside it).
Tensor unfold_checked(const Tensor& x, const Window& win, const char* op = "unfold") {
  const i64 n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const i64 k = checked_mul(checked_mul(c, win.kernel[0], op), win.kernel[1], op);
  Tensor out = empty({n, k, checked_mul(win.grid[0], win.grid[1], op)}, x.dtype(), op);
  {
    const Tensor xc = contiguous_data(x, op);
    visit_floating(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      columns_pass<true, T>(xc.data<T>(), out.data<T>(), n * c, h, w, win);
    });
  }
  record("unfold", {x}, out, [h, w, win](const Grads& g, const Node&) { return Grads{fold_checked(g[0], h, w, win)}; });
  return out;
}

// fold of checked 3-D cols [N, C·kh·kw, oh·ow] onto [N, C, H, W].
Tensor fold_checked(const Tensor& cols, i64 h, i64 w, const Window& win, const char* op) {
  const i64 n = cols.size(0), c = cols.size(1) / (win.kernel[0] * win.kernel[1]);
  Tensor out = empty({n, c, h, w}, cols.dtype(), op);
  {
    const Tensor cc = contiguous_data(cols, op);
    visit_floating(cols.dtype(), [&](auto tag) {
      using T = decltype(tag);
      columns_pass<false, T>(cc.data<T>(), out.data<T>(), n * c, h, w, win);
    });
  }
  record("fold", {cols}, out, [win](const Grads& g, const Node&) { return Grads{unfold_checked(g[0], win)}; });
  return out;
}

// The grid of blocks for an [h, w] plane, or a RangeError naming `op` when it is empty.
Pair grid_of(const char* op, i64 h, i64 w, const Pair& kernel, const Pair& dilation, const Pair& padding,
             const Pair& stride) {
  const Pair ext = extent(kernel, dilation);
  const Pair grid{blocks_along(h, padding[0], padding[0], ext[0], stride[0]),
                  blocks_along(w, padding[1], padding[1], ext[1], stride[1])};
  if (grid[0] < 1 || grid[1] < 1)
    throw_range_error(op, ": spatial size [", h, ", ", w, "] with kernelSize ", pair_str(kernel), ", dilation ",
                      pair_str(dilation), ", padding ", pair_str(padding), " and stride ", pair_str(stride),
                      " gives a grid of ", grid[0], " × ", grid[1], " blocks; it must be at least 1 × 1");
  checked_mul(grid[0], grid[1], op);
  return grid;
}

// The columns of a chunk of images are at most this large (at least one
// image): the forward and backward passes unfold that many images at once.
// [64, 64, 56, 56] with a 3×3 kernel unfolded whole is 462 MB; in chunks,
// 9 images (67 MB) at a time.
constexpr i64 kConvChunkBytes = i64{64} << 20;

// kConvChunkBytes, or TAPEGRAD_CONV_CHUNK_BYTES (the tests' way to run the
// chunked path on small inputs).
i64 conv_chunk_bytes() {
  static const i64 bytes = [] {
    const char* set = std::getenv("TAPEGRAD_CONV_CHUNK_BYTES");
    const long long value = set ? std::atoll(set) : 0;
    return value > 0 ? static_cast<i64>(value) : kConvChunkBytes;
  }();
  return bytes;
}

// The images per chunk when each has `per_image` column elements of `dtype`.
i64 images_per_chunk(i64 per_image, DType dtype) {
  const double bytes = static_cast<double>(per_image) * static_cast<double>(dtype_size(dtype));
  return std::max<i64>(1, static_cast<i64>(static_cast<double>(conv_chunk_bytes()) / std::max(bytes, 1.0)));
}

// f(n0, count) for each chunk of images [n0, n0 + count) of n.
template <typename F>
void each_chunk(i64 n, i64 chunk, F&& f) {
  for (i64 n0 = 0; n0 < n; n0 += chunk) f(n0, std::min(chunk, n - n0));
}

// Images [n0, n0 + part.size(0)) of `whole` set to `part`.
void write_images(const Tensor& whole, i64 n0, const Tensor& part) {
  copy_elements(part, narrow(whole, 0, n0, part.size(0)));
}

// Whether conv_core splits the images across the pool (conv_images,
// conv_backward_images): at least an image per thread, and the batch one
// chunk (so the buffers, an image's columns per thread, stay within the
// chunk's bound, and dW adds up over the same images as on the batched path:
// the same bits for any thread count). Otherwise the batched matmuls, which
// split each product instead.
bool split_images(i64 n, i64 chunk) {
  return n > 1 && n >= runtime::region_threads() && n <= chunk;
}

// f(i, columns) for each image i, the images split across the pool, with
// `columns` a [rows, l] buffer of the task's own; gemm is the kernel table's.
template <typename T, typename F>
void each_image(i64 n, i64 rows, i64 l, F f) {
  runtime::parallel_for(0, n, 1, [&](i64 i0, i64 i1) {
    const Tensor buffer = empty({rows, l}, dtype_of<T>::value, "conv2d");
    for (i64 i = i0; i < i1; ++i) f(i, buffer.data<T>());
  });
}
template <typename T>
auto gemm_kernel() {
  const auto& table = kernels::active();
  return kernel_for<T>(table.gemm_f32, table.gemm_f64);
}

// conv_core's forward with a thread per share of the images: each image
// unfolded into a buffer of the task's own ([C·kh·kw, L]; within L2 for
// small images) and multiplied there, one GEMM per group, on that thread,
// so its columns stay in the core's caches. The bits of the batched matmul
// over the unfolded chunk (each element of which gets its own product's bits).
// [32, 32, 28, 28], 64 3×3 filters, stride 2, two threads: forward 1.95 ->
// 1.04 ms, forward and backward 4.3 -> 3.3 (one thread 2.34 -> 2.05, 7.1 -> 6.5).
template <typename T>
void conv_images(const T* x, const T* weight, T* out, i64 n, i64 c, i64 h, i64 w, const Window& win, i64 groups,
                 i64 o, i64 k, i64 l) {
  const auto gemm = gemm_kernel<T>();
  const i64 og = o / groups;
  each_image<T>(n, groups * k, l, [&](i64 i, T* columns) {
    columns_pass<true>(x + i * c * h * w, columns, c, h, w, win);
    for (i64 g = 0; g < groups; ++g)
      gemm(og, l, k, T(1), weight + g * og * k, k, 1, columns + g * k * l, l, 1, T(0), out + (i * o + g * og) * l, l, 1);
  });
}

// conv_core's first-order backward split the same way: per image, dx =
// fold(Wᵀ·g) through the task's buffer (when gx is given) and the image's
// share of dW transposed, unfold(x)·gᵀ, into parts [N, g, K, O/g] (when
// given), which the caller sums over the images in a fixed order. dx has
// the bits of the batched matmuls over a chunk.
template <typename T>
void conv_backward_images(const T* x, const T* weight, const T* g, T* gx, T* parts, i64 n, i64 c, i64 h, i64 w,
                          const Window& win, i64 groups, i64 o, i64 k, i64 l) {
  const auto gemm = gemm_kernel<T>();
  const i64 og = o / groups;
  each_image<T>(n, groups * k, l, [&](i64 i, T* columns) {
    const T* gi = g + i * o * l;
    if (parts) {
      columns_pass<true>(x + i * c * h * w, columns, c, h, w, win);
      // dWᵀ = columns·gᵀ: the product with the long side as its rows
      // ([144, 784]·[784, 32] took 39 us where [32, 784]·[784, 144] took 53;
      // conv2d [32, 16, 28, 28] to 32 channels, 3×3, padding 1, forward and
      // backward, one thread: 6.6 -> 5.85 ms, PyTorch 7.0).
      for (i64 q = 0; q < groups; ++q)
        gemm(k, og, l, T(1), columns + q * k * l, l, 1, gi + q * og * l, 1, l, T(0), parts + (i * groups + q) * k * og,
             og, 1);
    }
    if (gx) {
      for (i64 q = 0; q < groups; ++q)
        gemm(k, l, og, T(1), weight + q * og * k, 1, k, gi + q * og * l, l, 1, T(0), columns + q * k * l, l, 1);
      columns_pass<false>(columns, gx + i * c * h * w, c, h, w, win);
    }
  });
}

// out [N, O, oh, ow] of a checked x [N, C, H, W] and weight [O, C/g, kh, kw]:
// per group, the weight's rows times unfold(x)'s columns, as one node.
Tensor conv_core(const Tensor& x, const Tensor& weight, const Window& win, i64 groups) {
  const i64 n = x.size(0), h = x.size(2), w = x.size(3), o = weight.size(0);
  const i64 k = weight.size(1) * win.kernel[0] * win.kernel[1], l = win.grid[0] * win.grid[1];
  const Shape out_shape{n, o, win.grid[0], win.grid[1]};
  // The columns of images [n0, n0 + count): [count, g, C/g·kh·kw, L]
  // (unfold's rows are channel-major, so each group's rows are consecutive).
  const auto columns = [=](const Tensor& images) {
    return reshape(unfold_checked(images, win, "conv2d"), {images.size(0), groups, k, l});
  };
  const auto weight3 = [=](const Tensor& wt) { return reshape(wt, {groups, o / groups, k}); };
  Tensor out;
  {
    GradModeGuard no_grad(false);  // recorded below as one node
    const Tensor w3 = weight3(weight);
    // [count, g, O/g, L] laid out as [count, O, oh, ow]: a new tensor of its
    // own (as a reshape it would be a view, and a write into the output
    // would rebuild the histories of its base's views for nothing).
    const auto product = [&](const Tensor& images) {
      const Shape shape{images.size(0), o, win.grid[0], win.grid[1]};
      return relayout(matmul(w3, columns(images)), shape, contiguous_strides(shape));
    };
    const i64 chunk = images_per_chunk(groups * k * l, x.dtype());
    if (split_images(n, chunk)) {
      out = empty(out_shape, x.dtype(), "conv2d");
      const Tensor xc = contiguous_data(x), wc = contiguous_data(weight);
      visit_floating(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        conv_images<T>(xc.data<T>(), wc.data<T>(), out.data<T>(), n, x.size(1), h, w, win, groups, o, k, l);
      });
    } else if (n <= chunk) {
      out = product(x);
    } else {
      out = empty(out_shape, x.dtype(), "conv2d");
      each_chunk(n, chunk, [&](i64 n0, i64 count) { write_images(out, n0, product(narrow(x, 0, n0, count))); });
    }
  }
  // dx reads the weight and dW reads x: each kept only for the other's gradient.
  record("conv2d", {x, weight}, out,
         [sx = saved_if(weight.requires_grad(), x), sw = saved_if(x.requires_grad(), weight), x_shape = x.shape(),
          w_shape = weight.shape(), h, w, win, groups, o, k, l, columns, weight3](const Grads& g, const Node& node) {
           const i64 n = x_shape[0];
           const auto g4 = [&](const Tensor& gi) { return reshape(gi, {gi.size(0), groups, o / groups, l}); };
           // Per chunk: dW's share Σ_images g·colsᵀ, each image's product
           // transposed as conv_backward_images takes it (the same products,
           // so the same bits for any thread count), and dx = fold(Wᵀ·g).
           const auto grad_w = [&](const Tensor& images, const Tensor& gi) {
             return transpose(sum(matmul(columns(images), transpose(g4(gi), -1, -2)), {0}, false), -1, -2);
           };
           const auto grad_x = [&](const Tensor& w3t, const Tensor& gi) {
             return fold_checked(reshape(matmul(w3t, g4(gi)), {gi.size(0), groups * k, l}), h, w, win, "conv2d");
           };
           Tensor gx, gw;
           const Tensor x = node.needs_grad(1) ? sx.unpack() : Tensor();
           const i64 chunk = images_per_chunk(groups * k * l, g[0].dtype());
           if (!grad_enabled() && split_images(n, chunk)) {
             const Tensor gc = contiguous_data(g[0]);
             const Tensor xc = x.defined() ? contiguous_data(x) : x;
             const Tensor wc = node.needs_grad(0) ? contiguous_data(sw.unpack()) : Tensor();
             if (node.needs_grad(0)) gx = empty(x_shape, gc.dtype(), "conv2d");
             const Tensor parts = node.needs_grad(1) ? empty({n, groups, k, o / groups}, gc.dtype(), "conv2d") : Tensor();
             visit_floating(gc.dtype(), [&](auto tag) {
               using T = decltype(tag);
               conv_backward_images<T>(data_or_null<T>(xc), data_or_null<T>(wc), gc.data<T>(), data_or_null<T>(gx),
                                       data_or_null<T>(parts), n, x_shape[1], h, w, win, groups, o, k, l);
             });
             if (node.needs_grad(1)) gw = transpose(sum(parts, {0}, false), 1, 2);
             return Grads{gx, gw.defined() ? reshape(gw, w_shape) : gw};
           }
           const Tensor w3t = node.needs_grad(0) ? transpose(weight3(sw.unpack()), -1, -2) : Tensor();
           if (grad_enabled() || n <= chunk) {
             // One chunk (and with createGraph, so that these ops are recorded).
             if (node.needs_grad(0)) gx = grad_x(w3t, g[0]);
             if (node.needs_grad(1)) gw = grad_w(x, g[0]);
           } else {
             if (node.needs_grad(0)) gx = empty(x_shape, g[0].dtype(), "conv2d");
             each_chunk(n, chunk, [&](i64 n0, i64 count) {
               const Tensor gi = narrow(g[0], 0, n0, count);
               if (node.needs_grad(0)) write_images(gx, n0, grad_x(w3t, gi));
               if (node.needs_grad(1)) {
                 const Tensor share = grad_w(narrow(x, 0, n0, count), gi);
                 gw = gw.defined() ? add(gw, share) : share;
               }
             });
           }
           return Grads{gx, gw.defined() ? reshape(gw, w_shape) : gw};
         });
  return out;
}

}  // namespace

Tensor unfold(const Tensor& x, const Pair& kernel, const Pair& dilation, const Pair& padding, const Pair& stride) {
  const char* op = "unfold";
  check_image_input(x, op);
  const bool batched = x.dim() == 4;
  check_window(op, kernel, dilation, padding, stride);
  const i64 h = x.size(x.dim() - 2), w = x.size(x.dim() - 1);
  const Window win{kernel, dilation, padding, stride, grid_of(op, h, w, kernel, dilation, padding, stride)};
  if (batched) return unfold_checked(x, win);
  return squeeze(unfold_checked(unsqueeze(x, 0), win), std::vector<i64>{0});
}

Tensor fold(const Tensor& x, const Pair& output_size, const Pair& kernel, const Pair& dilation, const Pair& padding,
            const Pair& stride) {
  const char* op = "fold";
  require_floating(x, op, "input");
  if (x.dim() != 2 && x.dim() != 3)
    throw_range_error(op, ": input must be 2-D [C·kh·kw, L] or 3-D [N, C·kh·kw, L], got shape ", shape_str(x.shape()));
  const bool batched = x.dim() == 3;
  for (i64 d = batched ? 1 : 0; d < x.dim(); ++d)
    if (x.size(d) == 0)
      throw_range_error(op, ": input must have non-zero C·kh·kw and L (only N may be 0), got shape ",
                        shape_str(x.shape()));
  if (output_size[0] < 1 || output_size[1] < 1)
    throw_range_error(op, ": outputSize must be positive, got ", pair_str(output_size));
  check_window(op, kernel, dilation, padding, stride);
  const i64 rows = x.size(x.dim() - 2), blocks = x.size(x.dim() - 1);
  i64 per_channel = 0;
  if (__builtin_mul_overflow(kernel[0], kernel[1], &per_channel) || per_channel > rows || rows % per_channel != 0)
    throw_range_error(op, ": input of shape ", shape_str(x.shape()), ": its C·kh·kw dim (", rows,
                      ") must be divisible by kernelSize[0]·kernelSize[1] (", pair_str(kernel), ")");
  const Pair grid = grid_of(op, output_size[0], output_size[1], kernel, dilation, padding, stride);
  if (grid[0] * grid[1] != blocks)
    throw_range_error(op, ": input of shape ", shape_str(x.shape()), " has L = ", blocks, " blocks, but outputSize ", pair_str(output_size),
                      " with kernelSize ", pair_str(kernel), ", dilation ", pair_str(dilation), ", padding ",
                      pair_str(padding), " and stride ", pair_str(stride), " gives ", grid[0], " × ", grid[1], " = ",
                      grid[0] * grid[1]);
  const Window win{kernel, dilation, padding, stride, grid};
  if (batched) return fold_checked(x, output_size[0], output_size[1], win);
  return squeeze(fold_checked(unsqueeze(x, 0), output_size[0], output_size[1], win), std::vector<i64>{0});
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Pair& stride, ConvPadding mode,
              const Pair& padding, const Pair& dilation, i64 groups) {
  const char* op = "conv2d";
  require_floating(x, op, "input");
  if (weight.dtype() != x.dtype())
    throw_type_error(op, ": weight must have the input's dtype ", dtype_name(x.dtype()), ", got ",
                     dtype_name(weight.dtype()));
  if (bias.defined() && bias.dtype() != x.dtype())
    throw_type_error(op, ": bias must have the input's dtype ", dtype_name(x.dtype()), ", got ",
                     dtype_name(bias.dtype()));
  check_image_input(x, op);
  const bool batched = x.dim() == 4;
  if (weight.dim() != 4)
    throw_range_error(op, ": weight must be 4-D [outChannels, inChannels / groups, kH, kW], got shape ",
                      shape_str(weight.shape()));
  for (i64 d = 0; d < 4; ++d)
    if (weight.size(d) == 0)
      throw_range_error(op, ": weight must have no zero-sized dim, got shape ", shape_str(weight.shape()));
  if (groups < 1) throw_range_error(op, ": groups must be a positive integer, got ", groups);
  const i64 c = x.size(x.dim() - 3), h = x.size(x.dim() - 2), w = x.size(x.dim() - 1);
  const i64 o = weight.size(0), cg = weight.size(1);
  const Pair kernel{weight.size(2), weight.size(3)};
  if (o % groups != 0)
    throw_range_error(op, ": weight's outChannels (", o, ", its dim 0) must be divisible by groups (", groups, ")");
  if (cg > c || c / cg != groups || c % cg != 0)
    throw_range_error(op, ": input has ", c, " channels, but weight of shape ", shape_str(weight.shape()),
                      " with groups ", groups, " expects ", cg, " × ", groups, " = ", cg * groups);
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != o))
    throw_range_error(op, ": bias must have shape [", o, "] (weight's outChannels), got ", shape_str(bias.shape()));
  if (stride[0] < 1 || stride[1] < 1) throw_range_error(op, ": stride must be positive, got ", pair_str(stride));
  if (dilation[0] < 1 || dilation[1] < 1) throw_range_error(op, ": dilation must be positive, got ", pair_str(dilation));
  const Pair ext = extent(kernel, dilation);
  // Zero padding before and after each spatial dim.
  Pair before{0, 0}, after{0, 0};
  if (mode == ConvPadding::Explicit) {
    if (padding[0] < 0 || padding[1] < 0)
      throw_range_error(op, ": padding must be non-negative, got ", pair_str(padding));
    before = after = padding;
  } else if (mode == ConvPadding::Same) {
    if (stride[0] != 1 || stride[1] != 1)
      throw_range_error(op, ": padding 'same' needs stride 1, got stride ", pair_str(stride));
    // As PyTorch: the total dilation·(k - 1) split in two, the odd one out after.
    for (int d = 0; d < 2; ++d) {
      const i64 total = ext[d] < 0 ? -1 : ext[d] - 1;
      if (total < 0) throw_range_error(op, ": the kernel's extent dilation·(kernelSize - 1) + 1 is too large");
      before[d] = total / 2;
      after[d] = total - before[d];
    }
  }
  const Pair grid{blocks_along(h, before[0], after[0], ext[0], stride[0]),
                  blocks_along(w, before[1], after[1], ext[1], stride[1])};
  if (ext[0] < 0 || ext[1] < 0)
    throw_range_error(op, ": the kernel's extent dilation·(kernelSize - 1) + 1 is past 2^53 for kernelSize ",
                      pair_str(kernel), " and dilation ", pair_str(dilation));
  if (grid[0] < 1 || grid[1] < 1)
    throw_range_error(op, ": the padded input of spatial size [", h + before[0] + after[0], ", ",
                      w + before[1] + after[1], "] is smaller than the kernel's extent dilation·(kernelSize - 1) + 1 = ",
                      pair_str(ext));

  const Window win{kernel, dilation, before, stride, grid};
  checked_mul(checked_mul(cg * kernel[0] * kernel[1], groups, op), checked_mul(grid[0], grid[1], op), op);
  Tensor out = conv_core(batched ? x : unsqueeze(x, 0), weight, win, groups);
  if (bias.defined()) out = add(out, reshape(bias, {o, 1, 1}));
  return batched ? out : squeeze(out, std::vector<i64>{0});
}

}  // namespace tapegrad::ops
