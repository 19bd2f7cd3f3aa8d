#include "harness/cgroup.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

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

// Writes without creating: a control file that does not exist is a failure, not a new file.
bool write_control(const fs::path& path, const std::string& value, std::string& error) {
  if (!fs::exists(path)) {
    error = fmt::format("{}: no such control file", path.string());
    return false;
  }
  std::ofstream out(path);
  out << value;
  out.flush();
  if (!out) {
    error = fmt::format("{}: write '{}' failed: {}", path.string(), value, std::strerror(errno));
    return false;
  }
  return true;
}

// Our cgroup path for a hierarchy: "0::/a/b" (v2) or "4:memory:/a/b" (v1).
std::string self_path(const fs::path& self_file, bool v2) {
  std::istringstream lines(read_text(self_file));
  for (std::string line; std::getline(lines, line);) {
    auto first = line.find(':');
    auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    std::string id = line.substr(0, first);
    std::string controllers = line.substr(first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    if (v2 && id == "0" && controllers.empty()) return path;
    if (!v2) {
      std::istringstream list(controllers);
      for (std::string c; std::getline(list, c, ',');)
        if (c == "memory") return path;
    }
  }
  return "/";
}

uint64_t counter(const fs::path& file, const std::string& key) {
  std::istringstream lines(read_text(file));
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string name;
    uint64_t value = 0;
    if (fields >> name >> value && name == key) return value;
  }
  return 0;
}

}  // namespace

MemoryCgroup MemoryCgroup::create(uint64_t limit_bytes, const std::string& name,
                                  const CgroupRoots& roots) {
  MemoryCgroup group;
  group.limit_bytes_ = limit_bytes;
  std::vector<std::string> problems;
  std::string limit = std::to_string(limit_bytes);

  auto try_dir = [&](const fs::path& parent, bool v2) -> bool {
    fs::path dir = parent / name;
    std::error_code ec;
    if (!fs::is_directory(parent, ec)) return false;
    if (v2) {
      // The parent must hand the memory controller down to its children.
      std::string controllers = read_text(parent / "cgroup.subtree_control");
      if (controllers.find("memory") == std::string::npos) {
        std::string error;
        if (!write_control(parent / "cgroup.subtree_control", "+memory", error)) {
          problems.push_back(error);
          return false;
        }
      }
    }
    if (!fs::create_directory(dir, ec) && !fs::is_directory(dir)) {
      problems.push_back(fmt::format("mkdir {}: {}", dir.string(), ec.message()));
      return false;
    }
    std::string error;
    bool ok = v2 ? write_control(dir / "memory.max", limit, error)
                 : write_control(dir / "memory.limit_in_bytes", limit, error);
    if (ok) {
      std::string ignored;
      if (v2) {
        write_control(dir / "memory.swap.max", "0", ignored);  // swap would hide the budget
        write_control(dir / "memory.oom.group", "1", ignored);
      } else {
        write_control(dir / "memory.memsw.limit_in_bytes", limit, ignored);
      }
      group.dir_ = dir;
      group.mechanism_ = v2 ? "cgroup-v2" : "cgroup-v1";
      group.note_ = fmt::format("{} at {}", group.mechanism_, dir.string());
      return true;
    }
    problems.push_back(error);
    fs::remove(dir, ec);
    return false;
  };

  std::string v2_controllers = read_text(roots.v2 / "cgroup.controllers");
  if (v2_controllers.find("memory") != std::string::npos) {
    std::string own = self_path(roots.self, true);
    if (own != "/" && try_dir(roots.v2 / own.substr(1), true)) return group;
    if (try_dir(roots.v2, true)) return group;
  } else if (fs::exists(roots.v1_memory / "memory.limit_in_bytes")) {
    std::string own = self_path(roots.self, false);
    if (own != "/" && try_dir(roots.v1_memory / own.substr(1), false)) return group;
    if (try_dir(roots.v1_memory, false)) return group;
  } else {
    problems.push_back("no cgroup v2 memory controller and no v1 memory hierarchy");
  }
  std::string joined;
  for (const auto& p : problems) joined += (joined.empty() ? "" : "; ") + p;
  group.note_ = "not enforced: " + joined;
  return group;
}

MemoryCgroup::~MemoryCgroup() { remove(); }

MemoryCgroup::MemoryCgroup(MemoryCgroup&& other) noexcept
    : dir_(std::move(other.dir_)),
      mechanism_(std::move(other.mechanism_)),
      note_(std::move(other.note_)),
      limit_bytes_(other.limit_bytes_) {
  other.dir_.clear();
}

MemoryCgroup& MemoryCgroup::operator=(MemoryCgroup&& other) noexcept {
  if (this != &other) {
    remove();
    dir_ = std::move(other.dir_);
    mechanism_ = std::move(other.mechanism_);
    note_ = std::move(other.note_);
    limit_bytes_ = other.limit_bytes_;
    other.dir_.clear();
  }
  return *this;
}

void MemoryCgroup::remove() {
  if (dir_.empty()) return;
  // rmdir works once the cgroup has no processes; our children have all been reaped.
  ::rmdir(dir_.c_str());
  dir_.clear();
}

fs::path MemoryCgroup::procs_file() const {
  return dir_.empty() ? fs::path() : dir_ / "cgroup.procs";
}

uint64_t MemoryCgroup::oom_kills() const {
  if (dir_.empty()) return 0;
  if (mechanism_ == "cgroup-v2") return counter(dir_ / "memory.events", "oom_kill");
  return counter(dir_ / "memory.oom_control", "oom_kill");
}

}  // namespace streammoe::lab
