// The kernel table: one set of function pointers per ISA, chosen at run time.
// Kernels take pointers, sizes and strides; they know nothing of tensors.
//
// This header is shared by baseline code and the per-ISA units, so it must
// hold declarations only: an inline function or template here could be
// emitted from an AVX-512 unit and then run on a CPU without it.
#pragma once

#include <cstdint>

#include "runtime/cpu_features.h"

namespace tapegrad::kernels {

// How an elementwise kernel writes its output: plain stores; streamed (whole
// 64-byte lines with streaming stores where the ISA has them), ending with a
// store fence; or streamed without the fence, for a caller that writes an
// output in pieces (a call per row) and fences once after the last
// (fence_streamed_stores): a fence per 4 KiB row took 40% of a bias add.
enum class Store : int { Plain, Streamed, StreamedUnfenced };

// Elementwise binary ops on float32/float64. Comparisons write 1 or 0.
// maximum/minimum: NaN wins. ReluBackward: out = b > 0 ? a : 0 (a is the
// incoming gradient, b the relu output; NaN in b blocks the gradient).
// The other *Backward ops are an activation's gradient a·f'(·), a the
// incoming gradient: from b the input for GeluBackward (exact form),
// GeluTanhBackward and SiluBackward; from b the output y for TanhBackward,
// a·(1 - y²), and SigmoidBackward, a·y·(1 - y). float32 computes them in
// double and rounds once: within 1 ulp of a·f'(b) (basic.inc says how that
// holds near the zeros of f'); float64 uses math_f64.inc's formulas, as
// the generic path does, so both paths give the same bits. Pow is
// a^b with the C library's special values: float32 vectorised in double
// on the FMA paths (within 1 ulp), the C library's powf on the scalar path
// and pow for float64 (but x³: math_f64.inc's cube). Fmod is the C
// library's fmod (exact, the sign of a), and Remainder that remainder plus b
// where it is nonzero and its sign differs from b's (rounded once): float32
// vectorised in double where |a / b| < 2^29, the C library's fmodf for the
// rest; float64 vectorised with a fused multiply-add where |a / b| < 2^52
// on the FMA paths, the C library's fmod for the rest and on the scalar
// path.
enum class BinaryOp : int {
  Add, Sub, Mul, Div, Maximum, Minimum, Eq, Ne, Lt, Le, Gt, Ge,
  ReluBackward, GeluBackward, GeluTanhBackward, SiluBackward, TanhBackward, SigmoidBackward, Pow, Fmod, Remainder
};

// Elementwise unary ops on float32/float64. Clamp reads lo and hi (min then
// max, NaN passes through); the others ignore them. Relu keeps NaN;
// LeakyRelu is x > 0 ? x : x·lo (NaN·lo for NaN). Exp,
// Log, Tanh, Sigmoid, Gelu (exact, x·Φ(x)), GeluTanh (PyTorch's tanh
// approximation, as x·σ(2u)), Silu (x·σ(x)), Elu, Softplus, Sin, Cos, Log1p
// (log(1 + x)) and Expm1 (e^x - 1) are
// vectorised for float32, within 1 ulp of the correctly rounded result (see
// basic.inc); float64 by math_f64.inc's functions, the generic path's (sin
// and cos call the C library where those do not reach). Elu takes alpha as
// lo; Softplus beta as lo and threshold as hi. Cube is x³ as the C library's
// pow(x, 3): float32 in double (x² exact, one rounding there, then to
// float), float64 correctly rounded (math_f64.inc's cube). Rsqrt is 1/√x
// rounded twice (the square root, then the quotient), as the C library's
// sqrt and a division give.
// SqrtPow is pow(x, 0.5): √x but +0 at -0 and +Infinity at -Infinity.
// Floor, Ceil, Trunc and Round (to nearest, ties to even) as the C
// library's floor, ceil, trunc and nearbyint (a NaN as the library returns
// it: floor, ceil and trunc pass a signalling NaN on unchanged, nearbyint
// quiets it); Sign is 1, -1, or x itself (±0, NaN).
enum class UnaryOp : int { Neg, Abs, Square, Sqrt, Reciprocal, Relu, Clamp, Exp, Log, Tanh, Sigmoid, Gelu, GeluTanh, Silu, Elu, Softplus, Sin, Cos, Cube, Rsqrt, SqrtPow, LeakyRelu, Log1p, Expm1, Floor, Ceil, Trunc, Round, Sign };

// Products below this many multiply-adds run on one thread: waking the pool
// costs more than it saves. Shared with the backward scheduler, which runs
// smaller nodes side by side instead. (A constant emits no code, so it is
// safe in this header.)
inline constexpr double kGemmParallelMinMacs = 1 << 20;

// Fused optimizer updates over n contiguous elements, in place, with
// PyTorch's formulas (see ops/optim.h). Options arrive as doubles and are
// rounded to the element type inside, as the update's arithmetic is; values
// derived with pow stay in baseline code (step_size, sqrt_bias2, Adagrad's
// decayed lr) so every ISA sees the same ones.
struct SgdUpdate {
  double lr, momentum, weight_decay;
  double one_minus_dampening;
  bool nesterov, maximize;
  bool first_step;  // the momentum buffer takes the gradient itself
};
struct AdamUpdate {
  double lr, beta1, beta2, eps, weight_decay;
  double step_size;   // lr / (1 - beta1^step)
  double sqrt_bias2;  // sqrt(1 - beta2^step)
  bool decoupled_weight_decay, amsgrad, maximize;
};
struct RmspropUpdate {
  double lr, alpha, eps, weight_decay, momentum;
  bool centered, maximize;
};
struct AdagradUpdate {
  double lr;  // already decayed for this step
  double eps, weight_decay;
  bool maximize;
};

struct KernelTable {
  runtime::Isa isa;
  // y[i] += a * x[i]
  void (*axpy_f32)(std::int64_t n, float a, const float* x, float* y);
  void (*axpy_f64)(std::int64_t n, double a, const double* x, double* y);
  // Sum with a fixed association order, identical on every ISA.
  float (*sum_f32)(std::int64_t n, const float* x);
  double (*sum_f64)(std::int64_t n, const double* x);
  // C = alpha * A·B + beta * C with any row/column strides (transposes and
  // views are just strides): A is m×k with element (i, p) at
  // a[i * a_rs + p * a_cs], B is k×n likewise, C is m×n. beta == 0 ignores
  // C's previous contents, NaN included.
  void (*gemm_f32)(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a, std::int64_t a_rs,
                   std::int64_t a_cs, const float* b, std::int64_t b_rs, std::int64_t b_cs, float beta, float* c,
                   std::int64_t c_rs, std::int64_t c_cs);
  void (*gemm_f64)(std::int64_t m, std::int64_t n, std::int64_t k, double alpha, const double* a, std::int64_t a_rs,
                   std::int64_t a_cs, const double* b, std::int64_t b_rs, std::int64_t b_cs, double beta, double* c,
                   std::int64_t c_rs, std::int64_t c_cs);
  // The same product for `count` batch elements with one operand shared by
  // all of them (a weight times a stack of inputs): element e computes
  // C_e = alpha * A_e·B_e + beta * C_e with A_e at a + a_off[e], B_e at
  // b + b_off[e], C_e at c + c_off[e] (offsets in elements, strides as
  // gemm's, the same for every element). Exactly one of a_off and b_off is
  // null: that operand is shared (A_e = a, or B_e = b). A block of the
  // shared operand is packed once for all elements instead of once per
  // element. Each C_e is bitwise identical to gemm on that element alone,
  // whatever the thread count. Returns false, having written nothing, where
  // it would gain nothing or is not built for the layout (the elements'
  // products take the unpacked path, C is column-major, or not exactly one
  // operand is shared): the caller then runs gemm per element. The answer
  // depends on the sizes, strides, alpha and which operand is shared, never
  // on count or the offsets: with count == 0 it computes nothing and says
  // whether it would take such products.
  bool (*gemm_batch_f32)(std::int64_t count, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                         const float* a, const std::int64_t* a_off, std::int64_t a_rs, std::int64_t a_cs,
                         const float* b, const std::int64_t* b_off, std::int64_t b_rs, std::int64_t b_cs, float beta,
                         float* c, const std::int64_t* c_off, std::int64_t c_rs, std::int64_t c_cs);
  bool (*gemm_batch_f64)(std::int64_t count, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
                         const double* a, const std::int64_t* a_off, std::int64_t a_rs, std::int64_t a_cs,
                         const double* b, const std::int64_t* b_off, std::int64_t b_rs, std::int64_t b_cs,
                         double beta, double* c, const std::int64_t* c_off, std::int64_t c_rs, std::int64_t c_cs);
  // The path gemm takes for a product of this shape and layout (alpha
  // nonzero), as a number: two products with the same number, k and
  // strides add up each element of C in the same order (so a stack of
  // products may run as one product of all their rows where both answers
  // agree).
  int (*gemm_route_f32)(std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t a_rs, std::int64_t a_cs,
                        std::int64_t b_rs, std::int64_t b_cs, std::int64_t c_rs, std::int64_t c_cs);
  int (*gemm_route_f64)(std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t a_rs, std::int64_t a_cs,
                        std::int64_t b_rs, std::int64_t b_cs, std::int64_t c_rs, std::int64_t c_cs);
  // out[i] = op(a[i * a_step], b[i * b_step]), i < n; each step is 1
  // (contiguous) or 0 (one value repeated). out may be a or b exactly.
  // store: Store::Streamed writes out's whole 64-byte lines with streaming
  // (non-temporal) stores, ending with a store fence, where the ISA has them
  // (x86-64): for outputs too large to stay in cache, so that a line is not
  // read from memory before it is overwritten. Honoured by every op: those
  // bound by memory bandwidth stream each line as they compute it, those
  // bound by arithmetic (the activation gradients, pow) compute 2 KiB blocks
  // in cache and stream them (basic.inc, arithmetic_bound). Not with out ==
  // a or b.
  void (*binary_f32)(BinaryOp op, std::int64_t n, const float* a, std::int64_t a_step, const float* b,
                     std::int64_t b_step, float* out, Store store);
  void (*binary_f64)(BinaryOp op, std::int64_t n, const double* a, std::int64_t a_step, const double* b,
                     std::int64_t b_step, double* out, Store store);
  // The store fence that ends Store::StreamedUnfenced writes (nothing where
  // the ISA has no streaming stores).
  void (*fence_streamed_stores)();
  // Copies `bytes` bytes from src to dst (not overlapping), front to back;
  // store as for binary ops. (glibc's memcpy chooses streaming stores by a
  // cache size that a VM misreported as 320 MiB, and copied the 2 KiB rows
  // of a 16 MiB cat with its backward loop: 3x this kernel's time.)
  void (*copy_bytes)(std::int64_t bytes, const void* src, void* dst, Store store);
  // Transposing copies of 4-byte (float32, int32) and 8-byte (float64)
  // elements: dst[r·dst_row_stride + c] = src[r·src_row_stride +
  // c·src_col_stride] for r < rows, c < cols (a block of a permuted view's
  // .contiguous(), at most 512 square: core/strided.cpp). The bits are
  // copied as they are.
  void (*transpose_32)(std::int64_t rows, std::int64_t cols, const void* src, std::int64_t src_row_stride,
                       std::int64_t src_col_stride, void* dst, std::int64_t dst_row_stride);
  void (*transpose_64)(std::int64_t rows, std::int64_t cols, const void* src, std::int64_t src_row_stride,
                       std::int64_t src_col_stride, void* dst, std::int64_t dst_row_stride);
  // Sum of n floats accumulated in double: 16 interleaved lanes combined
  // pairwise, the same order (and result) on every ISA.
  double (*sum_wide_f32)(std::int64_t n, const float* x);
  // Σ x² in double (float32 widened first), in sum_wide_f32's order.
  double (*sum_squares_f32)(std::int64_t n, const float* x);
  double (*sum_squares_f64)(std::int64_t n, const double* x);
  // Σ (a - b)² in double, each difference and square rounded in T first (as
  // sub, then square, would), in sum_wide_f32's order.
  double (*sum_squared_differences_f32)(std::int64_t n, const float* a, const float* b);
  double (*sum_squared_differences_f64)(std::int64_t n, const double* a, const double* b);
  // Σ of huberLoss's terms (|d| < delta ? d²/2 : delta·(|d| - delta/2),
  // d = a - b, in double, each rounded to T first) in double, in
  // sum_wide_f32's order.
  double (*sum_huber_f32)(std::int64_t n, const float* a, const float* b, double delta);
  double (*sum_huber_f64)(std::int64_t n, const double* a, const double* b, double delta);
  // Σ |x| in double, in sum_wide_f32's order.
  double (*sum_abs_f32)(std::int64_t n, const float* x);
  double (*sum_abs_f64)(std::int64_t n, const double* x);
  // Σ (x - mean)² into sums[0] and Σ (x - mean) into sums[1], in double, in
  // sum_wide_f32's order: the two sums of a corrected two-pass variance.
  void (*sum_deviations_f32)(std::int64_t n, const float* x, double mean, double* sums);
  void (*sum_deviations_f64)(std::int64_t n, const double* x, double mean, double* sums);
  // out[r] = the largest (max) or smallest element of row r, x[r·n, r·n +
  // n), r < rows, n >= 1; NaN if any element is. Which of -0 and +0, or
  // which NaN, comes back when several are present is not fixed
  // (ops/reduce_extrema.cpp picks the first).
  void (*extremum_rows_f32)(std::int64_t rows, std::int64_t n, const float* x, float* out, bool max);
  void (*extremum_rows_f64)(std::int64_t rows, std::int64_t n, const double* x, double* out, bool max);
  // out[j] = the extremum of out[j] and x[r·stride + j] for r < rows, the
  // rows in order; a later element replaces out[j] only where it is further
  // out or NaN while out[j] is not (the first of tied or NaN elements stays).
  void (*extremum_columns_f32)(std::int64_t rows, std::int64_t n, const float* x, std::int64_t stride, float* out,
                               bool max);
  void (*extremum_columns_f64)(std::int64_t rows, std::int64_t n, const double* x, std::int64_t stride, double* out,
                               bool max);
  // The product of n elements in double (float32 widened first): element i
  // into lane i % 16, the lanes multiplied pairwise as sum_wide_f32 adds them.
  double (*prod_wide_f32)(std::int64_t n, const float* x);
  double (*prod_f64)(std::int64_t n, const double* x);
  // out[r] = the sum of row r of `rows` contiguous rows of n elements, in
  // double (float32 widened first), each in sum_wide_f32's order (sum_f64's
  // for float64): for many short rows, where one call per row costs more
  // than the row.
  void (*short_row_sums_f32)(std::int64_t rows, std::int64_t n, const float* x, double* out);
  void (*short_row_sums_f64)(std::int64_t rows, std::int64_t n, const double* x, double* out);
  // acc[j] += sum over i < rows of x[i * row_stride + j], j < cols, in
  // double, rows in order (column sums of a row-major block).
  void (*add_rows_f32)(std::int64_t rows, std::int64_t cols, const float* x, std::int64_t row_stride, double* acc);
  void (*add_rows_f64)(std::int64_t rows, std::int64_t cols, const double* x, std::int64_t row_stride, double* acc);
  // acc[j] *= x[i * row_stride + j] for i < rows in order, in double (column
  // products: prod over leading dims, as the generic walk multiplies).
  void (*multiply_rows_f32)(std::int64_t rows, std::int64_t cols, const float* x, std::int64_t row_stride,
                            double* acc);
  void (*multiply_rows_f64)(std::int64_t rows, std::int64_t cols, const double* x, std::int64_t row_stride,
                            double* acc);
  // out[i] = op(x[i]), i < n; out may be x exactly. store as for binary
  // ops (the transcendental functions stream 2 KiB blocks), except for sin,
  // cos and float64's cube (plain stores).
  void (*unary_f32)(UnaryOp op, std::int64_t n, const float* x, float* out, float lo, float hi, Store store);
  void (*unary_f64)(UnaryOp op, std::int64_t n, const double* x, double* out, double lo, double hi, Store store);
  // Layer normalisation of `rows` contiguous rows of `cols` elements: per
  // row mean and rstd = 1/sqrt(biased variance + eps) (two passes, in
  // double, a fixed summation order), and out = (x - mean)·rstd·weight +
  // bias (weight, bias: cols elements, or null to skip).
  void (*layer_norm_f32)(std::int64_t rows, std::int64_t cols, const float* x, const float* weight, const float* bias,
                         double eps, float* out, float* mean, float* rstd);
  void (*layer_norm_f64)(std::int64_t rows, std::int64_t cols, const double* x, const double* weight,
                         const double* bias, double eps, double* out, double* mean, double* rstd);
  // Its gradient for the same rows, g the output's: dx = rstd·(ĝ - mean(ĝ)
  // - x̂·mean(ĝ·x̂)) with x̂ = (x - mean)·rstd, ĝ = g·weight (weight may be
  // null: ĝ = g). When dweight is not null, also adds Σ g·x̂ into dweight
  // and Σ g into dbias (cols doubles each), rows in order. dx may be null
  // (the input needs no gradient): then only dweight and dbias, not null,
  // are computed, with the same bits.
  void (*layer_norm_backward_f32)(std::int64_t rows, std::int64_t cols, const float* g, const float* x,
                                  const float* mean, const float* rstd, const float* weight, float* dx,
                                  double* dweight, double* dbias);
  void (*layer_norm_backward_f64)(std::int64_t rows, std::int64_t cols, const double* g, const double* x,
                                  const double* mean, const double* rstd, const double* weight, double* dx,
                                  double* dweight, double* dbias);
  // One channel of a batch normalisation: `runs` runs of `len` contiguous
  // elements, run k at x + k·stride. Sums in double, each run in
  // sum_wide_f32's order, the runs' sums added in order.
  // Its mean and biased variance (two passes).
  void (*batch_norm_moments_f32)(std::int64_t runs, std::int64_t stride, std::int64_t len, const float* x, double* mean,
                                 double* var);
  void (*batch_norm_moments_f64)(std::int64_t runs, std::int64_t stride, std::int64_t len, const double* x,
                                 double* mean, double* var);
  // out = ((x - mean)·rstd)·weight + bias in T (weight, bias: one value, or
  // null to skip).
  void (*batch_norm_apply_f32)(std::int64_t runs, std::int64_t stride, std::int64_t len, const float* x, float mean,
                               float rstd, const float* weight, const float* bias, float* out);
  void (*batch_norm_apply_f64)(std::int64_t runs, std::int64_t stride, std::int64_t len, const double* x, double mean,
                               double rstd, const double* weight, const double* bias, double* out);
  // sums[0] = Σ g, sums[1] = Σ g·x̂ with x̂ = (x - mean)·rstd in T.
  void (*batch_norm_grad_sums_f32)(std::int64_t runs, std::int64_t stride, std::int64_t len, const float* g,
                                   const float* x, float mean, float rstd, double* sums);
  void (*batch_norm_grad_sums_f64)(std::int64_t runs, std::int64_t stride, std::int64_t len, const double* g,
                                   const double* x, double mean, double rstd, double* sums);
  // dx = scale·((g - mean_g) - x̂·mean_gx) in double, rounded once.
  void (*batch_norm_grad_input_f32)(std::int64_t runs, std::int64_t stride, std::int64_t len, const float* g,
                                    const float* x, float mean, float rstd, double scale, double mean_g,
                                    double mean_gx, float* dx);
  void (*batch_norm_grad_input_f64)(std::int64_t runs, std::int64_t stride, std::int64_t len, const double* g,
                                    const double* x, double mean, double rstd, double scale, double mean_g,
                                    double mean_gx, double* dx);
  // batchNorm's channels of runs shorter than 16 ([N, C], [N, C, 3, 3]),
  // as `cols` columns of `rows` rows, row i at x + i·stride (x, g, out, dx
  // alike); each column k its own values (mean[k], rstd[k], ...). Sums in
  // double in row order, as add_rows (which gives Σ x).
  // acc[k] += Σ (x - mean[k])² and, where deviations is not null,
  // deviations[k] += Σ (x - mean[k]) (var's compensation) in the same pass.
  void (*batch_norm_columns_deviations_f32)(std::int64_t rows, std::int64_t cols, std::int64_t stride, const float* x,
                                            const double* mean, double* acc, double* deviations);
  void (*batch_norm_columns_deviations_f64)(std::int64_t rows, std::int64_t cols, std::int64_t stride,
                                            const double* x, const double* mean, double* acc, double* deviations);
  // out = ((x - mean[k])·rstd[k])·weight[k] + bias[k] in T (weight, bias:
  // cols values, or null to skip).
  void (*batch_norm_columns_apply_f32)(std::int64_t rows, std::int64_t cols, std::int64_t stride, const float* x,
                                       const float* mean, const float* rstd, const float* weight, const float* bias,
                                       float* out);
  void (*batch_norm_columns_apply_f64)(std::int64_t rows, std::int64_t cols, std::int64_t stride, const double* x,
                                       const double* mean, const double* rstd, const double* weight,
                                       const double* bias, double* out);
  // sum_g[k] += Σ g, sum_gx[k] += Σ g·x̂ with x̂ = (x - mean[k])·rstd[k] in T.
  void (*batch_norm_columns_grad_sums_f32)(std::int64_t rows, std::int64_t cols, std::int64_t stride, const float* g,
                                           const float* x, const float* mean, const float* rstd, double* sum_g,
                                           double* sum_gx);
  void (*batch_norm_columns_grad_sums_f64)(std::int64_t rows, std::int64_t cols, std::int64_t stride, const double* g,
                                           const double* x, const double* mean, const double* rstd, double* sum_g,
                                           double* sum_gx);
  // dx = scale[k]·((g - mean_g[k]) - x̂·mean_gx[k]) in double, rounded once.
  void (*batch_norm_columns_grad_input_f32)(std::int64_t rows, std::int64_t cols, std::int64_t stride, const float* g,
                                            const float* x, const float* mean, const float* rstd, const double* scale,
                                            const double* mean_g, const double* mean_gx, float* dx);
  void (*batch_norm_columns_grad_input_f64)(std::int64_t rows, std::int64_t cols, std::int64_t stride,
                                            const double* g, const double* x, const double* mean, const double* rstd,
                                            const double* scale, const double* mean_g, const double* mean_gx,
                                            double* dx);
  // Softmax along each of `rows` contiguous rows of `size` elements, or with
  // log, log-softmax: y = e^(x - max) / Σ e^(x - max), the sum in double in
  // sum_wide_f32's order (float32 multiplies by 1/Σ in double, within 1 ulp
  // of the quotient of the float exps); log-softmax (x - max) - log Σ.
  // float32 uses the table's exp (UnaryOp::Exp), float64 the C library's.
  // The same bits on every ISA with FMA (the scalar path's float32 exp
  // rounds differently, within the same bound). y may be x exactly, and must
  // not overlap it otherwise. Outputs are stored plainly: streaming stores
  // measured 5% slower on [4096,1024] (the backward reads the output next)
  // and mixed on larger rows.
  void (*softmax_rows_f32)(std::int64_t rows, std::int64_t size, const float* x, float* y, bool log);
  void (*softmax_rows_f64)(std::int64_t rows, std::int64_t size, const double* x, double* y, bool log);
  // Its gradient for the same rows, from y (the output) and g (y's
  // gradient), in double and rounded once: dx = y·(g - Σ g·y), with log
  // dx = g - e^y·Σ g (e^y as the forward's exp); sums in sum_wide_f32's
  // order. dx may be g exactly.
  void (*softmax_backward_rows_f32)(std::int64_t rows, std::int64_t size, const float* y, const float* g, float* dx,
                                    bool log);
  void (*softmax_backward_rows_f64)(std::int64_t rows, std::int64_t size, const double* y, const double* g,
                                    double* dx, bool log);
  // log Σ e^x of each of `rows` contiguous rows of `size` elements, into
  // out[row]: m + log Σ e^(x - m), m the row's maximum, the terms and their
  // sum in double (float32's terms by the table's double exp, within 1e-14;
  // float64's by the C library) in sum_wide_f32's order. NaN anywhere gives
  // NaN; otherwise a maximum of ±Infinity (-Infinity for an empty row) is
  // the result.
  void (*logsumexp_rows_f32)(std::int64_t rows, std::int64_t size, const float* x, float* out);
  void (*logsumexp_rows_f64)(std::int64_t rows, std::int64_t size, const double* x, double* out);
  // The same over `group` rows `stride` elements apart, for `width`
  // columns each (out[j] for column j), each column's terms in row order.
  void (*logsumexp_columns_f32)(std::int64_t group, std::int64_t stride, std::int64_t width, const float* x,
                                float* out);
  void (*logsumexp_columns_f64)(std::int64_t group, std::int64_t stride, std::int64_t width, const double* x,
                                double* out);
  // Optimizer updates of one parameter's elements [0, n). State pointers an
  // update does not use (no momentum, not centered, no amsgrad) may be null.
  void (*sgd_f32)(const SgdUpdate& u, std::int64_t n, float* param, const float* grad, float* momentum_buffer);
  void (*sgd_f64)(const SgdUpdate& u, std::int64_t n, double* param, const double* grad, double* momentum_buffer);
  void (*adam_f32)(const AdamUpdate& u, std::int64_t n, float* param, const float* grad, float* exp_avg,
                   float* exp_avg_sq, float* max_exp_avg_sq);
  void (*adam_f64)(const AdamUpdate& u, std::int64_t n, double* param, const double* grad, double* exp_avg,
                   double* exp_avg_sq, double* max_exp_avg_sq);
  void (*rmsprop_f32)(const RmspropUpdate& u, std::int64_t n, float* param, const float* grad, float* square_avg,
                      float* grad_avg, float* momentum_buffer);
  void (*rmsprop_f64)(const RmspropUpdate& u, std::int64_t n, double* param, const double* grad, double* square_avg,
                      double* grad_avg, double* momentum_buffer);
  void (*adagrad_f32)(const AdagradUpdate& u, std::int64_t n, float* param, const float* grad, float* sum);
  void (*adagrad_f64)(const AdagradUpdate& u, std::int64_t n, double* param, const double* grad, double* sum);
};

// The table for the active ISA (runtime::active_isa()).
const KernelTable& active();

// The most tile blocks a GEMM (packed or direct path, batched or not) was
// split into for the pool since the last call (0: none), for tests of the
// split under a thread cap; it starts again from 0. The split chosen counts,
// also where the pool was busy and the blocks ran inline; the dot and sweep
// routes, which split by parallel_for's chunks, are not counted. Each split
// notes its count (one relaxed atomic update).
void note_gemm_split(std::int64_t blocks);
std::int64_t most_gemm_blocks();

namespace scalar { const KernelTable& table(); }
namespace avx2 { const KernelTable& table(); }
namespace avx512 { const KernelTable& table(); }
namespace neon { const KernelTable& table(); }

}  // namespace tapegrad::kernels
