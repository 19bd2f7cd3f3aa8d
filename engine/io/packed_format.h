#pragma once
// The packed model folder that `streammoe pack` and `streammoe synth` write:
//
//   streammoe.json            manifest: format version, config, quantisation, expert tensor table,
//                             one entry per expert file; written last, so a half-written folder
//                             is never taken for a model
//   config.json               the model's config (quantisation keys of MLX input removed)
//   model.safetensors         resident (non-expert) weights, mmap'd read-only: in their source dtype,
//                             or with the linear weights and the embedding quantised
//                             (--resident-bits 8|4, engine/models/resident_format.h)
//   experts/layer_LLL.bin     one file per MoE layer: expert e at offset e * expert_stride
//   tokenizer.json, generation_config.json, ...   copied when the input has them
//
// An expert record holds gate, up and down, each as q (uint32 codes), scales, biases (bf16), in
// the MLX affine layout of engine/ops/quant.h, every array starting on a 64-byte boundary; the
// record is padded to a multiple of 4096 bytes so offsets and sizes suit O_DIRECT, and one read
// fetches one expert.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/model/config.h"
#include "engine/models/resident_format.h"
#include "engine/ops/quant.h"

namespace streammoe {

inline constexpr const char* kPackedManifestName = "streammoe.json";
inline constexpr const char* kPackedFormatName = "streammoe-packed";
inline constexpr int kPackedFormatVersion = 1;
inline constexpr uint64_t kExpertStrideAlignment = 4096;  // O_DIRECT block size
inline constexpr uint64_t kArrayAlignment = 64;           // a cache line, and any SIMD load

struct ByteRange {
  uint64_t offset = 0;  // within the expert record
  uint64_t bytes = 0;
};

// Where one quantised [rows, cols] matrix lies inside an expert record.
struct PackedMatrix {
  std::string name;  // gate_proj, up_proj, down_proj
  int64_t rows = 0;
  int64_t cols = 0;
  ByteRange q, scales, biases;
};

struct ExpertLayout {
  int bits = 4;
  int group_size = 64;
  PackedMatrix gate, up, down;
  uint64_t expert_bytes = 0;   // bytes that carry data (what a pread fetches)
  uint64_t expert_stride = 0;  // expert_bytes rounded up to kExpertStrideAlignment

  // A view of `m` inside the record starting at `record`.
  QuantMatRef view(const PackedMatrix& m, const std::byte* record) const;
};

// Error naming the matrix when hidden or moe_intermediate is not a multiple of group_size, or
// bits/group_size are not supported.
ExpertLayout make_expert_layout(int64_t hidden, int64_t moe_intermediate, int bits, int group_size);

struct PackedLayerFile {
  int64_t layer = 0;
  std::string file;  // relative to the folder
};

struct PackedManifest {
  int version = kPackedFormatVersion;
  std::string source_kind;  // "hf", "mlx", "synth"
  std::string source;       // input folder or --like config
  nlohmann::json config;    // exactly what config.json holds
  std::string resident_file = "model.safetensors";
  ResidentFormat resident;  // "resident": bits (16 when absent: folders packed before it existed)
  int64_t num_experts = 0;
  ExpertLayout layout;
  std::vector<PackedLayerFile> layers;  // MoE layers only, ascending

  uint64_t layer_file_bytes() const {
    return static_cast<uint64_t>(num_experts) * layout.expert_stride;
  }
  uint64_t expert_file_bytes() const { return layer_file_bytes() * layers.size(); }
};

std::string expert_file_name(int64_t layer);  // "experts/layer_007.bin"
bool is_packed_model(const std::filesystem::path& folder);

nlohmann::json manifest_to_json(const PackedManifest& m);
// Validates everything it reads: format name, version, quantisation, that the tensor table is the
// layout this build computes. Errors name the manifest and the key.
PackedManifest manifest_from_json(const nlohmann::json& j, const std::string& where);
PackedManifest read_packed_manifest(const std::filesystem::path& folder);

// The manifest against the parsed config and the files on disk: config.json unchanged since
// packing, expert dimensions and MoE layers agree, every expert file has its exact size.
void check_packed_model(const std::filesystem::path& folder, const PackedManifest& m,
                        const ModelConfig& c);

}  // namespace streammoe
