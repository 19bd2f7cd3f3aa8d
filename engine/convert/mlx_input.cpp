// ModelInput for an MLX checkpoint (mlx_lm.convert -q): config.json carries
//   "quantization": {"group_size": 64, "bits": 4, "<module path>": {"group_size": .., "bits": ..},
//   ...}
// and every quantised Linear/Embedding is three tensors: weight (uint32 codes, [.., rows,
// cols*bits/32]), scales and biases ([.., rows, cols/group_size]); experts are stacked on a
// leading axis as mlp.switch_mlp.{gate,up,down}_proj. The expert codes are copied byte for byte
// into the packed records (no dequantise-requantise); quantised resident weights are dequantised
// to their scales' dtype for a folder with unquantised (or 8-bit) resident weights, or kept as
// they are, codes byte for byte, for one with 4-bit resident weights (resident_tensors_as_stored).
//
// Names are mapped back to transformers' (mlx_lm's "[language_model.]model." -> the config's
// prefix, "[language_model.]lm_head." -> lm_head) and read by role from the tensor table
// (engine/models/tensor_table.h); what mlx_lm's Qwen3.5 sanitize() changed is
// undone: conv1d weights [C, K, 1] become [C, 1, K], and the RMSNorm weights it shifted by +1
// (input/post-attention/final/q/k norms, shifted whenever conv1d is in MLX layout) lose the 1
// again, stored as F32 so the subtraction is exact.
#include <cstring>
#include <fstream>
#include <set>

#include "engine/convert/model_input.h"
#include "engine/convert/tensor_reader.h"
#include "engine/models/resident_format.h"
#include "engine/models/tensor_table.h"
#include "engine/util/error.h"

namespace streammoe {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

json read_config(const fs::path& folder) {
  const fs::path path = folder / "config.json";
  std::ifstream in(path);
  if (!in) fail("{}: cannot open", path.string());
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    fail("{}: not valid JSON: {}", path.string(), e.what());
  }
}

json without_quantization(json config) {
  for (json* j : {&config, config.contains("text_config") ? &config["text_config"] : nullptr}) {
    if (!j) continue;
    j->erase("quantization");
    j->erase("quantization_config");
  }
  return config;
}

// mlx_lm's module path of the text model, and the wrapper the multimodal model types add.
constexpr std::string_view kMlxTextModel = "model.";
constexpr std::string_view kMlxWrapper = "language_model.";

struct QuantSpec {
  int bits = 0;
  int group_size = 0;
};

// Unpacks code `col` of a row of uint32 words; bits must divide 32.
inline uint32_t code_at(const uint32_t* row_words, int64_t col, int bits) {
  const int per_word = 32 / bits;
  return (row_words[col / per_word] >> ((col % per_word) * bits)) & ((1u << bits) - 1u);
}

class MlxInput final : public ModelInput {
 public:
  explicit MlxInput(const fs::path& folder)
      : folder_(folder),
        raw_config_(read_config(folder)),
        config_json_(without_quantization(raw_config_)),
        config_(parse_config(config_json_.dump(), (folder / "config.json").string())),
        store_(TensorStore::open(folder)),
        reader_(store_),
        tensors_(config_),
        lm_head_module_(module_of(tensors_.name(TensorRole::kLmHead))) {
    const json& q = raw_config_.at("quantization");
    if (q.contains("mode") && q["mode"] != "affine")
      fail("{}: quantization mode {} is not supported (only affine)", where(), q["mode"].dump());
    default_ = {q.value("bits", 0), q.value("group_size", 0)};
    for (const std::string& name : store_.names())
      if (starts_with(name, std::string(kMlxWrapper) + std::string(kMlxTextModel))) {
        wrapper_ = kMlxWrapper;
        break;
      }
    shifted_norms_ = config_.arch == Arch::kQwen3_5Moe;
    for (const std::string& name : store_.names())
      if (role_of(name) == TensorRole::kLinearConv1d && store_.find(name)->shape.back() != 1)
        shifted_norms_ = false;
    check_experts();
  }

