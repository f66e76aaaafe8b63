#include "ops/factory.h"

#include <cmath>
#include <limits>
#include <optional>
#include <type_traits>
#include <vector>

#include "core/random.h"
#include "ops/elementwise.h"
#include "runtime/error.h"
#include "runtime/parallel.h"

namespace tapegrad::ops {

namespace {

template <typename Fill>
Tensor generate(const Shape& shape, DType dtype, const char* op, Fill&& fill) {
  Tensor t = empty(shape, dtype, op);
  visit_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    fill(t.data<T>(), t.numel());
  });
  return t;
}

void check_int32_value(double v, const char* op, const char* arg) {
  if (!(v >= -2147483648.0 && v <= 2147483647.0))
    throw_range_error(op, ": ", arg, " ", v, " does not fit in int32");
}

}  // namespace

Tensor full(const Shape& shape, double value, DType dtype, const char* op) {
  if (dtype == DType::Int32) check_int32_value(value, op, "value");
  return generate(shape, dtype, op, [&](auto* p, std::int64_t n) {
    using T = std::remove_pointer_t<decltype(p)>;
    const T v = static_cast<T>(value);
    // Split across the pool: large fills (a gradient's zeros) are bound by
    // the first touch of fresh pages as much as by bandwidth.
    runtime::parallel_for(0, n, runtime::kElementwiseGrain, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) p[i] = v;
    });
  });
}

Tensor from_data(const void* src, DType src_dtype, std::int64_t n, const Shape& shape, DType dtype, const char* op) {
  const std::int64_t expected = checked_numel(shape, op);
  if (n != expected)
    throw_range_error(op, ": data has ", n, " elements but shape ", shape_str(shape), " needs ", expected);
  // Floats into int32 truncate toward zero, as torch.tensor([1.7], dtype=torch.int32);
  // cast refuses what int32 cannot hold, naming the element (PyTorch names neither).
  if (dtype == DType::Int32 && src_dtype != DType::Int32)
    return cast(from_data(src, src_dtype, n, shape, src_dtype, op), DType::Int32, op);
  Tensor t = empty(shape, dtype, op);
  visit_dtype(src_dtype, [&](auto src_tag) {
    using S = decltype(src_tag);
    const S* s = static_cast<const S*>(src);
    visit_dtype(dtype, [&](auto dst_tag) {
      using D = decltype(dst_tag);
      D* d = t.data<D>();
      for (std::int64_t i = 0; i < n; ++i) d[i] = static_cast<D>(s[i]);
    });
  });
  return t;
}

Tensor arange(double start, double end, double step, std::optional<DType> dtype_arg) {
  if (!std::isfinite(start) || !std::isfinite(end) || !std::isfinite(step))
    throw_range_error("arange: start, end and step must be finite, got ", start, ", ", end, ", ", step);
  if (step == 0) throw_range_error("arange: step must be non-zero");
  if ((end - start) / step < 0)
    throw_range_error("arange: step ", step, " goes away from end (start ", start, ", end ", end, ")");
  const double count = std::ceil((end - start) / step);
  if (count > 1e15) throw_range_error("arange: too many elements (", count, ")");
  const auto whole = [](double v) { return std::trunc(v) == v; };
  const DType dtype = dtype_arg.value_or(whole(start) && whole(end) && whole(step) ? DType::Int32 : DType::Float32);
  if (dtype == DType::Int32 && count > 0) {
    // The values run from start to the last one, start + step·(count - 1),
    // which end only bounds: name the one int32 cannot hold, and whether
    // int32 was asked for or chosen here (PyTorch would choose int64).
    const double last = start + step * (count - 1);
    const bool first_fits = start >= -2147483648.0 && start <= 2147483647.0;
    if (!first_fits || !(last >= -2147483648.0 && last <= 2147483647.0))
      throw_range_error("arange: ",
                        dtype_arg ? "an int32 tensor" : "integer start, end and step make an int32 tensor, which",
                        " cannot hold its ", first_fits ? "last" : "first", " value ", first_fits ? last : start,
                        " (int32 holds [-2147483648, 2147483647]); pass { dtype: 'float64' }");
  }
  return generate({static_cast<std::int64_t>(count)}, dtype, "arange", [&](auto* p, std::int64_t n) {
    using T = std::remove_pointer_t<decltype(p)>;
    for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + step * static_cast<double>(i));
  });
}

