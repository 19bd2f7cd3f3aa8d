#pragma once
// An Executor that runs nothing: a test supplies a function from the command to a reply, and
// the mock plays the engine's side of the contract (writes --metrics-json, --dump-logits files,
// prints stdout), so the runner, store and verdicts are tested without a real program.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/executor.h"

namespace streammoe::lab {

struct MockReply {
  ExecResult result;                      // kind/exit code/stderr of the pretend run
  std::optional<nlohmann::json> metrics;  // written to the --metrics-json path when given
};

class MockExecutor final : public Executor {
 public:
  using Responder = std::function<MockReply(const Command&)>;
  explicit MockExecutor(Responder responder) : responder_(std::move(responder)) {}

  ExecResult execute(const Command& command) override;
  const std::vector<Command>& calls() const { return calls_; }

  // The value after --<name> in the command ("" when absent).
  static std::string flag(const Command& command, std::string_view name);
  static bool has(const Command& command, std::string_view word);
  // A metrics object shaped like the engine's, with the given decode speed.
  static nlohmann::json engine_metrics(double decode_tok_s, int tokens = 16);
  // The stdout of `eval --json`.
  static std::string eval_json(double kld_mean, double top1, double ppl, double ref_ppl);
  // A successful exit with the given stdout.
  static MockReply ok_reply(std::string stdout_text = {});

 private:
  Responder responder_;
  std::vector<Command> calls_;
};

}  // namespace streammoe::lab
