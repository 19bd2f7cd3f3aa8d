#pragma once
// An anonymous in-memory file (memfd) that a child process writes by the name
// /proc/self/fd/N (the descriptor is inherited): the engine's --metrics-json goes there. No
// file or folder exists on disk, so a lab killed at any point leaves nothing behind.
#include <filesystem>
#include <string>

namespace streammoe::lab {

class ScratchFile {
 public:
  explicit ScratchFile(const char* name);
  ~ScratchFile();
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;

  // The name this process and its children open it by.
  std::filesystem::path path() const;
  void clear();              // empty, before the next run writes it
  std::string read() const;  // what was written since the last clear()

 private:
  int fd_ = -1;
};

// Removes `<stem>.<tag>-<pid>` files and folders beside `dir` whose process is gone: what a
// killed lab left of an interrupted pack or reference-logits dump.
void remove_leftovers(const std::filesystem::path& dir, const std::string& tag);

}  // namespace streammoe::lab
