#include "engine/io/expert_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/util/error.h"

namespace streammoe {

ExpertFile::ExpertFile(const std::filesystem::path& path, IoMode mode) : path_(path), mode_(mode) {
  int flags = O_RDONLY | O_CLOEXEC;
  if (mode == IoMode::kDirect) flags |= O_DIRECT;
  fd_ = ::open(path.c_str(), flags);
  if (fd_ < 0) {
    const int err = errno;
    if (mode == IoMode::kDirect && err == EINVAL)
      fail("{}: the filesystem refuses O_DIRECT (use --io pread)", path.string());
    fail("{}: cannot open: {}", path.string(), std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int err = errno;
    ::close(fd_);
    fail("{}: cannot stat: {}", path.string(), std::strerror(err));
  }
  size_ = static_cast<uint64_t>(st.st_size);
}

ExpertFile::~ExpertFile() {
  if (fd_ >= 0) ::close(fd_);
}

ExpertFile::ExpertFile(ExpertFile&& other) noexcept
    : path_(std::move(other.path_)), mode_(other.mode_), fd_(other.fd_), size_(other.size_) {
  other.fd_ = -1;
}

void ExpertFile::read_exact(uint64_t offset, std::span<std::byte> dst) const {
  if (mode_ == IoMode::kDirect && (offset % kDirectIoAlignment || dst.size() % kDirectIoAlignment ||
                                   reinterpret_cast<uintptr_t>(dst.data()) % kDirectIoAlignment))
    fail("{}: O_DIRECT read of {} bytes at offset {} is not {}-byte aligned", path_.string(),
         dst.size(), offset, kDirectIoAlignment);
  if (offset + dst.size() > size_)
    fail("{}: read of {} bytes at offset {} runs past the end of the {}-byte file (truncated?)",
         path_.string(), dst.size(), offset, size_);
  size_t done = 0;
  while (done < dst.size()) {
    const ssize_t n =
        ::pread(fd_, dst.data() + done, dst.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("{}: read at offset {} failed: {}", path_.string(), offset + done, std::strerror(errno));
    }
    if (n == 0)
      fail("{}: file ended at offset {} while reading {} bytes at {} (truncated?)", path_.string(),
           offset + done, dst.size(), offset);
    done += static_cast<size_t>(n);
  }
  if (mode_ == IoMode::kDontneed)
    ::posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(dst.size()),
                    POSIX_FADV_DONTNEED);
}

}  // namespace streammoe
