// Errors thrown by the core. The binding turns each kind into the matching
// JavaScript error class; messages name the op, the argument, what was
// expected and what was given.
#pragma once

#include <charconv>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace tapegrad {

// A number as JavaScript prints it: the shortest digits that read back as
// the same float or double, NaN, Infinity. (A stream's default six digits
// printed float32 1.0000001 as 1.)
template <typename F>
std::string number_text(F x) {
  static_assert(std::is_floating_point_v<F>);
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  char buf[40];
  const auto result = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, result.ptr);
}

enum class ErrorKind { Type, Range, Tapegrad };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message) : std::runtime_error(std::move(message)), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

namespace detail {
template <typename Part>
void put(std::ostringstream& out, const Part& part) {
  if constexpr (std::is_floating_point_v<Part>) out << number_text(part);
  else out << part;
}
}  // namespace detail

// The parts written one after another; floating-point numbers as
// number_text writes them.
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (detail::put(out, parts), ...);
  return out.str();
}

// Wrong type or dtype of an argument.
template <typename... Parts>
[[noreturn]] void throw_type_error(const Parts&... parts) {
  throw Error(ErrorKind::Type, concat(parts...));
}

// A value outside its allowed range: dims, indices, sizes, shapes.
template <typename... Parts>
[[noreturn]] void throw_range_error(const Parts&... parts) {
  throw Error(ErrorKind::Range, concat(parts...));
}

// Misuse of the library's state: autograd errors, disposed tensors.
template <typename... Parts>
[[noreturn]] void throw_error(const Parts&... parts) {
  throw Error(ErrorKind::Tapegrad, concat(parts...));
}

}  // namespace tapegrad
