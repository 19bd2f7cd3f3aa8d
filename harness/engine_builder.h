#pragma once
// Compile-time options per variant: each distinct option set gets its own build folder
// (<build_root>/lab-<hash>), configured once and rebuilt incrementally, so the engine binary for
// a variant is always current and never rebuilt from scratch twice.
#include <filesystem>
#include <map>
#include <string>

#include "harness/executor.h"

namespace streammoe::lab {

class EngineBuilder {
 public:
  EngineBuilder(std::filesystem::path source_dir, std::filesystem::path build_root,
                Executor& executor, std::string cmake = "cmake", int jobs = 2);

  std::filesystem::path build_dir(const std::map<std::string, std::string>& options) const;
  // Configures (when the folder is new or its options changed) and builds the streammoe target;
  // returns the binary. An Error naming the build log when CMake fails.
  std::filesystem::path ensure_built(const std::map<std::string, std::string>& options);

 private:
  std::filesystem::path source_dir_;
  std::filesystem::path build_root_;
  Executor& executor_;
  std::string cmake_;
  int jobs_;
};

}  // namespace streammoe::lab
