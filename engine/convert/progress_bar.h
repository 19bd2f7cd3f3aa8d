#pragma once
// A one-line progress bar on stderr for long writes (pack, synth): redrawn in place at most ten
// times a second on a terminal; on a pipe or log file, one line every 10%.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace streammoe {

class ProgressBar {
 public:
  ProgressBar(std::string label, uint64_t total_bytes, std::FILE* out = stderr);
  void update(uint64_t done_bytes, std::string_view stage = {});
  void finish();

 private:
  void draw(uint64_t done, std::string_view stage, bool final_line);

  std::string label_;
  uint64_t total_;
  std::FILE* out_;
  bool terminal_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  int last_decile_ = -1;
  uint64_t done_ = 0;
  bool finished_ = false;
};

}  // namespace streammoe
