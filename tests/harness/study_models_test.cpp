// Models for a study: the {synth: ...} recipe as derived data (made once, reused while current,
// made again when its config changes), resident_bits limited to what the engine can write,
// quality measured on a second model with the same switches, the reference outside the memory
// budget, and --models-dir. The last test runs the real engine on a synth model.
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/util/error.h"
#include "harness/estimate.h"
#include "harness/executor.h"
#include "harness/mock_executor.h"
#include "harness/packed_model.h"
#include "harness/runner.h"
#include "lab_fixture.h"

namespace streammoe::lab {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::TempDir;

class StudyModelsTest : public testing::LabProjectTest {
 protected:
  void SetUp() override {
    LabProjectTest::SetUp();
    testing::write_text(dir_ / "configs/big.json",
                        R"({"text_config": {"hidden_size": 64, "moe_intermediate_size": 32,
                            "num_experts": 16, "num_hidden_layers": 40, "vocab_size": 100}})");
    fs::create_directories(dir_ / "models/trained");
    testing::write_text(dir_ / "models/trained/config.json", "{}");
  }
};

constexpr const char* kSynth =
    "name: s\nmodel: {synth: {like: configs/big.json, layers: 2, bits: 4, resident_bits: 16, "
    "seed: 7}}\nworkload: {ids: [1, 2, 3]}\nrepeats: 2\nbaseline: base\n"
    "variants: [{name: base}, {name: top2, switches: {k: 2}}]\n";

TEST_F(StudyModelsTest, SynthRecipeNamesAFolderOfDerivedData) {
  ExperimentSpec spec = load(kSynth);
  ASSERT_EQ(spec.packs.size(), 1u);
  const PackRecipe& r = spec.packs[0];
  EXPECT_EQ(r.kind, RecipeKind::kSynth);
  EXPECT_EQ(r.layers, 2);
  EXPECT_EQ(r.bits, 4);
  EXPECT_EQ(r.seed, 7u);
  EXPECT_EQ(r.source, dir_ / "configs/big.json");
  EXPECT_EQ(spec.models[0], r.folder);
  EXPECT_EQ(r.folder.parent_path(), dir_ / "results/models");
  EXPECT_THAT(r.folder.filename().string(), ::testing::StartsWith("big-synth-l2-q4-s7-"));
  // Another seed is another model; the recipe is part of the experiment's identity.
  std::string other = kSynth;
  other.replace(other.find("seed: 7"), 7, "seed: 8");
  EXPECT_NE(load(other).packs[0].folder, r.folder);
  EXPECT_NE(load(other).identity_hash(), spec.identity_hash());
  // --models-dir puts it elsewhere (a study's derived models can be tens of GB).
  EXPECT_EQ(load(kSynth, dir_ / "big-disk").packs[0].folder.parent_path(), dir_ / "big-disk");
}

TEST_F(StudyModelsTest, SynthRecipeMistakesAreOneClearError) {
  auto with = [](const std::string& synth) {
    return "name: s\nmodel: {synth: " + synth +
           "}\nworkload: {ids: [1]}\nbaseline: b\nvariants: [{name: b}]\n";
  };
  EXPECT_THAT(load_error(with("{like: configs/big.json, resident_bits: 3}")),
              HasSubstr("synth.resident_bits must be 16, 8 or 4, got 3"));
  EXPECT_THAT(load_error(with("{layers: 2}")), HasSubstr("synth needs 'like: <config.json"));
  EXPECT_THAT(load_error(with("{like: configs/none.json}")), HasSubstr("synth.like 'configs/none.json' not found"));
  EXPECT_THAT(load_error(with("{like: configs/big.json, bits: 3}")), HasSubstr("synth.bits must be 2 or 4"));
  EXPECT_THAT(load_error(with("{like: configs/big.json, width: 3}")), HasSubstr("unknown key 'width' in synth"));
  EXPECT_THAT(load_error("name: s\nmodel: {synth: {like: configs/big.json}, pack: {from: models/tiny}}\n"
                       "workload: {ids: [1]}\nbaseline: b\nvariants: [{name: b}]\n"),
              HasSubstr("model must be a folder or {pack: "));
}

