#pragma once
// A fresh folder (under the system temp dir unless a base is given), removed with everything in
// it at scope exit. Shared by the unit, integration and lab tests.
#include <unistd.h>

#include <filesystem>
#include <string>

namespace streammoe::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& tag,
                   const std::filesystem::path& base = std::filesystem::temp_directory_path()) {
    static int counter = 0;
    path_ = base / ("streammoe-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace streammoe::testing
