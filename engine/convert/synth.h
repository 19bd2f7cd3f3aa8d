#pragma once
// Random-weight models at any shape, for I/O experiments without the real weights (`streammoe
// synth`) and as reference checkpoints for the pack tests. Weights are drawn so activations stay
// sane at any depth: projections N(0, 1/sqrt(in)), residual writers at half that, decisive
// routers, heavy-tailed lm_head rows (a clear top-1), norms near their identity.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/convert/model_input.h"
#include "engine/util/dtype.h"

namespace streammoe {

struct SynthOptions {
  int64_t layers = 0;  // 0: as in the config
  int64_t vocab = 0;   // 0: as in the config
  uint64_t seed = 1;
  DType dtype = DType::kBF16;  // resident weights (and dense experts of an HF folder)
};

// The config with num_hidden_layers / vocab_size overridden (layer_types and mlp_only_layers
// trimmed to the new depth). `where` names the config in errors.
nlohmann::json synth_config(const nlohmann::json& like, const SynthOptions& options,
                            const std::string& where);

// A random model as a ModelInput for write_packed_model: packed experts are uniform random codes
// with per-matrix scale/bias that give every weight the std of the dense draw.
std::unique_ptr<ModelInput> make_synth_input(const nlohmann::json& config,
                                             const SynthOptions& options,
                                             const std::string& source);

enum class HfExpertLayout { kFused, kPerExpert };

// The same resident weights with dense random experts, as a Hugging Face folder (config.json +
// model.safetensors): the unquantised reference that `pack` quantises in the tests.
void write_synth_hf(const nlohmann::json& config, const SynthOptions& options,
                    const std::filesystem::path& out,
                    HfExpertLayout layout = HfExpertLayout::kFused);

}  // namespace streammoe
