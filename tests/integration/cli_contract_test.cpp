// The error contract of the `streammoe` command (README): exit 0 with every requested file
// complete, exit 1 with one `streammoe: error:` line for refused input or a failed run, exit 2
// with one such line for a command line that does not parse. Covers the review's findings 5
// (writes to a full disk passed), 7 (unbounded runs, no --prompt-file) and 9 (CLI11's own exit
// codes 104-109 and messages, a raw basic_filebuf error for --variant DIR, NaN sampler settings).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_test_util.h"
#include "tests/common/temp_dir.h"

namespace streammoe {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using cli_test::CommandResult;

CommandResult run(const std::string& args) { return cli_test::run_streammoe(args, cli_test::Capture::kStderr); }

void expect_one_line_error(const CommandResult& r, int exit_code, const std::string& must_contain) {
  EXPECT_EQ(r.exit_code, exit_code) << r.output;
  EXPECT_TRUE(r.output.starts_with("streammoe: error: ")) << r.output;
  EXPECT_THAT(r.output, HasSubstr(must_contain));
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
}

const std::string kTiny = " --model " + cli_test::kTiny.string();

TEST(CliContract, UsageErrorsExitTwoWithOneLine) {
  expect_one_line_error(run(""), 2, "A subcommand is required");
  expect_one_line_error(run("generate --ids 1"), 2, "--model is required");
  expect_one_line_error(run("generate" + kTiny + " --ids 1 --bogus"), 2, "--bogus");
  expect_one_line_error(run("generate" + kTiny + " --ids 1 --tokens 1e12"), 2, "--tokens");
  expect_one_line_error(run("eval" + kTiny + " --ids 1 --max-tokens many"), 2, "--max-tokens");
  expect_one_line_error(run("nosuchcommand"), 2, "nosuchcommand");
  const CommandResult help = cli_test::run_streammoe("generate --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.output, HasSubstr("--prompt-file"));
}

TEST(CliContract, RefusedSettingsExitOneWithOneLine) {
  expect_one_line_error(run("generate" + kTiny + " --ids 1 --temperature nan"), 1, "--temperature must be");
  expect_one_line_error(run("generate" + kTiny + " --ids 1 --temperature 1 --top-p nan"), 1, "--top-p must be");
  expect_one_line_error(run("generate" + kTiny + " --ids 1 --variant /tmp"), 1, "variant '/tmp': /tmp is not a file");
}

TEST(CliContract, OptionsCheckJudgesSwitchesAsARunWould) {
  const CommandResult ok = run("options --check threads=2 expert-cache=lru cache-entries=8");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_EQ(ok.output, "");
  expect_one_line_error(run("options --check threads=0"), 1, "--threads 0 out of range");
  expect_one_line_error(run("options --check cache-entries=8"), 1, "--expert-cache none");
  expect_one_line_error(run("options --check io=floppy"), 1, "floppy");
  expect_one_line_error(run("options --check readahead=off io=direct"), 1,
                        "--readahead off with --io direct");
  expect_one_line_error(run("options --check predict-k=6"), 1,
                        "--predict-k 6 sets how many experts");
  expect_one_line_error(run("options --check predict-k=-1 predictor=temporal"), 1,
                        "--predict-k -1 out of range");
  expect_one_line_error(run("options --check readahead=off expert-cache=lz4 cache-entries=8"), 1,
                        "--readahead off with --expert-cache lz4");
  expect_one_line_error(run("options --check threads"), 1, "'threads' is not NAME=VALUE");

  testing::TempDir dir("check-file");
  const fs::path sets = dir.path() / "sets.jsonl";
  std::ofstream(sets) << "{\"threads\": \"2\"}\n{\"threads\": 0}\n{}\n{\"io\": \"floppy\"}\n";
  const CommandResult file = cli_test::run_streammoe("options --check-file " + sets.string());
  EXPECT_EQ(file.exit_code, 0) << file.output;
  const std::vector<std::string> lines = {"ok", "--threads 0 out of range [1, 256]", "ok"};
  std::istringstream out(file.output);
  for (const std::string& expected : lines) {
    std::string line;
    ASSERT_TRUE(std::getline(out, line));
    EXPECT_EQ(line, expected);
  }
  std::string last;
  ASSERT_TRUE(std::getline(out, last));
  EXPECT_THAT(last, HasSubstr("floppy"));
  std::ofstream(sets) << "not json\n";
  expect_one_line_error(run("options --check-file " + sets.string()), 1, "sets.jsonl:1: not a JSON object");
}

TEST(CliContract, AFullDiskIsAnErrorForEveryFileWritten) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  for (const char* flag : {"--metrics-json", "--expert-stats", "--record-routing"})
    expect_one_line_error(run("generate" + kTiny + " --ids 1,2 --tokens 2 " + flag + " /dev/full"), 1,
                          "/dev/full: write failed");
  expect_one_line_error(run("eval" + kTiny + " --ids 1,2 --dump-logits /dev/full"), 1, "/dev/full: write failed");
  expect_one_line_error(run("eval" + kTiny + " --ids 1,2 --expert-stats /dev/full"), 1, "/dev/full: write failed");
}

// A file's own bytes quoted in an error (a non-UTF-8 tensor name) and newlines in a value are
// escaped: the error stays one printable line.
TEST(CliContract, ErrorsAreOnePrintableLine) {
  testing::TempDir dir("printable");
  fs::copy(cli_test::kSource / "tests/fixtures/models/q3moe_f32/config.json", dir / "config.json");
  const std::string header = "{\"bad\xff\": 1}";
  const uint64_t length = header.size();
  std::ofstream(dir / "model.safetensors", std::ios::binary)
      << std::string(reinterpret_cast<const char*>(&length), 8) << header;
  const CommandResult r = run("eval --model " + dir.path().string() + " --ids 1");
  expect_one_line_error(r, 1, "model.safetensors: malformed JSON header");
  EXPECT_THAT(r.output, HasSubstr("\\xff"));
  EXPECT_EQ(r.output.find('\xff'), std::string::npos);
  expect_one_line_error(run("eval" + kTiny + " --ids 1 --variant 'a\nb'"), 1, "variant 'a\\nb'");
}

class ContextLimit : public ::testing::Test {
 protected:
  // The q3moe fixture with a context of 8 positions.
  void SetUp() override {
    fs::copy(cli_test::kSource / "tests/fixtures/models/q3moe_f32", dir_.path() / "m");
    auto config = nlohmann::json::parse(cli_test::read_bytes(dir_.path() / "m/config.json"));
    config["max_position_embeddings"] = 8;
    std::ofstream(dir_.path() / "m/config.json") << config.dump();
  }
  std::string m() const { return " --model " + (dir_.path() / "m").string(); }
  testing::TempDir dir_{"context-limit"};
};

TEST_F(ContextLimit, PromptPlusTokensBeyondTheContextIsRefusedUnlessOverridden) {
  EXPECT_EQ(run("generate" + m() + " --ids 1,2,3 --tokens 5 --ignore-eos").exit_code, 0);
  expect_one_line_error(run("generate" + m() + " --ids 1,2,3 --tokens 6"), 1,
                        "3 prompt tokens + 6 new tokens exceed the model's context of 8 positions "
                        "(max_position_embeddings in config.json); --ignore-context-limit runs past it");
  EXPECT_EQ(run("generate" + m() + " --ids 1,2,3 --tokens 6 --ignore-context-limit").exit_code, 0);
  expect_one_line_error(run("generate" + m() + " --ids 1 --tokens 1000000000000"), 1, "exceed the model's context");
  expect_one_line_error(run("generate" + m() + " --ids 1 --tokens 9223372036854775807"), 1, "exceed the model's context");
  expect_one_line_error(run("eval" + m() + " --ids 1,2,3,4,5,6,7,8,9"), 1, "9 prompt tokens + 0 new tokens exceed");
  EXPECT_EQ(run("eval" + m() + " --ids 1,2,3,4,5,6,7,8,9 --ignore-context-limit").exit_code, 0);
  EXPECT_EQ(run("eval" + m() + " --ids 1,2,3,4,5,6,7,8").exit_code, 0);
}

TEST(CliContract, PromptFileGivesTheSameRunAsPrompt) {
  testing::TempDir dir("prompt-file");
  const std::string prompt = "def fib(n):\n    'it''s \"quoted\" $HOME `x`'";
  std::ofstream(dir / "p.txt", std::ios::binary) << prompt;
  const CommandResult from_file =
      cli_test::run_streammoe("generate" + kTiny + " --tokens 6 --print-ids --prompt-file " + (dir / "p.txt").string());
  ASSERT_EQ(from_file.exit_code, 0) << from_file.output;
  // The same text through argv, quoted for the shell by a file the shell reads.
  std::ofstream(dir / "run.sh") << "exec " << STREAMMOE_BIN_DIR << "/streammoe generate" << kTiny
                                << " --tokens 6 --print-ids --prompt \"$(cat " << (dir / "p.txt").string() << ")\"\n";
  FILE* pipe = popen(("sh " + (dir / "run.sh").string() + " 2>&1").c_str(), "r");
  std::string from_argv;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) from_argv.append(buffer, n);
  ASSERT_EQ(pclose(pipe), 0) << from_argv;
  EXPECT_EQ(from_file.output, from_argv);
  expect_one_line_error(run("generate" + kTiny + " --prompt x --prompt-file " + (dir / "p.txt").string()), 1,
                        "give exactly one of --prompt, --prompt-file or --ids");
  expect_one_line_error(run("generate" + kTiny + " --prompt-file " + (dir / "absent.txt").string()), 1,
                        "absent.txt: --prompt-file is not a readable file");
}

}  // namespace
}  // namespace streammoe
