#pragma once
// Per-phase wall-clock accounting for one decode step (what --timing prints).
#include <array>
#include <chrono>
#include <string_view>

namespace streammoe {

enum class Phase : int {
  kAttention,
  kLinearAttention,
  kRouting,
  kExpertIoWait,
  kExpertCompute,
  kLmHead,
  kOther,
  kCount
};
inline constexpr std::array<std::string_view, static_cast<int>(Phase::kCount)> kPhaseNames = {
    "attention", "linear_attention", "routing", "expert_io_wait", "expert_compute", "lm_head", "other"};

struct PhaseTimes {
  std::array<double, static_cast<int>(Phase::kCount)> seconds{};
  void add(Phase p, double s) { seconds[static_cast<int>(p)] += s; }
  double get(Phase p) const { return seconds[static_cast<int>(p)]; }
  double total() const {
    double t = 0;
    for (double s : seconds) t += s;
    return t;
  }
};

// Adds the scope's duration to one phase; a null PhaseTimes makes it free.
class ScopedPhase {
 public:
  ScopedPhase(PhaseTimes* times, Phase phase) : times_(times), phase_(phase) {
    if (times_) start_ = std::chrono::steady_clock::now();
  }
  ~ScopedPhase() {
    if (times_)
      times_->add(phase_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  }
  ScopedPhase(const ScopedPhase&) = delete;
  ScopedPhase& operator=(const ScopedPhase&) = delete;

 private:
  PhaseTimes* times_;
  Phase phase_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace streammoe
