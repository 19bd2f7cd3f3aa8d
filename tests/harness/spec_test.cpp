// The experiment YAML: a valid file resolves bundles, matrix sweeps and paths; every kind of
// mistake is an Error that names file:line:column and the problem.
#include "harness/spec.h"
#include "harness/yaml_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/util/error.h"
#include "lab_test_util.h"

namespace streammoe::lab {
namespace {

using testing::fixture_catalog;
using testing::TempDir;
using ::testing::AllOf;
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

  // The engine's switch list plus a boolean switch (the engine has none today) so that yes/no
  // normalisation stays tested.
  static SwitchCatalog catalog_with_bool() {
    auto switches = nlohmann::json::parse(testing::read_text(testing::data_dir() / "options.json"));
    switches.push_back({{"name", "mlock"}, {"type", "bool"}, {"default", "false"}, {"values",
                        nlohmann::json::array()}, {"help", "lock resident weights in RAM"}});
    return SwitchCatalog::parse(switches.dump(), "options.json + mlock");
  }

  TempDir dir_;
  SwitchCatalog catalog_ = catalog_with_bool();
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
  EXPECT_THAT(error, HasSubstr(at(7, 20) + "switch io: unknown value 'mmapp' (one of pread, direct, dontneed, mmap, uring)"));
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
  EXPECT_THAT(error, HasSubstr(at(7, 16) + "unknown switch 'iox' (the engine has: k, "));
  EXPECT_THAT(error, HasSubstr(", io, io-threads, expert-cache, "));
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
  // were std::stod's invalid_argument / out_of_range escaping as a bare "stod" error
  EXPECT_FALSE(parse_bytes(".").has_value());
  EXPECT_FALSE(parse_bytes(".GiB").has_value());
  EXPECT_FALSE(parse_bytes(std::string(400, '9')).has_value());
}

// ---- packed models: {pack: {...}} wherever a model is named, and per-variant models ----------

constexpr const char* kPacked = R"(name: widths
model: models/tiny
workload: {prompt: hi}
baseline: q4
variants:
  - name: q4
    model: {pack: {from: models/tiny, bits: 4}}
  - name: q2
    model: {pack: {from: models/tiny, bits: 2}}
  - name: q4-again
    model: {pack: {from: models/tiny, bits: 4}}
    switches: {dequant: naive}
  - name: hf
matrix:
  base: q2
  switches: {k: [2]}
quality:
  ids: [1, 2, 3]
  reference_model: {pack: {from: models/tiny, bits: 4, lz4: true, group_size: 32}}
)";

TEST_F(SpecTest, PackedModelsNameOneFolderPerRecipe) {
  ExperimentSpec spec = load(kPacked);
  namespace fs = std::filesystem;
  fs::path models_dir = spec.root / "results/models";
  ASSERT_EQ(spec.packs.size(), 3u);  // q4 twice is one recipe
  EXPECT_EQ(spec.packs[0].bits, 4);
  EXPECT_FALSE(spec.packs[0].lz4);
  EXPECT_EQ(spec.packs[0].source, spec.models[0]);
  EXPECT_EQ(spec.packs[0].folder.parent_path(), models_dir);
  EXPECT_THAT(spec.packs[0].folder.filename().string(), ::testing::StartsWith("tiny-q4-"));
  EXPECT_THAT(spec.packs[1].folder.filename().string(), ::testing::StartsWith("tiny-q2-"));
  EXPECT_THAT(spec.packs[2].folder.filename().string(), ::testing::StartsWith("tiny-q4-g32-lz4-"));
  EXPECT_EQ(spec.packs[2].group_size, 32);
  EXPECT_THAT(spec.packs[1].where, HasSubstr("e.yaml:9:"));

  ASSERT_EQ(spec.variants.size(), 5u);
  EXPECT_EQ(spec.variants[0].model, spec.packs[0].folder);
  EXPECT_EQ(spec.variants[1].model, spec.packs[1].folder);
  EXPECT_EQ(spec.variants[2].model, spec.packs[0].folder);
  EXPECT_TRUE(spec.variants[3].model.empty());
  EXPECT_EQ(spec.model_for(spec.variants[3], 0), spec.models[0]);  // the experiment's model
  EXPECT_EQ(spec.variants[4].name, "q2+k=2");
  EXPECT_EQ(spec.variants[4].model, spec.packs[1].folder);  // a sweep keeps its base's model
  EXPECT_EQ(spec.quality.reference_model, spec.packs[2].folder);
  EXPECT_FALSE(fs::exists(models_dir));  // loading packs nothing

  auto json = spec.to_json();
  ASSERT_EQ(json["packs"].size(), 3u);
  EXPECT_EQ(json["packs"][1]["bits"], 2);
  EXPECT_EQ(json["variants"][1]["model"], spec.packs[1].folder.string());
}

