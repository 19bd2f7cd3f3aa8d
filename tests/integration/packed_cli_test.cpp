// The `streammoe pack` and `synth` commands end to end, and the bad inputs a packed folder can
// present to `generate`: each is exit code 1 with one error line naming the file and the problem.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_test_util.h"

namespace streammoe {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using cli_test::CommandResult;
using cli_test::run_streammoe;

const fs::path kConfigs = fs::path(STREAMMOE_SOURCE_DIR) / "tests/fixtures/configs";

class PackedCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("streammoe-cli-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    const std::string like = (kConfigs / "small_qwen35moe_g64.json").string();
    ASSERT_EQ(
        run_streammoe("synth --like " + like + " --format hf --out " + (root_ / "hf").string())
            .exit_code,
        0);
    const CommandResult pack =
        run_streammoe("pack --hf " + (root_ / "hf").string() + " --out " + (root_ / "p4").string());
    ASSERT_EQ(pack.exit_code, 0) << pack.output;
    pack_output_ = pack.output;
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  // A private copy of the packed model to damage.
  fs::path copy_of_packed() {
    const fs::path dir = root_ / ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir);
    fs::copy(root_ / "p4", dir, fs::copy_options::recursive);
    return dir;
  }
  static void expect_one_line_error(const CommandResult& r, const std::string& a,
                                    const std::string& b) {
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_THAT(r.output, AllOf(HasSubstr("error:"), HasSubstr(a), HasSubstr(b)));
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  }

  static fs::path root_;
  static std::string pack_output_;
};
fs::path PackedCli::root_;
std::string PackedCli::pack_output_;

TEST_F(PackedCli, PackShowsProgressAndASummary) {
  EXPECT_THAT(pack_output_, HasSubstr("packing ["));
  EXPECT_THAT(pack_output_, HasSubstr("100.0%"));
  EXPECT_THAT(pack_output_, HasSubstr("4-bit, group 64, 4 layers x 16 experts"));
  EXPECT_TRUE(fs::exists(root_ / "p4" / "streammoe.json"));
}

TEST_F(PackedCli, GenerateOnAPackedFolderWritesIoMetrics) {
  const fs::path metrics = root_ / "metrics.json";
  const CommandResult r = run_streammoe(
      "generate --model " + (root_ / "p4").string() +
      " --ids 1,2,3 --tokens 6 --ignore-eos --timing --metrics-json " + metrics.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("expert_io_wait"));
  std::ifstream in(metrics);
  const nlohmann::json j = nlohmann::json::parse(in);
  // 4 MoE layers x K=4 experts x 13824 bytes (hidden 128, moe_intermediate 64, 4-bit, group 64).
  EXPECT_DOUBLE_EQ(j.at("expert_bytes_read_per_token").get<double>(), 4.0 * 4 * 13824);
  EXPECT_DOUBLE_EQ(j.at("experts_loaded_per_token").get<double>(), 16.0);
  EXPECT_GT(j.at("decode_tok_s").get<double>(), 0.0);
}

TEST_F(PackedCli, SynthWritesAPackedModelThatRuns) {
  const fs::path out = root_ / "synth2";
  const CommandResult s =
      run_streammoe("synth --like " + (kConfigs / "small_qwen3moe_g64.json").string() +
                    " --layers 2 --bits 2 --out " + out.string());
  ASSERT_EQ(s.exit_code, 0) << s.output;
  std::ifstream in(out / "streammoe.json");
  const nlohmann::json m = nlohmann::json::parse(in);
  EXPECT_EQ(m["quantization"]["bits"], 2);
  EXPECT_EQ(m["config"]["num_hidden_layers"], 2);
  EXPECT_EQ(m["experts"]["layers"].size(), 1u);  // layer 1 is a dense layer (mlp_only_layers)
  const CommandResult g =
      run_streammoe("generate --model " + out.string() + " --ids 1,2 --tokens 3 --ignore-eos");
  EXPECT_EQ(g.exit_code, 0) << g.output;
}

