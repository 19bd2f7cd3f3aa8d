#pragma once
// The message of the streammoe::Error a call throws; "(no error)" when it returns. Shared by the
// tests of every bad-input path.
#include <string>

#include "engine/util/error.h"

namespace streammoe::testing {

template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace streammoe::testing