TEST_F(SpecTest, ExperimentModelMayBePackedAndTheRecipeIsPartOfTheIdentity) {
  std::string yaml = R"(name: x
model: {pack: {from: models/tiny, bits: 4, lz4: yes}}
workload: {prompt: hi}
baseline: b
variants: [{name: b}]
)";
  ExperimentSpec spec = load(yaml);
  ASSERT_EQ(spec.packs.size(), 1u);
  EXPECT_TRUE(spec.packs[0].lz4);
  EXPECT_EQ(spec.models[0], spec.packs[0].folder);
  std::string two_bits = yaml;
  two_bits.replace(two_bits.find("bits: 4"), 7, "bits: 2");
  EXPECT_NE(load(two_bits).identity_hash(), spec.identity_hash());
  EXPECT_NE(load(two_bits).models[0], spec.models[0]);
}

// resident_bits (16, 8 or 4, as synth's) is part of a pack recipe: its own folder, in the recipe
// and the identity; 16 is the default and names the folder packs without the key had.
TEST_F(SpecTest, PackRecipeTakesResidentBits) {
  auto with_model = [](const std::string& model) {
    return "name: x\nmodel: " + model + "\nworkload: {prompt: hi}\nbaseline: b\nvariants: [{name: b}]\n";
  };
  ExperimentSpec q4 = load(with_model("{pack: {from: models/tiny, bits: 4, resident_bits: 4}}"));
  ASSERT_EQ(q4.packs.size(), 1u);
  EXPECT_EQ(q4.packs[0].resident_bits, 4);
  EXPECT_THAT(q4.packs[0].folder.filename().string(), ::testing::StartsWith("tiny-q4-r4-"));
  EXPECT_THAT(q4.packs[0].describe(), HasSubstr("packed to 4 bits, 4-bit resident weights"));
  EXPECT_EQ(q4.packs[0].to_json()["resident_bits"], 4);
  ExperimentSpec plain = load(with_model("{pack: {from: models/tiny, bits: 4}}"));
  ExperimentSpec sixteen = load(with_model("{pack: {from: models/tiny, bits: 4, resident_bits: 16}}"));
  EXPECT_EQ(plain.packs[0].resident_bits, 16);
  EXPECT_EQ(sixteen.models[0], plain.models[0]);
  EXPECT_FALSE(plain.packs[0].to_json().contains("resident_bits"));  // older stamps stay current
  EXPECT_NE(q4.models[0], plain.models[0]);
  EXPECT_NE(q4.identity_hash(), plain.identity_hash());
  EXPECT_NE(load(with_model("{pack: {from: models/tiny, bits: 4, resident_bits: 8}}")).models[0], q4.models[0]);
  EXPECT_THAT(error_of(with_model("{pack: {from: models/tiny, resident_bits: 2}}")),
              HasSubstr(at(2, 50) + "pack.resident_bits must be 16, 8 or 4, got 2"));
  EXPECT_THAT(error_of(with_model("{pack: {from: models/tiny, resident_bits: x}}")),
              HasSubstr(at(2, 50) + "pack.resident_bits"));
}

TEST_F(SpecTest, PackedModelMistakesNameLineAndColumn) {
  auto with_model = [](const std::string& model) {
    return "name: x\nmodel: " + model + "\nworkload: {prompt: hi}\nbaseline: b\nvariants: [{name: b}]\n";
  };
  EXPECT_THAT(error_of(with_model("{pack: {from: models/huge}}")),
              HasSubstr(at(2, 22) + "model 'models/huge' not found"));
  EXPECT_THAT(error_of(with_model("{pack: {from: models/tiny, bits: 3}}")),
              HasSubstr(at(2, 41) + "pack.bits must be 2 or 4, got 3"));
  EXPECT_THAT(error_of(with_model("{pack: {from: models/tiny, bits: 8}}")),
              HasSubstr(at(2, 41) + "pack.bits"));
  EXPECT_THAT(error_of(with_model("{pack: {from: models/tiny, lz4: maybe}}")),
              HasSubstr(at(2, 40) + "pack.lz4"));
  EXPECT_THAT(error_of(with_model("{pack: {bits: 4}}")),
              HasSubstr(at(2, 15) + "pack needs 'from: <checkpoint folder>'"));
  EXPECT_THAT(error_of(with_model("{pack: {from: models/tiny, width: 4}}")),
              HasSubstr(at(2, 35) + "unknown key 'width' in pack"));
  EXPECT_THAT(error_of(with_model("{packed: models/tiny}")),
              HasSubstr(at(2, 9) + "unknown key 'packed' in model"));
  EXPECT_THAT(error_of(with_model("{}")), HasSubstr(at(2, 8) + "model must be a folder or"));
}

