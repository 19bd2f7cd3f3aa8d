#pragma once
// Named bundles of switches, variants/<name>.yaml (the engine's --variant reads the same files):
//   name: lru-cache
//   description: LRU cache of recently used experts
//   switches: {expert-cache: lru, cache-entries: 500}
//   build: {STREAMMOE_NATIVE: ON}        # optional compile-time options
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "harness/switch_catalog.h"
#include "harness/yaml_reader.h"

namespace streammoe::lab {

struct VariantBundle {
  std::string name;
  std::string description;
  std::map<std::string, std::string> switches;
  std::map<std::string, std::string> build_options;
};

// Loads variants_dir/<name>.yaml; switches are checked against the catalog, build options
// against `build_option_names` (the STREAMMOE_* options of CMakeLists.txt).
VariantBundle load_bundle(const std::filesystem::path& variants_dir, const std::string& name,
                          const SwitchCatalog& catalog,
                          const std::vector<std::string>& build_option_names);

// Reads a map of engine switches, checking names and values (errors at file:line:column).
std::map<std::string, std::string> read_switches(const YamlFile& file, const YAML::Node& node,
                                                 const SwitchCatalog& catalog,
                                                 std::string_view what);

// Reads a map of compile-time options: CMAKE_BUILD_TYPE or one of `known` (ON/OFF values).
std::map<std::string, std::string> read_build_options(const YamlFile& file, const YAML::Node& node,
                                                      const std::vector<std::string>& known);

}  // namespace streammoe::lab
