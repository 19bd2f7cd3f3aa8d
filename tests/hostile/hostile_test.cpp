// The hostile-input corpus: every case of tests/fixtures/hostile/cases.jsonl (an adversarial
// review's bad models, flags, traces, logits files, experiment files and databases) must end
// with its one expected outcome: exit 1 and exactly one "<command>: error: ..." line on stderr
// naming the file and the problem (or exit 0 for the inputs that are legal), within 30 s, with no
// sanitizer report. scripts/test.sh runs it against the ASan + UBSan build.
//
// A case marked "xfail" (with its finding number) does not pass yet: it is skipped with what went
// wrong, and fails once it passes, so the mark is removed when the fix lands.
//
// `hostile_test --make-bases DIR` makes what cases share (a packed model, a routing trace, a lab
// database); ctest runs it first (fixture HostileBases).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <fstream>
#include <iterator>
#include <sstream>

#include "harness/executor.h"
#include "tests/common/temp_dir.h"
#include "tests/hostile/hostile_case.h"

namespace streammoe::hostile {
namespace {

namespace fs = std::filesystem;

Paths paths() {
  const char* bases = std::getenv("STREAMMOE_HOSTILE_BASES");
  return {STREAMMOE_SOURCE_DIR, STREAMMOE_BIN_DIR, fs::absolute(bases ? bases : STREAMMOE_HOSTILE_BASES)};
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

// A case that allocates what a file says must fail, not take the machine's memory: ASan builds
// stop at 3 GiB of RSS or one 3 GiB allocation (see main), others run under prlimit --as.
lab::ExecResult run(std::vector<std::string> argv, const fs::path& dir, double timeout_s) {
  if (argv[0].find('/') == std::string::npos) argv[0] = (paths().bin / argv[0]).string();
  if (!kSanitized) argv.insert(argv.begin(), {"prlimit", "--as=4294967296", "--"});
  lab::SubprocessExecutor executor;
  executor.stderr_tail_bytes = 1 << 20;
  executor.stdout_limit_bytes = 1 << 20;
  lab::Command command;
  command.argv = std::move(argv);
  command.timeout_s = timeout_s;
  command.working_dir = dir;
  return executor.execute(command);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

// What is wrong with the outcome; empty when the case passes.
std::vector<std::string> judge(const Case& c, const lab::ExecResult& r, const fs::path& dir,
                               const std::map<std::string, std::string>& before) {
  std::vector<std::string> problems;
  const std::vector<std::string> err = lines_of(r.stderr_tail);
  for (const std::string& line : err)
    if (line.find("runtime error:") != std::string::npos || line.find("Sanitizer") != std::string::npos) {
      problems.push_back("sanitizer report: " + line);
      break;
    }
  if (r.kind == lab::ExitKind::kTimedOut) {
    problems.push_back(fmt::format("hang: still running after {} s", c.timeout_s));
  } else if (r.kind != lab::ExitKind::kExited) {
    problems.push_back("ended by " + lab::describe(r));
  } else if (r.exit_code != c.exit_code) {
    problems.push_back(fmt::format("exit code {}, expected {}", r.exit_code, c.exit_code));
  }
  if (c.expect_error) {
    const std::string prefix = fs::path(c.argv[0].get<std::string>()).filename().string() + ": error: ";
    if (err.size() != 1) {
      problems.push_back(fmt::format("{} lines on stderr, expected one error line", err.size()));
    } else if (!err[0].starts_with(prefix)) {
      problems.push_back("the stderr line does not start with '" + prefix + "'");
    }
    for (const std::string& part : c.message)
      if (err.empty() || err[0].find(part) == std::string::npos)
        problems.push_back("the error line does not contain '" + part + "'");
  }
  for (const auto& [file, bytes] : before)
    if (read_file(dir / file) != bytes) problems.push_back(file + " was modified");
  for (const auto& [file, text] : c.file_lacks)
    if (read_file(dir / file).find(text) != std::string::npos)
      problems.push_back(file + " contains '" + text + "'");
  return problems;
}

class Hostile : public ::testing::TestWithParam<Case> {};

TEST_P(Hostile, HasItsOneExpectedOutcome) {
  const Case& c = GetParam();
  const testing::TempDir dir("hostile-" + c.name);
  materialise(c, paths(), dir.path());
  for (const auto& cmd : c.before) {
    std::vector<std::string> argv;
    for (const auto& arg : cmd) argv.push_back(substitute(arg, paths(), dir.path()));
    const lab::ExecResult r = run(argv, dir.path(), 300);
    ASSERT_TRUE(r.ok()) << "setup command " << lab::shell_join(argv) << ": " << lab::describe(r) << "\n"
                        << r.stderr_tail;
  }
  std::map<std::string, std::string> before;
  for (const auto& file : c.unchanged) before[file] = read_file(dir.path() / file);
  const std::vector<std::string> argv = expand_argv(c, paths(), dir.path());
  const lab::ExecResult r = run(argv, dir.path(), c.timeout_s);
  const std::vector<std::string> problems = judge(c, r, dir.path(), before);

  std::string report = fmt::format("case {} (cases.jsonl:{}): {}\n  cd {} && {}\n  {}, {:.1f} s\n", c.name, c.line,
                                   c.why, dir.path().string(), lab::shell_join(argv), lab::describe(r), r.wall_ms / 1000);
  for (const auto& p : problems) report += "  problem: " + p + "\n";
  report += "  stderr: " + r.stderr_tail.substr(0, 2000);
  if (!c.xfail.empty()) {
    if (problems.empty()) FAIL() << "passes now: remove its xfail mark (finding " << c.xfail << ")\n" << report;
    std::string what = problems.front();
    for (size_t i = 1; i < problems.size(); ++i) what += "; " + problems[i];
    GTEST_SKIP() << "expected failure (finding " << c.xfail << "): " << what << "\n  stderr: "
                 << r.stderr_tail.substr(0, 300);
  }
  EXPECT_TRUE(problems.empty()) << report;
}

std::vector<Case> all_cases() {
  return load_cases(fs::path(STREAMMOE_SOURCE_DIR) / "tests/fixtures/hostile/cases.jsonl");
}

INSTANTIATE_TEST_SUITE_P(Review, Hostile, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

// What cases share, made once per test run.
int make_bases(const fs::path& folder) {
  const fs::path bases = fs::absolute(folder);
  fs::remove_all(bases);
  fs::create_directories(bases);
  const Paths p{STREAMMOE_SOURCE_DIR, STREAMMOE_BIN_DIR, bases};
  const std::string tiny = (p.src / "models/tiny-qwen35moe").string();
  const std::vector<std::vector<std::string>> steps = {
      {"streammoe", "pack", "--hf", tiny, "--out", (bases / "p4").string(), "--bits", "4"},
      {"streammoe", "generate", "--model", tiny, "--ids", "1,2,3", "--tokens", "8", "--ignore-eos",
       "--record-routing", (bases / "trace.jsonl").string()},
      {"streammoe-lab", "run", (p.src / "tests/fixtures/hostile/lab/base.yaml").string(), "--db",
       (bases / "base.db").string(), "--root", p.src.string(), "-q"},
  };
  for (const auto& step : steps) {
    const lab::ExecResult r = run(step, bases, 600);
    if (!r.ok()) {
      std::fprintf(stderr, "%s: %s\n%s\n", lab::shell_join(step).c_str(), lab::describe(r).c_str(),
                   r.stderr_tail.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace streammoe::hostile

int main(int argc, char** argv) {
  const char* asan = std::getenv("ASAN_OPTIONS");
  const std::string limits = std::string(asan ? asan : "") + (asan && *asan ? ":" : "") +
                             "hard_rss_limit_mb=3072:max_allocation_size_mb=3072";
  setenv("ASAN_OPTIONS", limits.c_str(), 1);
  if (argc == 3 && std::string(argv[1]) == "--make-bases") return streammoe::hostile::make_bases(argv[2]);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
