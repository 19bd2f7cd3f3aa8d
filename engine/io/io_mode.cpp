#include "engine/io/io_mode.h"

#include <array>
#include <utility>

namespace streammoe {
namespace {

constexpr std::array<std::pair<IoMode, std::string_view>, 5> kModes = {{
    {IoMode::kPread, "pread"},
    {IoMode::kDirect, "direct"},
    {IoMode::kDontneed, "dontneed"},
    {IoMode::kMmap, "mmap"},
    {IoMode::kUring, "uring"},
}};

}  // namespace

std::string_view io_mode_name(IoMode mode) {
  for (const auto& [m, name] : kModes)
    if (m == mode) return name;
  return "unknown";
}

bool parse_io_mode(std::string_view name, IoMode* out) {
  for (const auto& [m, text] : kModes) {
    if (text == name) {
      *out = m;
      return true;
    }
  }
  return false;
}

}  // namespace streammoe
