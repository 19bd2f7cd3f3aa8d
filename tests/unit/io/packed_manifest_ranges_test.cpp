// Integers of the manifest that the reader keeps as int (version, bits, group_size) are refused
// when they do not fit, instead of being truncated: 2^32 + 1 read as version 1 was accepted, and
// bits 2^40 was reported as "0-bit quantisation" (found reviewing the packed_manifest fuzzer).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/io/packed_format.h"
#include "engine/util/error.h"

namespace streammoe {
namespace {

using ::testing::HasSubstr;

std::string error_of(const nlohmann::json& j) {
  try {
    manifest_from_json(j, "m.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

nlohmann::json manifest() {
  PackedManifest m;
  m.source_kind = "synth";
  m.config = {{"model_type", "qwen3_moe"}};
  m.num_experts = 4;
  m.layout = make_expert_layout(128, 64, 4, 64);
  m.layers = {{0, expert_file_name(0)}};
  return manifest_to_json(m);
}

TEST(ManifestRanges, TheSampleIsValid) { EXPECT_EQ(manifest_from_json(manifest(), "m.json").layout.bits, 4); }

TEST(ManifestRanges, VersionBeyondIntIsNotTruncatedToOne) {
  auto j = manifest();
  j["version"] = (int64_t{1} << 32) + 1;
  EXPECT_THAT(error_of(j), HasSubstr("m.json: 'version' is out of range, got 4294967297"));
}

TEST(ManifestRanges, BitsAndGroupSizeBeyondIntAreNamed) {
  auto j = manifest();
  j["quantization"]["bits"] = int64_t{1} << 40;
  EXPECT_THAT(error_of(j), HasSubstr("m.json.quantization: 'bits' is out of range, got 1099511627776"));
  j = manifest();
  j["quantization"]["group_size"] = (int64_t{1} << 32) + 64;
  EXPECT_THAT(error_of(j), HasSubstr("m.json.quantization: 'group_size' is out of range, got 4294967360"));
  j = manifest();
  j["quantization"]["group_size"] = -(int64_t{1} << 33);
  EXPECT_THAT(error_of(j), HasSubstr("'group_size' is out of range"));
}

}  // namespace
}  // namespace streammoe
