#include "harness/yaml_reader.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "engine/util/error.h"

namespace streammoe::lab {

namespace {

std::string kind_name(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Scalar:
      return fmt::format("'{}'", node.Scalar());
    default:
      return "an undefined value";
  }
}

}  // namespace

std::optional<size_t> invalid_utf8_at(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = s[i];
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::nullopt;
}

YamlFile YamlFile::load(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot read the file", path.string());
  std::stringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

YamlFile YamlFile::parse(std::string text, const std::filesystem::path& path) {
  YamlFile file;
  file.path_ = path;
  file.text_ = std::move(text);
  // YAML is printable Unicode text; yaml-cpp given anything else can hand back strings that are
  // not UTF-8, which the JSON of the plan and the database cannot store.
  auto position = [&](size_t at) {
    const std::string_view before(file.text_.data(), at);
    const size_t newline = before.rfind('\n');
    const size_t line_start = newline == std::string_view::npos ? 0 : newline + 1;
    return fmt::format("{}:{}:{}", path.string(), std::count(before.begin(), before.end(), '\n') + 1,
                       at - line_start + 1);
  };
  if (auto at = invalid_utf8_at(file.text_))
    fail("{}: not UTF-8 text (byte 0x{:02X})", position(*at), static_cast<unsigned char>(file.text_[*at]));
  const auto control = std::find_if(file.text_.begin(), file.text_.end(), [](unsigned char c) {
    return (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F;
  });
  if (control != file.text_.end())
    fail("{}: control character 0x{:02X} is not allowed in YAML", position(control - file.text_.begin()),
         static_cast<unsigned char>(*control));
  try {
    file.root_ = YAML::Load(file.text_);
  } catch (const YAML::ParserException& e) {
    fail("{}:{}:{}: YAML syntax error: {}", path.string(), e.mark.line + 1, e.mark.column + 1,
         e.msg);
  }
  return file;
}

std::string YamlFile::where(const YAML::Node& node) const {
  YAML::Mark mark = node.Mark();
  if (mark.is_null()) return path_.string();
  return fmt::format("{}:{}:{}", path_.string(), mark.line + 1, mark.column + 1);
}

void YamlFile::fail_at(const YAML::Node& node, std::string_view problem) const {
  fail("{}: {}", where(node), problem);
}

void YamlFile::require_map(const YAML::Node& node, std::string_view what) const {
  if (!node.IsMap()) fail_at(node, fmt::format("{} must be a map, got {}", what, kind_name(node)));
}

void YamlFile::require_sequence(const YAML::Node& node, std::string_view what) const {
  if (!node.IsSequence())
    fail_at(node, fmt::format("{} must be a list, got {}", what, kind_name(node)));
}

std::map<std::string, YAML::Node> YamlFile::keys(const YAML::Node& map, std::string_view context,
                                                 const std::vector<std::string_view>& allowed) const {
  require_map(map, context);
  std::map<std::string, YAML::Node> out;
  for (const auto& entry : map) {
    const YAML::Node key = entry.first;
    if (!key.IsScalar()) fail_at(key, fmt::format("{}: keys must be plain names", context));
    std::string name = key.Scalar();
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end())
      fail_at(key, fmt::format("unknown key '{}' in {} (allowed: {})", name, context,
                               fmt::join(allowed, ", ")));
    if (out.count(name)) fail_at(key, fmt::format("key '{}' appears twice in {}", name, context));
    out.emplace(name, entry.second);
  }
  return out;
}

std::string YamlFile::scalar(const YAML::Node& node, std::string_view what) const {
  if (!node.IsScalar())
    fail_at(node, fmt::format("{} must be a single value, got {}", what, kind_name(node)));
  return node.Scalar();
}

std::string YamlFile::text_value(const YAML::Node& node, std::string_view what) const {
  std::string value = scalar(node, what);
  if (value.empty()) fail_at(node, fmt::format("{} must not be empty", what));
  return value;
}

int64_t YamlFile::integer(const YAML::Node& node, std::string_view what, int64_t min,
                          int64_t max) const {
  std::string text = scalar(node, what);
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size())
    fail_at(node, fmt::format("{} must be an integer, got '{}'", what, text));
  if (value < min || value > max)
    fail_at(node, fmt::format("{} must be between {} and {}, got {}", what, min, max, value));
  return value;
}

double YamlFile::number(const YAML::Node& node, std::string_view what) const {
  std::string text = scalar(node, what);
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size())
    fail_at(node, fmt::format("{} must be a number, got '{}'", what, text));
  return value;
}

bool YamlFile::boolean(const YAML::Node& node, std::string_view what) const {
  std::string text = scalar(node, what);
  if (text == "true" || text == "yes" || text == "on") return true;
  if (text == "false" || text == "no" || text == "off") return false;
  fail_at(node, fmt::format("{} must be true or false, got '{}'", what, text));
}

std::vector<std::pair<YAML::Node, YAML::Node>> YamlFile::scalar_map(const YAML::Node& node,
                                                                    std::string_view what) const {
  std::vector<std::pair<YAML::Node, YAML::Node>> out;
  if (node.IsNull()) return out;  // "switches:" with nothing after it
  require_map(node, what);
  std::set<std::string> seen;
  for (const auto& entry : node) {
    const YAML::Node key_node = entry.first;
    const YAML::Node value = entry.second;
    std::string key = scalar(key_node, fmt::format("a key of {}", what));
    if (!seen.insert(key).second)
      fail_at(key_node, fmt::format("key '{}' appears twice in {}", key, what));
    if (!value.IsScalar())
      fail_at(value, fmt::format("{}.{} must be a single value, got {}", what, key,
                                 kind_name(value)));
    out.emplace_back(key_node, value);
  }
  return out;
}

}  // namespace streammoe::lab
