// Telemetry of the switches in generate's --metrics-json ("routing" block) on the packed tiny
// model: cache hits equal the stack-distance prediction lru_hits(C), bytes add up by source, an
// oracle predictor replaying the same run's trace is perfect, async prefetch accounts its reads.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli_test_util.h"

namespace streammoe {
namespace {

namespace fs = std::filesystem;
using namespace cli_test;

class SwitchTelemetry : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("streammoe-telemetry-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    const CommandResult pack = run_streammoe("pack --hf " + kTiny.string() + " --out " + (root_ / "p4").string() + " --lz4");
    ASSERT_EQ(pack.exit_code, 0) << pack.output;
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static nlohmann::json generate(const std::string& switches) {
    const fs::path metrics = root_ / "metrics.json";
    const CommandResult r = run_streammoe("generate --model " + (root_ / "p4").string() +
                                          " --ids 1,5,9,2 --tokens 12 --ignore-eos --metrics-json " +
                                          metrics.string() + " " + switches);
    EXPECT_EQ(r.exit_code, 0) << switches << "\n" << r.output;
    return nlohmann::json::parse(read_bytes(metrics))["routing"];
  }
  static fs::path root_;
};
fs::path SwitchTelemetry::root_;

TEST_F(SwitchTelemetry, LruHitsEqualTheStackDistancePrediction) {
  for (int entries : {40, 90, 160, 400}) {
    const auto j = generate("--expert-cache lru --cache-entries " + std::to_string(entries));
    const auto& c = j["expert_cache"];
    EXPECT_EQ(c["hits"], c["lru_hits_predicted"]) << entries;
    EXPECT_EQ(c["hits"].get<int64_t>() + c["misses"].get<int64_t>(), j["expert_accesses"].get<int64_t>());
    EXPECT_EQ(c["misses"].get<int64_t>() - c["evictions"].get<int64_t>(),
              std::min<int64_t>(entries, c["misses"].get<int64_t>()));
  }
  // Every distinct (layer, expert) fits: only cold accesses miss.
  const auto all = generate("--expert-cache lru --cache-entries 100000");
  EXPECT_EQ(all["expert_cache"]["misses"], all["cold_accesses"]);
}

TEST_F(SwitchTelemetry, Lz4CacheHitsLikeLruAndReadsCompressedBytes) {
  const auto lru = generate("--expert-cache lru --cache-entries 160");
  const auto lz4 = generate("--expert-cache lz4 --cache-entries 160");
  EXPECT_EQ(lz4["expert_cache"]["hits"], lru["expert_cache"]["hits"]);
  EXPECT_GT(lz4["expert_io"]["bytes_read"].get<int64_t>(), 0);
  EXPECT_EQ(lz4["expert_io"]["bytes_from_cache"], lru["expert_io"]["bytes_from_cache"]);
}

TEST_F(SwitchTelemetry, BytesReadSplitIntoPageCacheAndDisk) {
  const auto j = generate("");
  const auto& io = j["expert_io"];
  EXPECT_GT(io["bytes_read"].get<int64_t>(), 0);
  EXPECT_EQ(io["bytes_read"].get<int64_t>(),
            io["bytes_from_page_cache"].get<int64_t>() + io["bytes_from_disk"].get<int64_t>());
  EXPECT_EQ(j["expert_cache"]["hits"], 0);
}

TEST_F(SwitchTelemetry, OracleReplayingTheSameRunIsPerfectAndTemporalIsNot) {
  const fs::path trace = root_ / "trace.jsonl";
  generate("--record-routing " + trace.string());
  const auto oracle = generate("--predictor oracle --predictor-trace " + trace.string());
  EXPECT_GT(oracle["predictor"]["predicted_experts"].get<int64_t>(), 0);
  EXPECT_DOUBLE_EQ(oracle["predictor"]["precision"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(oracle["predictor"]["recall"].get<double>(), 1.0);
  const auto temporal = generate("--predictor temporal");
  EXPECT_LT(temporal["predictor"]["precision"].get<double>(), 1.0);
  EXPECT_GT(temporal["predictor"]["precision"].get<double>(), 0.0);
}

TEST_F(SwitchTelemetry, AsyncPrefetchWithAnOracleTurnsMissesIntoUsedPrefetches) {
  const fs::path trace = root_ / "trace2.jsonl";
  generate("--record-routing " + trace.string());
  const auto j = generate("--predictor oracle --predictor-trace " + trace.string() +
                          " --prefetch async --expert-cache lru --cache-entries 100000");
  const auto& p = j["prefetch"];
  EXPECT_GT(p["experts"].get<int64_t>(), 0);
  EXPECT_EQ(p["used"], p["experts"]);  // a perfect predictor: every prefetched expert is fetched
  EXPECT_EQ(p["unused_bytes"], 0);
}

TEST_F(SwitchTelemetry, WillneedAdvisesThePredictedExperts) {
  const auto j = generate("--prefetch willneed --predictor temporal --overlap pipelined");
  EXPECT_GT(j["prefetch"]["experts"].get<int64_t>(), 0);
  EXPECT_EQ(j["prefetch"]["requests"], j["prefetch"]["experts"]);
  EXPECT_GT(j["prefetch"]["bytes"].get<int64_t>(), 0);
}

}  // namespace
}  // namespace streammoe
