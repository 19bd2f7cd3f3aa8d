// Lossless switches (every expert cache, every I/O mode, prefetch, predictors, overlap, the
// expert order) give bit-identical eval logits to the baseline: memcmp of the --dump-logits files. Packed: the
// trained tiny-qwen35moe packed (with --lz4) in the test; HF I/O modes: the q35 fused fixture.
// Lossy switches (K override) report their quality cost through the same eval.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli_test_util.h"

namespace streammoe {
namespace {

namespace fs = std::filesystem;
using namespace cli_test;

class Switches : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("streammoe-switches-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    const CommandResult pack = run_streammoe("pack --hf " + kTiny.string() + " --out " + packed().string() + " --lz4");
    ASSERT_EQ(pack.exit_code, 0) << pack.output;
    ASSERT_NE(pack.output.find("lz4:"), std::string::npos) << pack.output;
    const CommandResult base = eval(packed(), "", "base.npy");
    ASSERT_EQ(base.exit_code, 0) << base.output;
    const CommandResult hf = eval(hf_fixture(), "", "hf_base.npy");
    ASSERT_EQ(hf.exit_code, 0) << hf.output;
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static fs::path packed() { return root_ / "p4"; }
  static fs::path hf_fixture() { return kSource / "tests/fixtures/models/q35_fused_f16"; }
  static CommandResult eval(const fs::path& model, const std::string& switches, const std::string& out) {
    const std::string input = model == hf_fixture() ? "--ids 1,5,9,2,7,3,8,4,6,1,5,9" :
                              "--text-file " + (kTiny / "heldout.txt").string() + " --max-tokens 40";
    return run_streammoe("eval --model " + model.string() + " " + input + " --dump-logits " +
                         (root_ / out).string() + " " + switches);
  }
  static fs::path root_;
};
fs::path Switches::root_;

class PackedLossless : public Switches {};
class HfLossless : public Switches {};

TEST_P(PackedLossless, LogitsAreBitIdenticalToTheBaseline) {
  const CommandResult r = eval(packed(), GetParam(), "switch.npy");
  ASSERT_EQ(r.exit_code, 0) << GetParam() << "\n" << r.output;
  const std::string base = read_bytes(root_ / "base.npy"), got = read_bytes(root_ / "switch.npy");
  ASSERT_GT(base.size(), 1000u);
  EXPECT_TRUE(base == got) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(
    EverySwitch, PackedLossless,
    ::testing::Values(
        "--io pread", "--io direct", "--io dontneed", "--io-threads 1", "--io-threads 3",
        "--expert-cache lru --cache-entries 1", "--expert-cache lru --cache-entries 64",
        "--expert-cache lru --cache-entries 100000", "--expert-cache lru --cache-bytes 1000000",
        "--expert-cache lru --cache-entries 16 --io direct", "--expert-cache lz4 --cache-entries 1",
        "--expert-cache lz4 --cache-entries 200", "--expert-cache lz4 --cache-bytes 500000",
        "--predictor temporal", "--predictor early-routing",
        "--prefetch willneed --predictor temporal",
        "--prefetch willneed --predictor early-routing --overlap pipelined",
        "--prefetch async --predictor temporal --expert-cache lru --cache-entries 48",
        "--prefetch async --predictor early-routing --expert-cache lru --cache-entries 48 "
        "--overlap pipelined",
        "--prefetch async --predictor early-routing --expert-cache lz4 --cache-entries 8 --overlap "
        "pipelined",
        "--variant lru-cache", "--variant lz4-cache", "--variant prefetch-willneed",
        "--variant direct-io", "--io mmap", "--io mmap --expert-cache lru --cache-entries 16",
        "--io mmap --prefetch willneed --predictor temporal", "--prefill-chunk 5",
        "--prefill-chunk 64 --io direct",
        "--prefill-chunk 16 --expert-cache lru --cache-entries 24",
        "--prefill-chunk 8 --prefetch async --predictor temporal --expert-cache lru "
        "--cache-entries 48",
        "--readahead off", "--readahead off --io dontneed", "--readahead off --io mmap",
        "--readahead off --prefetch willneed --predictor early-routing",
        "--readahead off --expert-cache lru --cache-entries 16",
        "--prefetch willneed --predictor early-routing --predict-k 3",
        "--prefetch willneed --predictor temporal --predict-k 2",
        "--prefetch async --predictor early-routing --predict-k 12 --expert-cache lru "
        "--cache-entries 48"));

// --expert-order arrival computes each expert as its read lands (pread threads that exclude the
// caller, io_uring completions one at a time); sources without arrivals (mmap, the caches) keep
// handing all K out together. Token by token and chunked, the logits are the same bits.
INSTANTIATE_TEST_SUITE_P(
    ExpertOrder, PackedLossless,
    ::testing::Values("--expert-order all", "--expert-order arrival", "--expert-order arrival --io direct",
                      "--expert-order arrival --io dontneed", "--expert-order arrival --io-threads 1",
                      "--expert-order arrival --io-threads 3", "--expert-order arrival --io mmap",
                      "--expert-order arrival --expert-cache lru --cache-entries 16",
                      "--expert-order arrival --expert-cache lz4 --cache-entries 8",
                      "--expert-order arrival --threads 1",
                      "--expert-order arrival --prefetch willneed --predictor early-routing --overlap pipelined",
                      "--expert-order arrival --prefetch async --predictor temporal --expert-cache lru "
                      "--cache-entries 48",
                      "--expert-order arrival --prefill-chunk 5", "--expert-order arrival --prefill-chunk 64 --io direct",
                      "--expert-order arrival --prefill-chunk 16 --io mmap",
                      "--expert-order arrival --prefill-chunk 16 --expert-cache lru --cache-entries 24"));

#ifdef STREAMMOE_HAVE_URING
INSTANTIATE_TEST_SUITE_P(
    Uring, PackedLossless,
    ::testing::Values("--io uring", "--io uring --readahead off",
                      "--io uring --expert-cache lru --cache-entries 16",
                      "--io uring --expert-order arrival",
                      "--io uring --expert-order arrival --prefill-chunk 7",
                      "--io uring --expert-order arrival --expert-cache lru --cache-entries 16",
                      "--io uring --prefetch async --predictor temporal --expert-cache lru "
                      "--cache-entries 64 --overlap pipelined"));
#endif

TEST_P(HfLossless, LogitsAreBitIdenticalToTheBaseline) {
  const CommandResult r = eval(hf_fixture(), GetParam(), "hf_switch.npy");
  ASSERT_EQ(r.exit_code, 0) << GetParam() << "\n" << r.output;
  const std::string base = read_bytes(root_ / "hf_base.npy"), got = read_bytes(root_ / "hf_switch.npy");
  ASSERT_GT(base.size(), 100u);
  EXPECT_TRUE(base == got) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(
    EverySwitch, HfLossless,
    ::testing::Values("--io mmap", "--io dontneed", "--io-threads 2", "--readahead off",
                      "--expert-cache lru --cache-entries 3", "--expert-order arrival",
                      "--expert-order arrival --io mmap",
                      "--prefetch willneed --predictor temporal",
                      "--prefetch async --predictor early-routing --expert-cache lru "
                      "--cache-entries 5 --overlap pipelined"));

// --readahead off is a hint on the expert files pread reads; a Hugging Face folder under --io mmap
// reads its experts through the safetensors mappings, which the hint does not cover.
TEST_F(Switches, ReadaheadOffRefusesMappedSafetensors) {
  const CommandResult r = eval(hf_fixture(), "--readahead off --io mmap", "hf_refused.npy");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--readahead off with --io mmap"), std::string::npos) << r.output;
}

// The expert order is lossless on the int8 path too: each token's x is quantised once, whichever
// expert lands first.
TEST_F(Switches, ArrivalOrderIsLosslessWithInt8Matvec) {
  ASSERT_EQ(eval(packed(), "--matvec int8", "int8.npy").exit_code, 0);
  std::vector<std::string> arrival = {"--expert-order arrival", "--expert-order arrival --prefill-chunk 9 --io direct"};
#ifdef STREAMMOE_HAVE_URING
  arrival.push_back("--expert-order arrival --io uring --prefill-chunk 5");
#endif
  for (const std::string& switches : arrival) {
    const CommandResult r = eval(packed(), "--matvec int8 " + switches, "int8_arrival.npy");
    ASSERT_EQ(r.exit_code, 0) << switches << "\n" << r.output;
    EXPECT_TRUE(read_bytes(root_ / "int8.npy") == read_bytes(root_ / "int8_arrival.npy")) << switches;
  }
}

TEST_F(Switches, OraclePrefetchFromARecordedTraceIsLossless) {
  const fs::path trace = root_ / "trace.jsonl";
  ASSERT_EQ(eval(packed(), "--record-routing " + trace.string(), "rec.npy").exit_code, 0);
  const CommandResult r = eval(packed(), "--predictor oracle --predictor-trace " + trace.string() +
                                             " --prefetch async --expert-cache lru --cache-entries 64", "oracle.npy");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(read_bytes(root_ / "base.npy") == read_bytes(root_ / "oracle.npy"));
}

// A chunked prefill routes every token as token-by-token does: the recorded traces are the same
// file, early routing (lossy) gives the same logits, and so does a replay.
TEST_F(Switches, ChunkedPrefillRoutesAsTokenByToken) {
  const fs::path one = root_ / "trace_1.jsonl", chunked = root_ / "trace_16.jsonl";
  ASSERT_EQ(eval(packed(), "--record-routing " + one.string(), "t1.npy").exit_code, 0);
  ASSERT_EQ(eval(packed(), "--prefill-chunk 16 --record-routing " + chunked.string(), "t16.npy").exit_code, 0);
  EXPECT_TRUE(read_bytes(one) == read_bytes(chunked));
  ASSERT_EQ(eval(packed(), "--routing early", "e1.npy").exit_code, 0);
  ASSERT_EQ(eval(packed(), "--routing early --prefill-chunk 9", "e9.npy").exit_code, 0);
  EXPECT_TRUE(read_bytes(root_ / "e1.npy") == read_bytes(root_ / "e9.npy"));
  ASSERT_EQ(eval(packed(), "--prefill-chunk 7 --replay-routing " + one.string(), "r7.npy").exit_code, 0);
  EXPECT_TRUE(read_bytes(root_ / "base.npy") == read_bytes(root_ / "r7.npy"));
}

TEST_F(Switches, KOverrideReportsItsQualityCostThroughEval) {
  const std::string ref = "--ref-logits " + (root_ / "base.npy").string() + " --json";
  const CommandResult same = eval(packed(), ref + " --expert-cache lru --cache-entries 8", "same.npy");
  ASSERT_EQ(same.exit_code, 0) << same.output;
  const auto j0 = nlohmann::json::parse(same.output);
  EXPECT_EQ(j0["kld_max"].get<double>(), 0.0);
  EXPECT_EQ(j0["options"]["expert-cache"], "lru");
  const CommandResult lossy = eval(packed(), ref + " --k 2", "k2.npy");
  ASSERT_EQ(lossy.exit_code, 0) << lossy.output;
  const auto j = nlohmann::json::parse(lossy.output);
  EXPECT_GT(j["kld_mean"].get<double>(), 0.0);
  EXPECT_LT(j["top1_agree"].get<double>(), 1.0);
  EXPECT_EQ(j["options"]["k"], 2);
}

TEST_F(Switches, EarlyRoutingReportsItsQualityCostThroughEval) {
  const std::string ref = "--ref-logits " + (root_ / "base.npy").string() + " --json";
  const CommandResult lossy = eval(packed(), ref + " --routing early", "early.npy");
  ASSERT_EQ(lossy.exit_code, 0) << lossy.output;
  const auto j = nlohmann::json::parse(lossy.output);
  EXPECT_GT(j["kld_mean"].get<double>(), 0.0);  // routing changed: the output did
  EXPECT_LT(j["kld_mean"].get<double>(), 1.0);  // but it is the same model, not noise
  EXPECT_EQ(j["options"]["routing"], "early");
  // A replayed trace wins over early routing: exact routing again, bit for bit.
  const std::string trace = (root_ / "exact_trace.jsonl").string();
  ASSERT_EQ(eval(packed(), "--record-routing " + trace, "exact_again.npy").exit_code, 0);
  const CommandResult replayed = eval(packed(), "--routing early --replay-routing " + trace, "replayed.npy");
  ASSERT_EQ(replayed.exit_code, 0) << replayed.output;
  EXPECT_TRUE(read_bytes(root_ / "base.npy") == read_bytes(root_ / "replayed.npy"));
}

}  // namespace
}  // namespace streammoe
