#include "harness/engine_builder.h"

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "engine/util/error.h"
#include "harness/hash.h"
#include "harness/plan.h"

namespace streammoe::lab {

namespace fs = std::filesystem;

EngineBuilder::EngineBuilder(fs::path source_dir, fs::path build_root, Executor& executor,
                             std::string cmake, int jobs)
    : source_dir_(std::move(source_dir)),
      build_root_(std::move(build_root)),
      executor_(executor),
      cmake_(std::move(cmake)),
      jobs_(jobs) {}

fs::path EngineBuilder::build_dir(const std::map<std::string, std::string>& options) const {
  return build_root_ / ("lab-" + StableHash().add(build_key(options)).hex().substr(0, 12));
}

fs::path EngineBuilder::ensure_built(const std::map<std::string, std::string>& options) {
  fs::path dir = build_dir(options);
  fs::create_directories(dir);
  fs::path stamp = dir / "lab-options.txt";
  fs::path log = dir / "lab-build.log";
  std::string key = build_key(options);
  std::string previous;
  {
    std::ifstream in(stamp);
    std::stringstream text;
    text << in.rdbuf();
    previous = text.str();
  }
  auto run_logged = [&](std::vector<std::string> argv, const char* step) {
    Command command;
    command.argv = std::move(argv);
    command.timeout_s = 3600;
    ExecResult result = executor_.execute(command);
    std::ofstream(log, std::ios::app) << "$ " << shell_join(command.argv) << "\n"
                                      << result.stdout_text << result.stderr_tail << "\n";
    if (!result.ok())
      fail("{}: {} failed ({}); see {}", dir.string(), step, describe(result), log.string());
  };
  if (previous != key || !fs::exists(dir / "CMakeCache.txt")) {
    std::vector<std::string> argv = {cmake_,
                                     "-S",
                                     source_dir_.string(),
                                     "-B",
                                     dir.string(),
                                     "-DSTREAMMOE_TESTS=OFF",
                                     "-DSTREAMMOE_BENCHMARKS=OFF"};
    if (!options.count("CMAKE_BUILD_TYPE")) argv.push_back("-DCMAKE_BUILD_TYPE=Release");
    for (const auto& [name, value] : options) argv.push_back(fmt::format("-D{}={}", name, value));
    run_logged(std::move(argv), "configure");
    std::ofstream(stamp) << key;
  }
  run_logged({cmake_, "--build", dir.string(), "--target", "streammoe", "-j", std::to_string(jobs_)},
             "build");
  return dir / "bin" / "streammoe";
}

}  // namespace streammoe::lab