Tensor linspace(double start, double end, std::int64_t steps, DType dtype) {
  if (!std::isfinite(start) || !std::isfinite(end))
    throw_range_error("linspace: start and end must be finite, got ", start, " and ", end);
  if (steps < 0) throw_range_error("linspace: steps must be non-negative, got ", steps);
  if (dtype == DType::Float32 && (std::fabs(start) > std::numeric_limits<float>::max() ||
                                  std::fabs(end) > std::numeric_limits<float>::max()))
    throw_range_error("linspace: start and end must fit in float32, got ", start, " and ", end);
  if (dtype == DType::Int32) {
    check_int32_value(std::trunc(start), "linspace", "start");
    check_int32_value(std::trunc(end), "linspace", "end");
  }
  return generate({steps}, dtype, "linspace", [&](auto* p, std::int64_t n) {
    using T = std::remove_pointer_t<decltype(p)>;
    // Floats compute in their own dtype, int32 in double, as PyTorch does.
    using S = std::conditional_t<std::is_floating_point_v<T>, T, double>;
    const S first = static_cast<T>(start), last = static_cast<T>(end);
    const S step = n > 1 ? (last - first) / static_cast<S>(n - 1) : S(0);
    if (!std::isfinite(step))
      throw_range_error("linspace: the distance from start ", start, " to end ", end, " overflows ", dtype_name(dtype));
    const std::int64_t half = n == 1 ? 1 : n / 2;  // one value: start
    for (std::int64_t i = 0; i < n; ++i)
      p[i] = static_cast<T>(i < half ? std::fma(step, static_cast<S>(i), first)
                                     : std::fma(-step, static_cast<S>(n - 1 - i), last));
  });
}

Tensor eye(std::int64_t n, std::int64_t m, DType dtype) {
  Tensor t = full({n, m}, 0.0, dtype, "eye");
  visit_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    for (std::int64_t i = 0; i < std::min(n, m); ++i) p[i * m + i] = T(1);
  });
  return t;
}

Tensor rand(const Shape& shape, DType dtype) {
  if (!is_floating(dtype)) throw_type_error("rand: dtype must be float32 or float64, got ", dtype_name(dtype));
  return generate(shape, dtype, "rand", [&](auto* p, std::int64_t n) {
    using T = std::remove_pointer_t<decltype(p)>;
    std::vector<double> u(static_cast<std::size_t>(n));
    random_uniform(u.data(), n);
    for (std::int64_t i = 0; i < n; ++i) {
      T v = static_cast<T>(u[i]);
      p[i] = v < T(1) ? v : std::nextafter(T(1), T(0));  // rounding must not reach 1
    }
  });
}

Tensor randn(const Shape& shape, DType dtype) {
  if (!is_floating(dtype)) throw_type_error("randn: dtype must be float32 or float64, got ", dtype_name(dtype));
  return generate(shape, dtype, "randn", [&](auto* p, std::int64_t n) {
    using T = std::remove_pointer_t<decltype(p)>;
    std::vector<double> z(static_cast<std::size_t>(n));
    random_normal(z.data(), n);
    for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(z[i]);
  });
}

Tensor randint(std::int64_t low, std::int64_t high, const Shape& shape, DType dtype) {
  if (high <= low) throw_range_error("randint: high must be greater than low, got low ", low, " and high ", high);
  if (dtype == DType::Int32) {
    check_int32_value(static_cast<double>(low), "randint", "low");
    check_int32_value(static_cast<double>(high - 1), "randint", "high");
  }
  return generate(shape, dtype, "randint", [&](auto* p, std::int64_t n) {
    using T = std::remove_pointer_t<decltype(p)>;
    std::vector<std::int64_t> v(static_cast<std::size_t>(n));
    random_integers(v.data(), n, low, high);
    for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(v[i]);
  });
}

}  // namespace tapegrad::ops
