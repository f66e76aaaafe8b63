// The runtime: thread count, and internal hooks that reach the kernels
// directly for tests and the benchmark (names starting with `_`, typed in
// src/native.ts as internal, not exported by the package).
#include <atomic>
#include <cmath>
#include <cstdint>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "binding/addon.h"
#include "binding/convert.h"
#include "kernels/kernels.h"
#include "kernels/probe.h"
#include "runtime/error.h"
#include "runtime/parallel.h"
#include "runtime/thread_pool.h"

namespace tapegrad::binding {

namespace {

// setNumThreads(n)
Napi::Value set_num_threads(const Napi::CallbackInfo& info) {
  const std::int64_t n = arg_int(info, 0, "setNumThreads", "n");
  if (n < 1 || n > runtime::kMaxThreads)
    throw_range_error("setNumThreads: n must be an integer from 1 to ", runtime::kMaxThreads, ", got ", n);
  runtime::set_num_threads(static_cast<int>(n));
  return info.Env().Undefined();
}

Napi::Value get_num_threads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), runtime::num_threads());
}

bool arg_f64(const Napi::CallbackInfo& info, std::size_t i, const char* op) {
  const std::string dtype = arg_string(info, i, op, "dtype");
  if (dtype == "float32") return false;
  if (dtype == "float64") return true;
  throw_type_error(op, ": dtype must be 'float32' or 'float64', got '", dtype, "'");
}

// The typed array of a GEMM hook's operand: a Float32Array or Float64Array
// as the dtype says.
Napi::TypedArray arg_matrix_array(const Napi::CallbackInfo& info, std::size_t i, bool f64, const char* op,
                                  const char* name) {
  const Napi::Value v = info[i];
  const napi_typedarray_type want = f64 ? napi_float64_array : napi_float32_array;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != want)
    throw_type_error(op, ": ", name, " must be a ", f64 ? "Float64Array" : "Float32Array");
  return v.As<Napi::TypedArray>();
}

void* array_data(const Napi::TypedArray& array) {
  return static_cast<std::uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
}

// Checks that a rows×cols view (offset, row stride, column stride) lies
// inside `array`, with offset and strides below 2^31 in magnitude.
void check_view(const Napi::TypedArray& array, std::int64_t rows, std::int64_t cols, std::int64_t offset,
                std::int64_t rs, std::int64_t cs, const char* op, const char* name) {
  constexpr std::int64_t kLimit = std::int64_t{1} << 31;
  if (offset < 0 || offset >= kLimit || rs <= -kLimit || rs >= kLimit || cs <= -kLimit || cs >= kLimit)
    throw_range_error(op, ": ", name, ": offset and strides must be below 2^31 in magnitude");
  if (rows > 0 && cols > 0) {
    const std::int64_t dr = (rows - 1) * rs, dc = (cols - 1) * cs;
    const std::int64_t lo = offset + (dr < 0 ? dr : 0) + (dc < 0 ? dc : 0);
    const std::int64_t hi = offset + (dr > 0 ? dr : 0) + (dc > 0 ? dc : 0);
    if (lo < 0 || hi >= static_cast<std::int64_t>(array.ElementLength()))
      throw_range_error(op, ": ", name, ": a ", rows, "x", cols, " view with offset ", offset, " and strides (", rs,
                        ", ", cs, ") does not fit in ", array.ElementLength(), " elements");
  }
}

// An operand: typed array, offset, row stride, column stride, checked so that
// every element of a rows×cols view lies inside the array.
struct Operand {
  void* data;
  std::int64_t offset, rs, cs;
};

Operand arg_operand(const Napi::CallbackInfo& info, std::size_t i, bool f64, std::int64_t rows, std::int64_t cols,
                    const char* name) {
  constexpr const char* op = "_testGemm";
  const Napi::TypedArray array = arg_matrix_array(info, i, f64, op, name);
  const Operand o{array_data(array), arg_int(info, i + 1, op, "offset"), arg_int(info, i + 2, op, "row stride"),
                  arg_int(info, i + 3, op, "column stride")};
  check_view(array, rows, cols, o.offset, o.rs, o.cs, op, name);
  return o;
}

