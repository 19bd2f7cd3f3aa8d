// Weights whose bytes are 0xFF (NaN) must stop the engine with one error naming the layer and the
// token, never pass for a result (review finding 2: the lab recorded a model with NaN logits as
// an ordinary run), and never reach the sampler (finding 1: it read before its buffer).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_test_util.h"
#include "engine/model/safetensors.h"
#include "engine/model/safetensors_writer.h"
#include "engine/util/npy.h"
#include "tests/common/temp_dir.h"

namespace streammoe {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using cli_test::CommandResult;

CommandResult run(const std::string& args) { return cli_test::run_streammoe(args, cli_test::Capture::kStderr); }

void expect_one_line_error(const CommandResult& r, const std::string& must_contain) {
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(r.output.starts_with("streammoe: error: ")) << r.output;
  EXPECT_THAT(r.output, HasSubstr(must_contain));
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
}

class NonFinite : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path source = cli_test::kSource / "tests/fixtures/models/q3moe_f32";
    fs::copy(source, dir_.path() / "m");
  }
  fs::path model() const { return dir_.path() / "m"; }

  // Sets every byte of the tensors `select` picks to 0xFF: NaN in f32, bf16 and f16 alike.
  template <typename Select>
  void fill_ff(Select select, size_t first_byte = 0, size_t bytes = SIZE_MAX) {
    const fs::path file = model() / "model.safetensors";
    std::vector<TensorToWrite> tensors;
    std::vector<std::vector<std::byte>> storage;
    storage.reserve(1024);
    {
      SafetensorsFile in(file);
      for (const auto& [name, t] : in.tensors()) {
        storage.emplace_back(t.data.begin(), t.data.end());
        if (select(name)) {
          auto& data = storage.back();
          std::fill(data.begin() + std::min(first_byte, data.size()),
                    data.begin() + std::min(data.size(), bytes == SIZE_MAX ? data.size() : first_byte + bytes),
                    std::byte{0xff});
        }
        tensors.push_back({name, t.dtype, t.shape, storage.back()});
      }
    }
    write_safetensors(file, tensors, {});
  }
  std::string m() const { return " --model " + model().string(); }

  testing::TempDir dir_{"non-finite"};
};

TEST_F(NonFinite, GoodModelReportsNoNonFiniteLogits) {
  const CommandResult r = cli_test::run_streammoe("eval" + m() + " --ids 1,2,3 --json", cli_test::Capture::kBoth);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(r.output)["non_finite_logits"], 0);
}

TEST_F(NonFinite, ResidentWeightsOfFFStopAtTheirLayer) {
  fill_ff([](const std::string& name) { return name == "model.layers.2.self_attn.o_proj.weight"; });
  expect_one_line_error(run("eval" + m() + " --ids 1,2,3"), "non-finite activations (NaN or inf) after layer 2 at token 0");
  expect_one_line_error(run("generate" + m() + " --ids 1,2,3 --tokens 4"), "after layer 2 at token 0");
  // The sampler's crash path: sampling never sees the NaN logits.
  expect_one_line_error(run("generate" + m() + " --ids 1,2,3 --tokens 4 --temperature 1"), "after layer 2 at token 0");
}

TEST_F(NonFinite, ExpertWeightsOfFFStopAtTheirLayer) {
  fill_ff([](const std::string& name) { return name.starts_with("model.layers.3.mlp.experts."); });
  expect_one_line_error(run("eval" + m() + " --ids 1,2,3"), "after layer 3 at token 0");
}

TEST_F(NonFinite, TheTokenPositionIsNamed) {
  // Only the embedding row of token id 5 is NaN: the run goes wrong at its third token.
  const size_t row_bytes = 48 * 4;
  fill_ff([](const std::string& name) { return name == "model.embed_tokens.weight"; }, 5 * row_bytes, row_bytes);
  expect_one_line_error(run("eval" + m() + " --ids 1,2,5,7"), "in the embedding of token id 5 at token 2");
}

TEST_F(NonFinite, AFiniteStackWithANanHeadIsNamed) {
  fill_ff([](const std::string& name) { return name == "lm_head.weight"; });
  expect_one_line_error(run("eval" + m() + " --ids 1,2,3"), "non-finite logits (NaN or inf) at token 0");
}

TEST_F(NonFinite, PackedExpertFileOfFFStopsAtItsLayer) {
  const fs::path packed = dir_.path() / "packed";
  const CommandResult pack = run("pack --hf " + cli_test::kTiny.string() + " --out " + packed.string() + " --bits 4");
  ASSERT_EQ(pack.exit_code, 0) << pack.output;
  const fs::path layer0 = packed / "experts/layer_000.bin";
  const std::string ff(fs::file_size(layer0), '\xff');
  std::ofstream(layer0, std::ios::binary | std::ios::trunc) << ff;
  expect_one_line_error(run("generate --model " + packed.string() + " --ids 1,2,3 --tokens 4 --temperature 1"),
                        "after layer 0 at token 0");
}

TEST_F(NonFinite, EvalJsonCountsNonFiniteReferenceLogits) {
  const fs::path ref = dir_.path() / "ref.npy";
  const CommandResult dump = run("eval" + m() + " --ids 1,2,3 --dump-logits " + ref.string());
  ASSERT_EQ(dump.exit_code, 0) << dump.output;
  NpyArray logits = read_npy(ref);
  logits.f32[7] = std::numeric_limits<float>::quiet_NaN();
  logits.f32[400] = std::numeric_limits<float>::infinity();
  write_npy_f32(ref, logits.shape, logits.f32);
  const CommandResult r =
      cli_test::run_streammoe("eval" + m() + " --ids 1,2,3 --json --ref-logits " + ref.string(), cli_test::Capture::kBoth);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["non_finite_logits"], 0);
  EXPECT_EQ(j["non_finite_ref_logits"], 2);
}

}  // namespace
}  // namespace streammoe