TEST_F(StudyModelsTest, SynthIsMadeOnceAndAgainWhenItsConfigChanges) {
  ExperimentSpec spec = load(kSynth);
  std::vector<std::vector<std::string>> made;
  MockExecutor executor([&](const Command& c) {
    if (c.argv[1] == "synth") {
      made.push_back(c.argv);
      testing::write_text(fs::path(MockExecutor::flag(c, "out")) / "streammoe.json", "{}");
      return MockExecutor::ok_reply();
    }
    MockReply reply = MockExecutor::ok_reply();
    reply.metrics = MockExecutor::engine_metrics(100);
    return reply;
  });
  PreparedModel first = prepare_packed_model(spec.packs[0], "/opt/fake/streammoe", executor);
  ASSERT_EQ(made.size(), 1u);
  EXPECT_EQ(shell_join(made[0]), "/opt/fake/streammoe synth --like " +
                                     (dir_ / "configs/big.json").string() +
                                     " --layers 2 --bits 4 --seed 7 --out " +
                                     spec.packs[0].folder.string() + ".packing-" +
                                     std::to_string(getpid()));
  EXPECT_FALSE(first.reused);
  EXPECT_TRUE(fs::exists(spec.packs[0].folder / "streammoe.json"));
  EXPECT_EQ(first.stamp["kind"], "synth");
  EXPECT_TRUE(prepare_packed_model(spec.packs[0], "/opt/fake/streammoe", executor).reused);
  EXPECT_EQ(made.size(), 1u);
  testing::write_text(dir_ / "configs/big.json",
                      R"({"text_config": {"hidden_size": 64, "moe_intermediate_size": 48,
                          "num_experts": 16, "num_hidden_layers": 40, "vocab_size": 100}})");
  EXPECT_FALSE(prepare_packed_model(spec.packs[0], "/opt/fake/streammoe", executor).reused);
  EXPECT_EQ(made.size(), 2u);
  // The whole experiment: runs read the synth folder; --dry-run knew what it would cost.
  Store store(dir_ / "lab.db");
  Runner(spec, store, executor, options()).run();
  for (const auto& row : store.query("SELECT command FROM runs"))
    EXPECT_THAT(to_text(row.values[0]), HasSubstr("--model " + spec.packs[0].folder.string()));
  std::ostringstream plan;
  fs::remove_all(spec.packs[0].folder);
  print_plan(spec, "/opt/fake/streammoe", dir_ / "builds", plan);
  // 2 layers x 16 experts x 3 x 64 x 48 x (0.5 + 1/16) bytes + 2 x 100 x 64 x 2 bytes.
  EXPECT_THAT(plan.str(), HasSubstr("191.5 kB to synth big-synth-l2-q4-s7-"));
  EXPECT_THAT(plan.str(), HasSubstr("prepare (to make): synth like configs/big.json, 2 layers"));
}

// resident_bits 8 or 4 reaches the engine's synth as --resident-bits, names another folder, and
// shrinks the disk estimate's embedding and output tables.
TEST_F(StudyModelsTest, SynthPassesResidentBits) {
  std::string text = kSynth;
  text.replace(text.find("resident_bits: 16"), 17, "resident_bits: 4");
  ExperimentSpec spec = load(text);
  const PackRecipe& r = spec.packs[0];
  EXPECT_EQ(r.resident_bits, 4);
  EXPECT_THAT(r.folder.filename().string(), ::testing::StartsWith("big-synth-l2-q4-r4-s7-"));
  EXPECT_NE(r.folder, load(kSynth).packs[0].folder);
  EXPECT_THAT(r.describe(), HasSubstr("4-bit resident weights"));
  std::vector<std::string> made;
  MockExecutor executor([&](const Command& c) {
    made = c.argv;
    testing::write_text(fs::path(MockExecutor::flag(c, "out")) / "streammoe.json", "{}");
    return MockExecutor::ok_reply();
  });
  prepare_packed_model(r, "/opt/fake/streammoe", executor);
  EXPECT_EQ(MockExecutor::flag(Command{made}, "resident-bits"), "4");
  std::ostringstream plan;
  fs::remove_all(r.folder);
  print_plan(spec, "/opt/fake/streammoe", dir_ / "builds", plan);
  // 2 layers x 16 experts x 3 x 64 x 32 x (0.5 + 1/16) bytes + 2 x 100 x 64 x (0.5 + 1/16) bytes
  // (bf16 tables would make it 136.2 kB).
  EXPECT_THAT(plan.str(), HasSubstr("117.8 kB to synth big-synth-l2-q4-r4-s7-"));
}

