#pragma once
// One file of expert bytes, opened for an I/O mode: a plain descriptor for pread/dontneed/mmap, an
// O_DIRECT one for direct. Reads are positional (pread), so any number of I/O threads can share
// one ExpertFile.
#include <cstdint>
#include <filesystem>
#include <span>

#include "engine/io/io_mode.h"

namespace streammoe {

inline constexpr uint64_t kDirectIoAlignment = 4096;

class ExpertFile {
 public:
  // Error naming the file when it cannot be opened (or O_DIRECT is refused by its filesystem, or
  // the readahead hint by its kernel).
  ExpertFile(const std::filesystem::path& path, IoMode mode,
             Readahead readahead = Readahead::kKernel);
  ~ExpertFile();
  ExpertFile(ExpertFile&& other) noexcept;
  ExpertFile& operator=(ExpertFile&&) = delete;
  ExpertFile(const ExpertFile&) = delete;
  ExpertFile& operator=(const ExpertFile&) = delete;

  // Reads exactly dst.size() bytes at `offset`, retrying short reads; a read past the end of the
  // file (a truncated file) or an I/O error is an Error naming the file and offset. In direct mode
  // offset, size and address must be multiples of kDirectIoAlignment.
  void read_exact(uint64_t offset, std::span<std::byte> dst) const;

  // Bytes of [offset, offset + bytes) now in the page cache (mincore over a
  // read-only mapping of the file that is never touched), counted in whole pages clipped to the
  // range. Telemetry: which requested experts the OS already had.
  uint64_t resident_bytes(uint64_t offset, uint64_t bytes) const;
  // posix_fadvise(WILLNEED) over the range, in chunks of kWillneedChunk: the kernel starts at most
  // read_ahead_kb of readahead per call, so one call for a large expert would load only its start.
  void advise_willneed(uint64_t offset, uint64_t bytes) const;
  static constexpr uint64_t kWillneedChunk = 128 * 1024;

  // The whole file mapped read-only: in mmap mode expert views point into it (page faults read
  // them); in the other modes it is only asked for residency.
  const std::byte* mapping() const { return static_cast<const std::byte*>(map_); }
  uint64_t size() const { return size_; }
  int fd() const { return fd_; }
  const std::filesystem::path& path() const { return path_; }
  IoMode mode() const { return mode_; }

 private:
  std::filesystem::path path_;
  IoMode mode_;
  int fd_ = -1;
  uint64_t size_ = 0;
  void* map_ = nullptr;  // for mincore only; never read through
};

}  // namespace streammoe
