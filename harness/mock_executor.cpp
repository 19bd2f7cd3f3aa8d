#include "harness/mock_executor.h"

#include <fstream>

#include "engine/util/npy.h"

namespace streammoe::lab {

std::string MockExecutor::flag(const Command& command, std::string_view name) {
  std::string wanted = "--" + std::string(name);
  for (size_t i = 0; i + 1 < command.argv.size(); ++i)
    if (command.argv[i] == wanted) return command.argv[i + 1];
  return "";
}

bool MockExecutor::has(const Command& command, std::string_view word) {
  for (const auto& a : command.argv)
    if (a == word) return true;
  return false;
}

nlohmann::json MockExecutor::engine_metrics(double decode_tok_s, int tokens) {
  nlohmann::json decode_ms = nlohmann::json::array();
  for (int i = 1; i < tokens; ++i) decode_ms.push_back(1000.0 / decode_tok_s);
  return {{"schema", 1},
          {"prompt_tokens", 8},
          {"generated_tokens", tokens},
          {"ttft_ms", 12.5},
          {"decode_tok_s", decode_tok_s},
          {"prefill_tok_s", 640.0},
          {"decode_ms", decode_ms},
          {"phase_ms_per_token",
           {{"attention", 0.1},
            {"linear_attention", 0.2},
            {"routing", 0.05},
            {"expert_io_wait", 500.0 / decode_tok_s},
            {"expert_compute", 400.0 / decode_tok_s},
            {"lm_head", 0.1},
            {"other", 0.05}}},
          {"expert_bytes_read_per_token", 1.5e6},
          // The engine's own count of expert bytes that came from the disk: a mock reads none, so
          // whatever else the machine reads meanwhile (the device counter) stays out of its runs.
          {"routing", {{"expert_io", {{"bytes_from_disk", 0}}}}},
          {"experts_loaded_per_token", 16.0},
          {"peak_rss_mb", 123.0},
          {"options", nlohmann::json::object()},
          {"build", {{"git_commit", "mock"}, {"build_type", "Release"}, {"flags", "-O2"}}},
          {"model", {{"path", "mock"}, {"model_type", "qwen3_5_moe_text"},
                     {"params_total", 1200000}, {"params_active", 300000}}},
          {"output_ids", {1, 2, 3}},
          {"output_text", "{\"a\": 1}"}};
}

std::string MockExecutor::eval_json(double kld_mean, double top1, double ppl, double ref_ppl) {
  nlohmann::json j = {{"tokens", 64},        {"ppl", ppl},
                      {"nll_mean", 2.0},     {"kld_mean", kld_mean},
                      {"kld_p50", kld_mean}, {"kld_p90", kld_mean * 2},
                      {"kld_p95", kld_mean * 3}, {"kld_p99", kld_mean * 5},
                      {"kld_max", kld_mean * 10}, {"top1_agree", top1},
                      {"ref_ppl", ref_ppl}};
  return j.dump();
}

MockReply MockExecutor::ok_reply(std::string stdout_text) {
  MockReply reply;
  reply.result.kind = ExitKind::kExited;
  reply.result.exit_code = 0;
  reply.result.stdout_text = std::move(stdout_text);
  return reply;
}

ExecResult MockExecutor::execute(const Command& command) {
  calls_.push_back(command);
  MockReply reply = responder_(command);
  std::string metrics_path = flag(command, "metrics-json");
  if (reply.metrics && !metrics_path.empty()) std::ofstream(metrics_path) << reply.metrics->dump();
  std::string logits_path = flag(command, "dump-logits");
  if (reply.result.ok() && !logits_path.empty()) {
    std::vector<int64_t> shape = {2, 3};
    std::vector<float> data = {0, 1, 2, 3, 4, 5};
    write_npy_f32(logits_path, shape, data);
  }
  return reply.result;
}

}  // namespace streammoe::lab