// _testGemm(dtype, m, n, k, alpha, a, aOffset, aRowStride, aColStride, b, ..., beta, c, ...):
// C = alpha·A·B + beta·C through the active kernel table, in place on c's
// array; returns that array.
Napi::Value test_gemm(const Napi::CallbackInfo& info) {
  constexpr const char* op = "_testGemm";
  const bool f64 = arg_f64(info, 0, op);
  const std::int64_t m = arg_int(info, 1, op, "m"), n = arg_int(info, 2, op, "n"), k = arg_int(info, 3, op, "k");
  if (m < 0 || n < 0 || k < 0 || m >= (1 << 20) || n >= (1 << 20) || k >= (1 << 20))
    throw_range_error(op, ": sizes must be from 0 to 2^20, got ", m, "x", n, "x", k);
  const double alpha = arg_number(info, 4, op, "alpha");
  const Operand a = arg_operand(info, 5, f64, m, k, "a");
  const Operand b = arg_operand(info, 9, f64, k, n, "b");
  const double beta = arg_number(info, 13, op, "beta");
  const Operand c = arg_operand(info, 14, f64, m, n, "c");
  const kernels::KernelTable& kt = kernels::active();
  if (f64) {
    kt.gemm_f64(m, n, k, alpha, static_cast<const double*>(a.data) + a.offset, a.rs, a.cs,
                static_cast<const double*>(b.data) + b.offset, b.rs, b.cs, beta, static_cast<double*>(c.data) + c.offset,
                c.rs, c.cs);
  } else {
    kt.gemm_f32(m, n, k, static_cast<float>(alpha), static_cast<const float*>(a.data) + a.offset, a.rs, a.cs,
                static_cast<const float*>(b.data) + b.offset, b.rs, b.cs, static_cast<float>(beta),
                static_cast<float*>(c.data) + c.offset, c.rs, c.cs);
  }
  return info[14];
}

// An operand of a batched product: typed array, then either one offset (the
// matrix every element shares) or an array of `count` offsets (one matrix
// per element), then row and column strides. Reading an offsets array can
// run JS (getters) that detaches or shrinks any of the arrays, so the data
// pointers are taken, and every matrix checked to lie inside its array, by
// bind() once all arguments are read.
struct BatchOperand {
  Napi::TypedArray array;
  const char* name;
  std::int64_t rows, cols;
  bool shared;
  std::int64_t shared_offset;
  std::vector<std::int64_t> offsets;  // per element; one spare entry, so data() is never null
  std::int64_t rs, cs;
  void* data = nullptr;
  // The kernel's per-element offsets: null for the shared matrix.
  const std::int64_t* element_offsets() const { return shared ? nullptr : offsets.data(); }

  void bind(const char* op) {
    array = Napi::TypedArray(array.Env(), array);  // its length now, not when it was read
    if (shared) check_view(array, rows, cols, shared_offset, rs, cs, op, name);
    else
      for (std::size_t e = 0; e + 1 < offsets.size(); ++e) check_view(array, rows, cols, offsets[e], rs, cs, op, name);
    data = array_data(array);
  }
};

BatchOperand arg_batch_operand(const Napi::CallbackInfo& info, std::size_t i, bool f64, std::int64_t count,
                               std::int64_t rows, std::int64_t cols, const char* name) {
  constexpr const char* op = "_testGemmBatch";
  BatchOperand o{arg_matrix_array(info, i, f64, op, name), name, rows, cols, info[i + 1].IsNumber(), 0, {},
                 arg_int(info, i + 2, op, "row stride"), arg_int(info, i + 3, op, "column stride")};
  if (o.shared) {
    o.shared_offset = arg_int(info, i + 1, op, "offset");
    return o;
  }
  const Napi::Value v = info[i + 1];
  if (!v.IsArray() || v.As<Napi::Array>().Length() != static_cast<std::uint32_t>(count))
    throw_type_error(op, ": ", name, ": offsets must be one integer or an array of ", count, " integers");
  const Napi::Array list = v.As<Napi::Array>();
  for (std::uint32_t e = 0; e < static_cast<std::uint32_t>(count); ++e) {
    const Napi::Value x = list.Get(e);
    const double d = x.IsNumber() ? x.As<Napi::Number>().DoubleValue() : NAN;
    if (!is_safe_integer(d))
      throw_range_error(op, ": ", name, ": offsets must be integers, the one at index ", e, " is not");
    o.offsets.push_back(static_cast<std::int64_t>(d));
  }
  o.offsets.push_back(0);
  return o;
}

