#include "engine/convert/progress_bar.h"

#include <fmt/format.h>
#include <unistd.h>

namespace streammoe {

ProgressBar::ProgressBar(std::string label, uint64_t total_bytes, std::FILE* out)
    : label_(std::move(label)),
      total_(total_bytes),
      out_(out),
      terminal_(::isatty(::fileno(out)) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_ - std::chrono::seconds(1)) {}

void ProgressBar::update(uint64_t done_bytes, std::string_view stage) {
  done_ = done_bytes;
  const auto now = std::chrono::steady_clock::now();
  if (terminal_) {
    if (now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    draw(done_bytes, stage, false);
    return;
  }
  const int decile = total_ ? static_cast<int>(10 * done_bytes / total_) : 10;
  if (decile == last_decile_) return;
  last_decile_ = decile;
  draw(done_bytes, stage, false);
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  draw(done_, "done", true);
}

void ProgressBar::draw(uint64_t done, std::string_view stage, bool final_line) {
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double fraction = total_ ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
  // A rate over less than a second (a first small write) says nothing: shown as "--" until then.
  const bool timed = seconds >= 1.0 && done > 0;
  const double rate = timed ? static_cast<double>(done) / seconds : 0.0;
  const double eta = timed ? static_cast<double>(total_ - std::min(done, total_)) / rate : 0.0;
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(fraction * kWidth);
  const std::string bar = std::string(filled, '#') + std::string(kWidth - filled, '.');
  const std::string line = fmt::format(
      "{} [{}] {:5.1f}%  {:.2f}/{:.2f} GB  {} MB/s  {}  {}", label_, bar, 100.0 * fraction,
      done / 1e9, total_ / 1e9, timed ? fmt::format("{:.0f}", rate / 1e6) : "--",
      final_line ? fmt::format("{:.1f} s", seconds) : timed ? fmt::format("ETA {:.0f} s", eta) : "ETA --", stage);
  if (terminal_)
    fmt::print(out_, "\r{:<110}{}", line, final_line ? "\n" : "");
  else
    fmt::print(out_, "{}\n", line);
  std::fflush(out_);
}

}  // namespace streammoe
