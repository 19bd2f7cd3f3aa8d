#include "engine/convert/lz4_writer.h"

#include <lz4.h>

#include <fstream>

#include "engine/io/lz4_experts.h"
#include "engine/util/error.h"
#include "engine/util/output_file.h"

namespace streammoe {

Lz4PackResult write_lz4_experts(const std::filesystem::path& folder) {
  const PackedManifest m = read_packed_manifest(folder);
  const uint64_t raw = m.layout.expert_bytes, stride = m.layout.expert_stride;
  Lz4PackResult result;
  std::vector<char> record(raw), block(LZ4_compressBound(static_cast<int>(raw)));
  for (const auto& l : m.layers) {
    const std::filesystem::path in_path = folder / l.file,
                                out_path = folder / lz4_expert_file_name(l.layer);
    std::ifstream in(in_path, std::ios::binary);
    if (!in) fail("{}: cannot open", in_path.string());
    OutputFile out(out_path);
    std::vector<uint64_t> offsets(m.num_experts + 1);
    const uint64_t header = lz4_header_bytes(m.num_experts);
    out.write(std::string(header, '\0'));  // filled in once the offsets are known
    uint64_t pos = header;
    for (int64_t e = 0; e < m.num_experts; ++e) {
      in.seekg(static_cast<std::streamoff>(e * stride));
      if (!in.read(record.data(), static_cast<std::streamsize>(raw)))
        fail("{}: short read of expert {}", in_path.string(), e);
      const int n = LZ4_compress_default(record.data(), block.data(), static_cast<int>(raw),
                                         static_cast<int>(block.size()));
      if (n <= 0) fail("{}: LZ4 compression of expert {} failed", out_path.string(), e);
      out.write(block.data(), static_cast<size_t>(n));
      offsets[e] = pos;
      pos += static_cast<uint64_t>(n);
    }
    offsets[m.num_experts] = pos;
    const uint64_t count = static_cast<uint64_t>(m.num_experts);
    std::string head(kLz4ExpertMagic, 8);
    head.append(reinterpret_cast<const char*>(&count), 8);
    head.append(reinterpret_cast<const char*>(&raw), 8);
    head.append(reinterpret_cast<const char*>(offsets.data()), 8 * offsets.size());
    out.write_at(0, head);
    out.close();
    result.raw_bytes += raw * count;
    result.compressed_bytes += pos;
  }
  return result;
}

}  // namespace streammoe
