#include "harness/executor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <thread>

#include <fmt/format.h>

namespace streammoe::lab {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// A pipe whose ends close themselves.
struct Pipe {
  int read_end = -1;
  int write_end = -1;
  Pipe() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) == 0) {
      read_end = fds[0];
      write_end = fds[1];
    }
  }
  ~Pipe() {
    close_read();
    close_write();
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  bool valid() const { return read_end >= 0 && write_end >= 0; }
  void close_read() {
    if (read_end >= 0) ::close(read_end);
    read_end = -1;
  }
  void close_write() {
    if (write_end >= 0) ::close(write_end);
    write_end = -1;
  }
};

// What the child reports through the exec-status pipe when it cannot exec.
struct ChildFailure {
  int stage;  // 1 = join cgroup, 2 = chdir, 3 = exec
  int error;
};

// Only async-signal-safe calls between fork and exec.
[[noreturn]] void run_child(const std::vector<char*>& argv, const char* cgroup_procs,
                            const char* working_dir, pid_t parent, int stdout_fd, int stderr_fd,
                            int status_fd) {
  setpgid(0, 0);  // own process group: a timeout kills the engine and anything it started
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // a killed lab must not leave engines running
  if (getppid() != parent) _exit(127);
  auto report = [status_fd](int stage) {
    ChildFailure failure{stage, errno};
    [[maybe_unused]] ssize_t n = write(status_fd, &failure, sizeof failure);
    _exit(127);
  };
  if (cgroup_procs) {
    int fd = open(cgroup_procs, O_WRONLY | O_CLOEXEC);
    if (fd < 0) report(1);
    char digits[24];
    int len = 0;
    for (pid_t pid = getpid(); pid > 0; pid /= 10) digits[len++] = static_cast<char>('0' + pid % 10);
    char text[24];
    for (int i = 0; i < len; ++i) text[i] = digits[len - 1 - i];
    if (write(fd, text, len) != len) report(1);
    close(fd);
  }
  if (working_dir && chdir(working_dir) != 0) report(2);
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) dup2(devnull, STDIN_FILENO);
  dup2(stdout_fd, STDOUT_FILENO);
  dup2(stderr_fd, STDERR_FILENO);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGPIPE, SIG_DFL);
  execvp(argv[0], argv.data());
  report(3);
  _exit(127);  // not reached: report() exits
}

void append_limited(std::string& text, const char* data, size_t n, size_t limit, bool keep_tail) {
  text.append(data, n);
  if (text.size() > limit) {
    if (keep_tail) {
      text.erase(0, text.size() - limit);
    } else {
      text.resize(limit);
    }
  }
}

}  // namespace

std::string shell_join(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& arg : argv) {
    if (!out.empty()) out += ' ';
    bool plain = !arg.empty() && arg.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
                                                      "OPQRSTUVWXYZ0123456789-_./=:,+@%") ==
                                     std::string::npos;
    if (plain) {
      out += arg;
    } else {
      out += '\'';
      for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
      out += '\'';
    }
  }
  return out;
}

std::string describe(const ExecResult& result) {
  switch (result.kind) {
    case ExitKind::kExited:
      return fmt::format("exit {}", result.exit_code);
    case ExitKind::kSignaled:
      return fmt::format("signal {} ({})", result.signal, strsignal(result.signal));
    case ExitKind::kTimedOut:
      return "timeout";
    case ExitKind::kFailedToStart:
      return fmt::format("did not start: {}", result.error);
  }
  return "?";
}

ExecResult SubprocessExecutor::execute(const Command& command) {
  ExecResult result;
  auto start = Clock::now();
  if (command.argv.empty()) {
    result.kind = ExitKind::kFailedToStart;
    result.error = "empty command";
    return result;
  }
  // Everything the child needs is prepared before fork: it may not allocate.
  std::vector<std::string> args = command.argv;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string cgroup = command.cgroup_procs.string();
  std::string dir = command.working_dir.string();

  Pipe out, err, status;
  if (!out.valid() || !err.valid() || !status.valid()) {
    result.kind = ExitKind::kFailedToStart;
    result.error = fmt::format("pipe: {}", std::strerror(errno));
    return result;
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    result.kind = ExitKind::kFailedToStart;
    result.error = fmt::format("fork: {}", std::strerror(errno));
    return result;
  }
  if (pid == 0)
    run_child(argv, cgroup.empty() ? nullptr : cgroup.c_str(), dir.empty() ? nullptr : dir.c_str(),
              parent, out.write_end, err.write_end, status.write_end);
  setpgid(pid, pid);  // also here: whichever runs first wins, the group exists before any kill
  out.close_write();
  err.close_write();
  status.close_write();

  // The status pipe closes on a successful exec (O_CLOEXEC) or carries the failure.
  ChildFailure failure{};
  ssize_t got;
  do {
    got = read(status.read_end, &failure, sizeof failure);
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof failure)) {
    int wstatus = 0;
    waitpid(pid, &wstatus, 0);
    static const char* stages[] = {"", "cannot join cgroup", "cannot enter working directory",
                                   "cannot execute"};
    result.kind = ExitKind::kFailedToStart;
    result.error = fmt::format("{} {}: {}", stages[failure.stage],
                               failure.stage == 1 ? cgroup : command.argv[0],
                               std::strerror(failure.error));
    result.wall_ms = ms_since(start);
    return result;
  }

  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(command.timeout_s));
  bool timed_out = false;
  bool exited = false;
  int wstatus = 0;
  struct rusage usage {};
  std::optional<Clock::time_point> term_sent;
  pollfd fds[2] = {{out.read_end, POLLIN, 0}, {err.read_end, POLLIN, 0}};
  char buffer[65536];
  while (true) {
    if (!exited) {
      pid_t done = wait4(pid, &wstatus, WNOHANG, &usage);
      if (done == pid) exited = true;
    }
    bool open_pipes = fds[0].fd >= 0 || fds[1].fd >= 0;
    if (exited && !open_pipes) break;
    if (!timed_out && Clock::now() >= deadline) {
      timed_out = true;
      kill(-pid, SIGTERM);
      term_sent = Clock::now();
    }
    if (term_sent && ms_since(*term_sent) > kill_grace_s * 1000) {
      kill(-pid, SIGKILL);
      term_sent.reset();
    }
    if (!open_pipes) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    // Short waits: the loop also watches the deadline and the child's exit.
    int ready = poll(fds, 2, 20);
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        if (i == 0) {
          append_limited(result.stdout_text, buffer, n, stdout_limit_bytes, false);
        } else {
          append_limited(result.stderr_tail, buffer, n, stderr_tail_bytes, true);
        }
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        fds[i].fd = -1;  // EOF; the Pipe closes the descriptor
      }
    }
    // A grandchild may hold the pipes open after the child exits: stop reading once the child
    // is gone and nothing more is ready.
    if (exited && ready == 0) break;
  }
  kill(-pid, SIGKILL);  // leftovers of the group, if any
  result.wall_ms = ms_since(start);
  result.max_rss_kb = usage.ru_maxrss;
  if (timed_out) {
    result.kind = ExitKind::kTimedOut;
    if (WIFSIGNALED(wstatus)) result.signal = WTERMSIG(wstatus);
  } else if (WIFSIGNALED(wstatus)) {
    result.kind = ExitKind::kSignaled;
    result.signal = WTERMSIG(wstatus);
  } else {
    result.kind = ExitKind::kExited;
    result.exit_code = WEXITSTATUS(wstatus);
  }
  return result;
}

}  // namespace streammoe::lab
