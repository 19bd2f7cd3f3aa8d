#pragma once
// A memory cgroup that enforces an experiment's memory budget on the engine processes: cgroup v2
// when its memory controller is available, else v1 at /sys/fs/cgroup/memory. When neither can
// be used (no permission, no controller), the budget is recorded as not enforced, with why.
#include <cstdint>
#include <filesystem>
#include <string>

namespace streammoe::lab {

struct CgroupRoots {
  std::filesystem::path v2 = "/sys/fs/cgroup";
  std::filesystem::path v1_memory = "/sys/fs/cgroup/memory";
  std::filesystem::path self = "/proc/self/cgroup";
};

class MemoryCgroup {
 public:
  // Creates <parent>/<name> with the limit, trying our own cgroup first, then the root.
  static MemoryCgroup create(uint64_t limit_bytes, const std::string& name,
                             const CgroupRoots& roots = {});
  MemoryCgroup() = default;
  ~MemoryCgroup();
  MemoryCgroup(MemoryCgroup&& other) noexcept;
  MemoryCgroup& operator=(MemoryCgroup&& other) noexcept;
  MemoryCgroup(const MemoryCgroup&) = delete;
  MemoryCgroup& operator=(const MemoryCgroup&) = delete;

  bool enforced() const { return !dir_.empty(); }
  const std::string& mechanism() const { return mechanism_; }  // cgroup-v2 | cgroup-v1 | none
  const std::string& note() const { return note_; }
  uint64_t limit_bytes() const { return limit_bytes_; }
  const std::filesystem::path& dir() const { return dir_; }
  // The file a child writes its pid to (empty when not enforced).
  std::filesystem::path procs_file() const;
  // How many processes the kernel's OOM killer has killed in this cgroup so far.
  uint64_t oom_kills() const;

 private:
  void remove();
  std::filesystem::path dir_;
  std::string mechanism_ = "none";
  std::string note_;
  uint64_t limit_bytes_ = 0;
};

}  // namespace streammoe::lab