  std::string kind() const override { return "mlx"; }
  std::string source() const override { return folder_.string(); }
  const json& config_json() const override { return config_json_; }
  const ModelConfig& config() const override { return config_; }
  std::optional<ExpertQuantization> stored_expert_quantization() const override {
    return expert_quant_;
  }
  std::vector<fs::path> side_files() const override { return tokenizer_side_files(folder_); }

  std::vector<std::string> skipped_tensors() const override {
    std::vector<std::string> out;
    for (const std::string& name : store_.names())
      if (!is_companion(name) && hf_name(name).empty() && !tensors_.is_routed_expert_name(name))
        out.push_back(name);
    return out;
  }

  std::vector<StreamedTensor> resident_tensors() const override { return resident(false); }
  std::vector<StreamedTensor> resident_tensors_as_stored() const override { return resident(true); }

  std::optional<QuantFormat> stored_resident_quantization() const override {
    std::optional<QuantFormat> format;
    std::string first;
    for (const std::string& name : store_.names()) {
      if (!keeps_codes(name)) continue;
      const QuantSpec s = spec_of(module_of(name));
      const QuantFormat f{s.bits, s.group_size, QuantScheme::kAffine};
      if (format && (format->bits != f.bits || format->group_size != f.group_size))
        fail("{}: resident weights mix quantisations ({} is {}-bit / group {}, {} is {}-bit / "
             "group {}); pack with --resident-bits 8 or 16 to dequantise them",
             where(), module_of(first), format->bits, format->group_size, module_of(name), f.bits,
             f.group_size);
      if (!format) first = name;
      format = f;
    }
    return format;
  }

  void write_packed_expert(int64_t layer, int64_t expert, const ExpertLayout& layout,
                           std::span<std::byte> record) const override {
    thread_local std::vector<std::byte> raw;
    thread_local std::vector<float> values;
    for (auto [role, m] : {std::pair{TensorRole::kMlxExpertsGate, &layout.gate},
                           std::pair{TensorRole::kMlxExpertsUp, &layout.up},
                           std::pair{TensorRole::kMlxExpertsDown, &layout.down}}) {
      const std::string module = expert_module(layer, role);
      const TensorInfo& w = store_.get(module + ".weight");
      reader_.read(w, expert * m->q.bytes, {record.data() + m->q.offset, m->q.bytes});
      for (const char* part : {"scales", "biases"}) {
        const TensorInfo& t = store_.get(module + "." + part);
        const ByteRange& range = std::string(part) == "scales" ? m->scales : m->biases;
        const uint64_t n = range.bytes / 2;
        if (t.dtype == DType::kBF16) {
          reader_.read(t, expert * range.bytes, {record.data() + range.offset, range.bytes});
          continue;
        }
        // F16/F32 scales: rounded to bf16, the packed format's scale type (noted in the summary).
        raw.resize(n * dtype_size(t.dtype));
        values.resize(n);
        reader_.read(t, expert * n * dtype_size(t.dtype), raw);
        convert_to_f32(t.dtype, raw, values, t.name);
        convert_from_f32(values, DType::kBF16, {record.data() + range.offset, range.bytes});
      }
    }
  }

 private:
  std::string where() const { return (folder_ / "config.json").string(); }
  static std::string module_of(const std::string& name) { return name.substr(0, name.rfind('.')); }

  bool is_companion(const std::string& name) const {
    return (ends_with(name, ".scales") || ends_with(name, ".biases")) &&
           store_.has(module_of(name) + ".weight");
  }

