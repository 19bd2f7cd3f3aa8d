#pragma once
// Page-cache state of the model files before a run: cold (every file evicted with
// posix_fadvise(DONTNEED), plus /proc/sys/vm/drop_caches when root and asked) or warm (every file
// read once so it is resident). mincore() measures what is actually resident, for the record
// and for tests.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace streammoe::lab {

struct CacheReport {
  int files = 0;
  uint64_t bytes = 0;
  bool dropped_all = false;  // drop_caches was written
  std::string note;          // what could not be done, if anything
};

// Evicts every regular file under `path` (a file or a folder, recursively).
CacheReport evict_files(const std::filesystem::path& path, bool drop_caches_too);
// Reads every regular file under `path` so it sits in the page cache.
CacheReport warm_files(const std::filesystem::path& path);
// Fraction (0..1) of the file's pages resident in the page cache; -1 when it cannot be told.
double resident_fraction(const std::filesystem::path& file);
// The same over several files, weighted by their sizes; -1 when none can be told.
double resident_fraction(const std::vector<std::filesystem::path>& files);
// sync + echo 3 > /proc/sys/vm/drop_caches; false (with the reason) when not root or refused.
// Tests pass another file: dropping every cache of a shared machine is not a unit test.
bool drop_system_caches(std::string& why_not,
                        const std::filesystem::path& control = "/proc/sys/vm/drop_caches");

}  // namespace streammoe::lab
