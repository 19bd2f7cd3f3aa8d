// Invalid switch values and combinations are refused before anything runs: exit code 1, one
// error line naming the switch (or file) and listing what is valid.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "cli_test_util.h"

namespace streammoe {
namespace {

namespace fs = std::filesystem;
using namespace cli_test;
using ::testing::HasSubstr;

class SwitchRefusal : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("streammoe-refusal-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    const CommandResult pack = run_streammoe("pack --hf " + kTiny.string() + " --out " + (root_ / "p4").string());
    ASSERT_EQ(pack.exit_code, 0) << pack.output;
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static void expect_refused(const std::string& model, const std::string& switches,
                             std::initializer_list<std::string> parts) {
    const CommandResult r = run_streammoe("eval --model " + model + " --ids 1,2,3 " + switches);
    EXPECT_EQ(r.exit_code, 1) << switches << "\n" << r.output;
    EXPECT_THAT(r.output, HasSubstr("error:")) << switches;
    for (const auto& p : parts) EXPECT_THAT(r.output, HasSubstr(p)) << switches;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  }
  static std::string packed() { return (root_ / "p4").string(); }
  static std::string hf() { return (kSource / "tests/fixtures/models/q35_fused_f16").string(); }
  static fs::path root_;
};
fs::path SwitchRefusal::root_;

TEST_F(SwitchRefusal, Lz4CacheWithoutLz4Files) {
  expect_refused(packed(), "--expert-cache lz4 --cache-entries 8", {"pack --lz4", "valid caches", "none, lru"});
  expect_refused(hf(), "--expert-cache lz4 --cache-entries 8", {"pack --lz4", "none, lru"});
}

TEST_F(SwitchRefusal, DirectIoOnAnHfFolder) {
  expect_refused(hf(), "--io direct", {"direct", "pread, dontneed or mmap"});
}

TEST_F(SwitchRefusal, DirectIoOnUnalignedStrides) {
  // The packer always pads strides to 4096; an edited manifest that does not is refused by the
  // manifest check (it recomputes the layout), before O_DIRECT could fail mid-run.
  const fs::path copy = root_ / "unaligned";
  fs::copy(root_ / "p4", copy, fs::copy_options::recursive);
  std::string manifest = read_bytes(copy / "streammoe.json");
  const auto at = manifest.find("\"expert_stride\"");
  ASSERT_NE(at, std::string::npos);
  const auto colon = manifest.find(':', at), end = manifest.find_first_of(",}", colon);
  manifest.replace(colon + 1, end - colon - 1, " 12345");
  std::ofstream(copy / "streammoe.json", std::ios::trunc) << manifest;
  const CommandResult r = run_streammoe("eval --model " + copy.string() + " --ids 1,2,3 --io direct");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("stride"));
}

TEST_F(SwitchRefusal, UringWhereItCannotRun) {
#ifdef STREAMMOE_HAVE_URING
  expect_refused(hf(), "--io uring", {"uring", "pread, dontneed or mmap"});
#else
  expect_refused(packed(), "--io uring", {"liburing", "pread, direct"});
#endif
}

TEST_F(SwitchRefusal, UnknownValuesListTheValidOnes) {
  expect_refused(packed(), "--expert-cache lfu", {"--expert-cache", "'lfu'", "none, lru, lz4"});
  expect_refused(packed(), "--io aio", {"--io", "pread, direct, dontneed, mmap, uring"});
  expect_refused(packed(), "--prefetch later", {"--prefetch", "none, willneed, async"});
  expect_refused(packed(), "--predictor speculative", {"--predictor", "none, temporal, early-routing, oracle"});
  expect_refused(packed(), "--overlap maybe", {"--overlap", "serial, pipelined"});
  expect_refused(packed(), "--dequant fast", {"--dequant", "naive, fma"});
  expect_refused(packed(), "--cache-entries many", {"--cache-entries", "integer"});
}

TEST_F(SwitchRefusal, CombinationsThatCannotWork) {
  expect_refused(packed(), "--expert-cache lru", {"--cache-entries N or --cache-bytes N"});
  expect_refused(packed(), "--cache-entries 8", {"--expert-cache none", "lru, lz4"});
  expect_refused(packed(), "--prefetch willneed", {"needs a --predictor", "temporal, early-routing, oracle"});
  expect_refused(packed(), "--prefetch async --predictor temporal", {"--expert-cache lru or lz4"});
  expect_refused(packed(), "--overlap pipelined", {"--prefetch willneed or async"});
  expect_refused(packed(), "--predictor oracle", {"--predictor-trace"});
  expect_refused(hf(), "--io mmap --expert-cache lru --cache-entries 4", {"mmap", "valid caches with mmap: none"});
  expect_refused(hf(), "--io mmap --prefetch willneed --predictor temporal", {"willneed", "--io pread"});
  expect_refused(packed(), "--expert-bits 2", {"--expert-bits 2", "packed at 4 bits"});
  expect_refused(hf(), "--expert-bits 4", {"not packed", "pack --bits 4"});
}

TEST_F(SwitchRefusal, UnknownSwitchInAVariantFile) {
  const fs::path variant = root_ / "bad.yaml";
  std::ofstream(variant) << "name: bad\nswitches: {expert-cache: lru, cache-size: 8}\n";
  expect_refused(packed(), "--variant " + variant.string(), {"bad.yaml:2", "unknown switch 'cache-size'", "cache-entries"});
}

}  // namespace
}  // namespace streammoe