  // The transformers name, or "" for tensors the engine does not use (vision tower, MTP).
  std::string hf_name(const std::string& name) const {
    if (!starts_with(name, wrapper_)) return "";
    const std::string inner = name.substr(wrapper_.size());
    if (starts_with(inner, std::string(kMlxTextModel)))
      return config_.tensor_prefix + inner.substr(kMlxTextModel.size());
    if (starts_with(inner, lm_head_module_ + ".")) return inner;
    return "";
  }
  // The inverse, for a name of the text model.
  std::string mlx_name(const std::string& hf) const {
    return wrapper_ + std::string(kMlxTextModel) + hf.substr(config_.tensor_prefix.size());
  }
  std::optional<TensorRole> role_of(const std::string& name) const {
    return tensors_.role_of(hf_name(name));
  }

  // The RMSNorms mlx_lm's sanitize() shifts by +1 (not the gated DeltaNet norm).
  static bool is_shifted_norm(std::optional<TensorRole> role) {
    using R = TensorRole;
    return role == R::kInputNorm || role == R::kPostAttentionNorm || role == R::kQNorm ||
           role == R::kKNorm || role == R::kFinalNorm;
  }

  QuantSpec spec_of(const std::string& module) const {
    const json& q = raw_config_.at("quantization");
    auto it = q.find(module);
    // Some writers key the modules without the wrapper.
    if (it == q.end() && starts_with(module, std::string(kMlxWrapper)))
      it = q.find(module.substr(kMlxWrapper.size()));
    if (it != q.end() && it->is_object())
      return {it->value("bits", default_.bits), it->value("group_size", default_.group_size)};
    return default_;
  }

  // The quantised module (without .weight/.scales/.biases) of a layer's stacked experts.
  std::string expert_module(int64_t layer, TensorRole role) const {
    return module_of(mlx_name(tensors_.name(role, layer)));
  }

  void check_experts() {
    const ModelConfig& c = config_;
    for (int64_t l = 0; l < c.num_layers; ++l) {
      if (c.ffn_types[l] != FfnKind::kMoe) continue;
      for (TensorRole role : {TensorRole::kMlxExpertsGate, TensorRole::kMlxExpertsUp,
                              TensorRole::kMlxExpertsDown}) {
        const std::string module = expert_module(l, role);
        const TensorShape shape = tensors_.shape(role);  // [experts, rows, cols], dequantised
        const int64_t E = shape[0], rows = shape[1], cols = shape[2];
        if (!store_.has(module + ".weight"))
          fail("{}: missing tensor {}.weight (MLX stacks each layer's experts in one tensor per "
               "matrix)",
               folder_.string(), module);
        if (!store_.has(module + ".scales") || !store_.has(module + ".biases"))
          fail(
              "{}: {} is not affine-quantised (no scales/biases): pack the bf16 checkpoint instead",
              folder_.string(), module);
        const QuantSpec s = spec_of(module);
        if (s.bits != 2 && s.bits != 4)
          fail("{}: {} is {}-bit; the packed format holds 2- or 4-bit experts", where(), module,
               s.bits);
        if (s.group_size <= 0 || cols % s.group_size != 0)
          fail("{}: {}: group size {} does not divide {} columns", where(), module, s.group_size,
               cols);
        if (expert_quant_ &&
            (expert_quant_->bits != s.bits || expert_quant_->group_size != s.group_size))
          fail(
              "{}: {} is {}-bit / group {}, other experts {}-bit / group {}: mixed expert "
              "quantisation is not supported",
              where(), module, s.bits, s.group_size, expert_quant_->bits,
              expert_quant_->group_size);
        expert_quant_ = ExpertQuantization{s.bits, s.group_size};
        const int64_t w_shape[] = {E, rows, cols * s.bits / 32},
                      s_shape[] = {E, rows, cols / s.group_size};
        const TensorInfo& w = store_.get(module + ".weight", w_shape);
        if (w.dtype != DType::kU32)
          fail("{}: {}.weight is {}, expected U32 codes", folder_.string(), module,
               enum_name(w.dtype));
        const TensorInfo& sc = store_.get(module + ".scales", s_shape);
        const TensorInfo& bi = store_.get(module + ".biases", s_shape);
        if (sc.dtype != bi.dtype)
          fail("{}: {} scales and biases differ in dtype", folder_.string(), module);
      }
    }
  }

