#pragma once
// What `pack` and `synth` write a packed model from: a Hugging Face checkpoint, an MLX 4-bit
// checkpoint, or random weights. Each input names its resident tensors the Hugging Face way and
// produces one packed expert record at a time, so the writer never holds more than a chunk.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/convert/safetensors_stream.h"
#include "engine/io/packed_format.h"
#include "engine/model/config.h"
#include "engine/ops/quant.h"

namespace streammoe {

struct ExpertQuantization {
  int bits = 4;
  int group_size = 64;
};

class ModelInput {
 public:
  virtual ~ModelInput() = default;
  virtual std::string kind() const = 0;    // "hf", "mlx", "synth"
  virtual std::string source() const = 0;  // folder or config file
  // The config.json the packed folder gets (an MLX checkpoint's quantisation keys removed).
  virtual const nlohmann::json& config_json() const = 0;
  virtual const ModelConfig& config() const = 0;
  // Every non-expert tensor the engine needs, under its Hugging Face name, in a float dtype.
  virtual std::vector<StreamedTensor> resident_tensors() const = 0;
  // Set when the input's resident linear weights and embedding are already quantised (MLX), all
  // in this format; Error naming two tensors when they mix formats.
  virtual std::optional<QuantFormat> stored_resident_quantization() const { return std::nullopt; }
  // resident_tensors() with those weights as stored: U32 codes under the weight's name, bf16
  // <module>.scales and .biases beside them (resident_format.h). The writer takes these when the
  // packed folder's resident format is the stored one, so the codes are copied, never
  // dequantised and requantised.
  virtual std::vector<StreamedTensor> resident_tensors_as_stored() const {
    return resident_tensors();
  }
  // Writes expert `expert` of MoE layer `layer` into `record` (layout.expert_bytes bytes, zeroed).
  // Called from several threads at once.
  virtual void write_packed_expert(int64_t layer, int64_t expert, const ExpertLayout& layout,
                                   std::span<std::byte> record) const = 0;
  // Set when the input's experts are already quantised (MLX): the packed layout must use this,
  // since the codes are copied, not recomputed.
  virtual std::optional<ExpertQuantization> stored_expert_quantization() const {
    return std::nullopt;
  }
  // Small files copied next to the model (tokenizer.json, generation_config.json, ...).
  virtual std::vector<std::filesystem::path> side_files() const { return {}; }
  // Source tensors deliberately left out (vision tower, MTP head), for the pack summary.
  virtual std::vector<std::string> skipped_tensors() const { return {}; }
};

// Hugging Face folder (safetensors, any float dtype): experts quantised to `bits` per group.
std::unique_ptr<ModelInput> open_hf_input(const std::filesystem::path& folder);
// MLX checkpoint ("quantization" in config.json, experts as mlp.switch_mlp.*): 4-bit experts are
// copied as they are; quantised resident weights are dequantised to their scales' dtype
// (resident_tensors), or kept as stored (resident_tensors_as_stored).
bool is_mlx_checkpoint(const std::filesystem::path& folder);
std::unique_ptr<ModelInput> open_mlx_input(const std::filesystem::path& folder);

// Files a packed (or HF) model folder carries besides weights, when the input has them.
std::vector<std::filesystem::path> tokenizer_side_files(const std::filesystem::path& folder);

}  // namespace streammoe
