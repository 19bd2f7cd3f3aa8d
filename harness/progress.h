#pragma once
// Progress of an experiment on stderr: a redrawn bar (runs done/total, current variant, ETA)
// when stderr is a terminal, one plain line per finished run otherwise (logs, CI).
#include <chrono>
#include <ostream>
#include <string>

namespace streammoe::lab {

class Progress {
 public:
  Progress(std::ostream& out, bool tty, int total);
  void set_total(int total) { total_ = total; }       // once the plan is known
  void skip(int runs);                                  // finished in an earlier session
  void start(const std::string& what);                  // a run begins
  void finish(const std::string& what, const std::string& outcome);  // ... and ends
  void note(const std::string& line);                   // a line of its own (builds, quality)
  void close();                                         // leaves the terminal on a new line
  // "1:05" style ETA text for `seconds` (exposed for tests).
  static std::string clock_text(double seconds);

 private:
  void draw(const std::string& what);
  std::string eta() const;

  std::ostream& out_;
  bool tty_;
  int total_;
  int done_ = 0;
  int timed_ = 0;  // runs finished in this session (the ETA's sample)
  double seconds_ = 0;
  std::chrono::steady_clock::time_point run_start_;
  bool bar_drawn_ = false;
};

}  // namespace streammoe::lab