  StreamedTensor dequantized(const std::string& hf, const std::string& name) const {
    const std::string module = module_of(name);
    const QuantSpec s = spec_of(module);
    const TensorInfo* w = store_.find(name);
    const TensorInfo* sc = &store_.get(module + ".scales");
    const TensorInfo* bi = &store_.get(module + ".biases");
    if (s.bits <= 0 || 32 % s.bits != 0)
      fail("{}: {} is {}-bit; resident weights are dequantised only for 1/2/4/8/16 bits", where(),
           module, s.bits);
    if (w->shape.size() != 2 || w->dtype != DType::kU32)
      fail("{}: {}.weight: expected 2-D U32 codes, got {} {}", folder_.string(), module,
           enum_name(w->dtype), w->shape_string());
    const int64_t rows = w->shape[0], cols = w->shape[1] * 32 / s.bits;
    if (s.group_size <= 0 || cols % s.group_size != 0 ||
        sc->shape != std::vector<int64_t>{rows, cols / s.group_size} || bi->shape != sc->shape)
      fail("{}: {}: scales {} / biases {} do not fit [{}, {}] codes with group size {}",
           folder_.string(), module, sc->shape_string(), bi->shape_string(), rows, cols,
           s.group_size);
    const DType out = sc->dtype;
    const int bits = s.bits, group = s.group_size;
    return {hf, out, {rows, cols}, [=, this](uint64_t offset, std::span<std::byte> dst) {
              const uint64_t row_bytes = cols * dtype_size(out);
              const int64_t r0 = static_cast<int64_t>(offset / row_bytes),
                            n = static_cast<int64_t>(dst.size() / row_bytes);
              const int64_t words = cols * bits / 32, groups = cols / group;
              // Reused per thread: chunk-sized allocations each call make glibc's heap grow.
              thread_local std::vector<uint32_t> codes;
              thread_local std::vector<std::byte> raw;
              thread_local std::vector<float> scales, biases, values;
              codes.resize(n * words);
              raw.resize(n * groups * dtype_size(sc->dtype));
              scales.resize(n * groups);
              biases.resize(n * groups);
              values.resize(n * cols);
              reader_.read(*w, r0 * words * 4, std::as_writable_bytes(std::span(codes)));
              reader_.read(*sc, r0 * groups * dtype_size(sc->dtype), raw);
              convert_to_f32(sc->dtype, raw, scales, sc->name);
              reader_.read(*bi, r0 * groups * dtype_size(bi->dtype), raw);
              convert_to_f32(bi->dtype, raw, biases, bi->name);
              for (int64_t r = 0; r < n; ++r)
                for (int64_t col = 0; col < cols; ++col) {
                  const int64_t g = r * groups + col / group;
                  values[r * cols + col] =
                      static_cast<float>(code_at(&codes[r * words], col, bits)) * scales[g] +
                      biases[g];
                }
              convert_from_f32(values, out, dst);
            }};
  }

  StreamedTensor unshifted_norm(const std::string& hf, const TensorInfo& t) const {
    const TensorInfo* src = &t;
    return {hf, DType::kF32, t.shape, [this, src](uint64_t offset, std::span<std::byte> dst) {
              const size_t n = dst.size() / 4, first = offset / 4;
              thread_local std::vector<std::byte> raw;
              thread_local std::vector<float> values;
              raw.resize(n * dtype_size(src->dtype));
              values.resize(n);
              reader_.read(*src, first * dtype_size(src->dtype), raw);
              convert_to_f32(src->dtype, raw, values, src->name);
              for (float& v : values) v -= 1.0f;
              std::memcpy(dst.data(), values.data(), dst.size());
            }};
  }

