#include "engine/runtime/generator.h"

#include <algorithm>
#include <chrono>

#include "engine/util/error.h"

namespace streammoe {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

}  // namespace

double GenerationResult::decode_tok_s() const {
  double total = 0.0;
  for (double ms : decode_ms) total += ms;
  return total > 0.0 ? 1000.0 * static_cast<double>(decode_ms.size()) / total : 0.0;
}

double GenerationResult::prefill_tok_s(size_t prompt_tokens) const {
  return prefill_ms > 0.0 ? 1000.0 * static_cast<double>(prompt_tokens) / prefill_ms : 0.0;
}

int64_t context_limit(const ModelConfig& c) {
  return c.max_position_embeddings > 0 ? c.max_position_embeddings : kDefaultContextLimit;
}

void check_context(const ModelConfig& c, int64_t prompt_tokens, int64_t new_tokens, bool ignore_limit) {
  if (ignore_limit) return;
  const int64_t limit = context_limit(c);
  // Compared without adding, so --tokens near 2^63 cannot overflow the sum.
  if (prompt_tokens > limit || new_tokens > limit - prompt_tokens)
    fail("{} prompt tokens + {} new tokens exceed the model's context of {} positions ({}); "
         "--ignore-context-limit runs past it",
         prompt_tokens, new_tokens, limit,
         c.max_position_embeddings > 0 ? "max_position_embeddings in config.json"
                                       : "config.json gives no max_position_embeddings: the engine's default");
}

GenerationResult generate(Model& model, ModelState& state, const GenerationRequest& req, Sampler& sampler) {
  if (req.prompt.empty()) fail("generate: the prompt has no tokens");
  const auto& eos = model.config().eos_token_ids;
  std::vector<float> logits(model.config().vocab_size);
  GenerationResult result;
  const auto start = Clock::now();
  const std::span<const int32_t> prompt(req.prompt);
  const size_t chunk = static_cast<size_t>(std::max<int64_t>(req.prefill_chunk, 1));
  const ExpertIoStats io_start = model.expert_io_stats();
  const int64_t distinct_start = model.distinct_experts_routed();
  for (size_t first = 0; first < prompt.size(); first += chunk) {
    const std::span<const int32_t> tokens = prompt.subspan(first, std::min(chunk, prompt.size() - first));
    const bool last = first + tokens.size() == prompt.size();  // only its logits are used
    model.forward(state, tokens, last ? std::span<float>(logits) : std::span<float>(), &result.prefill_phases);
    if (req.after_step) req.after_step(static_cast<int64_t>(tokens.size()));
  }
  result.prefill_ms = ms_since(start);
  result.prefill_expert_bytes = model.expert_io_stats().bytes_read - io_start.bytes_read;
  result.prefill_experts_loaded = model.expert_io_stats().experts_loaded - io_start.experts_loaded;
  result.prefill_distinct_experts = static_cast<uint64_t>(model.distinct_experts_routed() - distinct_start);
  for (int64_t i = 0; i < req.max_new_tokens; ++i) {
    const auto step_start = Clock::now();
    if (i > 0) {
      const ExpertIoStats io_before = model.expert_io_stats();
      model.forward(state, result.output_ids.back(), logits, &result.decode_phases);
      result.decode_expert_bytes += model.expert_io_stats().bytes_read - io_before.bytes_read;
      result.decode_experts_loaded += model.expert_io_stats().experts_loaded - io_before.experts_loaded;
      if (req.after_step) req.after_step(1);
    }
    const int32_t next = sampler.next(logits);
    if (i == 0) result.ttft_ms = ms_since(start);
    else result.decode_ms.push_back(ms_since(step_start));
    result.output_ids.push_back(next);
    if (req.on_token) req.on_token(next);
    if (req.stop_at_eos && std::find(eos.begin(), eos.end(), next) != eos.end()) {
      result.stopped_at_eos = true;
      break;
    }
  }
  return result;
}

}  // namespace streammoe
