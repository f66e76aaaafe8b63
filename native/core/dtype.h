#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tapegrad {

enum class DType : std::uint8_t { Float32, Float64, Int32 };

constexpr std::size_t dtype_size(DType d) { return d == DType::Float64 ? 8 : 4; }
constexpr bool is_floating(DType d) { return d != DType::Int32; }
const char* dtype_name(DType d);
// Parses "float32" | "float64" | "int32"; throws a TypeError naming `op`.
DType parse_dtype(std::string_view name, const char* op);

// PyTorch's promotion for tensor-tensor ops: float64 > float32 > int32.
DType promote(DType a, DType b);
// The dtype of a binary op's result, as torch.result_type: dimensioned
// operands decide; a 0-d operand (a JS number is one) counts only when it is
// floating and the dimensioned operand is int32. Two 0-d or two dimensioned
// operands promote as promote() does.
DType result_type(DType a, bool a_is_0d, DType b, bool b_is_0d);

template <typename T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };
template <> struct dtype_of<std::int32_t> { static constexpr DType value = DType::Int32; };

// Calls fn with a value of the C++ type for `d`: visit_dtype(d, [&](auto tag) { using T = decltype(tag); ... }).
template <typename Fn>
decltype(auto) visit_dtype(DType d, Fn&& fn) {
  switch (d) {
    case DType::Float32: return fn(float{});
    case DType::Float64: return fn(double{});
    default: return fn(std::int32_t{});
  }
}

// As visit_dtype, for ops defined on floating dtypes only (the caller checks).
template <typename Fn>
decltype(auto) visit_floating(DType d, Fn&& fn) {
  if (d == DType::Float64) return fn(double{});
  return fn(float{});
}

}  // namespace tapegrad
