#pragma once
// Shared by the fuzz targets: the input as a file (most parsers read a path), a scratch folder,
// and the contract every target checks: a parser either returns or throws streammoe::Error.
// Anything else escaping (std::bad_alloc, a JSON or YAML library exception, std::out_of_range)
// means a bad file ends without the one-line error naming it, so the target aborts and the
// fuzzer (or the replay test) reports it like a crash.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>
#include <typeinfo>

#include "engine/util/error.h"

namespace streammoe::fuzz {

// An in-memory file (memfd) rewritten for every input; its path is /proc/self/fd/N, so code that
// opens a path reads exactly the fuzz bytes, and nothing touches the disk.
class InputFile {
 public:
  InputFile() : fd_(::memfd_create("streammoe-fuzz", MFD_CLOEXEC)) {
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~InputFile() { ::close(fd_); }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::filesystem::path& write(const uint8_t* data, size_t size) {
    if (::ftruncate(fd_, 0) != 0 || (size && ::pwrite(fd_, data, size, 0) != static_cast<ssize_t>(size))) {
      std::perror("memfd write");
      std::abort();
    }
    return path_;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  int fd_;
  std::filesystem::path path_;
};

// A folder under the temp dir for targets that read a folder; removed at exit.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag)
      : path_(std::filesystem::temp_directory_path() /
              ("streammoe-fuzz-" + tag + "-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Runs one parse: streammoe::Error is the expected way to refuse a file; any other exception is
// a finding.
template <typename Parse>
int expect_error_or_success(Parse&& parse) {
  static const bool verbose = std::getenv("STREAMMOE_FUZZ_VERBOSE") != nullptr;
  try {
    parse();
    if (verbose) std::fprintf(stderr, "fuzz: accepted\n");
  } catch (const Error& e) {
    if (verbose) std::fprintf(stderr, "fuzz: refused: %s\n", e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: a %s escaped the parser instead of streammoe::Error: %s\n",
                 typeid(e).name(), e.what());
    std::abort();
  }
  return 0;
}

}  // namespace streammoe::fuzz
