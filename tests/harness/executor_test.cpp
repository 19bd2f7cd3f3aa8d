// The subprocess executor with real programs: exit codes, signals, timeouts (also when a
// grandchild holds the pipes), start failures, the stderr tail, and placement in a memory
// cgroup that the kernel enforces (skipped where no cgroup can be created).
#include "harness/executor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>

#include "harness/cgroup.h"

namespace streammoe::lab {
namespace {

using ::testing::HasSubstr;

ExecResult sh(const std::string& script, double timeout_s = 30) {
  SubprocessExecutor executor;
  Command command;
  command.argv = {"/bin/sh", "-c", script};
  command.timeout_s = timeout_s;
  return executor.execute(command);
}

TEST(SubprocessExecutor, ExitCodeStdoutAndStderr) {
  ExecResult r = sh("echo out; echo err >&2; exit 3");
  EXPECT_EQ(r.kind, ExitKind::kExited);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.stdout_text, "out\n");
  EXPECT_EQ(r.stderr_tail, "err\n");
  EXPECT_EQ(describe(r), "exit 3");
  EXPECT_TRUE(sh("true").ok());
}

TEST(SubprocessExecutor, Signal) {
  ExecResult r = sh("kill -SEGV $$");
  EXPECT_EQ(r.kind, ExitKind::kSignaled);
  EXPECT_EQ(r.signal, SIGSEGV);
  EXPECT_THAT(describe(r), HasSubstr("signal 11"));
}

TEST(SubprocessExecutor, TimeoutKillsTheWholeGroup) {
  // The shell's background sleep keeps the pipes open: the executor must not wait for it.
  ExecResult r = sh("sleep 30 & sleep 30", 0.3);
  EXPECT_EQ(r.kind, ExitKind::kTimedOut);
  EXPECT_LT(r.wall_ms, 5000);
  EXPECT_EQ(describe(r), "timeout");
}

TEST(SubprocessExecutor, ExitedChildWithLingeringGrandchildReturnsPromptly) {
  ExecResult r = sh("sleep 30 & echo started", 20);
  EXPECT_EQ(r.kind, ExitKind::kExited);
  EXPECT_EQ(r.stdout_text, "started\n");
  EXPECT_LT(r.wall_ms, 5000);
}

TEST(SubprocessExecutor, MissingProgramDoesNotStart) {
  SubprocessExecutor executor;
  Command command;
  command.argv = {"/nonexistent/streammoe", "generate"};
  ExecResult r = executor.execute(command);
  EXPECT_EQ(r.kind, ExitKind::kFailedToStart);
  EXPECT_THAT(r.error, HasSubstr("cannot execute /nonexistent/streammoe: No such file"));
}

TEST(SubprocessExecutor, StderrKeepsOnlyTheTail) {
  ExecResult r = sh("i=0; while [ $i -lt 2000 ]; do echo \"line $i\" >&2; i=$((i+1)); done");
  EXPECT_EQ(r.stderr_tail.size(), 4096u);
  EXPECT_THAT(r.stderr_tail, ::testing::EndsWith("line 1999\n"));
}

TEST(SubprocessExecutor, ShellJoinQuotes) {
  EXPECT_EQ(shell_join({"a", "b c", "it's", "--x=1"}), "a 'b c' 'it'\\''s' --x=1");
}

TEST(MemoryCgroup, ReportsWhyWhenItCannotEnforce) {
  CgroupRoots nowhere{"/nonexistent/v2", "/nonexistent/v1", "/nonexistent/self"};
  MemoryCgroup group = MemoryCgroup::create(64 << 20, "streammoe-lab-test", nowhere);
  EXPECT_FALSE(group.enforced());
  EXPECT_EQ(group.mechanism(), "none");
  EXPECT_THAT(group.note(), HasSubstr("not enforced: no cgroup v2 memory controller"));
  EXPECT_TRUE(group.procs_file().empty());
}

TEST(MemoryCgroup, ChildJoinsTheCgroupAndTheLimitIsEnforced) {
  MemoryCgroup group =
      MemoryCgroup::create(64 << 20, "streammoe-lab-test-" + std::to_string(::getpid()));
  if (!group.enforced()) GTEST_SKIP() << "no memory cgroup here: " << group.note();
  SubprocessExecutor executor;
  Command command;
  command.cgroup_procs = group.procs_file();
  command.argv = {"/bin/sh", "-c", "cat /proc/self/cgroup"};
  ExecResult inside = executor.execute(command);
  ASSERT_TRUE(inside.ok()) << describe(inside) << inside.stderr_tail;
  EXPECT_THAT(inside.stdout_text, HasSubstr(group.dir().filename().string()));

  // tail -c must hold 200 MB in memory: the kernel kills it inside a 64 MiB cgroup.
  uint64_t before = group.oom_kills();
  command.argv = {"/bin/sh", "-c", "head -c 300000000 /dev/zero | tail -c 200000000 > /dev/null"};
  ExecResult hog = executor.execute(command);
  EXPECT_FALSE(hog.ok());
  EXPECT_GT(group.oom_kills(), before) << group.note();
}

}  // namespace
}  // namespace streammoe::lab
