// The machine profile: sane positive rates from a small scratch file and from RAM, a scratch
// file that leaves nothing behind, the per-boot cache, the model's expert files, and the
// profile stored with the environment. Rates are checked for sanity, never for speed.
#include "harness/machine_profile.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "harness/mock_executor.h"
#include "harness/model_files.h"
#include "harness/runner.h"
#include "lab_test_util.h"

namespace streammoe::lab {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::TempDir;

void write_bytes(const fs::path& path, size_t bytes) {
  std::string data(bytes, '\0');
  for (size_t i = 0; i < bytes; ++i) data[i] = static_cast<char>(i * 131 % 251);
  testing::write_text(path, data);
}

size_t entries(const fs::path& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

ProfileRequest small_request(const fs::path& file) {
  ProfileRequest request;
  request.files = {file};
  request.block_bytes = 64 << 10;
  request.queue_depth = 2;
  request.disk_seconds = 0.1;
  request.ram_bytes = 8 << 20;
  request.min_probe_bytes = 1 << 20;  // the 2 MiB file is read itself
  return request;
}

TEST(MachineProfile, DiskRandomReadsOfASmallFileGiveAPositiveRate) {
  TempDir dir;
  write_bytes(dir / "experts.bin", 2 << 20);
  std::string note;
  double gbps = disk_random_read_gbps({dir / "experts.bin"}, 64 << 10, 2, 0.1, note);
  if (!std::isfinite(gbps)) GTEST_SKIP() << "no O_DIRECT here: " << note;
  EXPECT_GT(gbps, 0);
  EXPECT_LT(gbps, 1e4);  // 10 TB/s: a unit or overflow error, not a disk
  // A file smaller than one read is no probe: reported, not a crash or a zero.
  double none = disk_random_read_gbps({dir / "experts.bin"}, 4 << 20, 2, 0.1, note);
  EXPECT_TRUE(std::isnan(none));
  EXPECT_THAT(note, HasSubstr("no file of at least"));
}

TEST(MachineProfile, RamReadRateIsPositive) {
  double one = ram_read_gbps(8 << 20, 1, 2);
  double two = ram_read_gbps(8 << 20, 2, 2);
  EXPECT_GT(one, 0);
  EXPECT_GT(two, 0);
  EXPECT_LT(one, 1e4);
}

TEST(MachineProfile, SmallModelsAreProbedOnAScratchFileThatLeavesNothingBehind) {
  TempDir dir;
  write_bytes(dir / "model/experts.bin", 64 << 10);
  size_t before = entries(dir / "model");
  ProfileRequest request = small_request(dir / "model/experts.bin");
  request.min_probe_bytes = 4 << 20;  // more than the model's 64 KiB
  MachineProfile p = measure_machine(request);
  EXPECT_THAT(p.probe, HasSubstr("scratch file"));
  if (std::isfinite(p.disk_rand_gbps)) {
    EXPECT_GT(p.disk_rand_gbps, 0);
  } else {
    EXPECT_FALSE(p.note.empty());
  }
  EXPECT_EQ(entries(dir / "model"), before);  // unlinked as soon as it was made
  EXPECT_GT(p.ram_read_gbps, 0);
  EXPECT_GT(p.ram_read_gbps_1t, 0);
  EXPECT_EQ(p.block_bytes, 64u << 10);
  EXPECT_EQ(p.queue_depth, 2);
  EXPECT_FALSE(p.device.empty());
  EXPECT_FALSE(p.measured_at.empty());
}

TEST(MachineProfile, MeasuredOncePerBootAndDeviceThenCached) {
  if (boot_id().empty()) GTEST_SKIP() << "no boot id on this system";
  TempDir dir;
  write_bytes(dir / "experts.bin", 2 << 20);
  fs::path cache = dir / "cache/profiles.json";
  ProfileRequest request = small_request(dir / "experts.bin");
  MachineProfile first = machine_profile(request, cache);
  EXPECT_FALSE(first.reused);
  ASSERT_TRUE(fs::exists(cache));
  MachineProfile second = machine_profile(request, cache);
  EXPECT_TRUE(second.reused);
  EXPECT_EQ(second.measured_at, first.measured_at);
  EXPECT_EQ(second.ram_read_gbps, first.ram_read_gbps);
  EXPECT_FALSE(machine_profile(request, cache, /*force=*/true).reused);
  EXPECT_FALSE(machine_profile(request, cache, false, /*max_age_s=*/-1).reused);  // too old
  ProfileRequest deeper = request;
  deeper.queue_depth = 3;  // another key
  EXPECT_FALSE(machine_profile(deeper, cache).reused);
  EXPECT_TRUE(machine_profile(deeper, cache).reused);
  // A damaged cache is measured over, not an error.
  testing::write_text(cache, "{not json");
  EXPECT_FALSE(machine_profile(request, cache).reused);
}

TEST(ModelFiles, PackedManifestAndHuggingFaceConfig) {
  TempDir dir;
  testing::write_text(dir / "packed/streammoe.json",
                      R"({"experts": {"expert_stride": 8192, "layers": [
                          {"file": "experts/layer_000.bin"}, {"file": "experts/layer_001.bin"}]},
                          "config": {"text_config": {"num_experts_per_tok": 10}}})");
  write_bytes(dir / "packed/experts/layer_000.bin", 100);
  write_bytes(dir / "packed/experts/layer_001.bin", 50);
  ExpertFiles packed = expert_files(dir / "packed");
  EXPECT_TRUE(packed.packed);
  EXPECT_EQ(packed.record_bytes, 8192u);
  EXPECT_EQ(packed.experts_per_token, 10);
  EXPECT_EQ(packed.files.size(), 2u);
  EXPECT_EQ(packed.total_bytes, 150u);

  testing::write_text(dir / "hf/config.json",
                      R"({"hidden_size": 192, "moe_intermediate_size": 64, "num_experts_per_tok": 8})");
  write_bytes(dir / "hf/model.safetensors", 10);
  ExpertFiles hf = expert_files(dir / "hf");
  EXPECT_FALSE(hf.packed);
  EXPECT_EQ(hf.record_bytes, 3u * 192 * 64 * 2);
  EXPECT_EQ(hf.experts_per_token, 8);
  ASSERT_EQ(hf.files.size(), 1u);
  EXPECT_EQ(hf.files[0].filename(), "model.safetensors");
  ProfileRequest request = profile_request(hf);
  EXPECT_EQ(request.block_bytes, 3u * 192 * 64 * 2);
  EXPECT_EQ(request.queue_depth, 8);
  EXPECT_EQ(expert_files(dir / "missing").files.size(), 0u);  // never throws
}

