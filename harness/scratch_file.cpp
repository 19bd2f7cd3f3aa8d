#include "harness/scratch_file.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "engine/util/error.h"

namespace streammoe::lab {

namespace fs = std::filesystem;

ScratchFile::ScratchFile(const char* name) {
  // Not MFD_CLOEXEC: the engine the lab starts inherits it and opens it by /proc/self/fd/N.
  fd_ = ::memfd_create(name, 0);
  if (fd_ < 0) fail("memfd_create({}): {}", name, std::strerror(errno));
}

ScratchFile::~ScratchFile() {
  if (fd_ >= 0) ::close(fd_);
}

fs::path ScratchFile::path() const { return fmt::format("/proc/self/fd/{}", fd_); }

void ScratchFile::clear() {
  if (::ftruncate(fd_, 0) != 0) fail("{}: cannot truncate: {}", path().string(), std::strerror(errno));
}

std::string ScratchFile::read() const {
  std::string text;
  char buffer[65536];
  off_t offset = 0;
  ssize_t n;
  while ((n = ::pread(fd_, buffer, sizeof buffer, offset)) > 0) {
    text.append(buffer, static_cast<size_t>(n));
    offset += n;
  }
  return text;
}

void remove_leftovers(const fs::path& dir, const std::string& tag) {
  std::error_code ec;
  const std::string marker = "." + tag + "-";
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::end(it); it.increment(ec)) {
    std::string name = it->path().filename().string();
    auto at = name.rfind(marker);
    if (at == std::string::npos) continue;
    std::string digits = name.substr(at + marker.size());
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = static_cast<pid_t>(std::stol(digits));
    if (pid == getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to judge
    std::error_code remove_error;
    fs::remove_all(it->path(), remove_error);
  }
}

}  // namespace streammoe::lab
