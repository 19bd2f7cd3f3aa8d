// The `streammoe` command: eval, generate, options. Errors are caught here, once: one line on
// stderr, exit code 1.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "engine/cli/common.h"
#include "engine/util/error.h"

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
    return app.exit(e);
  } catch (const streammoe::Error& e) {
    std::fprintf(stderr, "streammoe: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "streammoe: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
