#include "engine/io/aligned_buffer.h"

#include <cstdlib>
#include <cstring>

#include "engine/util/error.h"

namespace streammoe {

void AlignedBuffer::Free::operator()(std::byte* p) const { std::free(p); }

AlignedBuffer::AlignedBuffer(size_t bytes, size_t alignment) : size_(bytes) {
  if (bytes == 0) return;
  void* p = nullptr;
  // Round the allocation up so an O_DIRECT read of whole blocks never runs past the end.
  const size_t allocated = round_up(bytes, alignment);
  if (posix_memalign(&p, alignment, allocated) != 0)
    fail("cannot allocate a {}-byte buffer aligned to {}", allocated, alignment);
  std::memset(p, 0, allocated);  // pre-touch
  data_.reset(static_cast<std::byte*>(p));
}

}  // namespace streammoe