  // Every resident tensor; with keep_codes, the quantised linear weights and embedding as stored.
  std::vector<StreamedTensor> resident(bool keep_codes) const {
    std::vector<StreamedTensor> out;
    for (const std::string& name : store_.names()) {
      if (is_companion(name) || tensors_.is_routed_expert_name(name)) continue;
      const std::string hf = hf_name(name);
      if (hf.empty()) continue;
      const TensorInfo* t = store_.find(name);
      if (keep_codes && keeps_codes(name)) {
        append_as_stored(hf, name, out);
      } else if (ends_with(name, ".weight") && store_.has(module_of(name) + ".scales")) {
        out.push_back(dequantized(hf, name));
      } else if (shifted_norms_ && is_shifted_norm(tensors_.role_of(hf))) {
        out.push_back(unshifted_norm(hf, *t));
      } else {
        std::vector<int64_t> shape = t->shape;
        if (role_of(name) == TensorRole::kLinearConv1d && shape.size() == 3 && shape[2] == 1)
          shape = {shape[0], 1, shape[1]};
        out.push_back({hf, t->dtype, shape, [this, t](uint64_t offset, std::span<std::byte> dst) {
                         reader_.read(*t, offset, dst);
                       }});
      }
    }
    return out;
  }

  // A quantised weight whose codes a packed folder with quantised resident weights keeps: a
  // linear weight or the embedding (not a router: those keep a float dtype).
  bool keeps_codes(const std::string& name) const {
    if (is_companion(name) || !ends_with(name, ".weight") || !store_.has(module_of(name) + ".scales"))
      return false;
    const std::optional<TensorRole> role = role_of(name);
    return role && is_quantizable_resident(*role);
  }

  // Codes as they are; scales and biases as bf16 (F16/F32 ones rounded, as for the experts).
  void append_as_stored(const std::string& hf, const std::string& name,
                        std::vector<StreamedTensor>& out) const {
    const TensorInfo* w = store_.find(name);
    out.push_back({hf, w->dtype, w->shape, [this, w](uint64_t offset, std::span<std::byte> dst) {
                     reader_.read(*w, offset, dst);
                   }});
    const std::string module = module_of(name);
    for (const auto& [part, hf_part] : {std::pair{module + ".scales", quant_scales_name(hf)},
                                        std::pair{module + ".biases", quant_biases_name(hf)}}) {
      const TensorInfo* t = &store_.get(part);
      out.push_back({hf_part, DType::kBF16, t->shape,
                     [this, t](uint64_t offset, std::span<std::byte> dst) {
                       if (t->dtype == DType::kBF16) return reader_.read(*t, offset, dst);
                       thread_local std::vector<std::byte> raw;
                       thread_local std::vector<float> values;
                       const size_t n = dst.size() / 2;
                       raw.resize(n * dtype_size(t->dtype));
                       values.resize(n);
                       reader_.read(*t, offset / 2 * dtype_size(t->dtype), raw);
                       convert_to_f32(t->dtype, raw, values, t->name);
                       convert_from_f32(values, DType::kBF16, dst);
                     }});
    }
  }

  fs::path folder_;
  json raw_config_;
  json config_json_;
  ModelConfig config_;
  TensorStore store_;
  TensorReader reader_;
  ModelTensors tensors_;
  std::string lm_head_module_;  // "lm_head"
  std::string wrapper_;         // "" or kMlxWrapper
  QuantSpec default_;
  bool shifted_norms_ = false;
  std::optional<ExpertQuantization> expert_quant_;
};

}  // namespace

bool is_mlx_checkpoint(const fs::path& folder) {
  std::ifstream in(folder / "config.json");
  if (!in) return false;
  try {
    const json j = json::parse(in);
    return j.is_object() && j.contains("quantization") && j["quantization"].is_object();
  } catch (const json::exception&) {
    return false;
  }
}

std::unique_ptr<ModelInput> open_mlx_input(const fs::path& folder) {
  return std::make_unique<MlxInput>(folder);
}

}  // namespace streammoe
