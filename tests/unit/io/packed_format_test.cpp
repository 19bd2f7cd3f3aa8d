// The packed layout against hand-computed offsets, the manifest round trip, and the errors a
// damaged or foreign folder must produce.
#include "engine/io/packed_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "engine/convert/packed_writer.h"
#include "engine/convert/synth.h"
#include "engine/util/error.h"
#include "tests/common/error_of.h"
#include "tests/common/temp_dir.h"

namespace streammoe {
namespace {

using ::testing::HasSubstr;
using streammoe::testing::error_of;
using testing::TempDir;

TEST(ExpertLayout, FourBitOffsetsByHand) {
  // hidden 128, moe_intermediate 64, 4-bit, group 64:
  //   gate/up [64, 128]: q 64*128/2 = 4096 B, scales = biases = 64 rows * 2 groups * 2 B = 256 B
  //   down [128, 64]:    q 128*64/2 = 4096 B, scales = biases = 128 * 1 * 2 = 256 B
  const ExpertLayout l = make_expert_layout(128, 64, 4, 64);
  EXPECT_EQ(l.gate.q.offset, 0u);
  EXPECT_EQ(l.gate.q.bytes, 4096u);
  EXPECT_EQ(l.gate.scales.offset, 4096u);
  EXPECT_EQ(l.gate.biases.offset, 4352u);
  EXPECT_EQ(l.up.q.offset, 4608u);
  EXPECT_EQ(l.up.scales.offset, 8704u);
  EXPECT_EQ(l.up.biases.offset, 8960u);
  EXPECT_EQ(l.down.q.offset, 9216u);
  EXPECT_EQ(l.down.rows, 128);
  EXPECT_EQ(l.down.cols, 64);
  EXPECT_EQ(l.down.scales.offset, 13312u);
  EXPECT_EQ(l.down.biases.offset, 13568u);
  EXPECT_EQ(l.expert_bytes, 13824u);
  EXPECT_EQ(l.expert_stride, 16384u);
}

TEST(ExpertLayout, TwoBitHalvesTheCodesAndAlignsEveryArray) {
  // Qwen3.5-397B shapes: gate [1024, 4096] 2-bit = 1 MiB of codes, 64 groups per row.
  const ExpertLayout l = make_expert_layout(4096, 1024, 2, 64);
  EXPECT_EQ(l.gate.q.bytes, 1024u * 4096 / 4);
  EXPECT_EQ(l.gate.scales.bytes, 1024u * 64 * 2);
  for (const PackedMatrix* m : {&l.gate, &l.up, &l.down})
    for (const ByteRange* r : {&m->q, &m->scales, &m->biases})
      EXPECT_EQ(r->offset % kArrayAlignment, 0u);
  EXPECT_EQ(l.expert_bytes, 3u * (1024 * 4096 / 4 + 2 * 1024 * 64 * 2));
  EXPECT_EQ(l.expert_stride % kExpertStrideAlignment, 0u);
}

TEST(ExpertLayout, RefusesDimensionsTheGroupSizeDoesNotDivide) {
  EXPECT_THAT(error_of([] { make_expert_layout(96, 64, 4, 64); }), HasSubstr("96"));
  EXPECT_THAT(error_of([] { make_expert_layout(128, 48, 4, 64); }), HasSubstr("48"));
  EXPECT_THAT(error_of([] { make_expert_layout(128, 64, 4, 48); }), HasSubstr("48"));
  EXPECT_THAT(error_of([] { make_expert_layout(128, 64, 3, 64); }), HasSubstr("3"));
}

PackedManifest sample_manifest() {
  PackedManifest m;
  m.source_kind = "synth";
  m.source = "x.json";
  m.config = {{"model_type", "qwen3_moe"}};
  m.num_experts = 8;
  m.layout = make_expert_layout(128, 64, 4, 64);
  m.layers = {{0, expert_file_name(0)}, {2, expert_file_name(2)}};
  return m;
}

TEST(Manifest, RoundTrips) {
  const PackedManifest m = sample_manifest();
  const PackedManifest back = manifest_from_json(manifest_to_json(m), "test");
  EXPECT_EQ(back.version, kPackedFormatVersion);
  EXPECT_EQ(back.num_experts, 8);
  EXPECT_EQ(back.layout.expert_stride, m.layout.expert_stride);
  EXPECT_EQ(back.layout.down.biases.offset, m.layout.down.biases.offset);
  ASSERT_EQ(back.layers.size(), 2u);
  EXPECT_EQ(back.layers[1].layer, 2);
  EXPECT_EQ(back.layers[1].file, "experts/layer_002.bin");
  EXPECT_EQ(back.config, m.config);
}

TEST(Manifest, RecordsTheResidentFormat) {
  PackedManifest m = sample_manifest();
  EXPECT_EQ(manifest_to_json(m)["resident"], (nlohmann::json{{"file", "model.safetensors"}, {"bits", 16}}));
  EXPECT_FALSE(manifest_from_json(manifest_to_json(m), "test").resident.quantized());
  for (const ResidentFormat& f : {ResidentFormat{8, 64, QuantScheme::kSymmetric},
                                  ResidentFormat{4, 64, QuantScheme::kAffine},
                                  ResidentFormat{8, 32, QuantScheme::kAffine}}) {
    m.resident = f;
    const nlohmann::json j = manifest_to_json(m);
    EXPECT_EQ(j["resident"]["bits"], f.bits);
    EXPECT_EQ(j["resident"]["group_size"], f.group_size);
    EXPECT_EQ(j["resident"]["scheme"], quant_scheme_name(f.scheme));
    EXPECT_EQ(j["resident"]["scale_dtype"], "BF16");
    EXPECT_EQ(manifest_from_json(j, "test").resident, f);
  }
  // Folders packed before resident quantisation have no bits: their resident weights are as stored.
  auto j = manifest_to_json(sample_manifest());
  j["resident"].erase("bits");
  EXPECT_EQ(manifest_from_json(j, "test").resident, ResidentFormat{});
}

TEST(Manifest, ABadResidentFormatIsAClearError) {
  PackedManifest m = sample_manifest();
  m.resident = resident_format_for_bits(8);
  const nlohmann::json good = manifest_to_json(m);
  auto with = [&](const char* key, const nlohmann::json& value) {
    nlohmann::json j = good;
    j["resident"][key] = value;
    return error_of([&] { manifest_from_json(j, "m.json"); });
  };
  EXPECT_THAT(with("bits", 3), AllOf(HasSubstr("m.json.resident"), HasSubstr("bits 3")));
  EXPECT_THAT(with("bits", "8"), AllOf(HasSubstr("m.json.resident"), HasSubstr("'bits' must be an integer")));
  EXPECT_THAT(with("group_size", 48), AllOf(HasSubstr("m.json.resident"), HasSubstr("48")));
  EXPECT_THAT(with("scheme", "nf4"), AllOf(HasSubstr("m.json.resident"), HasSubstr("nf4")));
  EXPECT_THAT(with("scale_dtype", "F16"), AllOf(HasSubstr("m.json.resident"), HasSubstr("F16")));
  EXPECT_THAT(with("codebook", 1), AllOf(HasSubstr("m.json.resident"), HasSubstr("unknown key 'codebook'")));
  nlohmann::json j = good;
  j["resident"]["bits"] = 4;  // 4-bit is affine only
  EXPECT_THAT(error_of([&] { manifest_from_json(j, "m.json"); }),
              AllOf(HasSubstr("m.json.resident"), HasSubstr("symmetric")));
  j = good;
  j["resident"].erase("group_size");
  EXPECT_THAT(error_of([&] { manifest_from_json(j, "m.json"); }),
              AllOf(HasSubstr("m.json.resident"), HasSubstr("missing key 'group_size'")));
}

TEST(Manifest, VersionMismatchIsAClearError) {
  auto j = manifest_to_json(sample_manifest());
  j["version"] = 2;
  EXPECT_THAT(error_of([&] { manifest_from_json(j, "m.json"); }),
              AllOf(HasSubstr("m.json"), HasSubstr("version 2"), HasSubstr("reads version 1")));
  j = manifest_to_json(sample_manifest());
  j["format"] = "gguf";
  EXPECT_THAT(error_of([&] { manifest_from_json(j, "m.json"); }), HasSubstr("gguf"));
}

TEST(Manifest, WrongGroupSizeOrMovedArraysAreClearErrors) {
  auto j = manifest_to_json(sample_manifest());
  j["quantization"]["group_size"] = 48;
  EXPECT_THAT(error_of([&] { manifest_from_json(j, "m.json"); }),
              AllOf(HasSubstr("m.json"), HasSubstr("48")));
  j = manifest_to_json(sample_manifest());
  j["quantization"]["group_size"] = 128;  // valid, but then 64 columns of down_proj do not divide
  EXPECT_THAT(error_of([&] { manifest_from_json(j, "m.json"); }), HasSubstr("128"));
  j = manifest_to_json(sample_manifest());
  j["experts"]["tensors"][1]["scales"]["offset"] = 4000;
  EXPECT_THAT(error_of([&] { manifest_from_json(j, "m.json"); }), HasSubstr("incompatible packer"));
}

// A manifest names files inside its folder only: "../../x.bin" or "/etc/passwd" would read any
// file on the machine as expert data (review finding 3).
TEST(Manifest, RefusesFilesOutsideTheFolder) {
  for (const char* file : {"../../x.bin", "/etc/passwd", "experts/../../x.bin", "", "/dev/zero"}) {
    auto j = manifest_to_json(sample_manifest());
    j["experts"]["layers"][1]["file"] = file;
    EXPECT_THAT(error_of([&] { manifest_from_json(j, "m.json"); }),
                HasSubstr(fmt::format("m.json.experts.layers[1]: file \"{}\" is not a file name inside the folder", file)));
    j = manifest_to_json(sample_manifest());
    j["resident"]["file"] = file;
    EXPECT_THAT(error_of([&] { manifest_from_json(j, "m.json"); }),
                HasSubstr(fmt::format("m.json.resident: file \"{}\" is not a file name inside the folder", file)));
  }
  auto j = manifest_to_json(sample_manifest());
  j["experts"]["layers"][1]["file"] = "./experts/layer_002.bin";
  EXPECT_NO_THROW(manifest_from_json(j, "m.json"));
}

TEST(Manifest, RefusesLayerSizesAndKeysThisBuildDoesNotWrite) {
  auto j = manifest_to_json(sample_manifest());
  j["experts"]["layers"][0]["bytes"] = -1;
  EXPECT_THAT(error_of([&] { manifest_from_json(j, "m.json"); }), HasSubstr("m.json.experts.layers[0]: bytes -1, expected"));
  j = manifest_to_json(sample_manifest());
  j["experts"]["layers"][0]["offset"] = 1000000000;
  EXPECT_THAT(error_of([&] { manifest_from_json(j, "m.json"); }),
              HasSubstr("m.json.experts.layers[0]: unknown key 'offset'"));
  j = manifest_to_json(sample_manifest());
  j["experts"]["stride_alignment"] = 3;
  EXPECT_THAT(error_of([&] { manifest_from_json(j, "m.json"); }), HasSubstr("stride_alignment 3"));
}

nlohmann::json small_config() {
  return {{"model_type", "qwen3_moe"},
          {"vocab_size", 64},
          {"hidden_size", 128},
          {"intermediate_size", 64},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 2},
          {"num_key_value_heads", 1},
          {"head_dim", 32},
          {"num_experts", 4},
          {"num_experts_per_tok", 2},
          {"moe_intermediate_size", 64},
          {"rms_norm_eps", 1e-6}};
}

TEST(PackedFolder, ChecksConfigAndFileSizes) {
  TempDir dir("packed-format");
  const auto input = make_synth_input(small_config(), {}, "small");
  write_packed_model(*input, dir / "m", {});
  const PackedManifest m = read_packed_manifest(dir / "m");
  const ModelConfig c = load_config(dir / "m");
  check_packed_model(dir / "m", m, c);  // intact: no error

  std::filesystem::resize_file(dir / "m" / "experts/layer_001.bin", m.layer_file_bytes() - 4096);
  EXPECT_THAT(error_of([&] { check_packed_model(dir / "m", m, c); }),
              AllOf(HasSubstr("layer_001.bin"), HasSubstr("truncated")));
  std::filesystem::resize_file(dir / "m" / "experts/layer_001.bin", m.layer_file_bytes());

  auto edited = small_config();
  edited["num_experts_per_tok"] = 3;
  std::ofstream(dir / "m" / "config.json") << edited.dump();
  EXPECT_THAT(error_of([&] { check_packed_model(dir / "m", m, c); }),
              HasSubstr("config.json differs"));
}

TEST(PackedFolder, WriterRefusesANonEmptyOutput) {
  TempDir dir("packed-format");
  std::ofstream(dir / "keep.txt") << "x";
  const auto input = make_synth_input(small_config(), {}, "small");
  EXPECT_THAT(error_of([&] { write_packed_model(*input, dir.path(), {}); }),
              HasSubstr("not empty"));
}

}  // namespace
}  // namespace streammoe
