#include "harness/cache_control.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

namespace streammoe::lab {

namespace fs = std::filesystem;

namespace {

// Regular files under path (the path itself when it is one).
std::vector<fs::path> files_under(const fs::path& path) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return {path};
  for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::end(it);
       it.increment(ec))
    if (it->is_regular_file(ec)) out.push_back(it->path());
  return out;
}

// A read-only descriptor that closes itself.
struct Fd {
  int fd;
  explicit Fd(const fs::path& p) : fd(open(p.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

}  // namespace

bool drop_system_caches(std::string& why_not, const fs::path& control) {
  if (geteuid() != 0) {
    why_not = "drop_caches needs root";
    return false;
  }
  sync();
  int fd = open(control.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    why_not = fmt::format("{}: {}", control.string(), std::strerror(errno));
    return false;
  }
  bool ok = write(fd, "3", 1) == 1;
  if (!ok) why_not = fmt::format("{}: {}", control.string(), std::strerror(errno));
  close(fd);
  return ok;
}

CacheReport evict_files(const fs::path& path, bool drop_caches_too) {
  CacheReport report;
  for (const auto& file : files_under(path)) {
    Fd f(file);
    if (f.fd < 0) {
      report.note = fmt::format("{}: {}", file.string(), std::strerror(errno));
      continue;
    }
    // Dirty pages cannot be dropped; model files are read-only, but be sure.
    fdatasync(f.fd);
    if (posix_fadvise(f.fd, 0, 0, POSIX_FADV_DONTNEED) != 0) {
      report.note = fmt::format("{}: posix_fadvise(DONTNEED) refused", file.string());
      continue;
    }
    struct stat st {};
    if (fstat(f.fd, &st) == 0) report.bytes += static_cast<uint64_t>(st.st_size);
    ++report.files;
  }
  if (drop_caches_too) {
    std::string why_not;
    report.dropped_all = drop_system_caches(why_not);
    if (!report.dropped_all) report.note = why_not;
  }
  return report;
}

CacheReport warm_files(const fs::path& path) {
  CacheReport report;
  std::vector<char> buffer(1 << 20);
  for (const auto& file : files_under(path)) {
    Fd f(file);
    if (f.fd < 0) {
      report.note = fmt::format("{}: {}", file.string(), std::strerror(errno));
      continue;
    }
    posix_fadvise(f.fd, 0, 0, POSIX_FADV_WILLNEED);
    ssize_t n;
    while ((n = read(f.fd, buffer.data(), buffer.size())) > 0) report.bytes += n;
    ++report.files;
  }
  return report;
}

double resident_fraction(const fs::path& file) {
  Fd f(file);
  if (f.fd < 0) return -1;
  struct stat st {};
  if (fstat(f.fd, &st) != 0) return -1;
  if (st.st_size == 0) return 1.0;
  void* map = mmap(nullptr, st.st_size, PROT_READ, MAP_SHARED, f.fd, 0);
  if (map == MAP_FAILED) return -1;
  long page = sysconf(_SC_PAGESIZE);
  size_t pages = (static_cast<size_t>(st.st_size) + page - 1) / page;
  std::vector<unsigned char> resident(pages);
  double fraction = -1;
  if (mincore(map, st.st_size, resident.data()) == 0) {
    size_t in_core = 0;
    for (unsigned char r : resident) in_core += r & 1;
    fraction = static_cast<double>(in_core) / static_cast<double>(pages);
  }
  munmap(map, st.st_size);
  return fraction;
}

double resident_fraction(const std::vector<fs::path>& files) {
  double resident = 0, total = 0;
  for (const auto& f : files) {
    std::error_code ec;
    auto size = fs::file_size(f, ec);
    if (ec || size == 0) continue;
    double fraction = resident_fraction(f);
    if (fraction < 0) continue;
    resident += fraction * static_cast<double>(size);
    total += static_cast<double>(size);
  }
  return total > 0 ? resident / total : -1;
}

}  // namespace streammoe::lab
