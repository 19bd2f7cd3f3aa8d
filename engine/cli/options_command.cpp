// `streammoe options`: every engine switch with its default, valid values and help.
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <optional>

#include "engine/cli/common.h"
#include "engine/util/utf8.h"

namespace streammoe::cli {

namespace {

// The switches valid together, as a run would judge them: nothing, or the problem.
std::optional<std::string> check(const std::vector<std::pair<std::string, std::string>>& switches) {
  try {
    EngineOptions options;
    for (const auto& [name, value] : switches) options.set(name, value);
    options.validate();
    return std::nullopt;
  } catch (const Error& e) {
    return std::string(e.what());
  }
}

// --check-file: one JSON object of switches a line in, one line out per object: "ok" or the
// problem (streammoe-lab checks all of an experiment's variants with one call).
void check_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot read --check-file", path);
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    nlohmann::json set;
    try {
      set = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      fail("{}:{}: not a JSON object of switches: {}", path, n, e.what());
    }
    if (!set.is_object()) fail("{}:{}: not a JSON object of switches", path, n);
    std::vector<std::pair<std::string, std::string>> switches;
    for (const auto& [name, value] : set.items())
      switches.emplace_back(name, value.is_string() ? value.get<std::string>() : value.dump());
    const auto problem = check(switches);
    std::cout << (problem ? utf8::printable_line(*problem) : std::string("ok")) << "\n";
  }
}

}  // namespace

void register_options(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  auto checks = std::make_shared<std::vector<std::string>>();
  auto checks_file = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("options", "list the engine switches");
  cmd->add_flag("--json", *json, "print a JSON array");
  cmd->add_option("--check", *checks,
                  "check that these switches (NAME=VALUE ...) are valid together, as a run would; "
                  "prints nothing and exits 0 when they are")
      ->expected(1, -1);
  cmd->add_option("--check-file", *checks_file,
                  "check many sets at once: FILE has one JSON object of switches a line; prints "
                  "'ok' or the problem, a line each");
  cmd->callback([json, checks, checks_file] {
    if (!checks_file->empty()) return check_file(*checks_file);
    if (!checks->empty()) {
      std::vector<std::pair<std::string, std::string>> switches;
      for (const std::string& item : *checks) {
        const size_t eq = item.find('=');
        if (eq == std::string::npos || eq == 0) fail("--check: '{}' is not NAME=VALUE", item);
        switches.emplace_back(item.substr(0, eq), item.substr(eq + 1));
      }
      if (auto problem = check(switches)) fail("{}", *problem);
      return;
    }
    const nlohmann::json all = EngineOptions::describe();
    if (*json) {
      std::cout << all.dump(2) << "\n";
      return;
    }
    for (const auto& o : all) {
      std::string values;
      for (const auto& v : o["values"]) values += (values.empty() ? "" : "|") + v.get<std::string>();
      std::cout << fmt::format("  --{:<16} {:<6} default {:<8} {}{}\n", o["name"].get<std::string>(),
                               o["type"].get<std::string>(), o["default"].get<std::string>(),
                               o["help"].get<std::string>(), values.empty() ? "" : " {" + values + "}");
      if (o.contains("value_help"))
        for (const auto& vh : o["value_help"])
          std::cout << fmt::format("      {:<14} {}\n", vh[0].get<std::string>(), vh[1].get<std::string>());
    }
  });
}

}  // namespace streammoe::cli
