#pragma once
// Batched positional reads through io_uring: the K expert reads of a layer are queued together,
// submitted with one system call and reaped together, instead of K preads on K threads; or
// reaped one at a time (read_each), so the caller can use each read as it lands.
// Built only with liburing (STREAMMOE_HAVE_URING); elsewhere constructing one is an Error.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>

#include "engine/util/function_ref.h"

namespace streammoe {

struct UringRead {
  int fd = -1;
  uint64_t offset = 0;
  std::span<std::byte> dst;
  const std::filesystem::path* path = nullptr;  // for error messages
};

class UringReader {
 public:
  // `depth`: reads that may be in flight at once. Error when the kernel refuses io_uring.
  explicit UringReader(unsigned depth);
  ~UringReader();
  UringReader(const UringReader&) = delete;
  UringReader& operator=(const UringReader&) = delete;

  // Reads every request completely (short reads are resubmitted for the remainder); an I/O
  // error or a read past the end of a file is an Error naming the file and offset.
  void read_all(std::span<const UringRead> reads);
  // The same reads, but calls done(i) as soon as request i is complete, in completion order (on
  // this thread, between reaps: the other reads stay in flight meanwhile). An error, of a read or
  // thrown by done, is rethrown once the reads in flight have been reaped, so the ring is left
  // empty for the next call.
  void read_each(std::span<const UringRead> reads, FunctionRef<void(size_t)> done);

 private:
  struct Ring;
  std::unique_ptr<Ring> ring_;
  unsigned depth_;
};

}  // namespace streammoe
