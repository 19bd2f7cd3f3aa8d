// Cold that is cold: the disk's read counter and the expert files' residency recorded with each
// run, the cold-flag rule (a cold experiment whose baseline found its experts in the page cache
// keeps nothing), warmup runs, and each run's share of the machine profile's roofline.
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "harness/cache_control.h"
#include "harness/io_counters.h"
#include "harness/mock_executor.h"
#include "harness/run_record.h"
#include "harness/runner.h"
#include "lab_fixture.h"

namespace streammoe::lab {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::TempDir;

TEST(DiskReadCounter, ParsesBlockStatAndIoStat) {
  EXPECT_EQ(stat_read_bytes("    4021      0   123456    1000    0 0 0 0 0 0 0"), 123456u * 512);
  EXPECT_FALSE(stat_read_bytes("").has_value());
  std::string io = "8:0 rbytes=4096 wbytes=0 rios=1 wios=0\n253:0 rbytes=1048576 wbytes=8 rios=3\n";
  EXPECT_EQ(io_stat_read_bytes(io, "253:0"), 1048576u);
  EXPECT_EQ(io_stat_read_bytes(io, "8:0"), 4096u);
  EXPECT_FALSE(io_stat_read_bytes(io, "259:1").has_value());
}

TEST(DiskReadCounter, FindsTheDiskOfAFileInSysfsOrTheCgroup) {
  TempDir dir;
  testing::write_text(dir / "model/experts.bin", "x");
  struct stat st {};
  ASSERT_EQ(::stat((dir / "model/experts.bin").c_str(), &st), 0);
  if (major(st.st_dev) == 0) GTEST_SKIP() << "the test folder is on no block device";
  // A stand-in /sys: dev/block/M:m -> devices/vdq1, a partition of vdq.
  fs::path sys = dir / "sys";
  testing::write_text(sys / "devices/vdq/dev", "253:16\n");
  testing::write_text(sys / "devices/vdq/vdq1/partition", "1\n");
  testing::write_text(sys / "devices/vdq/vdq1/stat", "10 0 2000 0 0 0 0 0 0 0 0\n");
  fs::create_directories(sys / "dev/block");
  fs::create_directory_symlink(sys / "devices/vdq/vdq1",
                               sys / fmt::format("dev/block/{}:{}", major(st.st_dev), minor(st.st_dev)));
  auto counter = DiskReadCounter::for_path(dir / "model", {}, sys);
  ASSERT_TRUE(counter.has_value());
  EXPECT_EQ(counter->source(), "vdq1 stat");
  EXPECT_EQ(counter->read_bytes(), 2000u * 512);
  // A cgroup v2 folder with io.stat counts the engine alone, by the whole disk's numbers.
  testing::write_text(dir / "cgroup/io.stat", "253:16 rbytes=777 wbytes=0\n");
  auto in_cgroup = DiskReadCounter::for_path(dir / "model", dir / "cgroup", sys);
  ASSERT_TRUE(in_cgroup.has_value());
  EXPECT_EQ(in_cgroup->source(), "cgroup io.stat 253:16");
  EXPECT_EQ(in_cgroup->read_bytes(), 777u);
  testing::write_text(dir / "cgroup/io.stat", "");
  EXPECT_EQ(in_cgroup->read_bytes(), 0u);  // nothing read yet
  // The real machine: this file's disk has a counter that only grows.
  if (auto real = DiskReadCounter::for_path(dir / "model")) {
    auto before = real->read_bytes();
    ASSERT_TRUE(before.has_value());
    EXPECT_GE(*real->read_bytes(), *before);
  }
}

TEST(Residency, WeightedBySizeOverTheExpertFiles) {
  TempDir dir;
  testing::write_text(dir / "a.bin", std::string(1 << 20, 'a'));
  testing::write_text(dir / "b.bin", std::string(3 << 20, 'b'));
  std::vector<fs::path> files = {dir / "a.bin", dir / "b.bin"};
  warm_files(dir.path());
  EXPECT_GT(resident_fraction(files), 0.9);
  evict_files(dir / "b.bin", false);
  double after = resident_fraction(files);
  if (after > 0.5) GTEST_SKIP() << "the page cache kept the evicted pages (" << after << ")";
  EXPECT_LT(after, 0.5);  // 3 of 4 MiB evicted
  EXPECT_DOUBLE_EQ(resident_fraction(std::vector<fs::path>{dir / "missing"}), -1);
}

// Metrics with routing telemetry: `disk_share` of the expert bytes came from the disk.
nlohmann::json cold_metrics(double tok_s, double disk_share) {
  nlohmann::json m = MockExecutor::engine_metrics(tok_s);
  m["routing"] = {{"routing_tokens", 24},
                  {"expert_io", {{"bytes_read", 24 * 1.5e6}, {"bytes_from_disk", disk_share * 24 * 1.5e6}}},
                  {"expert_cache", {{"kind", "lru"}, {"hit_rate", 0.25}}}};
  return m;
}

TEST(Telemetry, BytesFromDiskHitRateAndTheRooflineShare) {
  nlohmann::json m = cold_metrics(100, 0.5);
  // 0.75 MB per token from the disk at 1 GB/s and 0.75 MB from memory at 10 GB/s: 0.825 ms,
  // a roofline of 1212.1 tok/s; 100 tok/s is 8.25% of it.
  Fields f = telemetry_fields(m, std::nullopt, 1.0, 10.0);
  auto get = [&](const std::string& name) -> double {
    for (const auto& [k, v] : f)
      if (k == name) return to_double(v);
    return NAN;
  };
  EXPECT_DOUBLE_EQ(get("expert_bytes_read"), 36e6);
  EXPECT_DOUBLE_EQ(get("bytes_from_disk"), 18e6);
  EXPECT_DOUBLE_EQ(get("disk_bytes_per_token"), 0.75e6);
  EXPECT_DOUBLE_EQ(get("cold_share"), 0.5);
  EXPECT_DOUBLE_EQ(get("cache_hit_rate"), 0.25);
  EXPECT_DOUBLE_EQ(get("expert_gbps"), 0.15);
  EXPECT_NEAR(get("roofline_tok_s"), 1 / 0.825e-3, 1e-6);
  EXPECT_NEAR(get("roofline_share"), 0.0825, 1e-12);
  // Without a profile no roofline; without the engine's count the disk counter stands in.
  nlohmann::json plain = MockExecutor::engine_metrics(100);
  plain.erase("routing");
  Fields g = telemetry_fields(plain, uint64_t{12000000}, NAN, NAN);
  for (const auto& [k, v] : g) {
    if (k == "roofline_share" || k == "cache_hit_rate") {
      EXPECT_TRUE(is_null(v)) << k;
    }
    if (k == "bytes_from_disk") {
      EXPECT_DOUBLE_EQ(to_double(v), 12e6);
    }
    if (k == "disk_bytes_per_token") {
      EXPECT_DOUBLE_EQ(to_double(v), 12e6 / 24);  // 8 + 16 tokens
    }
  }
}

// The predictor's scores as the engine writes them (routing.predictor), taken only from a run
// that had a predictor and made a prediction.
TEST(Telemetry, PredictorPrecisionAndRecall) {
  auto field = [](const nlohmann::json& predictor, const std::string& name) {
    nlohmann::json m = MockExecutor::engine_metrics(100);
    m["routing"] = {{"routing_tokens", 24}, {"predictor", predictor}};
    for (const auto& [k, v] : telemetry_fields(m, std::nullopt, NAN, NAN))
      if (k == name) return is_null(v) ? std::optional<double>() : std::optional<double>(to_double(v));
    ADD_FAILURE() << "no field " << name;
    return std::optional<double>();
  };
  // 5 experts predicted, 3 of them routed to, 4 routed in the predicted layers.
  const nlohmann::json temporal = {{"kind", "temporal"}, {"predicted_experts", 5}, {"correct", 3},
                                   {"routed_experts_predicted_layers", 4}, {"precision", 0.6}, {"recall", 0.75}};
  EXPECT_EQ(field(temporal, "predictor_precision"), 0.6);
  EXPECT_EQ(field(temporal, "predictor_recall"), 0.75);
  nlohmann::json none = temporal;
  none["kind"] = "none";
  EXPECT_FALSE(field(none, "predictor_precision"));
  nlohmann::json silent = temporal;
  silent["predicted_experts"] = 0;  // a run too short to predict anything
  EXPECT_FALSE(field(silent, "predictor_recall"));
}

class ColdTest : public testing::LabProjectTest {};

constexpr const char* kCold =
    "name: c\nmodel: models/tiny\nworkload: {prompt: hi}\nrepeats: 3\ncache: cold\n"
    "baseline: base\nvariants: [{name: base}, {name: fast, switches: {io: mmap}}]\n";

TEST_F(ColdTest, AWarmBaselineInAColdExperimentIsFlaggedAndKeepsNothing) {
  for (double share : {0.1, 0.9}) {
    SCOPED_TRACE(share);
    ExperimentSpec spec = load(kCold);
    MockExecutor executor([&](const Command& c) {
      MockReply reply = MockExecutor::ok_reply();
      reply.metrics = cold_metrics(MockExecutor::flag(c, "io") == "mmap" ? 150 : 100, share);
      return reply;
    });
    Store store(dir_ / fmt::format("cold-{}.db", share));
    Runner(spec, store, executor, options()).run();
    auto v = store.query("SELECT v.name, d.verdict, d.reason, d.warnings, d.cold_share FROM "
                         "verdicts d JOIN variants v ON v.id = d.variant_id ORDER BY v.ordinal");
    ASSERT_EQ(v.size(), 2u);
    EXPECT_DOUBLE_EQ(to_double(v[0].at("cold_share")), share);
    std::string warnings = to_text(store.query("SELECT warnings FROM experiments")[0].values[0]);
    if (share < 0.5) {
      EXPECT_EQ(to_text(v[1].at("verdict")), "discard");
      EXPECT_THAT(to_text(v[1].at("reason")),
                  HasSubstr("not cold: the baseline read only 10% of its expert bytes from the "
                            "disk (no keep verdict)"));
      EXPECT_THAT(to_text(v[0].at("reason")), HasSubstr("not cold"));
      EXPECT_THAT(warnings, HasSubstr("not cold: the baseline read only 10%"));
    } else {
      EXPECT_EQ(to_text(v[1].at("verdict")), "keep");
      EXPECT_THAT(warnings, ::testing::Not(HasSubstr("not cold")));
    }
  }
  // The same numbers in a warm experiment are what warm means: no flag.
  std::string warm = kCold;
  warm.replace(warm.find("cache: cold"), 11, "cache: warm");
  ExperimentSpec spec = load(warm);
  MockExecutor executor([&](const Command& c) {
    MockReply reply = MockExecutor::ok_reply();
    reply.metrics = cold_metrics(MockExecutor::flag(c, "io") == "mmap" ? 150 : 100, 0.01);
    return reply;
  });
  Store store(dir_ / "warm.db");
  Runner(spec, store, executor, options()).run();
  EXPECT_EQ(to_int(store.query("SELECT COUNT(*) FROM verdicts WHERE verdict = 'keep'")[0].values[0]), 1);
}

TEST_F(ColdTest, EachRunRecordsResidencyAndDiskReadsAndItsRooflineShare) {
  testing::write_text(dir_ / "models/tiny/model.safetensors", std::string(1 << 20, 'w'));
  ExperimentSpec spec = load(kCold);
  MockExecutor executor([&](const Command&) {
    MockReply reply = MockExecutor::ok_reply();
    reply.metrics = cold_metrics(100, 0.5);
    return reply;
  });
  RunnerOptions o = options();
  o.machine_profile = [](const ExpertFiles&) {
    MachineProfile p;
    p.disk_rand_gbps = 1.0;
    p.ram_read_gbps = 10.0;
    p.ram_read_gbps_1t = 10.0;
    return std::optional<MachineProfile>(p);
  };
  Store store(dir_ / "lab.db");
  Runner(spec, store, executor, o).run();
  auto runs = store.query("SELECT r.expert_resident_before, r.disk_read_bytes, r.disk_read_source, "
                          "m.roofline_share FROM runs r JOIN metrics m ON m.run_id = r.id");
  ASSERT_EQ(runs.size(), 6u);
  for (const auto& r : runs) {
    // Evicted just before: (almost) nothing of the model's safetensors file is resident.
    EXPECT_GE(to_double(r.at("expert_resident_before")), 0);
    EXPECT_LE(to_double(r.at("expert_resident_before")), 0.5);
    EXPECT_NEAR(to_double(r.at("roofline_share")), 0.0825, 1e-12);
    if (!is_null(r.at("disk_read_bytes"))) {
      EXPECT_THAT(to_text(r.at("disk_read_source")), HasSubstr("stat"));
    }
  }
  auto verdicts = store.query("SELECT roofline_share, cache_hit_rate, disk_mb_per_token, disk_gbps FROM verdicts");
  EXPECT_NEAR(to_double(verdicts[0].at("roofline_share")), 0.0825, 1e-12);
  EXPECT_DOUBLE_EQ(to_double(verdicts[0].at("cache_hit_rate")), 0.25);
  EXPECT_DOUBLE_EQ(to_double(verdicts[0].at("disk_mb_per_token")), 0.75);
  EXPECT_DOUBLE_EQ(to_double(verdicts[0].at("disk_gbps")), 0.075);
}

TEST_F(ColdTest, WarmupRunsAreRunButNotRecorded) {
  ExperimentSpec spec = load(std::string(kCold) + "warmup: 2\n");
  EXPECT_EQ(spec.warmup, 2);
  int generates = 0;
  MockExecutor executor([&](const Command&) {
    ++generates;
    MockReply reply = MockExecutor::ok_reply();
    reply.metrics = cold_metrics(100, 0.9);
    return reply;
  });
  Store store(dir_ / "lab.db");
  RunnerSummary summary = Runner(spec, store, executor, options()).run();
  EXPECT_EQ(summary.warmups, 4);  // 2 per variant
  EXPECT_EQ(generates, 6 + 4);
  EXPECT_EQ(to_int(store.query("SELECT COUNT(*) FROM runs")[0].values[0]), 6);
  auto plan = nlohmann::json::parse(to_text(store.query("SELECT plan_json FROM experiments")[0].values[0]));
  EXPECT_EQ(plan["warmup"], 2);
}

}  // namespace
}  // namespace streammoe::lab
