// The experiment YAML: a valid file resolves bundles, matrix sweeps and paths; every kind of
// mistake is an Error that names file:line:column and the problem.
#include "harness/spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/util/error.h"
#include "lab_test_util.h"

namespace streammoe::lab {
namespace {

using testing::fixture_catalog;
using testing::TempDir;
using ::testing::HasSubstr;

class SpecTest : public ::testing::Test {
 protected:
  void SetUp() override { testing::make_project(dir_.path()); }

  ExperimentSpec load(const std::string& yaml) {
    testing::write_text(dir_ / "experiments/e.yaml", yaml);
    SpecOptions options;
    options.catalog = &catalog_;
    return load_experiment(dir_ / "experiments/e.yaml", options);
  }

  // The error message for a bad file (fails the test when it loads).
  std::string error_of(const std::string& yaml) {
    try {
      load(yaml);
    } catch (const Error& e) {
      return e.what();
    }
    ADD_FAILURE() << "expected an error for:\n" << yaml;
    return "";
  }

  std::string at(int line, int column) const {
    return fmt::format("{}:{}:{}: ", (dir_ / "experiments/e.yaml").string(), line, column);
  }

  TempDir dir_;
  SwitchCatalog catalog_ = fixture_catalog();
};

constexpr const char* kValid = R"(name: cache-study
hypothesis: an LRU cache of experts speeds decode up
model: models/tiny
workload:
  prompt: "Once upon a time"
  tokens: 24
repeats: 4
cache: cold
memory_budget: 2GiB
baseline: base
variants:
  - name: base
  - lru
  - name: lru-small
    bundle: lru
    switches: {cache-entries: 8}
  - name: native
    build: {STREAMMOE_NATIVE: on}
matrix:
  switches:
    k: [2, 4]
    mlock: [yes, no]
keep:
  min_speedup: 1.05
  max_kld_mean: 0.01
)";

TEST_F(SpecTest, ValidFileResolvesEverything) {
  ExperimentSpec spec = load(kValid);
  EXPECT_EQ(spec.name, "cache-study");
  EXPECT_EQ(spec.root, std::filesystem::weakly_canonical(dir_.path()));
  ASSERT_EQ(spec.models.size(), 1u);
  EXPECT_TRUE(std::filesystem::is_directory(spec.models[0]));
  EXPECT_EQ(spec.workload.prompts, std::vector<std::string>{"Once upon a time"});
  EXPECT_EQ(spec.workload.tokens, 24);
  EXPECT_EQ(spec.repeats, 4);
  EXPECT_EQ(spec.cache, CacheState::kCold);
  EXPECT_EQ(spec.memory_budget_bytes, 2ull << 30);
  EXPECT_EQ(spec.keep.min_speedup, 1.05);
  EXPECT_EQ(spec.keep.max_kld_mean, 0.01);
  EXPECT_FALSE(spec.keep.max_ppl_ratio.has_value());

  // baseline, 3 listed variants, then 2 x 2 matrix combinations on top of the baseline
  ASSERT_EQ(spec.variants.size(), 8u);
  EXPECT_EQ(spec.variants[0].name, "base");
  EXPECT_TRUE(spec.variants[0].switches.empty());
  EXPECT_EQ(spec.variants[0].options.at("io"), "pread");  // engine default recorded

  const Variant& lru = spec.variants[1];
  EXPECT_EQ(lru.origin, "bundle");
  EXPECT_EQ(lru.description, "LRU expert cache");
  EXPECT_EQ(lru.switches.at("expert-cache"), "lru");
  EXPECT_EQ(lru.switches.at("cache-entries"), "64");

  const Variant& small = spec.variants[2];
  EXPECT_EQ(small.switches.at("expert-cache"), "lru");  // from the bundle
  EXPECT_EQ(small.switches.at("cache-entries"), "8");   // inline overrides the bundle

  EXPECT_EQ(spec.variants[3].build_options.at("STREAMMOE_NATIVE"), "ON");

  std::vector<std::string> matrix_names;
  for (size_t i = 4; i < spec.variants.size(); ++i) {
    EXPECT_EQ(spec.variants[i].origin, "matrix");
    matrix_names.push_back(spec.variants[i].name);
  }
  EXPECT_THAT(matrix_names, ::testing::ElementsAre("k=2,mlock=true", "k=2,mlock=false",
                                                   "k=4,mlock=true", "k=4,mlock=false"));
  EXPECT_EQ(spec.variants[7].switches.at("k"), "4");
  EXPECT_EQ(spec.variants[7].description, "k=4,mlock=false on top of base");
  EXPECT_EQ(spec.variants[7].switches.at("mlock"), "false");  // yes/no normalised
}

TEST_F(SpecTest, BaselineMovesFirstAndMatrixCanStartFromAnotherVariant) {
  ExperimentSpec spec = load(R"(name: x
model: models/tiny
workload: {prompt: hi}
baseline: b
variants:
  - name: a
    switches: {io: mmap}
  - name: b
matrix:
  - base: a
    switches: {cache-entries: [1, 2]}
)");
  ASSERT_EQ(spec.variants.size(), 4u);
  EXPECT_EQ(spec.variants[0].name, "b");
  EXPECT_EQ(spec.variants[1].name, "a");
  EXPECT_EQ(spec.variants[2].name, "a+cache-entries=1");
  EXPECT_EQ(spec.variants[2].switches.at("io"), "mmap");
  EXPECT_EQ(spec.variants[3].switches.at("cache-entries"), "2");
}

TEST_F(SpecTest, IdentityHashIgnoresHypothesisButNotVariants) {
  std::string a = load(kValid).identity_hash();
  std::string yaml = kValid;
  yaml.replace(yaml.find("an LRU"), 6, "a cache");
  EXPECT_EQ(load(yaml).identity_hash(), a);
  yaml.replace(yaml.find("cache-entries: 8"), 16, "cache-entries: 9");
  EXPECT_NE(load(yaml).identity_hash(), a);
}

TEST_F(SpecTest, WorkloadFromIdsPromptFileAndTextPrefix) {
  testing::write_text(dir_ / "prompts.txt", "first prompt\n\nsecond prompt\r\n");
  testing::write_text(dir_ / "text.txt", "one two three four five six");
  auto head = std::string("name: x\nmodel: models/tiny\nbaseline: b\nvariants: [{name: b}]\n");
  ExperimentSpec ids = load(head + "workload: {ids: [5, 6, 7], tokens: 3}\n");
  EXPECT_TRUE(ids.workload.token_ids);
  EXPECT_EQ(ids.workload.prompts, std::vector<std::string>{"5,6,7"});
  ExperimentSpec ids_text = load(head + "workload: {ids: '5, 6,7'}\n");
  EXPECT_EQ(ids_text.workload.prompts, std::vector<std::string>{"5,6,7"});
  ExperimentSpec file = load(head + "workload: {prompts: prompts.txt}\n");
  EXPECT_EQ(file.workload.prompts, (std::vector<std::string>{"first prompt", "second prompt"}));
  ExperimentSpec text = load(head + "workload: {text_file: text.txt, prefill: 4}\n");
  EXPECT_EQ(text.workload.prompts, std::vector<std::string>{"one two three four"});
}

TEST_F(SpecTest, UnknownKeyNamesLineAndColumn) {
  std::string error = error_of(std::string(kValid) + "repetitions: 3\n");
  EXPECT_THAT(error, HasSubstr(at(26, 1) + "unknown key 'repetitions' in the experiment"));
}

TEST_F(SpecTest, NestedUnknownKey) {
  std::string yaml = kValid;
  yaml.replace(yaml.find("  tokens: 24"), 12, "  tokenz: 24");
  EXPECT_THAT(error_of(yaml), HasSubstr(at(6, 3) + "unknown key 'tokenz' in workload"));
}

TEST_F(SpecTest, WrongTypeNamesLine) {
  std::string yaml = kValid;
  yaml.replace(yaml.find("repeats: 4"), 10, "repeats: three");
  EXPECT_THAT(error_of(yaml), HasSubstr(at(7, 10) + "repeats must be an integer, got 'three'"));
  yaml = kValid;
  yaml.replace(yaml.find("  tokens: 24"), 12, "  tokens: [1, 2]");
  EXPECT_THAT(error_of(yaml), HasSubstr(at(6, 11) + "workload.tokens must be a single value, got a list"));
}

TEST_F(SpecTest, MissingModelNamesLine) {
  std::string yaml = kValid;
  yaml.replace(yaml.find("models/tiny"), 11, "models/huge");
  std::string error = error_of(yaml);
  EXPECT_THAT(error, HasSubstr(at(3, 8) + "model 'models/huge' not found: no such directory"));
}

TEST_F(SpecTest, UnknownSwitchValueNamesLine) {
  std::string yaml = kValid;
  yaml.replace(yaml.find("cache-entries: 8"), 16, "cache-entries: many");
  EXPECT_THAT(error_of(yaml),
              HasSubstr(at(16, 31) + "switch cache-entries takes an integer, got 'many'"));
  yaml = kValid;
  yaml.replace(yaml.find("mlock: [yes, no]"), 16, "mlock: [yes, maybe]");
  EXPECT_THAT(error_of(yaml), HasSubstr(at(22, 18) + "switch mlock takes true or false"));
}

TEST_F(SpecTest, UnknownEnumValueListsTheValidOnes) {
  std::string error = error_of(R"(name: x
model: models/tiny
workload: {prompt: hi}
baseline: b
variants:
  - name: b
    switches: {io: mmapp}
)");
  EXPECT_THAT(error, HasSubstr(at(7, 20) + "switch io: unknown value 'mmapp' (one of pread, direct, mmap, uring)"));
}

TEST_F(SpecTest, UnknownSwitchNameListsTheEngineSwitches) {
  std::string error = error_of(R"(name: x
model: models/tiny
workload: {prompt: hi}
baseline: b
variants:
  - name: b
    switches: {iox: mmap}
)");
  EXPECT_THAT(error, HasSubstr(at(7, 16) + "unknown switch 'iox' (the engine has: k, threads"));
}

TEST_F(SpecTest, ErrorsInsideABundleNameTheBundleFile) {
  testing::write_text(dir_ / "variants/broken.yaml", "name: broken\nswitches:\n  k: lots\n");
  std::string error = error_of(R"(name: x
model: models/tiny
workload: {prompt: hi}
baseline: b
variants: [{name: b}, broken]
)");
  EXPECT_THAT(error, HasSubstr((dir_ / "variants/broken.yaml").string() +
                               ":3:6: switch k takes an integer, got 'lots'"));
}

TEST_F(SpecTest, StructuralMistakes) {
  const std::string head = "name: x\nmodel: models/tiny\nworkload: {prompt: hi}\n";
  EXPECT_THAT(error_of(head + "baseline: zz\nvariants: [{name: b}]\n"),
              HasSubstr(at(4, 11) + "baseline 'zz' is not one of the variants"));
  EXPECT_THAT(error_of(head + "baseline: b\nvariants: [{name: b}, {name: b}]\n"),
              HasSubstr(at(5, 23) + "variant 'b' is defined twice"));
  EXPECT_THAT(error_of(head + "baseline: b\nvariants: [{name: b}, nosuchbundle]\n"),
              HasSubstr(at(5, 23) + "no variant bundle 'nosuchbundle'"));
  EXPECT_THAT(error_of(head + "baseline: b\nvariants: [{name: b}]\ncache: tepid\n"),
              HasSubstr(at(6, 8) + "cache must be cold or warm, got 'tepid'"));
  EXPECT_THAT(error_of(head + "baseline: b\nvariants: [{name: b}]\nmemory_budget: lots\n"),
              HasSubstr(at(6, 16) + "memory_budget must be a size"));
  EXPECT_THAT(error_of(head + "baseline: b\nvariants: [{name: b, build: {STREAMMOE_TURBO: ON}}]\n"),
              HasSubstr("unknown build option 'STREAMMOE_TURBO' (CMakeLists.txt declares: "
                        "STREAMMOE_AVX2, STREAMMOE_NATIVE"));
  EXPECT_THAT(error_of("name: x\nworkload: {prompt: hi}\nbaseline: b\nvariants: [{name: b}]\n"),
              HasSubstr("missing key 'model'"));
  EXPECT_THAT(error_of(head + "variants: [{name: b}]\n"), HasSubstr("missing key 'baseline'"));
  EXPECT_THAT(error_of(head + "baseline: b\nvariants: [{name: b}]\nrepeats: 3\nrepeats: 4\n"),
              HasSubstr(at(7, 1) + "key 'repeats' appears twice"));
  EXPECT_THAT(error_of(head + "baseline: b\nvariants: [{name: b}]\nkeep: {min_speedup: fast}\n"),
              HasSubstr(at(6, 21) + "keep.min_speedup must be a number, got 'fast'"));
}

TEST_F(SpecTest, SyntaxErrorNamesPosition) {
  std::string error = error_of("name: x\nvariants: [a, b\n");
  EXPECT_THAT(error, HasSubstr((dir_ / "experiments/e.yaml").string() + ":"));
  EXPECT_THAT(error, HasSubstr("YAML syntax error"));
}

TEST(ParseBytes, Units) {
  EXPECT_EQ(parse_bytes("4GiB"), 4ull << 30);
  EXPECT_EQ(parse_bytes("512MiB"), 512ull << 20);
  EXPECT_EQ(parse_bytes("1.5G"), 3ull << 29);
  EXPECT_EQ(parse_bytes("1000"), 1000u);
  EXPECT_EQ(parse_bytes("64 kb"), 64u << 10);
  EXPECT_FALSE(parse_bytes("lots").has_value());
  EXPECT_FALSE(parse_bytes("1.2.3G").has_value());
  EXPECT_FALSE(parse_bytes("").has_value());
  EXPECT_FALSE(parse_bytes("5 parsecs").has_value());
}

}  // namespace
}  // namespace streammoe::lab
