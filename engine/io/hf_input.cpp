// ModelInput for a Hugging Face folder: resident tensors copied byte for byte in their stored
// dtype; each expert read (pread), converted to f32 and quantised with quantize_rows.
#include <fmt/format.h>

#include <cstring>
#include <fstream>

#include "engine/io/model_input.h"
#include "engine/io/tensor_reader.h"
#include "engine/ops/quant.h"
#include "engine/util/error.h"

namespace streammoe {
namespace {

namespace fs = std::filesystem;

nlohmann::json read_json_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot open", path.string());
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", path.string(), e.what());
  }
}

// Where expert e's three matrices live in one MoE layer: fused 3-D tensors or per-expert ones.
struct LayerExperts {
  bool fused = false;
  const TensorInfo* gate_up = nullptr;  // fused [E, 2I, H]
  const TensorInfo* down = nullptr;     // fused [E, H, I]
  std::string per_expert_prefix;        // "...layers.L.mlp.experts."
};

class HfInput final : public ModelInput {
 public:
  explicit HfInput(const fs::path& folder)
      : folder_(folder),
        config_json_(read_json_file(folder / "config.json")),
        config_(load_config(folder)),
        store_(TensorStore::open(folder)),
        reader_(store_) {
    const ModelConfig& c = config_;
    layers_.resize(c.num_layers);
    for (int64_t l = 0; l < c.num_layers; ++l) {
      if (c.ffn_types[l] != FfnKind::kMoe) continue;
      LayerExperts& x = layers_[l];
      const std::string base = c.tensor_prefix + fmt::format("layers.{}.mlp.experts.", l);
      const int64_t E = c.num_experts, I = c.moe_intermediate_size, H = c.hidden_size;
      if (store_.has(base + "gate_up_proj")) {
        const int64_t gu[] = {E, 2 * I, H}, dn[] = {E, H, I};
        x.fused = true;
        x.gate_up = &store_.get(base + "gate_up_proj", gu);
        x.down = &store_.get(base + "down_proj", dn);
      } else {
        x.per_expert_prefix = base;
        matrix_tensor(l, 0, 0);  // fails early, naming the tensor, when the layout is neither
      }
    }
  }

  std::string kind() const override { return "hf"; }
  std::string source() const override { return folder_.string(); }
  const nlohmann::json& config_json() const override { return config_json_; }
  const ModelConfig& config() const override { return config_; }

  std::vector<StreamedTensor> resident_tensors() const override {
    std::vector<StreamedTensor> out;
    for (const std::string& name : store_.names()) {
      if (!is_resident(name)) continue;
      const TensorInfo* t = store_.find(name);
      out.push_back(
          {name, t->dtype, t->shape, [this, t](uint64_t offset, std::span<std::byte> dst) {
             reader_.read(*t, offset, dst);
           }});
    }
    return out;
  }

  std::vector<std::string> skipped_tensors() const override {
    std::vector<std::string> out;
    for (const std::string& name : store_.names())
      if (!is_resident(name) && name.find(".mlp.experts.") == std::string::npos)
        out.push_back(name);
    return out;
  }

  void write_packed_expert(int64_t layer, int64_t expert, const ExpertLayout& layout,
                           std::span<std::byte> record) const override {
    thread_local std::vector<std::byte> raw;
    thread_local std::vector<float> values;
    for (int which = 0; which < 3; ++which) {
      const PackedMatrix& m = which == 0 ? layout.gate : which == 1 ? layout.up : layout.down;
      auto [t, offset] = matrix_tensor(layer, expert, which);
      const size_t n = static_cast<size_t>(m.rows * m.cols);
      raw.resize(n * dtype_size(t->dtype));
      values.resize(n);
      const std::string what = fmt::format("{} (expert {} {})", t->name, expert, m.name);
      reader_.read(*t, offset, raw);
      convert_to_f32(t->dtype, raw, values, what);
      QuantMatrix q;
      try {
        q = quantize_rows(values, m.rows, m.cols, layout.bits, layout.group_size);
      } catch (const Error& e) {
        fail("{}: {}", what, e.what());
      }
      std::memcpy(record.data() + m.q.offset, q.q.data(), m.q.bytes);
      std::memcpy(record.data() + m.scales.offset, q.scales.data(), m.scales.bytes);
      std::memcpy(record.data() + m.biases.offset, q.biases.data(), m.biases.bytes);
    }
  }

  std::vector<fs::path> side_files() const override { return tokenizer_side_files(folder_); }

 private:
  // Resident: the text model's tensors outside the experts, and lm_head. Left out: vision tower,
  // multi-token-prediction head, anything else the engine never reads.
  bool is_resident(const std::string& name) const {
    if (name == "lm_head.weight") return true;
    return name.rfind(config_.tensor_prefix, 0) == 0 &&
           name.find(".mlp.experts.") == std::string::npos;
  }

  // Tensor and byte offset of matrix `which` (0 gate, 1 up, 2 down) of one expert.
  std::pair<const TensorInfo*, uint64_t> matrix_tensor(int64_t layer, int64_t expert,
                                                       int which) const {
    const ModelConfig& c = config_;
    const LayerExperts& x = layers_.at(layer);
    const int64_t I = c.moe_intermediate_size, H = c.hidden_size;
    if (x.fused) {
      if (which == 2) return {x.down, expert * H * I * dtype_size(x.down->dtype)};
      const uint64_t ds = dtype_size(x.gate_up->dtype);
      return {x.gate_up, (expert * 2 * I + (which == 1 ? I : 0)) * H * ds};
    }
    static const char* kNames[] = {"gate_proj", "up_proj", "down_proj"};
    const int64_t shape[] = {which == 2 ? H : I, which == 2 ? I : H};
    return {&store_.get(fmt::format("{}{}.{}.weight", x.per_expert_prefix, expert, kNames[which]),
                        shape),
            0};
  }

  fs::path folder_;
  nlohmann::json config_json_;
  ModelConfig config_;
  TensorStore store_;
  TensorReader reader_;
  std::vector<LayerExperts> layers_;
};

}  // namespace

std::vector<fs::path> tokenizer_side_files(const fs::path& folder) {
  std::vector<fs::path> out;
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "generation_config.json",
                           "special_tokens_map.json", "vocab.json", "merges.txt",
                           "chat_template.jinja", "chat_template.json"}) {
    std::error_code ec;
    if (fs::exists(folder / name, ec)) out.push_back(folder / name);
  }
  return out;
}

std::unique_ptr<ModelInput> open_hf_input(const fs::path& folder) {
  return std::make_unique<HfInput>(folder);
}

}  // namespace streammoe
