#include "harness/switch_catalog.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "engine/util/error.h"

namespace streammoe::lab {

namespace {

std::string json_scalar_text(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "";
  return value.dump();
}

bool parses_as_int(std::string_view text) {
  long long parsed = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), parsed);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

bool parses_as_float(std::string_view text) {
  if (text.empty()) return false;
  std::string copy(text);
  char* end = nullptr;
  std::strtod(copy.c_str(), &end);
  return end == copy.c_str() + copy.size();
}

}  // namespace

SwitchCatalog SwitchCatalog::parse(std::string_view json_text, std::string_view origin) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: switch list is not valid JSON: {}", origin, e.what());
  }
  if (!doc.is_array()) fail("{}: switch list must be a JSON array of objects", origin);
  SwitchCatalog catalog;
  for (const auto& entry : doc) {
    if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string())
      fail("{}: every switch needs a string \"name\": {}", origin, entry.dump());
    SwitchInfo info;
    info.name = entry["name"].get<std::string>();
    info.type = entry.value("type", std::string("string"));
    if (entry.contains("default")) info.default_value = json_scalar_text(entry["default"]);
    if (entry.contains("values") && entry["values"].is_array())
      for (const auto& v : entry["values"]) info.values.push_back(json_scalar_text(v));
    info.help = entry.value("help", std::string());
    if (catalog.find(info.name)) fail("{}: switch {} is listed twice", origin, info.name);
    catalog.switches_.push_back(std::move(info));
  }
  return catalog;
}

SwitchCatalog SwitchCatalog::from_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot read the switch list", path.string());
  std::stringstream text;
  text << in.rdbuf();
  return parse(text.str(), path.string());
}

const SwitchInfo* SwitchCatalog::find(std::string_view name) const {
  for (const auto& s : switches_)
    if (s.name == name) return &s;
  return nullptr;
}

std::string SwitchCatalog::names() const {
  std::vector<std::string> names;
  for (const auto& s : switches_) names.push_back(s.name);
  return fmt::format("{}", fmt::join(names, ", "));
}

std::map<std::string, std::string> SwitchCatalog::defaults() const {
  std::map<std::string, std::string> out;
  for (const auto& s : switches_) out[s.name] = s.default_value;
  return out;
}

std::optional<std::string> SwitchCatalog::normalize(const SwitchInfo& info, std::string_view value,
                                                    std::string& problem) const {
  if (info.type == "int") {
    if (parses_as_int(value)) return std::string(value);
    problem = fmt::format("switch {} takes an integer, got '{}'", info.name, value);
    return std::nullopt;
  }
  if (info.type == "float" || info.type == "double") {
    if (parses_as_float(value)) return std::string(value);
    problem = fmt::format("switch {} takes a number, got '{}'", info.name, value);
    return std::nullopt;
  }
  if (info.type == "bool") {
    static const std::vector<std::string_view> yes = {"true", "on", "yes", "1"};
    static const std::vector<std::string_view> no = {"false", "off", "no", "0"};
    std::string lower(value);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (std::find(yes.begin(), yes.end(), lower) != yes.end()) return "true";
    if (std::find(no.begin(), no.end(), lower) != no.end()) return "false";
    problem = fmt::format("switch {} takes true or false, got '{}'", info.name, value);
    return std::nullopt;
  }
  if (info.type == "enum" || !info.values.empty()) {
    if (std::find(info.values.begin(), info.values.end(), value) != info.values.end())
      return std::string(value);
    problem = fmt::format("switch {}: unknown value '{}' (one of {})", info.name, value,
                          fmt::join(info.values, ", "));
    return std::nullopt;
  }
  return std::string(value);
}

}  // namespace streammoe::lab
