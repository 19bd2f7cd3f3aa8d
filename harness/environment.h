#pragma once
// The machine and build a measurement was taken on, stored with every session of an
// experiment: git commit (+ dirty flag), compiler and flags, CPU, kernel, disk, memory, cache
// state and whether the memory budget was enforced.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace streammoe::lab {

struct Environment {
  std::string captured_at;
  std::string git_commit;
  bool git_dirty = false;
  std::string compiler;
  std::string build_type;
  std::string build_flags;
  std::string engine_path;
  std::string cpu_model;
  std::string cpu_flags;
  int cpu_cores = 0;
  std::string kernel;
  std::string hostname;
  std::string disk;
  double memory_total_mb = 0;
  std::string cache_state;
  bool drop_caches = false;
  std::optional<uint64_t> budget_bytes;
  bool budget_enforced = false;
  std::string budget_mechanism = "none";
  std::string budget_note;
  std::string load_average;  // "1.02 0.87 0.55" (1, 5, 15 minutes)
};

// The 1-minute load average (NaN when unknown).
double load_average_1m();

// Reads what the machine says; `source_dir` is the git work tree, `data_path` a model file or
// folder whose disk is described.
Environment capture_environment(const std::filesystem::path& source_dir,
                                const std::filesystem::path& data_path);

// The block device holding `path`: "vda (model, rotational=0)", or "" when unknown.
std::string describe_disk(const std::filesystem::path& path);

}  // namespace streammoe::lab
