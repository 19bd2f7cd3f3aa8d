// Packed models as derived data: `streammoe pack` runs once per recipe, the folder is reused
// while the source and recipe are unchanged, re-packed when either changes, and a failed pack
// leaves nothing that looks finished.
#include "harness/packed_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/util/error.h"
#include "harness/mock_executor.h"
#include "lab_test_util.h"

namespace streammoe::lab {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::TempDir;

// Plays `streammoe pack`: writes a manifest into --out, or fails when told to.
class FakePacker {
 public:
  MockReply operator()(const Command& c) {
    if (fail_next) {
      fail_next = false;
      fs::create_directories(MockExecutor::flag(c, "out"));  // a half-written folder
      MockReply reply;
      reply.result.exit_code = 1;
      reply.result.stderr_tail = "packing\nstreammoe: error: config.json: missing key hidden_size\n";
      return reply;
    }
    fs::path out = MockExecutor::flag(c, "out");
    testing::write_text(out / "packed.json", "bits " + MockExecutor::flag(c, "bits"));
    return MockExecutor::ok_reply();
  }
  bool fail_next = false;
};

class PackedModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_text(dir_ / "models/tiny/config.json", "{}");
    recipe_.source = dir_ / "models/tiny";
    recipe_.bits = 2;
    recipe_.lz4 = true;
    recipe_.where = "e.yaml:3:9";
    recipe_.folder = packed_folder(dir_ / "results/models", recipe_);
  }

  TempDir dir_;
  PackRecipe recipe_;
  FakePacker packer_;
  MockExecutor executor_{[this](const Command& c) { return packer_(c); }};
};

TEST_F(PackedModelTest, PacksOnceThenReuses) {
  PreparedModel first = prepare_packed_model(recipe_, "/opt/fake/streammoe", executor_);
  EXPECT_FALSE(first.reused);
  ASSERT_EQ(executor_.calls().size(), 1u);
  const Command& pack = executor_.calls()[0];
  EXPECT_EQ(pack.argv[0], "/opt/fake/streammoe");
  EXPECT_EQ(pack.argv[1], "pack");
  EXPECT_EQ(MockExecutor::flag(pack, "hf"), recipe_.source.string());
  EXPECT_EQ(MockExecutor::flag(pack, "bits"), "2");
  EXPECT_TRUE(MockExecutor::has(pack, "--lz4"));
  EXPECT_NE(MockExecutor::flag(pack, "out"), recipe_.folder.string());  // a scratch folder
  EXPECT_EQ(testing::read_text(recipe_.folder / "packed.json"), "bits 2");
  EXPECT_TRUE(fs::exists(recipe_.folder / kPackStampFile));
  EXPECT_EQ(first.stamp["bits"], 2);
  EXPECT_EQ(first.stamp["from"], recipe_.source.string());
  EXPECT_THAT(first.stamp["command"].get<std::string>(), HasSubstr(" pack --hf "));
  // results/models/ keeps git away from the derived folders
  EXPECT_EQ(testing::read_text(dir_ / "results/models/.gitignore").find("*") != std::string::npos,
            true);

  PreparedModel second = prepare_packed_model(recipe_, "/opt/fake/streammoe", executor_);
  EXPECT_TRUE(second.reused);
  EXPECT_EQ(executor_.calls().size(), 1u);  // nothing run
  EXPECT_EQ(second.stamp["packed_at"], first.stamp["packed_at"]);
}

TEST_F(PackedModelTest, ChangedSourceOrRecipeIsPackedAgain) {
  prepare_packed_model(recipe_, "engine", executor_);
  testing::write_text(dir_ / "models/tiny/config.json", "{\"hidden_size\": 64}");
  EXPECT_FALSE(prepare_packed_model(recipe_, "engine", executor_).reused);
  EXPECT_EQ(executor_.calls().size(), 2u);
  EXPECT_TRUE(prepare_packed_model(recipe_, "engine", executor_).reused);

  // A different recipe is a different folder, packed on its own.
  PackRecipe four = recipe_;
  four.bits = 4;
  four.lz4 = false;
  four.folder = packed_folder(dir_ / "results/models", four);
  EXPECT_NE(four.folder, recipe_.folder);
  EXPECT_FALSE(prepare_packed_model(four, "engine", executor_).reused);
  EXPECT_FALSE(MockExecutor::has(executor_.calls().back(), "--lz4"));
  EXPECT_EQ(testing::read_text(four.folder / "packed.json"), "bits 4");

  // A stamp edited by hand to claim another recipe does not fool it.
  testing::write_text(four.folder / kPackStampFile, "{\"bits\": 4}");
  EXPECT_FALSE(prepare_packed_model(four, "engine", executor_).reused);
}

// A pack recipe's resident_bits reaches `streammoe pack --resident-bits`, only when not 16.
TEST_F(PackedModelTest, ResidentBitsReachThePacker) {
  prepare_packed_model(recipe_, "engine", executor_);
  EXPECT_FALSE(MockExecutor::has(executor_.calls().back(), "--resident-bits"));
  PackRecipe r4 = recipe_;
  r4.resident_bits = 4;
  r4.folder = packed_folder(dir_ / "results/models", r4);
  EXPECT_NE(r4.folder, recipe_.folder);
  const PreparedModel prepared = prepare_packed_model(r4, "engine", executor_);
  EXPECT_FALSE(prepared.reused);
  EXPECT_EQ(executor_.calls().back().argv[1], "pack");
  EXPECT_EQ(MockExecutor::flag(executor_.calls().back(), "resident-bits"), "4");
  EXPECT_EQ(prepared.stamp["resident_bits"], 4);
  EXPECT_TRUE(prepare_packed_model(r4, "engine", executor_).reused);
}

TEST_F(PackedModelTest, FailedPackLeavesNoFolderAndNamesTheRecipe) {
  packer_.fail_next = true;
  try {
    prepare_packed_model(recipe_, "engine", executor_);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string message = e.what();
    EXPECT_THAT(message, HasSubstr("e.yaml:3:9: packing "));
    EXPECT_THAT(message, HasSubstr("packed to 2 bits + lz4 failed (exit 1)"));
    EXPECT_THAT(message, HasSubstr("config.json: missing key hidden_size"));
  }
  EXPECT_FALSE(fs::exists(recipe_.folder));
  for (const auto& entry : fs::directory_iterator(dir_ / "results/models"))
    EXPECT_EQ(entry.path().filename(), ".gitignore");  // the scratch folder is gone
  EXPECT_FALSE(prepare_packed_model(recipe_, "engine", executor_).reused);  // and retried
}

TEST_F(PackedModelTest, MissingSourceIsAnError) {
  recipe_.source = dir_ / "models/gone";
  EXPECT_THROW(prepare_packed_model(recipe_, "engine", executor_), Error);
  EXPECT_TRUE(executor_.calls().empty());
}

}  // namespace
}  // namespace streammoe::lab
