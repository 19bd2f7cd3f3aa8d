#pragma once
// Reads YAML with positions: every error names file:line:column and the problem, for the
// experiment specs and the variant bundles alike.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace streammoe::lab {

// Where `text` stops being UTF-8 as JSON (and so the lab's database and reports) accepts it: the
// offset of the first byte of an invalid, overlong or surrogate sequence; nullopt when valid.
std::optional<size_t> invalid_utf8_at(std::string_view text);

class YamlFile {
 public:
  // Parses the file; a syntax error, or text that is not UTF-8, is an Error at its position.
  static YamlFile load(const std::filesystem::path& path);
  // Text that came from `path` (e.g. the YAML an experiment ran, stored in the database).
  static YamlFile parse(std::string text, const std::filesystem::path& path);

  const YAML::Node& root() const { return root_; }
  const std::string& text() const { return text_; }
  const std::filesystem::path& path() const { return path_; }

  std::string where(const YAML::Node& node) const;  // "file:line:column"
  [[noreturn]] void fail_at(const YAML::Node& node, std::string_view problem) const;

  // Every key of `map` must be in `allowed` (and appear once); returns the key nodes by name so
  // callers can point at a key.
  std::map<std::string, YAML::Node> keys(const YAML::Node& map, std::string_view context,
                                         const std::vector<std::string_view>& allowed) const;
  void require_map(const YAML::Node& node, std::string_view what) const;
  void require_sequence(const YAML::Node& node, std::string_view what) const;
  std::string scalar(const YAML::Node& node, std::string_view what) const;
  std::string text_value(const YAML::Node& node, std::string_view what) const;  // non-empty
  int64_t integer(const YAML::Node& node, std::string_view what, int64_t min, int64_t max) const;
  double number(const YAML::Node& node, std::string_view what) const;
  bool boolean(const YAML::Node& node, std::string_view what) const;
  // A map of scalars (switch name -> value, option -> value), keys in file order.
  std::vector<std::pair<YAML::Node, YAML::Node>> scalar_map(const YAML::Node& node,
                                                            std::string_view what) const;

 private:
  std::filesystem::path path_;
  std::string text_;
  YAML::Node root_;
};

}  // namespace streammoe::lab
