#pragma once
// Shared by the integration tests that drive the `streammoe` command: run it, read a file's bytes.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace streammoe::cli_test {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr (only stderr with Capture::kStderr)
};

enum class Capture { kBoth, kStderr };

inline CommandResult run_streammoe(const std::string& args, Capture capture = Capture::kBoth) {
  const std::string cmd = std::string(STREAMMOE_BIN_DIR) + "/streammoe " + args +
                          (capture == Capture::kBoth ? " 2>&1" : " 2>&1 >/dev/null");
  FILE* pipe = popen(cmd.c_str(), "r");
  CommandResult r;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) r.output.append(buffer, n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

inline std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline const std::filesystem::path kSource = STREAMMOE_SOURCE_DIR;
inline const std::filesystem::path kTiny = kSource / "models/tiny-qwen35moe";

}  // namespace streammoe::cli_test
