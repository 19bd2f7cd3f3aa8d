#pragma once
// One error type for the whole engine: a message that names the file (or tensor, or key) and the
// problem. Thrown anywhere, caught once at a command's top level, printed as one line, exit 1.
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace streammoe {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace streammoe
