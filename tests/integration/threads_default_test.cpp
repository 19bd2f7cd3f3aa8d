// --threads defaults to the number of cores (std::thread::hardware_concurrency, at least 1), and
// every place that reports the options reports that number: `options --json`, the help text, and
// the options block of --metrics-json and of `eval --json`. An explicit value still wins.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli_test_util.h"
#include "engine/runtime/options.h"
#include "tests/common/temp_dir.h"

namespace streammoe {
namespace {

using namespace cli_test;
using ::testing::HasSubstr;

int64_t cores() { return std::max<int64_t>(1, std::thread::hardware_concurrency()); }

TEST(ThreadsDefault, IsTheNumberOfCores) {
  EXPECT_EQ(EngineOptions{}.threads, cores());
  EXPECT_EQ(EngineOptions{}.to_json()["threads"], cores());
  EngineOptions one;
  one.set("threads", "1");
  EXPECT_EQ(one.to_json()["threads"], 1);
}

TEST(ThreadsDefault, OptionsJsonAndHelpStateIt) {
  const CommandResult r = run_streammoe("options --json", Capture::kBoth);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  const auto it = std::find_if(j.begin(), j.end(), [](const auto& d) { return d["name"] == "threads"; });
  ASSERT_NE(it, j.end());
  EXPECT_EQ((*it)["default"], std::to_string(cores()));
  EXPECT_THAT((*it)["help"].get<std::string>(), HasSubstr("number of cores"));
  const CommandResult help = run_streammoe("generate --help", Capture::kBoth);
  EXPECT_THAT(help.output, HasSubstr("[default: " + std::to_string(cores()) + "]"));
}

TEST(ThreadsDefault, ResultsRecordTheNumberUsed) {
  testing::TempDir dir("threads-default");
  const std::string model = " --model " + kTiny.string() + " --ids 5,17,3";
  ASSERT_EQ(run_streammoe("generate" + model + " --tokens 2 --metrics-json " + (dir / "m.json").string()).exit_code, 0);
  std::ifstream in(dir / "m.json");
  EXPECT_EQ(nlohmann::json::parse(in)["options"]["threads"], cores());
  ASSERT_EQ(run_streammoe("generate" + model + " --tokens 2 --threads 1 --metrics-json " + (dir / "m1.json").string())
                .exit_code,
            0);
  std::ifstream in1(dir / "m1.json");
  EXPECT_EQ(nlohmann::json::parse(in1)["options"]["threads"], 1);
  const CommandResult eval = run_streammoe("eval" + model + " --json", Capture::kBoth);
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  EXPECT_EQ(nlohmann::json::parse(eval.output.substr(eval.output.find('{')))["options"]["threads"], cores());
}

}  // namespace
}  // namespace streammoe
