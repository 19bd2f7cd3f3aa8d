#include "engine/io/uring_reader.h"

#include <cstring>
#include <vector>

#include "engine/util/error.h"

#ifdef STREAMMOE_HAVE_URING
#include <liburing.h>
#endif

namespace streammoe {

#ifdef STREAMMOE_HAVE_URING

struct UringReader::Ring {
  io_uring ring;
};

UringReader::UringReader(unsigned depth) : ring_(std::make_unique<Ring>()), depth_(depth ? depth : 1) {
  const int rc = io_uring_queue_init(depth_, &ring_->ring, 0);
  if (rc < 0) {
    ring_.reset();
    fail("io_uring: the kernel refused io_uring_setup: {}", std::strerror(-rc));
  }
}

UringReader::~UringReader() {
  if (ring_) io_uring_queue_exit(&ring_->ring);
}

void UringReader::read_all(std::span<const UringRead> reads) {
  // Bytes still to read for each request; a short read is queued again for its remainder.
  std::vector<uint64_t> done(reads.size(), 0);
  std::vector<size_t> pending;
  for (size_t i = 0; i < reads.size(); ++i)
    if (!reads[i].dst.empty()) pending.push_back(i);
  while (!pending.empty()) {
    const size_t batch = std::min<size_t>(pending.size(), depth_);
    for (size_t b = 0; b < batch; ++b) {
      const size_t i = pending[b];
      io_uring_sqe* sqe = io_uring_get_sqe(&ring_->ring);
      if (!sqe) fail("io_uring: submission queue full");
      io_uring_prep_read(sqe, reads[i].fd, reads[i].dst.data() + done[i],
                         static_cast<unsigned>(reads[i].dst.size() - done[i]), reads[i].offset + done[i]);
      io_uring_sqe_set_data64(sqe, i);
    }
    const int submitted = io_uring_submit_and_wait(&ring_->ring, static_cast<unsigned>(batch));
    if (submitted < 0) fail("io_uring: submit failed: {}", std::strerror(-submitted));
    std::vector<size_t> again(pending.begin() + static_cast<std::ptrdiff_t>(batch), pending.end());
    for (size_t reaped = 0; reaped < batch; ++reaped) {
      io_uring_cqe* cqe = nullptr;
      const int rc = io_uring_wait_cqe(&ring_->ring, &cqe);
      if (rc < 0) fail("io_uring: wait failed: {}", std::strerror(-rc));
      const size_t i = static_cast<size_t>(io_uring_cqe_get_data64(cqe));
      const int res = cqe->res;
      io_uring_cqe_seen(&ring_->ring, cqe);
      const std::string file = reads[i].path ? reads[i].path->string() : "expert file";
      if (res < 0) fail("{}: read of {} bytes at offset {} failed: {}", file, reads[i].dst.size(), reads[i].offset, std::strerror(-res));
      if (res == 0)
        fail("{}: read at offset {} hit the end of the file (truncated?)", file, reads[i].offset + done[i]);
      done[i] += static_cast<uint64_t>(res);
      if (done[i] < reads[i].dst.size()) again.push_back(i);
    }
    pending = std::move(again);
  }
}

#else

struct UringReader::Ring {};

UringReader::UringReader(unsigned depth) : depth_(depth) {
  fail("io_uring: this build has no liburing");
}
UringReader::~UringReader() = default;
void UringReader::read_all(std::span<const UringRead>) {}

#endif

}  // namespace streammoe