// lz4: true reaches the engine's synth as --lz4 (the LZ4 expert files --expert-cache lz4 reads),
// names another folder, is stamped, and the disk estimate counts the copies: random codes barely
// compress, so the expert bytes twice.
TEST_F(StudyModelsTest, SynthPassesLz4) {
  std::string text = kSynth;
  text.replace(text.find("seed: 7"), 7, "seed: 7, lz4: true");
  ExperimentSpec spec = load(text);
  const PackRecipe& r = spec.packs[0];
  EXPECT_TRUE(r.lz4);
  EXPECT_FALSE(load(kSynth).packs[0].lz4);
  EXPECT_THAT(r.folder.filename().string(), ::testing::StartsWith("big-synth-l2-q4-s7-lz4-"));
  EXPECT_NE(r.folder, load(kSynth).packs[0].folder);
  EXPECT_THAT(r.describe(), HasSubstr("seed 7 + lz4"));
  EXPECT_EQ(r.to_json()["lz4"], true);
  EXPECT_FALSE(load(kSynth).packs[0].to_json().contains("lz4"));  // older synth stamps stay current
  std::vector<std::string> made;
  MockExecutor executor([&](const Command& c) {
    made = c.argv;
    testing::write_text(fs::path(MockExecutor::flag(c, "out")) / "streammoe.json", "{}");
    return MockExecutor::ok_reply();
  });
  const PreparedModel prepared = prepare_packed_model(r, "/opt/fake/streammoe", executor);
  EXPECT_NE(std::find(made.begin(), made.end(), "--lz4"), made.end()) << shell_join(made);
  EXPECT_EQ(made[1], "synth");
  EXPECT_EQ(prepared.stamp["lz4"], true);
  std::ostringstream plan;
  fs::remove_all(r.folder);
  print_plan(spec, "/opt/fake/streammoe", dir_ / "builds", plan);
  const ModelBytes bytes = recipe_bytes(r);
  EXPECT_THAT(plan.str(), HasSubstr(bytes_text(2 * bytes.experts + bytes.resident) + " to synth big-synth-l2-q4-s7-lz4-"));
  EXPECT_THAT(plan.str(), HasSubstr("seed 7 + lz4"));
  EXPECT_THAT(load_error("name: s\nmodel: {synth: {like: configs/big.json, lz4: maybe}}\nworkload: {ids: [1]}\n"),
              HasSubstr("synth.lz4"));
}

TEST_F(StudyModelsTest, QualityIsMeasuredOnTheQualityModelWithTheSameSwitches) {
  // A budget the runs go into (a stand-in cgroup v2 folder): the reference must stay out of it.
  fs::path cgroup = dir_ / "cgroup";
  testing::write_text(cgroup / "cgroup.controllers", "memory io\n");
  testing::write_text(cgroup / "cgroup.subtree_control", "memory\n");
  testing::write_text(cgroup / fmt::format("streammoe-lab-{}/memory.max", getpid()), "max\n");
  testing::write_text(dir_ / "self-cgroup", "0::/\n");
  ExperimentSpec spec = load(std::string(kSynth) +
                             "memory_budget: 1GiB\nquality_model: models/trained\n"
                             "quality: {ids: [1, 2, 3, 4]}\n");
  EXPECT_EQ(spec.quality_model, dir_ / "models/trained");
  std::vector<Command> generates, evals;
  MockExecutor executor = mock_engine(generates, evals);
  RunnerOptions o = options();
  o.cgroup_roots.v2 = cgroup;
  o.cgroup_roots.self = dir_ / "self-cgroup";
  Store store(dir_ / "lab.db");
  Runner(spec, store, executor, o).run();
  ASSERT_EQ(evals.size(), 3u);  // the reference, then one per variant
  const std::string trained = (dir_ / "models/trained").string();
  EXPECT_FALSE(MockExecutor::has(evals[0], "--ref-logits"));
  EXPECT_EQ(MockExecutor::flag(evals[0], "model"), trained);  // its own unquantised self
  EXPECT_TRUE(evals[0].cgroup_procs.empty());                  // outside the budget
  for (size_t i = 1; i < evals.size(); ++i) {
    EXPECT_EQ(MockExecutor::flag(evals[i], "model"), trained);
    EXPECT_FALSE(evals[i].cgroup_procs.empty());  // the variants are measured under it
  }
  EXPECT_EQ(MockExecutor::flag(evals[2], "k"), "2");  // the same switches as its speed runs
  auto q = store.query("SELECT model, measured_on, status FROM quality ORDER BY id");
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(to_text(q[0].at("model")), model_label(spec, spec.models[0]));  // joins the runs
  EXPECT_EQ(to_text(q[0].at("measured_on")), "models/trained");
  EXPECT_EQ(to_text(q[1].at("status")), "ok");
  std::ostringstream plan;
  print_plan(spec, "/opt/fake/streammoe", dir_ / "builds", plan);
  EXPECT_THAT(plan.str(), HasSubstr("measured on models/trained against models/trained (outside "
                                    "the memory budget)"));
}

