#include "engine/convert/packed_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>
#include <fstream>

#include "engine/convert/resident_quant.h"
#include "engine/io/aligned_buffer.h"
#include "engine/util/error.h"
#include "engine/util/output_file.h"
#include "engine/util/thread_pool.h"

namespace streammoe {
namespace {

namespace fs = std::filesystem;

void prepare_output(const fs::path& out) {
  std::error_code ec;
  if (fs::exists(out, ec)) {
    if (!fs::is_directory(out, ec)) fail("{}: exists and is not a folder", out.string());
    if (!fs::is_empty(out, ec))
      fail("{}: exists and is not empty (remove it or choose another output folder)", out.string());
  }
  fs::create_directories(out / "experts", ec);
  if (ec) fail("{}: cannot create: {}", out.string(), ec.message());
}

void pwrite_all(int fd, const fs::path& file, const std::byte* data, size_t bytes,
                uint64_t offset) {
  while (bytes > 0) {
    const ssize_t n = ::pwrite(fd, data, bytes, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("{}: write at offset {} failed: {}", file.string(), offset, std::strerror(errno));
    }
    data += n;
    bytes -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
}

// One MoE layer's file: every expert at e * stride, produced in parallel batches.
void write_layer_file(const ModelInput& input, int64_t layer, const ExpertLayout& layout,
                      int64_t num_experts, const fs::path& path, ThreadPool& pool,
                      const std::function<void(uint64_t)>& advance) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("{}: cannot open for writing: {}", path.string(), std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() {
      if (fd >= 0) ::close(fd);
    }
  } closer{fd};
  const uint64_t stride = layout.expert_stride;
  if (::ftruncate(fd, static_cast<off_t>(stride * num_experts)) != 0)
    fail("{}: cannot size to {} bytes: {}", path.string(), stride * num_experts,
         std::strerror(errno));
  const int64_t batch = std::max<int64_t>(1, 2 * pool.size());
  for (int64_t first = 0; first < num_experts; first += batch) {
    const int64_t count = std::min(batch, num_experts - first);
    pool.parallel_for(count, [&](int64_t begin, int64_t end) {
      // One record buffer per thread for the whole pack: allocating one per expert lets glibc's
      // heap grow by megabytes per expert (its mmap threshold rises after the first free).
      thread_local AlignedBuffer record;
      if (record.size() != stride) record = AlignedBuffer(stride);
      for (int64_t i = begin; i < end; ++i) {
        std::memset(record.data(), 0, stride);
        input.write_packed_expert(layer, first + i, layout, {record.data(), layout.expert_bytes});
        pwrite_all(fd, path, record.data(), stride, static_cast<uint64_t>(first + i) * stride);
      }
    });
    advance(static_cast<uint64_t>(count) * stride);
  }
  if (::fsync(fd) != 0) fail("{}: fsync failed: {}", path.string(), std::strerror(errno));
  if (::close(std::exchange(closer.fd, -1)) != 0) fail("{}: close failed: {}", path.string(), std::strerror(errno));
}

// The input's resident tensors in the resident format; the input's own codes when they are in it.
std::vector<StreamedTensor> resident_tensors(const ModelInput& input, const ResidentFormat& format,
                                             PackResult& result) {
  check_resident_format(format, input.source());
  if (!format.quantized()) return input.resident_tensors();
  const std::optional<QuantFormat> stored = input.stored_resident_quantization();
  result.resident_codes_kept = stored && stored->bits == format.bits &&
                               stored->group_size == format.group_size &&
                               stored->scheme == format.scheme;
  // 8 and 16 bits dequantise stored codes (an 8-bit grid holds 4-bit values closely); 4 bits
  // keeps them, and anything but the stored format would requantise them.
  if (stored && !result.resident_codes_kept && format.bits == 4)
    fail(
        "{}: resident weights are stored {}-bit with group size {}; packing them {} would "
        "requantise them (keep them: {}-bit with group size {}; or dequantise them: 8 or 16 bits)",
        input.source(), stored->bits, stored->group_size, describe(format), stored->bits,
        stored->group_size);
  ResidentTensors r = to_resident_format(
      result.resident_codes_kept ? input.resident_tensors_as_stored() : input.resident_tensors(),
      input.config(), format, input.source());
  result.resident_quantized = r.quantized;
  result.resident_kept_float = r.kept_float;
  return std::move(r.tensors);
}

void write_json(const fs::path& path, const nlohmann::json& j) { write_file(path, j.dump(2) + "\n"); }

// Written beside, then renamed: the manifest appears only once complete.
void write_manifest(const fs::path& folder, const PackedManifest& m) {
  const fs::path temp = folder / (std::string(kPackedManifestName) + ".tmp");
  write_json(temp, manifest_to_json(m));
  std::error_code ec;
  fs::rename(temp, folder / kPackedManifestName, ec);
  if (ec) fail("{}: cannot rename to {}: {}", temp.string(), kPackedManifestName, ec.message());
}

}  // namespace

PackResult write_packed_model(const ModelInput& input, const fs::path& out,
                              const PackOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const ModelConfig& c = input.config();
  if (c.num_experts <= 0) fail("{}: the model has no experts to pack", input.source());
  if (const auto stored = input.stored_expert_quantization()) {
    if (stored->bits != options.bits || stored->group_size != options.group_size)
      fail(
          "{}: experts are stored {}-bit with group size {}; packing them as {}-bit / {} would "
          "requantise them (pack them {}-bit with group size {})",
          input.source(), stored->bits, stored->group_size, options.bits, options.group_size,
          stored->bits, stored->group_size);
  }
  PackedManifest m;
  m.source_kind = input.kind();
  m.source = input.source();
  m.config = input.config_json();
  m.num_experts = c.num_experts;
  try {
    m.layout = make_expert_layout(c.hidden_size, c.moe_intermediate_size, options.bits,
                                  options.group_size);
  } catch (const Error& e) {
    fail("{}: experts [{} x {}] cannot be packed {}-bit with group size {}: {}", input.source(),
         c.moe_intermediate_size, c.hidden_size, options.bits, options.group_size, e.what());
  }
  for (int64_t l = 0; l < c.num_layers; ++l)
    if (c.ffn_types[l] == FfnKind::kMoe) m.layers.push_back({l, expert_file_name(l)});

  PackResult result;
  const std::vector<StreamedTensor> resident = resident_tensors(input, options.resident, result);
  m.resident = options.resident;
  result.resident_tensors = resident.size();
  result.skipped_tensors = input.skipped_tensors().size();
  for (const auto& t : resident) result.resident_bytes += t.bytes();
  result.expert_file_bytes = m.expert_file_bytes();

  prepare_output(out);
  PackProgress progress{"resident", 0, result.resident_bytes + result.expert_file_bytes};
  auto advance = [&](uint64_t bytes) {
    progress.done += bytes;
    if (options.progress) options.progress(progress);
  };
  ThreadPool pool(options.threads);
  write_safetensors_streamed(out / m.resident_file, resident,
                             {{"format", "pt"}, {"streammoe", "resident"}}, advance, &pool);
  progress.stage = "experts";
  for (const auto& layer : m.layers)
    write_layer_file(input, layer.layer, m.layout, m.num_experts, out / layer.file, pool, advance);

  write_json(out / "config.json", m.config);
  for (const fs::path& file : input.side_files()) {
    std::error_code ec;
    fs::copy_file(file, out / file.filename(), fs::copy_options::overwrite_existing, ec);
    if (ec) fail("{}: cannot copy to {}: {}", file.string(), out.string(), ec.message());
  }
  write_manifest(out, m);
  result.manifest = std::move(m);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace streammoe
