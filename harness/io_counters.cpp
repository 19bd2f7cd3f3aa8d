#include "harness/io_counters.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace streammoe::lab {

namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

}  // namespace

std::optional<uint64_t> stat_read_bytes(const std::string& text) {
  std::istringstream fields(text);
  uint64_t reads = 0, merged = 0, sectors = 0;
  if (!(fields >> reads >> merged >> sectors)) return std::nullopt;
  return sectors * 512;
}

std::optional<uint64_t> io_stat_read_bytes(const std::string& text, const std::string& device) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string first;
    if (!(words >> first) || first != device) continue;
    for (std::string word; words >> word;)
      if (word.rfind("rbytes=", 0) == 0) return std::stoull(word.substr(7));
  }
  return std::nullopt;
}

std::optional<DiskReadCounter> DiskReadCounter::for_path(const fs::path& path, const fs::path& cgroup_dir,
                                                         const fs::path& sys_root) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || major(st.st_dev) == 0) return std::nullopt;
  std::error_code ec;
  fs::path device = fs::canonical(sys_root / fmt::format("dev/block/{}:{}", major(st.st_dev),
                                                        minor(st.st_dev)), ec);
  if (ec) return std::nullopt;
  // A partition's counters are its own; io.stat names the whole disk.
  fs::path disk = fs::exists(device / "partition") ? device.parent_path() : device;
  DiskReadCounter counter;
  counter.device_ = trim(read_text(disk / "dev"));
  if (!cgroup_dir.empty() && fs::exists(cgroup_dir / "io.stat") && !counter.device_.empty()) {
    counter.stat_file_ = cgroup_dir / "io.stat";
    counter.cgroup_ = true;
    counter.source_ = "cgroup io.stat " + counter.device_;
    return counter;
  }
  if (!fs::exists(device / "stat")) return std::nullopt;
  counter.stat_file_ = device / "stat";
  counter.source_ = device.filename().string() + " stat";
  return counter;
}

std::optional<uint64_t> DiskReadCounter::read_bytes() const {
  std::string text = read_text(stat_file_);
  // A cgroup that has read nothing yet has no line for the device: zero, not unknown.
  if (cgroup_) return io_stat_read_bytes(text, device_).value_or(0);
  return stat_read_bytes(text);
}

}  // namespace streammoe::lab
