#pragma once
// The engine's runtime switches as `streammoe options --json` lists them. YAML experiments and
// variant bundles are validated against this list, so a typo fails before any run starts.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace streammoe::lab {

struct SwitchInfo {
  std::string name;
  std::string type;  // int | float | bool | enum | string
  std::string default_value;
  std::vector<std::string> values;  // allowed values for enum
  std::string help;
};

class SwitchCatalog {
 public:
  // Parses the JSON array printed by `streammoe options --json`; `origin` names it in errors.
  static SwitchCatalog parse(std::string_view json_text, std::string_view origin);
  static SwitchCatalog from_file(const std::filesystem::path& path);

  const SwitchInfo* find(std::string_view name) const;
  const std::vector<SwitchInfo>& switches() const { return switches_; }
  std::string names() const;  // "k, dequant, io", for error messages
  std::map<std::string, std::string> defaults() const;

  // Checks a value against the switch's type; returns the canonical spelling (bools become
  // true/false) or the problem as text in `problem`.
  std::optional<std::string> normalize(const SwitchInfo& info, std::string_view value,
                                       std::string& problem) const;

 private:
  std::vector<SwitchInfo> switches_;
};

}  // namespace streammoe::lab
