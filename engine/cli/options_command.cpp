// `streammoe options`: every engine switch with its default, valid values and help.
#include <fmt/format.h>

#include <iostream>

#include "engine/cli/common.h"

namespace streammoe::cli {

void register_options(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("options", "list the engine switches");
  cmd->add_flag("--json", *json, "print a JSON array");
  cmd->callback([json] {
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
