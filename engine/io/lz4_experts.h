#pragma once
// LZ4-compressed copies of a packed model's expert files, written by `streammoe pack --lz4`
// (engine/convert/lz4_writer.h) next to the plain ones and read by the lz4 expert cache:
//
//   experts/layer_LLL.lz4   header  "SMLZ4EX1" (8 bytes), u64 num_experts, u64 record_bytes
//                           offsets u64[num_experts + 1], absolute; expert e is
//                                   [offsets[e], offsets[e+1]), LZ4 block format
//                           blocks  each decompresses to exactly record_bytes (= expert_bytes)
//
// The plain files stay: the lz4 files are an extra representation, not a different model, so a
// lz4-cache run and a baseline run read the very same weights.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

#include "engine/io/expert_file.h"
#include "engine/io/packed_format.h"

namespace streammoe {

inline constexpr char kLz4ExpertMagic[8] = {'S', 'M', 'L', 'Z', '4', 'E', 'X', '1'};
// Magic, expert count, record bytes and the offset table.
inline uint64_t lz4_header_bytes(int64_t num_experts) { return 8 + 8 + 8 + 8 * (num_experts + 1); }

std::string lz4_expert_file_name(int64_t layer);  // "experts/layer_007.lz4"
bool has_lz4_experts(const std::filesystem::path& folder, const PackedManifest& manifest);

class Lz4ExpertFiles {
 public:
  // Error naming the folder and `streammoe pack --lz4` when the files are missing, or the file
  // when a header does not match the manifest.
  Lz4ExpertFiles(const std::filesystem::path& folder, const PackedManifest& manifest);
  uint64_t record_bytes() const { return record_bytes_; }
  uint64_t compressed_size(int64_t layer, int32_t e) const;
  // Reads expert e's compressed block into dst (compressed_size bytes); returns page-cache-resident
  // bytes before the read. Thread-safe.
  uint64_t read(int64_t layer, int32_t e, std::span<std::byte> dst) const;
  // Decompresses a block into dst (record_bytes); Error when the block is corrupt.
  void decompress(int64_t layer, int32_t e, std::span<const std::byte> block, std::span<std::byte> dst) const;

 private:
  struct Layer {
    std::unique_ptr<ExpertFile> file;
    std::vector<uint64_t> offsets;
  };
  const Layer& layer_of(int64_t layer, int32_t e) const;
  uint64_t record_bytes_ = 0;
  int64_t num_experts_ = 0;
  std::vector<Layer> layers_;  // by model layer; null file for dense layers
};

}  // namespace streammoe
