#include "harness/progress.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace streammoe::lab {

Progress::Progress(std::ostream& out, bool tty, int total) : out_(out), tty_(tty), total_(total) {}

std::string Progress::clock_text(double seconds) {
  long s = std::lround(std::max(0.0, seconds));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

std::string Progress::eta() const {
  if (timed_ == 0) return "ETA --:--";
  return "ETA " + clock_text(seconds_ / timed_ * (total_ - done_));
}

void Progress::draw(const std::string& what) {
  constexpr int kWidth = 24;
  int filled = total_ > 0 ? done_ * kWidth / total_ : kWidth;
  std::string bar(filled, '#');
  bar.append(kWidth - filled, '-');
  // \r + clear-to-end redraws in place without scrolling.
  out_ << fmt::format("\r\x1b[2K[{}] {}/{}  {}  {}", bar, done_, total_, what, eta()) << std::flush;
  bar_drawn_ = true;
}

void Progress::skip(int runs) {
  done_ += runs;
  if (runs > 0) note(fmt::format("{} runs already recorded, skipped", runs));
}

void Progress::start(const std::string& what) {
  run_start_ = std::chrono::steady_clock::now();
  if (tty_) draw(what);
}

void Progress::finish(const std::string& what, const std::string& outcome) {
  seconds_ +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start_).count();
  ++timed_;
  ++done_;
  if (tty_) {
    draw(what + "  " + outcome);
  } else {
    out_ << fmt::format("[{}/{}] {}  {}  ({})\n", done_, total_, what, outcome, eta())
         << std::flush;
  }
}

void Progress::note(const std::string& line) {
  if (tty_ && bar_drawn_) out_ << "\r\x1b[2K";
  out_ << line << "\n" << std::flush;
  bar_drawn_ = false;
}

void Progress::close() {
  if (tty_ && bar_drawn_) out_ << "\n" << std::flush;
  bar_drawn_ = false;
}

}  // namespace streammoe::lab
