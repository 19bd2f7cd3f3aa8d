// `pack` from a Hugging Face folder: every expert record holds exactly quantize_rows() of the
// source matrix (fused 3-D or per-expert tensors, 4 and 2 bits), resident tensors are copied byte
// for byte, and shapes the group size does not divide are refused with a clear error.
#include "engine/convert/pack.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "engine/convert/synth.h"
#include "engine/model/safetensors.h"
#include "engine/ops/quant.h"
#include "engine/util/error.h"
#include "tests/common/temp_dir.h"

namespace streammoe {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

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
          {"shared_expert_intermediate_size", 64},
          {"rms_norm_eps", 1e-6}};
}

std::vector<std::byte> read_record(const std::filesystem::path& folder, int64_t layer,
                                   int64_t expert, const PackedManifest& m) {
  std::vector<std::byte> bytes(m.layout.expert_bytes);
  std::ifstream in(folder / expert_file_name(layer), std::ios::binary);
  in.seekg(static_cast<std::streamoff>(expert * m.layout.expert_stride));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return bytes;
}

// Source matrix (expert, which) of layer L as f32, for either HF layout.
std::vector<float> source_matrix(const TensorStore& store, const std::string& prefix, int64_t layer,
                                 int64_t expert, int which, int64_t I, int64_t H) {
  const std::string base = prefix + "layers." + std::to_string(layer) + ".mlp.experts.";
  if (store.has(base + "gate_up_proj")) {
    const std::vector<float> all =
        to_f32(*store.find(which == 2 ? base + "down_proj" : base + "gate_up_proj"));
    const int64_t per_expert = which == 2 ? H * I : 2 * I * H;
    const int64_t start = expert * per_expert + (which == 1 ? I * H : 0);
    return {all.begin() + start, all.begin() + start + I * H};
  }
  const char* names[] = {"gate_proj", "up_proj", "down_proj"};
  return to_f32(*store.find(base + std::to_string(expert) + "." + names[which] + ".weight"));
}

struct PackCase {
  HfExpertLayout layout;
  int bits;
};

class PackFromHf : public ::testing::TestWithParam<PackCase> {};

TEST_P(PackFromHf, RecordsAreQuantizeRowsOfTheSource) {
  const PackCase p = GetParam();
  TempDir dir("pack");
  SynthOptions synth;
  synth.seed = 11;
  write_synth_hf(qwen35_config(), synth, dir / "hf", p.layout);
  PackRequest req;
  req.input = dir / "hf";
  req.output = dir / "packed";
  req.bits = p.bits;
  const PackResult r = pack_model(req);
  const PackedManifest& m = r.manifest;
  EXPECT_EQ(m.source_kind, "hf");
  EXPECT_EQ(m.layout.bits, p.bits);
  ASSERT_EQ(m.layers.size(), 2u);

  const TensorStore source = TensorStore::open(dir / "hf");
  for (int64_t layer : {0, 1})
    for (int64_t expert : {0, 3}) {
      const auto rec = read_record(dir / "packed", layer, expert, m);
      int which = 0;
      for (const PackedMatrix* pm : {&m.layout.gate, &m.layout.up, &m.layout.down}) {
        const auto values = source_matrix(source, "model.", layer, expert, which++, 64, 128);
        const QuantMatrix q = quantize_rows(values, pm->rows, pm->cols, p.bits, 64);
        ASSERT_EQ(std::memcmp(rec.data() + pm->q.offset, q.q.data(), pm->q.bytes), 0) << pm->name;
        ASSERT_EQ(std::memcmp(rec.data() + pm->scales.offset, q.scales.data(), pm->scales.bytes), 0)
            << pm->name;
        ASSERT_EQ(std::memcmp(rec.data() + pm->biases.offset, q.biases.data(), pm->biases.bytes), 0)
            << pm->name;
      }
    }

  // Resident tensors: every non-expert tensor, byte for byte; no expert tensor.
  const TensorStore packed = TensorStore::open(dir / "packed");
  size_t resident = 0;
  for (const std::string& name : source.names()) {
    if (name.find(".mlp.experts.") != std::string::npos) {
      EXPECT_FALSE(packed.has(name)) << name;
      continue;
    }
    ++resident;
    const TensorInfo* a = source.find(name);
    const TensorInfo* b = packed.find(name);
    ASSERT_NE(b, nullptr) << name;
    EXPECT_EQ(a->dtype, b->dtype);
    EXPECT_EQ(a->shape, b->shape);
    ASSERT_EQ(a->data.size(), b->data.size());
    EXPECT_EQ(std::memcmp(a->data.data(), b->data.data(), a->data.size()), 0) << name;
  }
  EXPECT_EQ(packed.names().size(), resident);
  EXPECT_EQ(r.resident_tensors, resident);
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, PackFromHf,
    ::testing::Values(PackCase{HfExpertLayout::kFused, 4}, PackCase{HfExpertLayout::kFused, 2},
                      PackCase{HfExpertLayout::kPerExpert, 4}),
    [](const auto& info) {
      return std::string(info.param.layout == HfExpertLayout::kFused ? "fused" : "per_expert") +
             std::to_string(info.param.bits) + "bit";
    });

TEST(Pack, RefusesShapesTheGroupSizeDoesNotDivide) {
  TempDir dir("pack");
  auto config = qwen35_config();
  config["moe_intermediate_size"] = 32;  // down_proj has 32 columns
  write_synth_hf(config, {}, dir / "hf");
  PackRequest req;
  req.input = dir / "hf";
  req.output = dir / "packed";
  try {
    pack_model(req);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("group size 64"), HasSubstr("32")));
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "packed" / kPackedManifestName));
  req.group_size = 32;  // 32 divides both 32 and 128
  req.output = dir / "packed32";
  EXPECT_EQ(pack_model(req).manifest.layout.group_size, 32);
}

TEST(Pack, APackedFolderAsInputIsNamedForWhatItIs) {
  TempDir dir("pack");
  write_synth_hf(qwen35_config(), {}, dir / "hf");
  PackRequest req;
  req.input = dir / "hf";
  req.output = dir / "packed";
  pack_model(req);
  req.input = dir / "packed";
  req.output = dir / "again";
  try {
    pack_model(req);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr((dir / "packed").string() + ": is already a packed model (it has streammoe.json)"));
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "again"));
}

TEST(Pack, MissingExpertTensorIsNamed) {
  TempDir dir("pack");
  write_synth_hf(qwen35_config(), {}, dir / "hf", HfExpertLayout::kPerExpert);
  // Drop the model file for one without layer 1's experts: rewrite config with more layers.
  auto config = qwen35_config();
  config["num_hidden_layers"] = 3;
  config["layer_types"] = {"linear_attention", "full_attention", "linear_attention"};
  std::ofstream(dir / "hf" / "config.json") << config.dump();
  PackRequest req;
  req.input = dir / "hf";
  req.output = dir / "packed";
  try {
    pack_model(req);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("layers.2.mlp.experts.0.gate_proj.weight"));
  }
}

}  // namespace
}  // namespace streammoe