// synth --lz4 writes the folder pack --lz4 would: the same packed files as the synth without it,
// plus LZ4 copies of the expert files, which --expert-cache lz4 reads to the same logits.
TEST_F(PackedCli, SynthLz4WritesLz4ExpertFilesTheLz4CacheReads) {
  const std::string like = "synth --like " + (kConfigs / "small_qwen35moe_g64.json").string() + " --layers 2 --seed 9";
  const fs::path lz4 = root_ / "synth_lz4", plain = root_ / "synth_plain";
  const CommandResult s = run_streammoe(like + " --lz4 --out " + lz4.string());
  ASSERT_EQ(s.exit_code, 0) << s.output;
  EXPECT_THAT(s.output, HasSubstr("lz4: "));
  ASSERT_EQ(run_streammoe(like + " --out " + plain.string()).exit_code, 0);
  int lz4_files = 0, packed_files = 0;
  for (const auto& e : fs::recursive_directory_iterator(lz4)) {
    if (!e.is_regular_file()) continue;
    const fs::path rel = fs::relative(e.path(), lz4);
    if (rel.extension() == ".lz4") {
      ++lz4_files;
      EXPECT_FALSE(fs::exists(plain / rel)) << rel;
      continue;
    }
    ++packed_files;
    EXPECT_TRUE(cli_test::read_bytes(e.path()) == cli_test::read_bytes(plain / rel)) << rel;
  }
  EXPECT_EQ(lz4_files, 2);  // one per MoE layer, experts/layer_LLL.lz4
  EXPECT_GT(packed_files, 2);
  auto eval = [&](const fs::path& model, const std::string& switches, const std::string& out) {
    const CommandResult r = run_streammoe("eval --model " + model.string() + " --ids 1,5,9,2,7,3 --dump-logits " +
                                          (root_ / out).string() + " " + switches);
    EXPECT_EQ(r.exit_code, 0) << switches << "\n" << r.output;
    return cli_test::read_bytes(root_ / out);
  };
  const std::string reference = eval(plain, "", "synth_plain.npy");
  ASSERT_GT(reference.size(), 1000u);
  EXPECT_TRUE(eval(lz4, "--expert-cache lz4 --cache-entries 8", "synth_lz4.npy") == reference);
  EXPECT_TRUE(eval(lz4, "", "synth_lz4_plain.npy") == reference);
  expect_one_line_error(run_streammoe(like + " --format hf --lz4 --out " + (root_ / "synth_hf_lz4").string()),
                        "--lz4 with --format hf", "pack");
}

TEST_F(PackedCli, TruncatedExpertFileIsAClearError) {
  const fs::path dir = copy_of_packed();
  fs::resize_file(dir / "experts/layer_002.bin",
                  fs::file_size(dir / "experts/layer_002.bin") - 100);
  expect_one_line_error(run_streammoe("generate --model " + dir.string() + " --ids 1,2 --tokens 2"),
                        "layer_002.bin", "truncated");
}

TEST_F(PackedCli, ManifestVersionMismatchIsAClearError) {
  const fs::path dir = copy_of_packed();
  nlohmann::json m;
  std::ifstream(dir / "streammoe.json") >> m;
  m["version"] = 99;
  std::ofstream(dir / "streammoe.json") << m.dump();
  expect_one_line_error(run_streammoe("generate --model " + dir.string() + " --ids 1,2 --tokens 2"),
                        "streammoe.json", "version 99");
}

TEST_F(PackedCli, ManifestGroupSizeMismatchIsAClearError) {
  const fs::path dir = copy_of_packed();
  nlohmann::json m;
  std::ifstream(dir / "streammoe.json") >> m;
  m["quantization"]["group_size"] = 32;
  std::ofstream(dir / "streammoe.json") << m.dump();
  expect_one_line_error(run_streammoe("generate --model " + dir.string() + " --ids 1,2 --tokens 2"),
                        "streammoe.json", "incompatible packer");
}

TEST_F(PackedCli, PackRefusesAWrongGroupSize) {
  expect_one_line_error(run_streammoe("pack --hf " + (root_ / "hf").string() +
                                      " --group-size 48 --out " + (root_ / "g48").string()),
                        "group size 48", "multiple of 32");
  expect_one_line_error(run_streammoe("pack --hf " + (root_ / "hf").string() +
                                      " --group-size 128 --out " + (root_ / "g128").string()),
                        "group size 128", "64 columns");
}

TEST_F(PackedCli, PackRefusesANonEmptyOutput) {
  expect_one_line_error(
      run_streammoe("pack --hf " + (root_ / "hf").string() + " --out " + (root_ / "p4").string()),
      "p4", "not empty");
}

}  // namespace
}  // namespace streammoe