TEST(MachineProfile, StoredWithTheSessionsEnvironment) {
  TempDir dir;
  testing::make_project(dir.path());
  testing::write_text(dir / "experiments/e.yaml",
                      "name: p\nmodel: models/tiny\nworkload: {prompt: hi}\nrepeats: 1\n"
                      "baseline: b\nvariants: [{name: b}]\n");
  SwitchCatalog catalog = testing::fixture_catalog();
  SpecOptions spec_options;
  spec_options.catalog = &catalog;
  ExperimentSpec spec = load_experiment(dir / "experiments/e.yaml", spec_options);
  Store store(dir / "lab.db");
  MockExecutor executor([](const Command&) {
    MockReply reply = MockExecutor::ok_reply();
    reply.metrics = MockExecutor::engine_metrics(100);
    return reply;
  });
  RunnerOptions options;
  options.engine = "/opt/fake/streammoe";
  options.source_dir = dir.path();
  options.build_root = dir / "builds";
  options.cache_dir = dir / "cache";
  int asked = 0;
  options.machine_profile = [&](const ExpertFiles& experts) {
    ++asked;
    EXPECT_FALSE(experts.packed);
    MachineProfile p;
    p.device = "vdz";
    p.block_bytes = 73728;
    p.queue_depth = 8;
    p.disk_rand_gbps = 1.25;
    p.ram_read_gbps = 20;
    p.ram_read_gbps_1t = 9;
    p.measured_at = "2024-01-01T00:00:00Z";
    p.reused = true;
    return std::optional<MachineProfile>(p);
  };
  Runner(spec, store, executor, options).run();
  EXPECT_EQ(asked, 1);  // once per session, not per run
  auto env = store.query(
      "SELECT disk_rand_gbps, disk_read_block_bytes, disk_queue_depth, ram_read_gbps, "
      "ram_read_gbps_1t, profile_device, profile_reused FROM environment");
  ASSERT_EQ(env.size(), 1u);
  EXPECT_DOUBLE_EQ(to_double(env[0].at("disk_rand_gbps")), 1.25);
  EXPECT_EQ(to_int(env[0].at("disk_read_block_bytes")), 73728);
  EXPECT_EQ(to_int(env[0].at("disk_queue_depth")), 8);
  EXPECT_DOUBLE_EQ(to_double(env[0].at("ram_read_gbps")), 20);
  EXPECT_DOUBLE_EQ(to_double(env[0].at("ram_read_gbps_1t")), 9);
  EXPECT_EQ(to_text(env[0].at("profile_device")), "vdz");
  EXPECT_EQ(to_int(env[0].at("profile_reused")), 1);
}

}  // namespace
}  // namespace streammoe::lab
