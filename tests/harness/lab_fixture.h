#pragma once
// The fixture most lab tests share: a scratch project like the repository (make_project), the
// fixture switch list, an experiment file loaded from YAML, and runner options for the mock
// executor (a fake engine; builds and caches inside the project).
#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "harness/mock_executor.h"
#include "harness/runner.h"
#include "harness/spec.h"
#include "lab_test_util.h"
#include "tests/common/error_of.h"

namespace streammoe::lab::testing {

class LabProjectTest : public ::testing::Test {
 protected:
  void SetUp() override { make_project(dir_.path()); }

  // Writes `yaml` to experiments/e.yaml and loads it; derived models go under `models_dir`.
  ExperimentSpec load(const std::string& yaml, std::optional<std::filesystem::path> models_dir = {}) {
    write_text(dir_ / "experiments/e.yaml", yaml);
    return load_file(std::move(models_dir));
  }

  // Loads experiments/e.yaml as it is.
  ExperimentSpec load_file(std::optional<std::filesystem::path> models_dir = {}) {
    SpecOptions options;
    options.catalog = &catalog_;
    options.packed_models_dir = std::move(models_dir);
    return load_experiment(dir_ / "experiments/e.yaml", options);
  }

  // The lab's message for a file it refuses; "(no error)" when it loads.
  std::string load_error(const std::string& yaml) {
    return streammoe::testing::error_of([&] { load(yaml); });
  }

  RunnerOptions options() const {
    RunnerOptions o;
    o.engine = "/opt/fake/streammoe";
    o.source_dir = dir_.path();
    o.build_root = dir_ / "builds";
    o.cache_dir = dir_ / "cache";
    return o;
  }

  // The engine, mocked: synth writes a stamp, eval answers, generate runs at 100 tok/s; the
  // commands are kept.
  static MockExecutor mock_engine(std::vector<Command>& generates, std::vector<Command>& evals) {
    return MockExecutor([&](const Command& c) {
      if (c.argv[1] == "synth") {
        write_text(std::filesystem::path(MockExecutor::flag(c, "out")) / "streammoe.json", "{}");
        return MockExecutor::ok_reply();
      }
      if (c.argv[1] == "eval") {
        evals.push_back(c);
        return MockExecutor::ok_reply(MockExecutor::has(c, "--ref-logits")
                                          ? MockExecutor::eval_json(0.01, 0.95, 10.5, 10)
                                          : "");
      }
      generates.push_back(c);
      MockReply reply = MockExecutor::ok_reply();
      reply.metrics = MockExecutor::engine_metrics(100);
      return reply;
    });
  }

  TempDir dir_;
  SwitchCatalog catalog_ = fixture_catalog();
};

}  // namespace streammoe::lab::testing
