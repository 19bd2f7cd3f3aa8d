#pragma once
// How the lab runs a program: an interface with one method, a real subprocess executor (timeout,
// process group, cgroup placement, stderr tail), and the mock used by tests (mock_executor.h).
#include <filesystem>
#include <string>
#include <vector>

namespace streammoe::lab {

struct Command {
  std::vector<std::string> argv;
  double timeout_s = 600;
  // cgroup.procs of a memory cgroup the child joins before exec (empty = stay where we are).
  std::filesystem::path cgroup_procs;
  std::filesystem::path working_dir;  // empty = inherit
};

enum class ExitKind { kExited, kSignaled, kTimedOut, kFailedToStart };

struct ExecResult {
  ExitKind kind = ExitKind::kExited;
  int exit_code = -1;  // when kExited
  int signal = 0;      // when kSignaled (or the signal that ended a timed-out child)
  double wall_ms = 0;
  long max_rss_kb = 0;  // from wait4, 0 when unknown
  std::string stdout_text;
  std::string stderr_tail;  // the last few KiB: where the one-line error of a failed run is
  std::string error;        // why it did not start
  bool ok() const { return kind == ExitKind::kExited && exit_code == 0; }
};

class Executor {
 public:
  virtual ~Executor() = default;
  virtual ExecResult execute(const Command& command) = 0;
};

class SubprocessExecutor final : public Executor {
 public:
  ExecResult execute(const Command& command) override;

  size_t stderr_tail_bytes = 4096;
  size_t stdout_limit_bytes = 64u << 20;
  double kill_grace_s = 2.0;  // SIGTERM, then SIGKILL after this
};

// The argv as a shell command line (for the record and for error messages).
std::string shell_join(const std::vector<std::string>& argv);

// One-word description of how a run ended: "exit 1", "signal 11 (SIGSEGV)", "timeout".
std::string describe(const ExecResult& result);

}  // namespace streammoe::lab
