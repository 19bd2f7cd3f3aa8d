#include "engine/util/output_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "engine/util/error.h"

namespace streammoe {
namespace {

constexpr size_t kBufferBytes = size_t{1} << 16;

}  // namespace

OutputFile::OutputFile(std::filesystem::path path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("{}: cannot open for writing: {}", path_.string(), std::strerror(errno));
}

OutputFile::OutputFile(OutputFile&& other) noexcept
    : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)), buffer_(std::move(other.buffer_)) {}

OutputFile::~OutputFile() {
  if (fd_ < 0) return;
  try {
    write_through(buffer_);
  } catch (const Error&) {
    // Reported by close(), which this path did not reach.
  }
  ::close(fd_);
}

void OutputFile::write(std::string_view bytes) {
  if (fd_ < 0) fail("{}: write after close", path_.string());
  if (buffer_.size() + bytes.size() > kBufferBytes) {
    flush();
    if (bytes.size() >= kBufferBytes) return write_through(bytes);
  }
  buffer_.append(bytes);
}

void OutputFile::write_through(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("{}: write failed: {}", path_.string(), n < 0 ? std::strerror(errno) : "no progress");
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

void OutputFile::write_at(uint64_t offset, std::string_view bytes) {
  flush();
  while (!bytes.empty()) {
    const ssize_t n = ::pwrite(fd_, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      fail("{}: write at offset {} failed: {}", path_.string(), offset, n < 0 ? std::strerror(errno) : "no progress");
    bytes.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
}

void OutputFile::flush(bool durable) {
  if (fd_ < 0) fail("{}: flush after close", path_.string());
  write_through(buffer_);
  buffer_.clear();
  // fsync is refused on pipes and character devices (EINVAL): those have nothing to make durable.
  if (durable && ::fsync(fd_) != 0 && errno != EINVAL)
    fail("{}: fsync failed: {}", path_.string(), std::strerror(errno));
}

void OutputFile::close(bool durable) {
  flush(durable);
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) fail("{}: close failed: {}", path_.string(), std::strerror(errno));
}

void write_file(const std::filesystem::path& path, std::string_view text) {
  OutputFile out(path);
  out.write(text);
  out.close();
}

}  // namespace streammoe
