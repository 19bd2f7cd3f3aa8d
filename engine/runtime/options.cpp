#include "engine/runtime/options.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "engine/util/error.h"

namespace streammoe {
namespace {

std::string join(const std::vector<std::string>& values) {
  std::string s;
  for (const auto& v : values) s += (s.empty() ? "" : ", ") + v;
  return s;
}

struct Setter {
  const std::string& name;
  const std::string& value;
  bool found = false;

  void option(const char* n, int64_t& field, const char*, std::vector<std::string>) {
    if (name != n) return;
    found = true;
    size_t used = 0;
    try {
      field = std::stoll(value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != value.size() || value.empty()) fail("--{}: expected an integer, got '{}'", n, value);
  }
  void option(const char* n, std::string& field, const char*, std::vector<std::string> values) {
    if (name != n) return;
    found = true;
    if (!values.empty() && std::find(values.begin(), values.end(), value) == values.end())
      fail("--{}: invalid value '{}' (valid: {})", n, value, join(values));
    field = value;
  }
};

struct JsonWriter {
  nlohmann::json* out;
  template <typename T>
  void option(const char* n, const T& field, const char*, std::vector<std::string>) { (*out)[n] = field; }
};

struct Describer {
  nlohmann::json* out;
  void option(const char* n, const int64_t& field, const char* help, std::vector<std::string> values) {
    out->push_back({{"name", n}, {"type", "int"}, {"default", std::to_string(field)}, {"values", values}, {"help", help}});
  }
  void option(const char* n, const std::string& field, const char* help, std::vector<std::string> values) {
    out->push_back({{"name", n}, {"type", values.empty() ? "string" : "enum"}, {"default", field},
                    {"values", values}, {"help", help}});
  }
};

}  // namespace

void EngineOptions::set(const std::string& name, const std::string& value) {
  Setter setter{name, value};
  visit(setter);
  if (!setter.found) {
    std::vector<std::string> names;
    for (const auto& d : describe()) names.push_back(d["name"]);
    fail("unknown switch '{}' (known: {})", name, join(names));
  }
}

void EngineOptions::apply_variant(const std::string& name_or_file, const std::filesystem::path& variants_dir) {
  std::filesystem::path path = name_or_file;
  if (!std::filesystem::exists(path)) path = variants_dir / (name_or_file + ".yaml");
  if (!std::filesystem::exists(path)) fail("variant '{}': no file {} or {}", name_or_file, name_or_file, path.string());
  YAML::Node root;
  try {
    root = YAML::LoadFile(path.string());
  } catch (const YAML::Exception& e) {
    fail("{}: {}", path.string(), e.what());
  }
  if (!root.IsMap()) fail("{}: a variant must be a mapping with 'switches'", path.string());
  for (const auto& item : root) {
    const std::string key = item.first.as<std::string>();
    if (key != "name" && key != "description" && key != "switches" && key != "build")
      fail("{}:{}: unknown key '{}' (valid: name, description, switches, build)", path.string(),
           item.first.Mark().line + 1, key);
  }
  const YAML::Node switches = root["switches"];
  if (!switches) return;
  if (!switches.IsMap()) fail("{}: 'switches' must be a mapping", path.string());
  for (const auto& item : switches) {
    try {
      set(item.first.as<std::string>(), item.second.as<std::string>());
    } catch (const Error& e) {
      fail("{}:{}: {}", path.string(), item.first.Mark().line + 1, e.what());
    }
  }
}

nlohmann::json EngineOptions::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  JsonWriter writer{&j};
  const_cast<EngineOptions*>(this)->visit(writer);
  return j;
}

nlohmann::json EngineOptions::describe() {
  nlohmann::json j = nlohmann::json::array();
  Describer d{&j};
  EngineOptions defaults;
  defaults.visit(d);
  return j;
}

}  // namespace streammoe
