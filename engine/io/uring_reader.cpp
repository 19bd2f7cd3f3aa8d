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

namespace {

// Accounts one completion `res` of `read` (`done` bytes of it read before); true once it is
// complete. An error or a read past the end of the file is an Error naming the file and offset.
bool complete(const UringRead& read, int res, uint64_t& done) {
  const auto file = [&] { return read.path ? read.path->string() : std::string("expert file"); };
  if (res < 0)
    fail("{}: read of {} bytes at offset {} failed: {}", file(), read.dst.size(), read.offset, std::strerror(-res));
  if (res == 0) fail("{}: read at offset {} hit the end of the file (truncated?)", file(), read.offset + done);
  done += static_cast<uint64_t>(res);
  return done >= read.dst.size();
}

void queue_read(io_uring* ring, const UringRead& read, uint64_t done, size_t index) {
  io_uring_sqe* sqe = io_uring_get_sqe(ring);
  if (!sqe) fail("io_uring: submission queue full");
  io_uring_prep_read(sqe, read.fd, read.dst.data() + done, static_cast<unsigned>(read.dst.size() - done),
                     read.offset + done);
  io_uring_sqe_set_data64(sqe, index);
}

}  // namespace

void UringReader::read_all(std::span<const UringRead> reads) {
  // Bytes still to read for each request; a short read is queued again for its remainder.
  std::vector<uint64_t> done(reads.size(), 0);
  std::vector<size_t> pending;
  for (size_t i = 0; i < reads.size(); ++i)
    if (!reads[i].dst.empty()) pending.push_back(i);
  while (!pending.empty()) {
    const size_t batch = std::min<size_t>(pending.size(), depth_);
    for (size_t b = 0; b < batch; ++b) queue_read(&ring_->ring, reads[pending[b]], done[pending[b]], pending[b]);
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
      if (!complete(reads[i], res, done[i])) again.push_back(i);
    }
    pending = std::move(again);
  }
}

void UringReader::read_each(std::span<const UringRead> reads, FunctionRef<void(size_t)> done_fn) {
  std::vector<uint64_t> done(reads.size(), 0);
  std::vector<size_t> pending;  // queued for submission, in order; pending[next..] not yet queued
  for (size_t i = 0; i < reads.size(); ++i)
    if (!reads[i].dst.empty()) pending.push_back(i);
  // Reads the kernel still owns. Whatever ends this call, they are reaped first: their buffers
  // are the caller's, and a stale completion must not reach the next call.
  struct Drain {
    io_uring* ring;
    unsigned in_flight = 0;
    ~Drain() {
      for (; in_flight > 0; --in_flight) {
        io_uring_cqe* cqe = nullptr;
        if (io_uring_wait_cqe(ring, &cqe) < 0) return;
        io_uring_cqe_seen(ring, cqe);
      }
    }
  } flight{&ring_->ring};
  for (size_t i = 0; i < reads.size(); ++i)
    if (reads[i].dst.empty()) done_fn(i);
  size_t next = 0;
  while (next < pending.size() || flight.in_flight > 0) {
    unsigned queued = 0;
    for (; next < pending.size() && flight.in_flight + queued < depth_; ++next, ++queued)
      queue_read(&ring_->ring, reads[pending[next]], done[pending[next]], pending[next]);
    if (queued > 0) {
      const int submitted = io_uring_submit_and_wait(&ring_->ring, 1);
      if (submitted < 0) fail("io_uring: submit failed: {}", std::strerror(-submitted));
      flight.in_flight += static_cast<unsigned>(submitted);
      if (static_cast<unsigned>(submitted) != queued)
        fail("io_uring: the kernel took {} of {} reads", submitted, queued);
    }
    io_uring_cqe* cqe = nullptr;
    const int rc = io_uring_wait_cqe(&ring_->ring, &cqe);
    if (rc < 0) fail("io_uring: wait failed: {}", std::strerror(-rc));
    const size_t i = static_cast<size_t>(io_uring_cqe_get_data64(cqe));
    const int res = cqe->res;
    io_uring_cqe_seen(&ring_->ring, cqe);
    --flight.in_flight;
    if (complete(reads[i], res, done[i]))
      done_fn(i);
    else
      pending.push_back(i);  // its remainder, queued again
  }
}

#else

struct UringReader::Ring {};

UringReader::UringReader(unsigned depth) : depth_(depth) {
  fail("io_uring: this build has no liburing");
}
UringReader::~UringReader() = default;
void UringReader::read_all(std::span<const UringRead>) {}
void UringReader::read_each(std::span<const UringRead>, FunctionRef<void(size_t)>) {}

#endif

}  // namespace streammoe
