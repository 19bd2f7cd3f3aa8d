// `streammoe options`: every engine switch with its default, valid values and help.
#include <fmt/format.h>

#include <iostream>

#include "engine/cli/common.h"

namespace streammoe::cli {

void register_options(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  auto check = std::make_shared<std::vector<std::string>>();
  CLI::App* cmd = app.add_subcommand("options", "list the engine switches");
  cmd->add_flag("--json", *json, "print a JSON array");
  cmd->add_option("--check", *check,
                  "check that these switches (NAME=VALUE ...) are valid together, as a run would; "
                  "prints nothing and exits 0 when they are")
      ->expected(1, -1);
  cmd->callback([json, check] {
    if (!check->empty()) {
      EngineOptions options;
      for (const std::string& item : *check) {
        const size_t eq = item.find('=');
        if (eq == std::string::npos || eq == 0)
          fail("--check: '{}' is not NAME=VALUE", item);
        options.set(item.substr(0, eq), item.substr(eq + 1));
      }
      options.validate();
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
