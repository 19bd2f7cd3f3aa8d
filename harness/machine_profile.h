#pragma once
// The machine's roofline, measured by the lab once per session and stored with every
// environment row: the disk's random-read rate at the engine's read size (one expert record)
// with K reads in flight (O_DIRECT, so the page cache is bypassed), and the RAM read rate (one
// thread and all cores). A measurement takes about two seconds; it is cached in a small JSON
// file keyed on the boot id, the block device, the read size and K, and reused for
// `max_age_s`, so repeated lab invocations in one boot do not measure again.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/model_files.h"

namespace streammoe::lab {

struct MachineProfile {
  std::string boot_id;
  std::string device;  // "vda", or "dev 8:1" when sysfs does not name it
  uint64_t block_bytes = 0;
  int queue_depth = 0;
  double disk_rand_gbps = 0;   // NaN when the files could not be read with O_DIRECT
  double ram_read_gbps = 0;    // all cores
  double ram_read_gbps_1t = 0;
  std::string probe;           // what was read: "4 model files (1.2 GB)" | "scratch file ..."
  std::string measured_at;     // ISO 8601 UTC
  int64_t measured_epoch_s = 0;
  double seconds = 0;          // what the measurement took
  bool reused = false;         // came from the cache, not measured now
  std::string note;            // why a figure is missing, if one is

  nlohmann::json to_json() const;
  static std::optional<MachineProfile> from_json(const nlohmann::json& j);
};

struct ProfileRequest {
  std::vector<std::filesystem::path> files;  // the model's expert files
  uint64_t block_bytes = 1 << 20;            // one expert record (rounded up to 4 KiB)
  int queue_depth = 8;                       // K reads in flight
  double disk_seconds = 1.0;
  uint64_t ram_bytes = 256ull << 20;
  // When the files hold fewer bytes than this, a scratch file of this size on the same file
  // system is read instead: a tiny model would otherwise be read from the disk's own cache.
  uint64_t min_probe_bytes = 128ull << 20;
};

// What to probe for a model: its expert files at its record size and K (1 MiB and 8 when the
// folder does not say).
ProfileRequest profile_request(const ExpertFiles& experts);

// Random O_DIRECT reads of `block_bytes` at 4 KiB-aligned offsets of `files`, `queue_depth`
// threads with one read in flight each, for `seconds`. GB/s; NaN with `note` set when the files
// cannot be opened with O_DIRECT (tmpfs, some overlay file systems).
double disk_random_read_gbps(const std::vector<std::filesystem::path>& files, uint64_t block_bytes,
                             int queue_depth, double seconds, std::string& note);
// Sequential reads of a `bytes` buffer by `threads` threads; the best of `passes`. GB/s.
double ram_read_gbps(uint64_t bytes, int threads, int passes = 3);

// Measures now.
MachineProfile measure_machine(const ProfileRequest& request);

// The cached profile for this boot, device, block size and depth when it is younger than
// `max_age_s`; otherwise measures and adds it to the cache. `force` always measures.
MachineProfile machine_profile(const ProfileRequest& request,
                               const std::filesystem::path& cache_file, bool force = false,
                               double max_age_s = 12 * 3600);

// $XDG_CACHE_HOME/streammoe-lab/machine-profiles.json (or ~/.cache/..., or the temp folder).
std::filesystem::path default_profile_cache();

// This boot's id (/proc/sys/kernel/random/boot_id); "" when unknown.
std::string boot_id();
// The block device a file lives on, as sysfs names it ("vda"; "dev 253:1" when not named).
std::string block_device(const std::filesystem::path& path);

}  // namespace streammoe::lab