// _testGemmBatch(dtype, count, m, n, k, alpha, a, aOffsets, aRowStride, aColStride, b, ..., beta, c, ...):
// C_e = alpha·A_e·B_e + beta·C_e for e < count through the active kernel
// table's batched GEMM, in place on c's array. Each operand's offsets are
// one integer (shared by every element; exactly one of A and B should be)
// or an array of count integers; c's must be an array. Returns whether the
// kernel ran the products (false: it wrote nothing).
Napi::Value test_gemm_batch(const Napi::CallbackInfo& info) {
  constexpr const char* op = "_testGemmBatch";
  const bool f64 = arg_f64(info, 0, op);
  const std::int64_t count = arg_int(info, 1, op, "count");
  if (count < 0 || count >= (1 << 16)) throw_range_error(op, ": count must be from 0 to 2^16, got ", count);
  const std::int64_t m = arg_int(info, 2, op, "m"), n = arg_int(info, 3, op, "n"), k = arg_int(info, 4, op, "k");
  if (m < 0 || n < 0 || k < 0 || m >= (1 << 20) || n >= (1 << 20) || k >= (1 << 20))
    throw_range_error(op, ": sizes must be from 0 to 2^20, got ", m, "x", n, "x", k);
  const double alpha = arg_number(info, 5, op, "alpha");
  BatchOperand a = arg_batch_operand(info, 6, f64, count, m, k, "a");
  BatchOperand b = arg_batch_operand(info, 10, f64, count, k, n, "b");
  const double beta = arg_number(info, 14, op, "beta");
  BatchOperand c = arg_batch_operand(info, 15, f64, count, m, n, "c");
  if (c.shared) throw_type_error(op, ": c: offsets must be an array of ", count, " integers");
  // No JS runs from here on.
  for (BatchOperand* o : {&a, &b, &c}) o->bind(op);
  const kernels::KernelTable& kt = kernels::active();
  bool ran;
  if (f64) {
    ran = kt.gemm_batch_f64(count, m, n, k, alpha, static_cast<const double*>(a.data) + a.shared_offset,
                            a.element_offsets(), a.rs, a.cs, static_cast<const double*>(b.data) + b.shared_offset,
                            b.element_offsets(), b.rs, b.cs, beta, static_cast<double*>(c.data),
                            c.element_offsets(), c.rs, c.cs);
  } else {
    ran = kt.gemm_batch_f32(count, m, n, k, static_cast<float>(alpha),
                            static_cast<const float*>(a.data) + a.shared_offset, a.element_offsets(), a.rs, a.cs,
                            static_cast<const float*>(b.data) + b.shared_offset, b.element_offsets(), b.rs, b.cs,
                            static_cast<float>(beta), static_cast<float*>(c.data), c.element_offsets(), c.rs, c.cs);
  }
  return Napi::Boolean::New(info.Env(), ran);
}

// _fmaPeak(dtype, threads, seconds): GFLOP/s of independent FMA chains on the
// active ISA.
Napi::Value fma_peak(const Napi::CallbackInfo& info) {
  constexpr const char* op = "_fmaPeak";
  const bool f64 = arg_f64(info, 0, op);
  const std::int64_t threads = arg_int(info, 1, op, "threads");
  if (threads < 1 || threads > runtime::kMaxThreads) throw_range_error(op, ": threads out of range, got ", threads);
  const double seconds = arg_number(info, 2, op, "seconds");
  if (!(seconds > 0 && seconds <= 10)) throw_range_error(op, ": seconds must be in (0, 10], got ", seconds);
  return Napi::Number::New(info.Env(), kernels::measure_fma_peak(f64, static_cast<int>(threads), seconds));
}