TEST_F(StudyModelsTest, AVariantWithItsOwnModelNeedsItsOwnQualityModel) {
  std::string yaml =
      "name: s\nmodel: models/tiny\nworkload: {ids: [1]}\nbaseline: b\nvariants:\n  - name: b\n"
      "  - name: two\n    model: {pack: {from: models/tiny, bits: 2}}\n"
      "quality_model: models/trained\nquality: {ids: [1, 2]}\n";
  EXPECT_THAT(load_error(yaml), HasSubstr("variant 'two' runs its own model, so quality_model does "
                                        "not say where its quality is measured"));
  std::string fixed = yaml;
  fixed.replace(fixed.find("bits: 2}}\n"), 10,
                "bits: 2}}\n    quality_model: {pack: {from: models/trained, bits: 2}}\n");
  ExperimentSpec spec = load(fixed);
  EXPECT_EQ(spec.quality_model_for(spec.variants[1], 0), spec.variants[1].quality_model);
  EXPECT_EQ(spec.quality_model_for(spec.variants[0], 0), dir_ / "models/trained");
  EXPECT_THAT(load_error("name: s\nmodel: models/tiny\nworkload: {ids: [1]}\nbaseline: b\n"
                       "variants: [{name: b}]\nquality_model: models/trained\n"),
              HasSubstr("quality_model needs a quality: section"));
}

TEST_F(StudyModelsTest, ABudgetRelativeToTheModelIsResolvedFromItsFiles) {
  // A synth model of 1,000,000 resident bytes and 2 x 3,000,000 expert bytes.
  auto make = [](const Command& c) {
    const fs::path out = MockExecutor::flag(c, "out");
    testing::write_text(out / "streammoe.json", R"({"experts": {"expert_stride": 4096, "layers": [
        {"file": "experts/layer0.bin"}, {"file": "experts/layer1.bin"}]}, "resident": {"file": "r.safetensors"}})");
    testing::write_text(out / "r.safetensors", std::string(1000000, 'r'));
    testing::write_text(out / "experts/layer0.bin", std::string(3000000, 'e'));
    testing::write_text(out / "experts/layer1.bin", std::string(3000000, 'e'));
  };
  ExperimentSpec spec = load(std::string(kSynth) + "memory_budget: {page_cache_share: 0.25, overhead: 1MiB}\n");
  ASSERT_TRUE(spec.memory_budget_share);
  EXPECT_FALSE(spec.memory_budget_bytes);
  std::ostringstream dry;
  print_plan(spec, "/opt/fake/streammoe", dir_ / "builds", dry);
  // Before the model exists: estimated from the recipe (configs/big.json has no attention, so
  // its resident bytes are the two 100 x 64 bf16 tables).
  // 2 x 16 x 3 x 64 x 32 x (0.5 + 1/16) expert bytes, 2 x 100 x 64 x 2 resident.
  EXPECT_THAT(dry.str(), HasSubstr("memory budget: 25.6 kB resident + 25% of 110.6 kB experts + 1.0 MB "
                                   "overhead = 1.1 MB (estimated from its recipe"));
  MockExecutor executor([&](const Command& c) {
    if (c.argv[1] == "synth") {
      make(c);
      return MockExecutor::ok_reply();
    }
    MockReply reply = MockExecutor::ok_reply();
    reply.metrics = MockExecutor::engine_metrics(100);
    return reply;
  });
  Store store(dir_ / "lab.db");
  Runner(spec, store, executor, options()).run();
  const int64_t expected = 1000000 + 1500000 + (1 << 20);
  EXPECT_EQ(to_int(store.query("SELECT budget_bytes FROM environment")[0].values[0]), expected);
  auto plan = nlohmann::json::parse(to_text(store.query("SELECT plan_json FROM experiments")[0].values[0]));
  EXPECT_EQ(plan["memory_budget_bytes"], expected);
  EXPECT_EQ(plan["memory_budget_resolved"],
            "1.0 MB resident + 25% of 6.0 MB experts + 1.0 MB overhead = 3.5 MB");
  // A folder that is not packed mixes resident and expert bytes in its safetensors: refused.
  ExperimentSpec plain = load("name: p\nmodel: models/tiny\nworkload: {ids: [1]}\nbaseline: b\n"
                              "variants: [{name: b}]\nmemory_budget: {page_cache_share: 0.17}\n");
  Store other(dir_ / "other.db");
  std::string refused = "(no error)";
  try {
    Runner(plain, other, executor, options()).run();
  } catch (const Error& e) {
    refused = e.what();
  }
  EXPECT_THAT(refused,
              HasSubstr("memory_budget: {page_cache_share: ...} needs the baseline's model to be a packed "
                        "folder"));
  EXPECT_THAT(load_error("name: p\nmodel: models/tiny\nworkload: {ids: [1]}\nbaseline: b\n"
                       "variants: [{name: b}]\nmemory_budget: {page_cache_share: 1.5}\n"),
              HasSubstr("e.yaml:6:35: memory_budget.page_cache_share must be between 0 and 1"));
  EXPECT_THAT(load_error("name: p\nmodel: models/tiny\nworkload: {ids: [1]}\nbaseline: b\n"
                       "variants: [{name: b}]\nmemory_budget: {overhead: 1GiB}\n"),
              HasSubstr("e.yaml:6:16: memory_budget is a size like 8GiB, or {page_cache_share: 0.17"));
}

