// Errors thrown by the core. The binding turns each kind into the matching
// JavaScript error class; messages name the op, the argument, what was
// expected and what was given.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace tapegrad {

enum class ErrorKind { Type, Range, Tapegrad };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message) : std::runtime_error(std::move(message)), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
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
