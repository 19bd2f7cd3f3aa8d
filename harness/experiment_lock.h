#pragma once
// One lab process per experiment and database: an open-file-description lock (F_OFD_SETLK) on
// one byte of <db>.lock chosen by the experiment's name. The kernel drops it when the process
// ends however it ends, so a killed lab never leaves a stale lock, and two locks in one process
// conflict like two processes' (the tests rely on that).
#include <filesystem>
#include <optional>
#include <string>

namespace streammoe::lab {

class ExperimentLock {
 public:
  // The lock, or nullopt when another open file description holds it.
  static std::optional<ExperimentLock> try_lock(const std::filesystem::path& database,
                                                const std::string& experiment);
  ExperimentLock(ExperimentLock&& other) noexcept;
  ExperimentLock& operator=(ExperimentLock&& other) noexcept;
  ExperimentLock(const ExperimentLock&) = delete;
  ExperimentLock& operator=(const ExperimentLock&) = delete;
  ~ExperimentLock();

  static std::filesystem::path lock_file(const std::filesystem::path& database);

 private:
  explicit ExperimentLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace streammoe::lab
