// `pack --resident-bits 8|4` from a Hugging Face folder and `synth`'s resident weights: every
// linear weight and the embedding is stored as exactly quantize_rows() of the source rows (codes
// U32, bf16 scales, biases when affine), every other tensor byte for byte as before; the manifest
// records the format; codes come first in the file (aligned); the widths and inputs that cannot
// be honoured are refused with one clear error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "engine/convert/pack.h"
#include "engine/convert/synth.h"
#include "engine/model/safetensors.h"
#include "engine/models/resident_format.h"
#include "engine/models/tensor_table.h"
#include "engine/ops/quant.h"
#include "engine/util/error.h"
#include "tests/common/error_of.h"
#include "tests/common/temp_dir.h"

namespace streammoe {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using streammoe::testing::error_of;
using testing::TempDir;

// Qwen3.5-MoE with every resident role; the shared expert is 96 wide, so its down_proj (96
// columns) is one weight groups of 64 do not fit.
nlohmann::json qwen35_config() {
  return {{"model_type", "qwen3_5_moe_text"},
          {"vocab_size", 96},
          {"hidden_size", 128},
          {"num_hidden_layers", 2},
          {"layer_types", {"linear_attention", "full_attention"}},
          {"num_attention_heads", 2},
          {"num_key_value_heads", 1},
          {"head_dim", 32},
          {"attn_output_gate", true},
          {"rope_parameters",
           {{"rope_type", "default"}, {"rope_theta", 10000.0}, {"partial_rotary_factor", 0.25}}},
          {"linear_conv_kernel_dim", 4},
          {"linear_key_head_dim", 32},
          {"linear_value_head_dim", 32},
          {"linear_num_key_heads", 1},
          {"linear_num_value_heads", 2},
          {"num_experts", 4},
          {"num_experts_per_tok", 2},
          {"moe_intermediate_size", 64},
          {"shared_expert_intermediate_size", 96},
          {"rms_norm_eps", 1e-6}};
}

std::vector<std::byte> bytes_of(const void* data, size_t n) {
  const auto* p = static_cast<const std::byte*>(data);
  return {p, p + n};
}
std::vector<std::byte> bytes_of(const TensorInfo& t) { return {t.data.begin(), t.data.end()}; }

struct ResidentCase {
  int bits;
  QuantScheme scheme;
};

class ResidentPack : public ::testing::TestWithParam<ResidentCase> {};

TEST_P(ResidentPack, LinearWeightsAreQuantizeRowsOfTheSourceAndTheRestIsCopied) {
  const ResidentCase p = GetParam();
  TempDir dir("resident-pack");
  SynthOptions synth;
  synth.seed = 5;
  write_synth_hf(qwen35_config(), synth, dir / "hf");
  PackRequest req;
  req.input = dir / "hf";
  req.output = dir / "packed";
  req.resident_bits = p.bits;
  const PackResult r = pack_model(req);
  EXPECT_EQ(r.manifest.resident, (ResidentFormat{p.bits, 64, p.scheme}));
  EXPECT_EQ(read_packed_manifest(dir / "packed").resident, r.manifest.resident);
  EXPECT_FALSE(r.resident_codes_kept);

  const ModelConfig c = load_config(dir / "hf");
  const ModelTensors tensors(c);
  const TensorStore source = TensorStore::open(dir / "hf");
  const TensorStore packed = TensorStore::open(dir / "packed");
  const QuantFormat format{p.bits, 64, p.scheme};
  size_t quantized = 0, kept = 0, copied = 0, arrays = 0;
  for (const NamedTensor& t : tensors.resident()) {
    const TensorInfo& src = source.get(t.name);
    const TensorInfo* dst = packed.find(t.name);
    ASSERT_NE(dst, nullptr) << t.name;
    ++arrays;
    if (!is_quantizable_resident(t.role) || t.shape[1] % 64 != 0) {
      EXPECT_EQ(dst->dtype, src.dtype) << t.name;
      EXPECT_EQ(dst->shape, src.shape) << t.name;
      EXPECT_EQ(bytes_of(*dst), bytes_of(src)) << t.name;
      (is_quantizable_resident(t.role) ? kept : copied) += 1;
      continue;
    }
    ++quantized;
    const QuantMatrix q = quantize_rows(to_f32(src), t.shape[0], t.shape[1], format);
    EXPECT_EQ(dst->dtype, DType::kU32) << t.name;
    EXPECT_EQ(dst->shape, quant_codes_shape(t.shape, format)) << t.name;
    EXPECT_EQ(bytes_of(*dst), bytes_of(q.q.data(), q.q.size() * 4)) << t.name;
    EXPECT_EQ(dst->file_offset % 4, 0u) << t.name << ": codes are read as uint32 in place";
    const TensorInfo& scales = packed.get(quant_scales_name(t.name));
    EXPECT_EQ(scales.dtype, DType::kBF16);
    EXPECT_EQ(scales.shape, quant_groups_shape(t.shape, format));
    EXPECT_EQ(bytes_of(scales), bytes_of(q.scales.data(), q.scales.size() * 2)) << t.name;
    ++arrays;
    if (p.scheme == QuantScheme::kSymmetric) {
      EXPECT_FALSE(packed.has(quant_biases_name(t.name))) << t.name;
    } else {
      const TensorInfo& biases = packed.get(quant_biases_name(t.name));
      EXPECT_EQ(bytes_of(biases), bytes_of(q.biases.data(), q.biases.size() * 2)) << t.name;
      ++arrays;
    }
  }
  // Embedding, lm_head, layer 0: qkv, z, b, a, out, shared gate/up; layer 1: q, k, v, o, shared
  // gate/up. Kept: the shared down_proj of both layers (96 columns).
  EXPECT_EQ(quantized, 15u);
  EXPECT_EQ(kept, 2u);
  EXPECT_EQ(r.resident_quantized, quantized);
  EXPECT_EQ(r.resident_kept_float, kept);
  EXPECT_GT(copied, 0u);
  EXPECT_EQ(packed.names().size(), arrays);
}

INSTANTIATE_TEST_SUITE_P(Widths, ResidentPack,
                         ::testing::Values(ResidentCase{8, QuantScheme::kSymmetric},
                                           ResidentCase{4, QuantScheme::kAffine}),
                         [](const auto& info) { return std::to_string(info.param.bits) + "bit"; });

TEST(ResidentPack, DefaultCopiesEveryResidentTensorAsBefore) {
  TempDir dir("resident-pack");
  write_synth_hf(qwen35_config(), {}, dir / "hf");
  PackRequest req;
  req.input = dir / "hf";
  req.output = dir / "packed";
  const PackResult r = pack_model(req);
  EXPECT_FALSE(r.manifest.resident.quantized());
  EXPECT_EQ(r.resident_quantized, 0u);
  const TensorStore source = TensorStore::open(dir / "hf");
  const TensorStore packed = TensorStore::open(dir / "packed");
  for (const std::string& name : packed.names()) {
    ASSERT_TRUE(source.has(name)) << name;
    EXPECT_EQ(packed.find(name)->dtype, source.find(name)->dtype) << name;
    EXPECT_EQ(bytes_of(*packed.find(name)), bytes_of(*source.find(name))) << name;
  }
}

// synth draws the same resident values whatever the width, then quantises them as pack does.
TEST(ResidentPack, SynthQuantisesTheSameDraws) {
  TempDir dir("resident-pack");
  const nlohmann::json config = qwen35_config();
  write_synth_hf(config, {}, dir / "hf");
  PackOptions options;
  options.resident = resident_format_for_bits(4);
  const PackResult r =
      write_packed_model(*make_synth_input(config, {}, "synth"), dir / "s4", options);
  EXPECT_EQ(r.manifest.resident.bits, 4);
  EXPECT_EQ(r.resident_quantized, 15u);
  const TensorStore source = TensorStore::open(dir / "hf");
  const TensorStore packed = TensorStore::open(dir / "s4");
  const ModelTensors tensors(load_config(dir / "hf"));
  const std::string embed = tensors.name(TensorRole::kEmbed);
  const QuantMatrix q = quantize_rows(to_f32(source.get(embed)), 96, 128, 4, 64);
  EXPECT_EQ(bytes_of(packed.get(embed)), bytes_of(q.q.data(), q.q.size() * 4));
  EXPECT_EQ(bytes_of(packed.get(quant_biases_name(embed))),
            bytes_of(q.biases.data(), q.biases.size() * 2));
}

TEST(ResidentPack, RefusesWidthsItHasNoFormatFor) {
  TempDir dir("resident-pack");
  write_synth_hf(qwen35_config(), {}, dir / "hf");
  PackRequest req;
  req.input = dir / "hf";
  req.output = dir / "packed";
  for (int bits : {3, 2, 32}) {
    req.resident_bits = bits;
    EXPECT_THAT(error_of([&] { pack_model(req); }),
                AllOf(HasSubstr("resident bits " + std::to_string(bits)), HasSubstr("16, 8 or 4")));
  }
  EXPECT_FALSE(fs::exists(dir / "packed"));  // refused before anything is written
  PackOptions options;
  options.resident = {4, 64, QuantScheme::kSymmetric};
  EXPECT_THAT(error_of([&] {
                write_packed_model(*make_synth_input(qwen35_config(), {}, "synth"), dir / "s",
                                   options);
              }),
              AllOf(HasSubstr("synth"), HasSubstr("symmetric")));
}

// An input whose resident weights are stored quantised in another format than the one asked for.
class StoredEightBit final : public ModelInput {
 public:
  StoredEightBit() : inner_(make_synth_input(qwen35_config(), {}, "stored")) {}
  std::string kind() const override { return "fake"; }
  std::string source() const override { return "stored-8bit"; }
  const nlohmann::json& config_json() const override { return inner_->config_json(); }
  const ModelConfig& config() const override { return inner_->config(); }
  std::vector<StreamedTensor> resident_tensors() const override {
    return inner_->resident_tensors();
  }
  std::optional<QuantFormat> stored_resident_quantization() const override {
    return QuantFormat{8, 64, QuantScheme::kAffine};
  }
  void write_packed_expert(int64_t layer, int64_t expert, const ExpertLayout& layout,
                           std::span<std::byte> record) const override {
    inner_->write_packed_expert(layer, expert, layout, record);
  }

 private:
  std::unique_ptr<ModelInput> inner_;
};

TEST(ResidentPack, RefusesToRequantiseStoredCodesAtFourBits) {
  TempDir dir("resident-pack");
  PackOptions options;
  options.resident = resident_format_for_bits(4);
  EXPECT_THAT(error_of([&] { write_packed_model(StoredEightBit(), dir / "a", options); }),
              AllOf(HasSubstr("stored-8bit"), HasSubstr("stored 8-bit"), HasSubstr("requantise")));
  // 8 bits dequantises them (here: a float view) and quantises to its own format.
  options.resident = resident_format_for_bits(8);
  const PackResult r = write_packed_model(StoredEightBit(), dir / "b", options);
  EXPECT_FALSE(r.resident_codes_kept);
  EXPECT_EQ(r.resident_quantized, 15u);
}

}  // namespace
}  // namespace streammoe
