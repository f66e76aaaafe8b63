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
// the same float or double, NaN, Infinity; plain digits from 1e-6 up to
// 1e21 (9000000000, not 9e+09), else an exponent without leading zeros
// (1e-7, 1e+21). (A stream's default six digits printed float32 1.0000001 as 1.)
template <typename F>
std::string number_text(F x) {
  static_assert(std::is_floating_point_v<F>);
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  if (x == 0) return "0";  // -0 too, as String(-0)
  const bool plain = std::fabs(x) >= F(1e-6) && std::fabs(x) < F(1e21);
  char buf[48];
  const auto result =
      std::to_chars(buf, buf + sizeof buf, x, plain ? std::chars_format::fixed : std::chars_format::scientific);
  std::string text(buf, result.ptr);
  if (!plain) {
    const std::size_t sign = text.find('e') + 1;  // "1e-07" -> "1e-7"
    const std::size_t digits = sign + 1;
    while (text.size() > digits + 1 && text[digits] == '0') text.erase(digits, 1);
  }
  return text;
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
