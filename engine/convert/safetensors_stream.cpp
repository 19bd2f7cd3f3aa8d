#include "engine/convert/safetensors_stream.h"

#include "engine/model/safetensors_writer.h"
#include "engine/util/error.h"
#include "engine/util/output_file.h"
#include "engine/util/thread_pool.h"

namespace streammoe {
namespace {

constexpr uint64_t kChunkBytes = 16ull << 20;

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

  OutputFile out(path);
  out.write(prefix);

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
      out.write(chunk.data(), bytes);
      if (on_progress) on_progress(bytes);
    }
  }
  out.close(/*durable=*/true);
}

}  // namespace streammoe
