#pragma once
// `streammoe pack --lz4`: LZ4-compressed copies of a packed folder's expert files, in the format
// engine/io/lz4_experts.h reads.
#include <cstdint>
#include <filesystem>

namespace streammoe {

struct Lz4PackResult {
  uint64_t raw_bytes = 0;         // expert bytes in (without stride padding)
  uint64_t compressed_bytes = 0;  // lz4 file bytes out, headers included
};
// Writes experts/layer_LLL.lz4 for every expert file of the packed folder.
Lz4PackResult write_lz4_experts(const std::filesystem::path& folder);

}  // namespace streammoe
