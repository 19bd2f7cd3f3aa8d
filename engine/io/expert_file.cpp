#include "engine/io/expert_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <vector>

#include "engine/util/error.h"

namespace streammoe {

ExpertFile::ExpertFile(const std::filesystem::path& path, IoMode mode, Readahead readahead)
    : path_(path), mode_(mode) {
  int flags = O_RDONLY | O_CLOEXEC;
  if (mode == IoMode::kDirect) flags |= O_DIRECT;
  fd_ = ::open(path.c_str(), flags);
  if (fd_ < 0) {
    const int err = errno;
    if (mode == IoMode::kDirect && err == EINVAL)
      fail("{}: the filesystem refuses O_DIRECT", path.string());
    fail("{}: cannot open: {}", path.string(), std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int err = errno;
    ::close(fd_);
    fail("{}: cannot stat: {}", path.string(), std::strerror(err));
  }
  size_ = static_cast<uint64_t>(st.st_size);
  if (size_ > 0) {
    map_ = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_, 0);
    if (map_ == MAP_FAILED) {
      if (mode == IoMode::kMmap) fail("{}: cannot mmap: {}", path.string(), std::strerror(errno));
      map_ = nullptr;  // residency then reads as 0 (all "disk")
    }
  }
  if (readahead == Readahead::kOff) {
    // posix_fadvise returns the error number rather than setting errno.
    if (const int err = ::posix_fadvise(fd_, 0, 0, POSIX_FADV_RANDOM); err != 0)
      fail("{}: --readahead off: posix_fadvise(RANDOM) failed: {}", path.string(),
           std::strerror(err));
    if (mode == IoMode::kMmap && map_ && ::madvise(map_, size_, MADV_RANDOM) != 0)
      fail("{}: --readahead off: madvise(RANDOM) failed: {}", path.string(), std::strerror(errno));
  }
}

ExpertFile::~ExpertFile() {
  if (map_) ::munmap(map_, size_);
  if (fd_ >= 0) ::close(fd_);
}

ExpertFile::ExpertFile(ExpertFile&& other) noexcept
    : path_(std::move(other.path_)), mode_(other.mode_), fd_(other.fd_), size_(other.size_),
      map_(other.map_) {
  other.fd_ = -1;
  other.map_ = nullptr;
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

uint64_t ExpertFile::resident_bytes(uint64_t offset, uint64_t bytes) const {
  if (!map_ || bytes == 0 || offset >= size_) return 0;
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t end = std::min(offset + bytes, size_);
  const uint64_t first = offset / page * page;
  std::vector<unsigned char> vec((end - first + page - 1) / page);
  if (::mincore(static_cast<std::byte*>(map_) + first, end - first, vec.data()) != 0) return 0;
  uint64_t resident = 0;
  for (size_t i = 0; i < vec.size(); ++i) {
    if (!(vec[i] & 1)) continue;
    const uint64_t lo = std::max(offset, first + i * page), hi = std::min(end, first + (i + 1) * page);
    resident += hi - lo;
  }
  return resident;
}

void ExpertFile::advise_willneed(uint64_t offset, uint64_t bytes) const {
  for (uint64_t done = 0; done < bytes; done += kWillneedChunk)
    ::posix_fadvise(fd_, static_cast<off_t>(offset + done),
                    static_cast<off_t>(std::min(kWillneedChunk, bytes - done)), POSIX_FADV_WILLNEED);
}

}  // namespace streammoe
