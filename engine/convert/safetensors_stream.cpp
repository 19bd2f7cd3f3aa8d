#include "engine/convert/safetensors_stream.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/model/safetensors_writer.h"
#include "engine/util/error.h"
#include "engine/util/thread_pool.h"

namespace streammoe {
namespace {

constexpr uint64_t kChunkBytes = 16ull << 20;

void write_all(int fd, const std::string& file, const std::byte* data, size_t bytes) {
  while (bytes > 0) {
    const ssize_t n = ::write(fd, data, bytes);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("{}: write failed: {}", file, std::strerror(errno));
    }
    data += n;
    bytes -= static_cast<size_t>(n);
  }
}

}  // namespace

uint64_t StreamedTensor::bytes() const {
  uint64_t n = dtype_size(dtype);
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

uint64_t StreamedTensor::row_bytes() const {
  uint64_t n = dtype_size(dtype);
  for (size_t i = 1; i < shape.size(); ++i) n *= static_cast<uint64_t>(shape[i]);
  return n;
}

void write_safetensors_streamed(const std::filesystem::path& path,
                                std::span<const StreamedTensor> tensors,
                                const std::map<std::string, std::string>& metadata,
                                const std::function<void(uint64_t)>& on_progress,
                                ThreadPool* pool) {
  const std::string file = path.string();
  std::vector<TensorLayout> layouts;
  for (const StreamedTensor& t : tensors) layouts.push_back({t.name, t.dtype, t.shape});
  const std::string prefix = safetensors_prefix(file, layouts, metadata);

  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("{}: cannot open for writing: {}", file, std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  write_all(fd, file, reinterpret_cast<const std::byte*>(prefix.data()), prefix.size());

  std::vector<std::byte> chunk;
  for (const StreamedTensor& t : tensors) {
    const uint64_t total = t.bytes();
    const uint64_t row = std::max<uint64_t>(t.row_bytes(), 1);
    const uint64_t rows_per_chunk = std::max<uint64_t>(1, kChunkBytes / row);
    for (uint64_t begin = 0; begin < total; begin += rows_per_chunk * row) {
      const uint64_t bytes = std::min(total - begin, rows_per_chunk * row);
      chunk.resize(bytes);
      const int64_t rows = static_cast<int64_t>((bytes + row - 1) / row);
      auto fill_rows = [&](int64_t r0, int64_t r1) {
        const uint64_t lo = static_cast<uint64_t>(r0) * row,
                       hi = std::min(bytes, static_cast<uint64_t>(r1) * row);
        t.fill(begin + lo, {chunk.data() + lo, hi - lo});
      };
      try {
        if (pool && rows > 1)
          pool->parallel_for(rows, fill_rows);
        else
          fill_rows(0, rows);
      } catch (const Error& e) {
        fail("{}: tensor {}: {}", file, t.name, e.what());
      }
      write_all(fd, file, chunk.data(), bytes);
      if (on_progress) on_progress(bytes);
    }
  }
  if (::fsync(fd) != 0) fail("{}: fsync failed: {}", file, std::strerror(errno));
}

}  // namespace streammoe