// _timeGemm(dtype, m, n, k, layout 'nn'|'tn'|'nt'|'tt', reps): seconds of the
// fastest call.
Napi::Value time_gemm(const Napi::CallbackInfo& info) {
  constexpr const char* op = "_timeGemm";
  const bool f64 = arg_f64(info, 0, op);
  const std::int64_t m = arg_int(info, 1, op, "m"), n = arg_int(info, 2, op, "n"), k = arg_int(info, 3, op, "k");
  if (m < 1 || n < 1 || k < 1 || m > 16384 || n > 16384 || k > 16384)
    throw_range_error(op, ": sizes must be from 1 to 16384, got ", m, "x", n, "x", k);
  const std::string layout = arg_string(info, 4, op, "layout");
  kernels::GemmLayout l;
  if (layout == "nn") l = kernels::GemmLayout::NN;
  else if (layout == "tn") l = kernels::GemmLayout::TN;
  else if (layout == "nt") l = kernels::GemmLayout::NT;
  else if (layout == "tt") l = kernels::GemmLayout::TT;
  else throw_type_error(op, ": layout must be 'nn', 'tn', 'nt' or 'tt', got '", layout, "'");
  const std::int64_t reps = arg_int(info, 5, op, "reps");
  if (reps < 1 || reps > 100000) throw_range_error(op, ": reps must be from 1 to 100000, got ", reps);
  return Napi::Number::New(info.Env(), kernels::time_gemm(f64, m, n, k, l, static_cast<int>(reps)));
}

// _gemmMostBlocks(): the most tile blocks a GEMM was split into for the pool
// since the last call (0: none): kernels::most_gemm_blocks.
Napi::Value gemm_most_blocks(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(kernels::most_gemm_blocks()));
}

// _testParallelFor(n, grain, inner, throwAt): adds i + j over i in [0, n)
// split across the pool and, for each i, j in a nested region over
// [0, inner); index throwAt (or -1) throws a RangeError. Returns
// [sum, chunks, distinct threads that ran chunks].
Napi::Value test_parallel_for(const Napi::CallbackInfo& info) {
  constexpr const char* op = "_testParallelFor";
  const std::int64_t n = arg_int(info, 0, op, "n"), grain = arg_int(info, 1, op, "grain");
  const std::int64_t inner = arg_int(info, 2, op, "inner"), throw_at = arg_int(info, 3, op, "throwAt");
  if (n < 0 || n > (1 << 24) || inner < 0 || inner > (1 << 12)) throw_range_error(op, ": sizes out of range");
  std::atomic<std::int64_t> sum{0}, chunks{0};
  std::mutex mutex;
  std::set<std::thread::id> ids;
  runtime::parallel_for(0, n, grain, [&](std::int64_t b, std::int64_t e) {
    chunks.fetch_add(1);
    {
      std::lock_guard<std::mutex> lock(mutex);
      ids.insert(std::this_thread::get_id());
    }
    for (std::int64_t i = b; i < e; ++i) {
      if (i == throw_at) throw_range_error(op, ": thrown at index ", i);
      runtime::parallel_for(0, inner, 1, [&](std::int64_t jb, std::int64_t je) {
        std::int64_t local = 0;
        for (std::int64_t j = jb; j < je; ++j) local += i + j;
        sum.fetch_add(local);
      });
    }
  });
  Napi::Array out = Napi::Array::New(info.Env(), 3);
  out.Set(0u, static_cast<double>(sum.load()));
  out.Set(1u, static_cast<double>(chunks.load()));
  out.Set(2u, static_cast<double>(ids.size()));
  return out;
}

}  // namespace

void register_runtime(Napi::Env env, Napi::Object exports) {
  define<set_num_threads>(env, exports, "setNumThreads");
  define<get_num_threads>(env, exports, "getNumThreads", InTrace::Ignored);
  define<test_gemm>(env, exports, "_testGemm");
  define<test_gemm_batch>(env, exports, "_testGemmBatch");
  define<fma_peak>(env, exports, "_fmaPeak");
  define<time_gemm>(env, exports, "_timeGemm");
  define<gemm_most_blocks>(env, exports, "_gemmMostBlocks");
  define<test_parallel_for>(env, exports, "_testParallelFor");
}

}  // namespace tapegrad::binding
