// ModelInput for a Hugging Face folder: resident tensors copied byte for byte in their stored
// dtype; each expert read (pread), converted to f32 and quantised with quantize_rows.
#include <fmt/format.h>

#include <cstring>
#include <fstream>

#include "engine/convert/model_input.h"
#include "engine/convert/tensor_reader.h"
#include "engine/models/tensor_table.h"
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

class HfInput final : public ModelInput {
 public:
  explicit HfInput(const fs::path& folder)
      : folder_(folder),
        config_json_(read_json_file(folder / "config.json")),
        config_(load_config(folder)),
        store_(TensorStore::open(folder)),
        reader_(store_),
        tensors_(config_) {
    // Fails early, naming the tensor, when a layer's experts are in neither layout.
    for (int64_t l = 0; l < config_.num_layers; ++l)
      if (config_.ffn_types[l] == FfnKind::kMoe) locate_expert(store_, tensors_, l, 0);
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
      if (!is_resident(name) && !tensors_.is_routed_expert_name(name))
        out.push_back(name);
    return out;
  }

  void write_packed_expert(int64_t layer, int64_t expert, const ExpertLayout& layout,
                           std::span<std::byte> record) const override {
    thread_local std::vector<std::byte> raw;
    thread_local std::vector<float> values;
    const StoredExpert x = locate_expert(store_, tensors_, layer, expert);
    for (auto [stored, m] : {std::pair{&x.gate, &layout.gate}, std::pair{&x.up, &layout.up},
                             std::pair{&x.down, &layout.down}}) {
      const TensorInfo* t = stored->tensor;
      const uint64_t offset = stored->offset;
      const size_t n = static_cast<size_t>(m->rows * m->cols);
      raw.resize(n * dtype_size(t->dtype));
      values.resize(n);
      const std::string what = fmt::format("{} (expert {} {})", t->name, expert, m->name);
      reader_.read(*t, offset, raw);
      convert_to_f32(t->dtype, raw, values, what);
      QuantMatrix q;
      try {
        q = quantize_rows(values, m->rows, m->cols, layout.bits, layout.group_size);
      } catch (const Error& e) {
        fail("{}: {}", what, e.what());
      }
      std::memcpy(record.data() + m->q.offset, q.q.data(), m->q.bytes);
      std::memcpy(record.data() + m->scales.offset, q.scales.data(), m->scales.bytes);
      std::memcpy(record.data() + m->biases.offset, q.biases.data(), m->biases.bytes);
    }
  }

  std::vector<fs::path> side_files() const override { return tokenizer_side_files(folder_); }

 private:
  // Resident: the text model's tensors outside the routed experts, and lm_head. Left out: vision
  // tower, multi-token-prediction head, anything else the engine never reads.
  bool is_resident(const std::string& name) const {
    if (name == tensors_.name(TensorRole::kLmHead)) return true;
    return name.rfind(config_.tensor_prefix, 0) == 0 && !tensors_.is_routed_expert_name(name);
  }

  fs::path folder_;
  nlohmann::json config_json_;
  ModelConfig config_;
  TensorStore store_;
  TensorReader reader_;
  ModelTensors tensors_;
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
