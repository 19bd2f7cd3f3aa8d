#pragma once
// How many bytes a run really read from the model's disk: the block device's read counter
// (sectors read, /sys/dev/block/MAJ:MIN/stat) or, when the run's memory cgroup is a cgroup v2
// one with the io controller, its io.stat rbytes for that device (which counts the engine alone,
// not the rest of the machine). Read before and after a run; the difference is stored with it.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace streammoe::lab {

class DiskReadCounter {
 public:
  // The counter of the disk holding `path`; cgroup_dir's io.stat is preferred when it has a line
  // for that disk. nullopt when the path is on no block device (tmpfs, overlay without one).
  static std::optional<DiskReadCounter> for_path(const std::filesystem::path& path,
                                                 const std::filesystem::path& cgroup_dir = {},
                                                 const std::filesystem::path& sys_root = "/sys");
  std::optional<uint64_t> read_bytes() const;  // bytes read so far
  const std::string& source() const { return source_; }  // "vda stat" | "cgroup io.stat 253:0"

 private:
  std::filesystem::path stat_file_;  // /sys/dev/block/M:m/stat, or the cgroup's io.stat
  bool cgroup_ = false;
  std::string device_;  // "253:0" (the whole disk)
  std::string source_;
};

// Parsers, exposed for tests: bytes read in a block device stat line (field 3 is sectors read,
// in 512-byte units whatever the device's sector size), and the rbytes of one device in io.stat.
std::optional<uint64_t> stat_read_bytes(const std::string& stat_text);
std::optional<uint64_t> io_stat_read_bytes(const std::string& io_stat_text, const std::string& device);

}  // namespace streammoe::lab
