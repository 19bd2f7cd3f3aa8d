// `pack` from the MLX 4-bit fixtures (tools/make_mlx_fixture.py): expert codes, scales and biases
// land in the packed records byte for byte (no dequantise-requantise); resident weights come out
// exactly as the fixture's Hugging Face twin holds them (dequantised, names mapped back, Qwen3.5
// norm shift and conv layout undone); requantising requests and unsupported inputs are refused.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "engine/convert/model_input.h"
#include "engine/convert/pack.h"
#include "engine/model/safetensors.h"
#include "engine/models/resident_format.h"
#include "engine/models/tensor_table.h"
#include "engine/util/error.h"
#include "tests/common/temp_dir.h"

namespace streammoe {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::TempDir;

const fs::path kMlx = fs::path(STREAMMOE_SOURCE_DIR) / "tests/fixtures/mlx";

struct MlxCase {
  std::string name;
  std::string mlx_prefix;  // where the text model's tensors live in the MLX file
  std::vector<int64_t> moe_layers;
};

class MlxPack : public ::testing::TestWithParam<MlxCase> {};

TEST_P(MlxPack, ExpertBytesAreCopiedAndResidentsMatchTheTwin) {
  const MlxCase& p = GetParam();
  TempDir dir("mlx-pack");
  ASSERT_TRUE(is_mlx_checkpoint(kMlx / p.name));
  ASSERT_FALSE(is_mlx_checkpoint(kMlx / (p.name + "_hf")));
  PackRequest req;
  req.input = kMlx / p.name;
  req.output = dir / "packed";
  const PackResult r = pack_model(req);
  const PackedManifest& m = r.manifest;
  EXPECT_EQ(m.source_kind, "mlx");
  EXPECT_EQ(m.layout.bits, 4);
  EXPECT_EQ(m.layout.group_size, 64);
  ASSERT_EQ(m.layers.size(), p.moe_layers.size());

  const TensorStore mlx = TensorStore::open(kMlx / p.name);
  for (size_t i = 0; i < p.moe_layers.size(); ++i) {
    const int64_t layer = p.moe_layers[i];
    EXPECT_EQ(m.layers[i].layer, layer);
    std::ifstream file(dir / "packed" / m.layers[i].file, std::ios::binary);
    std::vector<char> record(m.layout.expert_bytes);
    for (int64_t e = 0; e < m.num_experts; ++e) {
      file.seekg(static_cast<std::streamoff>(e * m.layout.expert_stride));
      file.read(record.data(), static_cast<std::streamsize>(record.size()));
      for (const PackedMatrix* pm : {&m.layout.gate, &m.layout.up, &m.layout.down}) {
        const std::string module =
            p.mlx_prefix + "layers." + std::to_string(layer) + ".mlp.switch_mlp." + pm->name;
        for (auto [part, range] : {std::pair{".weight", pm->q}, std::pair{".scales", pm->scales},
                                   std::pair{".biases", pm->biases}}) {
          const TensorInfo& t = mlx.get(module + part);
          ASSERT_EQ(std::memcmp(record.data() + range.offset, t.data.data() + e * range.bytes,
                                range.bytes),
                    0)
              << module << part << " expert " << e;
        }
      }
    }
  }

  const TensorStore twin = TensorStore::open(kMlx / (p.name + "_hf"));
  const TensorStore packed = TensorStore::open(dir / "packed");
  size_t compared = 0;
  for (const std::string& name : twin.names()) {
    if (name.find(".mlp.experts.") != std::string::npos) continue;
    const TensorInfo* a = twin.find(name);
    const TensorInfo* b = packed.find(name);
    ASSERT_NE(b, nullptr) << name;
    EXPECT_EQ(enum_name(a->dtype), enum_name(b->dtype)) << name;
    EXPECT_EQ(a->shape, b->shape) << name;
    ASSERT_EQ(a->data.size(), b->data.size()) << name;
    EXPECT_EQ(std::memcmp(a->data.data(), b->data.data(), a->data.size()), 0) << name;
    ++compared;
  }
  EXPECT_EQ(packed.names().size(), compared);
}

// --resident-bits 4: the resident linear weights and the embedding keep MLX's codes, scales and
// biases byte for byte under the Hugging Face names; routers (8-bit in these fixtures) and every
// other tensor are what the default pack writes. --resident-bits 8 dequantises and requantises.
TEST_P(MlxPack, FourBitResidentWeightsKeepTheirCodes) {
  const MlxCase& p = GetParam();
  TempDir dir("mlx-pack");
  PackRequest req;
  req.input = kMlx / p.name;
  req.output = dir / "r16";
  pack_model(req);
  req.output = dir / "r4";
  req.resident_bits = 4;
  const PackResult r = pack_model(req);
  EXPECT_TRUE(r.resident_codes_kept);
  EXPECT_EQ(r.manifest.resident, (ResidentFormat{4, 64, QuantScheme::kAffine}));

  const TensorStore mlx = TensorStore::open(kMlx / p.name);
  const TensorStore r16 = TensorStore::open(dir / "r16");
  const TensorStore r4 = TensorStore::open(dir / "r4");
  const ModelConfig config = load_config(dir / "r4");
  const ModelTensors tensors(config);
  const std::string& prefix = config.tensor_prefix;
  size_t kept = 0;
  for (const std::string& name : r16.names()) {
    const std::optional<TensorRole> role = tensors.role_of(name);
    ASSERT_TRUE(role) << name;
    const TensorInfo& got = r4.get(name);
    if (!is_quantizable_resident(*role)) {  // as the default pack writes it
      EXPECT_EQ(got.dtype, r16.get(name).dtype) << name;
      EXPECT_EQ(std::memcmp(got.data.data(), r16.get(name).data.data(), got.data.size()), 0) << name;
      continue;
    }
    // The MLX module: the HF name with the text model's prefix swapped for MLX's.
    const std::string module =
        name.starts_with("lm_head")
            ? p.mlx_prefix.substr(0, p.mlx_prefix.size() - 6) + "lm_head"  // beside "model."
            : p.mlx_prefix + name.substr(prefix.size(), name.size() - prefix.size() - 7);
    for (auto [stored, packed] : {std::pair{module + ".weight", name},
                                  std::pair{module + ".scales", quant_scales_name(name)},
                                  std::pair{module + ".biases", quant_biases_name(name)}}) {
      const TensorInfo& a = mlx.get(stored);
      const TensorInfo& b = r4.get(packed);
      EXPECT_EQ(enum_name(b.dtype), enum_name(a.dtype)) << packed;
      EXPECT_EQ(b.shape, a.shape) << packed;
      ASSERT_EQ(b.data.size(), a.data.size()) << packed;
      EXPECT_EQ(std::memcmp(a.data.data(), b.data.data(), a.data.size()), 0) << packed;
    }
    ++kept;
  }
  EXPECT_EQ(r.resident_quantized, kept);
  EXPECT_GT(kept, 0u);

  req.output = dir / "r8";
  req.resident_bits = 8;
  const PackResult r8 = pack_model(req);
  EXPECT_FALSE(r8.resident_codes_kept);
  EXPECT_EQ(r8.manifest.resident, resident_format_for_bits(8));
  const std::string embed = tensors.name(TensorRole::kEmbed);
  const TensorInfo& codes = TensorStore::open(dir / "r8").get(embed);
  EXPECT_EQ(codes.dtype, DType::kU32);
  EXPECT_EQ(codes.shape[1] * 4, r16.get(embed).shape[1]);  // 8-bit codes of the dequantised rows
}

INSTANTIATE_TEST_SUITE_P(Fixtures, MlxPack,
                         ::testing::Values(MlxCase{"q35_mlx4", "language_model.model.", {0, 1}},
                                           MlxCase{"q3moe_mlx4", "model.", {1}}),
                         [](const auto& info) { return info.param.name; });

std::string pack_error(const fs::path& input, const fs::path& out, int bits = 4,
                       std::optional<int> group = {}) {
  PackRequest req;
  req.input = input;
  req.output = out;
  req.bits = bits;
  req.group_size = group;
  try {
    pack_model(req);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(MlxPackErrors, RefusesToRequantise) {
  TempDir dir("mlx-pack");
  EXPECT_THAT(pack_error(kMlx / "q35_mlx4", dir / "a", 2),
              AllOf(HasSubstr("4-bit"), HasSubstr("requantise")));
  EXPECT_THAT(pack_error(kMlx / "q35_mlx4", dir / "b", 4, 32),
              AllOf(HasSubstr("group size 64"), HasSubstr("requantise")));
}

// A copy of the fixture whose config.json is edited by `edit`.
fs::path edited_copy(const TempDir& dir, const std::function<void(nlohmann::json&)>& edit) {
  const fs::path copy = dir / "edited";
  fs::copy(kMlx / "q35_mlx4", copy, fs::copy_options::recursive);
  nlohmann::json config;
  std::ifstream(copy / "config.json") >> config;
  edit(config);
  std::ofstream(copy / "config.json") << config.dump();
  return copy;
}

TEST(MlxPackErrors, RefusesFourBitResidentsStoredInMixedFormats) {
  TempDir dir("mlx-pack");
  const fs::path copy = edited_copy(dir, [](nlohmann::json& c) {
    c["quantization"]["language_model.model.layers.1.self_attn.q_proj"] = {{"bits", 8},
                                                                            {"group_size", 64}};
  });
  PackRequest req;
  req.input = copy;
  req.output = dir / "out";
  req.resident_bits = 4;
  std::string error;
  try {
    pack_model(req);
  } catch (const Error& e) {
    error = e.what();
  }
  EXPECT_THAT(error, AllOf(HasSubstr("config.json"), HasSubstr("layers.1.self_attn.q_proj"),
                           HasSubstr("mix"), HasSubstr("--resident-bits 8 or 16")));
}

TEST(MlxPackErrors, RefusesEightBitExperts) {
  TempDir dir("mlx-pack");
  const fs::path copy = edited_copy(dir, [](nlohmann::json& c) {
    c["quantization"]["language_model.model.layers.1.mlp.switch_mlp.down_proj"] = {
        {"bits", 8}, {"group_size", 64}};
  });
  EXPECT_THAT(pack_error(copy, dir / "out"),
              AllOf(HasSubstr("layers.1.mlp.switch_mlp.down_proj"), HasSubstr("8-bit")));
}

TEST(MlxPackErrors, NamesAMissingExpertTensor) {
  TempDir dir("mlx-pack");
  const fs::path copy = edited_copy(dir, [](nlohmann::json& c) {
    c["text_config"]["num_hidden_layers"] = 3;
    c["text_config"]["layer_types"] = {"linear_attention", "full_attention", "linear_attention"};
  });
  EXPECT_THAT(pack_error(copy, dir / "out"),
              HasSubstr("language_model.model.layers.2.mlp.switch_mlp.gate_proj.weight"));
}

TEST(MlxPackErrors, RefusesOtherQuantisationModes) {
  TempDir dir("mlx-pack");
  const fs::path copy =
      edited_copy(dir, [](nlohmann::json& c) { c["quantization"]["mode"] = "mxfp4"; });
  EXPECT_THAT(pack_error(copy, dir / "out"), AllOf(HasSubstr("mxfp4"), HasSubstr("affine")));
}

}  // namespace
}  // namespace streammoe