TEST(StudyModelsEngine, SynthModelRunsWithQualityOnATrainedFixture) {
  auto engine = testing::bin_dir() / "streammoe";
  auto lab = testing::bin_dir() / "streammoe-lab";
  if (!fs::exists(engine) || !fs::exists(lab)) GTEST_SKIP() << "needs " << engine << " and " << lab;
  TempDir dir;
  testing::write_text(dir / "study.yaml", R"(name: synth-study
hypothesis: top-1 routing on the synth model's shapes, quality on the fixture
model: {synth: {like: tests/fixtures/configs/small_qwen35moe_g64.json, layers: 2, bits: 4, seed: 5}}
quality_model: tests/fixtures/models/q35_text_f32
workload: {ids: [11, 42, 7, 99, 3], tokens: 8}
repeats: 2
baseline: base
variants:
  - name: base
  - name: top1
    switches: {k: 1}
quality:
  ids: [5, 9, 13, 200, 31, 77, 8, 150]
)");
  SubprocessExecutor executor;
  Command run;
  run.argv = {lab.string(), "run", (dir / "study.yaml").string(), "--db", (dir / "lab.db").string(),
              "--engine", engine.string(), "--root", testing::source_dir().string(), "--models-dir",
              (dir / "models").string(), "--no-machine-profile"};
  run.timeout_s = 300;
  ExecResult ran = executor.execute(run);
  ASSERT_TRUE(ran.ok()) << describe(ran) << "\n" << ran.stderr_tail;
  EXPECT_THAT(ran.stdout_text, HasSubstr("4 runs planned, 4 run now, 0 already recorded, 0 failed"));
  int folders = 0;
  for (const auto& entry : fs::directory_iterator(dir / "models"))
    if (entry.is_directory()) {
      ++folders;
      EXPECT_TRUE(fs::exists(entry.path() / "streammoe.json"));
      EXPECT_TRUE(fs::exists(entry.path() / kPackStampFile));
    }
  EXPECT_EQ(folders, 1);
  Store store(dir / "lab.db");
  auto quality = store.query("SELECT q.status, q.error, q.kld_mean, q.measured_on FROM quality q "
                             "JOIN variants v ON v.id = q.variant_id ORDER BY v.ordinal");
  ASSERT_EQ(quality.size(), 2u);
  for (const auto& q : quality) {
    EXPECT_EQ(to_text(q.at("status")), "ok") << to_text(q.at("error"));
    EXPECT_EQ(to_text(q.at("measured_on")), "tests/fixtures/models/q35_text_f32");
  }
  EXPECT_NEAR(to_double(quality[0].at("kld_mean")), 0.0, 1e-6);  // the fixture against itself
  EXPECT_GT(to_double(quality[1].at("kld_mean")), 1e-4);         // top-1 routing costs quality
}

}  // namespace
}  // namespace streammoe::lab
