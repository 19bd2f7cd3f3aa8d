#include "harness/variant_bundle.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "engine/util/error.h"

namespace streammoe::lab {

std::map<std::string, std::string> read_switches(const YamlFile& file, const YAML::Node& node,
                                                 const SwitchCatalog& catalog,
                                                 std::string_view what) {
  std::map<std::string, std::string> switches;
  for (const auto& [key, value] : file.scalar_map(node, what)) {
    const SwitchInfo* info = catalog.find(key.Scalar());
    if (!info)
      file.fail_at(key, fmt::format("unknown switch '{}' (the engine has: {})", key.Scalar(),
                                    catalog.names()));
    std::string problem;
    auto normalized = catalog.normalize(*info, value.Scalar(), problem);
    if (!normalized) file.fail_at(value, problem);
    switches[info->name] = *normalized;
  }
  return switches;
}

std::map<std::string, std::string> read_build_options(const YamlFile& file, const YAML::Node& node,
                                                      const std::vector<std::string>& known) {
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : file.scalar_map(node, "build")) {
    std::string name = key.Scalar();
    std::string text = value.Scalar();
    if (name == "CMAKE_BUILD_TYPE") {
      static const std::vector<std::string> types = {"Release", "Debug", "RelWithDebInfo",
                                                     "MinSizeRel"};
      if (std::find(types.begin(), types.end(), text) == types.end())
        file.fail_at(value, fmt::format("CMAKE_BUILD_TYPE must be Release, Debug, RelWithDebInfo "
                                        "or MinSizeRel, got '{}'",
                                        text));
      out[name] = text;
      continue;
    }
    if (std::find(known.begin(), known.end(), name) == known.end())
      file.fail_at(key, fmt::format("unknown build option '{}' (CMakeLists.txt declares: {}; and "
                                    "CMAKE_BUILD_TYPE)",
                                    name, known.empty() ? "none" : fmt::format("{}", fmt::join(known, ", "))));
    std::string lower = text;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (lower == "on" || lower == "true" || lower == "yes" || lower == "1") {
      out[name] = "ON";
    } else if (lower == "off" || lower == "false" || lower == "no" || lower == "0") {
      out[name] = "OFF";
    } else {
      file.fail_at(value, fmt::format("build option {} takes ON or OFF, got '{}'", name, text));
    }
  }
  return out;
}

VariantBundle load_bundle(const std::filesystem::path& variants_dir, const std::string& name,
                          const SwitchCatalog& catalog,
                          const std::vector<std::string>& build_option_names) {
  auto path = variants_dir / (name + ".yaml");
  if (!std::filesystem::exists(path))
    fail("{}: no such variant bundle (looked for {})", name, path.string());
  YamlFile file = YamlFile::load(path);
  auto keys =
      file.keys(file.root(), "a variant bundle", {"name", "description", "switches", "build"});
  VariantBundle bundle;
  bundle.name = name;
  if (keys.count("name")) {
    std::string declared = file.text_value(keys["name"], "name");
    if (declared != name)
      file.fail_at(keys["name"], fmt::format("bundle is named '{}' but its file is {}.yaml",
                                             declared, name));
  }
  if (keys.count("description")) bundle.description = file.scalar(keys["description"], "description");
  if (keys.count("switches"))
    bundle.switches = read_switches(file, keys["switches"], catalog, "switches");
  if (keys.count("build"))
    bundle.build_options = read_build_options(file, keys["build"], build_option_names);
  return bundle;
}

}  // namespace streammoe::lab