TEST_F(SpecTest, VariantModelNeedsOneExperimentModel) {
  std::filesystem::create_directories(dir_ / "models/other");
  std::string error = error_of(R"(name: x
models: [models/tiny, models/other]
workload: {prompt: hi}
baseline: b
variants:
  - name: b
    model: models/tiny
)");
  EXPECT_THAT(error, HasSubstr(at(7, 12) + "a variant's model replaces the experiment's one model, "
                                           "but the experiment has 2 models"));
  EXPECT_THAT(error_of(R"(name: x
model: models/tiny
workload: {prompt: hi}
baseline: b
variants:
  - name: b
    model: models/gone
)"),
              HasSubstr(at(7, 12) + "model 'models/gone' not found"));
}

// Found by the lab_yaml fuzzer: text JSON cannot hold (the plan and the database are JSON) ended
// in a raw nlohmann type_error naming no file.
TEST_F(SpecTest, TextThatIsNotUtf8NamesItsPlace) {
  EXPECT_THAT(error_of("name: caf\xe9\nmodel: models/tiny\n"), HasSubstr(at(1, 10) + "not UTF-8 text (byte 0xE9)"));
  // Control characters made yaml-cpp return a lone 0x85 byte from valid UTF-8 input.
  EXPECT_THAT(error_of(std::string("name: x\nhypothesis: a\0b\n", 24)),
              HasSubstr(at(2, 14) + "control character 0x00 is not allowed in YAML"));
  EXPECT_THAT(error_of("name: x\nhypothesis: >-\n  \x02\x1d\n"),
              HasSubstr(at(3, 3) + "control character 0x02 is not allowed in YAML"));
  EXPECT_THAT(error_of("name: ok\nhypothesis: \"\\ud800\"\nmodel: models/tiny\nworkload: {prompt: hi}\n"
                       "baseline: b\nvariants: [{name: b}]\n"),
              HasSubstr(at(2, 20) + "YAML syntax error: invalid unicode"));  // yaml-cpp refuses escaped surrogates
  testing::write_text(dir_ / "latin1.txt", "caf\xe9 au lait\n");
  EXPECT_THAT(error_of("name: x\nmodel: models/tiny\nworkload: {prompts: latin1.txt}\nbaseline: b\n"
                       "variants: [{name: b}]\n"),
              AllOf(HasSubstr(at(3, 21)), HasSubstr("latin1.txt is not UTF-8 text (byte 0xE9 at offset 3)")));
  EXPECT_NO_THROW(load("name: \"caf\u00e9 \\u00e9 \xf0\x9f\x99\x82\"\nmodel: models/tiny\nworkload: {prompt: hi}\n"
                       "baseline: b\nvariants: [{name: b}]\n"));
}

TEST(InvalidUtf8At, AcceptsWhatJsonAcceptsAndPointsAtTheFirstBadByte) {
  EXPECT_EQ(invalid_utf8_at("plain \xc3\xa9 \xe4\xb8\xad \xf0\x9f\x99\x82"), std::nullopt);
  EXPECT_EQ(invalid_utf8_at(""), std::nullopt);
  EXPECT_EQ(invalid_utf8_at("ab\xff"), 2u);             // not a lead byte
  EXPECT_EQ(invalid_utf8_at("a\xc3"), 1u);              // truncated
  EXPECT_EQ(invalid_utf8_at("a\xc3\x41"), 1u);          // bad continuation
  EXPECT_EQ(invalid_utf8_at("\xc0\xaf"), 0u);           // overlong '/'
  EXPECT_EQ(invalid_utf8_at("x\xed\xa0\x80"), 1u);      // surrogate U+D800
  EXPECT_EQ(invalid_utf8_at("\xf4\x90\x80\x80"), 0u);   // above U+10FFFF
}

}  // namespace
}  // namespace streammoe::lab
