#include "harness/experiment_lock.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "engine/util/error.h"
#include "harness/hash.h"

namespace streammoe::lab {

namespace fs = std::filesystem;

fs::path ExperimentLock::lock_file(const fs::path& database) {
  fs::path lock = database;
  lock += ".lock";
  return lock;
}

std::optional<ExperimentLock> ExperimentLock::try_lock(const fs::path& database,
                                                       const std::string& experiment) {
  fs::path path = lock_file(database);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) fail("{}: cannot open the experiment lock file: {}", path.string(), std::strerror(errno));
  ExperimentLock lock(fd);
  struct flock range {};
  range.l_type = F_WRLCK;
  range.l_whence = SEEK_SET;
  // One byte per experiment name, far past the (empty) file's end: the file never grows.
  range.l_start = static_cast<off_t>(StableHash().add(experiment).value() & ((uint64_t{1} << 40) - 1));
  range.l_len = 1;
  if (::fcntl(fd, F_OFD_SETLK, &range) == 0) return lock;
  if (errno == EAGAIN || errno == EACCES) return std::nullopt;
  fail("{}: cannot lock experiment '{}': {}", path.string(), experiment, std::strerror(errno));
}

ExperimentLock::ExperimentLock(ExperimentLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

ExperimentLock& ExperimentLock::operator=(ExperimentLock&& other) noexcept {
  std::swap(fd_, other.fd_);
  return *this;
}

ExperimentLock::~ExperimentLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the description releases its lock
}

}  // namespace streammoe::lab
