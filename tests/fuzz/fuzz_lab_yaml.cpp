// Fuzz target: the lab's experiment YAML (load_experiment in harness/spec.cpp, over
// harness/yaml_reader.cpp): keys, types and ranges, models, workload, variants and bundles,
// matrix sweeps, quality and keep rules. Relative paths resolve against the source tree (its
// models/, variants/ and CMakeLists.txt); packed models would go to a scratch folder, but
// load_experiment only names them.
#include <fstream>

#include "harness/spec.h"
#include "harness/switch_catalog.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using namespace streammoe;

struct Setup {
  fuzz::ScratchDir dir{"lab"};
  lab::SwitchCatalog catalog =
      lab::SwitchCatalog::from_file(std::filesystem::path(STREAMMOE_SOURCE_DIR) / "tests/harness/data/options.json");
  lab::SpecOptions options;
  Setup() {
    options.catalog = &catalog;
    options.root = STREAMMOE_SOURCE_DIR;
    options.packed_models_dir = dir.path() / "models";
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Setup setup;
  const std::filesystem::path file = setup.dir.path() / "experiment.yaml";
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  return fuzz::expect_error_or_success([&] {
    const lab::ExperimentSpec spec = lab::load_experiment(file, setup.options);
    if (spec.variants.empty() || spec.models.empty()) std::abort();
    (void)spec.baseline_variant();
    (void)spec.identity_hash();
    (void)spec.to_json().dump();
    for (const auto& v : spec.variants) (void)spec.model_for(v, 0);
  });
}
