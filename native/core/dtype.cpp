#include "core/dtype.h"

#include "runtime/error.h"

namespace tapegrad {

const char* dtype_name(DType d) {
  switch (d) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int32: return "int32";
  }
  return "unknown";
}

DType parse_dtype(std::string_view name, const char* op) {
  if (name == "float32") return DType::Float32;
  if (name == "float64") return DType::Float64;
  if (name == "int32") return DType::Int32;
  throw_type_error(op, ": dtype must be 'float32', 'float64' or 'int32', got '", name, "'");
}

DType promote(DType a, DType b) {
  if (a == DType::Float64 || b == DType::Float64) return DType::Float64;
  if (a == DType::Float32 || b == DType::Float32) return DType::Float32;
  return DType::Int32;
}

DType result_type(DType a, bool a_is_0d, DType b, bool b_is_0d) {
  if (a_is_0d == b_is_0d) return promote(a, b);
  const DType dimensioned = a_is_0d ? b : a, zero_d = a_is_0d ? a : b;
  // A higher category (floating over integer) is the only way a 0-d operand
  // decides; within a category the dimensioned operand keeps its dtype.
  return is_floating(zero_d) && !is_floating(dimensioned) ? zero_d : dimensioned;
}

}  // namespace tapegrad
