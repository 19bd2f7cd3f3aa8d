// The `streammoe` command: eval, generate, options, pack, synth. Errors are caught here, once:
// one `streammoe: error: ...` line on stderr, exit code 1; a command line that does not parse
// (unknown flag, missing --model, a value of the wrong type) is a usage error, exit code 2
// (README, "The error contract").
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "engine/cli/common.h"
#include "engine/util/error.h"
#include "engine/util/utf8.h"

namespace {

constexpr int kUsageError = 2;

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"streammoe: Mixture-of-Experts inference that streams experts from SSD"};
  app.require_subcommand(1);
  streammoe::cli::register_eval(app);
  streammoe::cli::register_generate(app);
  streammoe::cli::register_options(app);
  streammoe::cli::register_pack(app);
  streammoe::cli::register_synth(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);  // --help
    std::string message = e.what();
    // CLI11 reports an unknown command as a missing one; name it.
    if (argc > 1 && argv[1][0] != '-') {
      std::string commands;
      bool known = false;
      for (const CLI::App* sub : app.get_subcommands({})) {
        commands += (commands.empty() ? "" : ", ") + sub->get_name();
        known |= sub->get_name() == argv[1];
      }
      if (!known) message = fmt::format("unknown command '{}' (commands: {})", argv[1], commands);
    }
    std::fprintf(stderr, "streammoe: error: %s (see streammoe --help)\n",
                 streammoe::utf8::printable_line(message).c_str());
    return kUsageError;
  } catch (const std::exception& e) {  // streammoe::Error, and anything a library throws
    std::fprintf(stderr, "streammoe: error: %s\n", streammoe::utf8::printable_line(e.what()).c_str());
    return 1;
  }
  return 0;
}
