#pragma once
// Helpers shared by the lab's tests: scratch folders, files, the fixture switch list.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "harness/executor.h"
#include "tests/common/temp_dir.h"
#include "harness/switch_catalog.h"

namespace streammoe::lab::testing {

inline std::filesystem::path source_dir() { return STREAMMOE_SOURCE_DIR; }
inline std::filesystem::path bin_dir() { return STREAMMOE_BIN_DIR; }
inline std::filesystem::path data_dir() { return source_dir() / "tests/harness/data"; }

inline SwitchCatalog fixture_catalog() { return SwitchCatalog::from_file(data_dir() / "options.json"); }

// A fresh folder under the build tree (not /tmp: page-cache tests need a real disk), removed at
// the end of the test.
class TempDir : public streammoe::testing::TempDir {
 public:
  TempDir()
      : streammoe::testing::TempDir("lab", std::filesystem::path(STREAMMOE_BIN_DIR).parent_path() / "lab-test-tmp") {}
};

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A project root with a variants/ folder and an (empty) model folder, like the repository.
inline void make_project(const std::filesystem::path& root) {
  std::filesystem::create_directories(root / "variants");
  std::filesystem::create_directories(root / "models" / "tiny");
  write_text(root / "models/tiny/config.json", "{}");
  write_text(root / "variants/lru.yaml",
             "name: lru\ndescription: LRU expert cache\nswitches:\n  expert-cache: lru\n"
             "  cache-entries: 64\n");
  write_text(root / "variants/mmap.yaml", "name: mmap\nswitches: {io: mmap}\n");
  write_text(root / "CMakeLists.txt",
             "option(STREAMMOE_AVX2 \"AVX2\" ON)\noption(STREAMMOE_NATIVE \"native\" OFF)\n");
}

inline const char* kChromium = "/usr/bin/chromium";

// The DOM Chromium builds from a file (headless, no network, a fresh profile); empty when
// Chromium is missing or fails, with the reason in `why`.
inline std::string render_dom(const std::filesystem::path& html, std::string& why) {
  if (!std::filesystem::exists(kChromium)) {
    why = std::string(kChromium) + " is not installed";
    return "";
  }
  TempDir profile;
  SubprocessExecutor executor;
  Command command;
  command.argv = {kChromium,
                  "--headless",
                  "--no-sandbox",
                  "--disable-gpu",
                  "--no-first-run",
                  "--disable-background-networking",
                  "--disable-component-update",
                  "--disable-sync",
                  "--user-data-dir=" + profile.path().string(),
                  "--dump-dom",
                  "file://" + std::filesystem::absolute(html).string()};
  command.timeout_s = 120;
  ExecResult result = executor.execute(command);
  if (!result.ok() || result.stdout_text.empty()) {
    why = describe(result) + ": " + result.stderr_tail;
    return "";
  }
  return result.stdout_text;
}

inline int count_of(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace streammoe::lab::testing
