#pragma once
// The generation loop: prefill the prompt in chunks of --prefill-chunk tokens, then decode, timing
// each phase.
// Decode tok/s counts only tokens generated after the first (the first is the prefill's output).
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "engine/models/model.h"
#include "engine/runtime/sampler.h"
#include "engine/util/phase_timer.h"

namespace streammoe {

struct GenerationResult {
  std::vector<int32_t> output_ids;
  double prefill_ms = 0.0;          // consuming the prompt
  double ttft_ms = 0.0;             // start -> first generated token chosen
  std::vector<double> decode_ms;    // one sample per token after the first
  PhaseTimes decode_phases;         // summed over decode steps
  uint64_t decode_expert_bytes = 0;     // read from expert files during decode steps
  uint64_t decode_experts_loaded = 0;   // experts fetched during decode steps
  PhaseTimes prefill_phases;        // summed over the prompt's forward passes
  uint64_t prefill_expert_bytes = 0;    // read from expert files while consuming the prompt
  uint64_t prefill_experts_loaded = 0;  // experts fetched while consuming the prompt
  // Distinct experts routed per MoE layer and prompt chunk, summed: the fewest fetches a chunked
  // prefill can make (each distinct expert once per chunk).
  uint64_t prefill_distinct_experts = 0;
  bool stopped_at_eos = false;

  double decode_tok_s() const;
  double prefill_tok_s(size_t prompt_tokens) const;
};

struct GenerationRequest {
  std::vector<int32_t> prompt;
  int64_t max_new_tokens = 16;
  bool stop_at_eos = true;
  std::function<void(int32_t)> on_token;  // streaming output (may be empty)
  std::function<void(int64_t tokens)> after_step;  // telemetry hook, after every forward (tokens it consumed)
  int64_t prefill_chunk = 1;             // prompt tokens per forward
};

GenerationResult generate(Model& model, ModelState& state, const GenerationRequest& request, Sampler& sampler);

// The most positions a run may use: config.json's max_position_embeddings (the trained context),
// or kDefaultContextLimit when it gives none.
inline constexpr int64_t kDefaultContextLimit = int64_t{1} << 20;
int64_t context_limit(const ModelConfig& config);
// Refuses, naming the limit and the override flag, a run of `prompt_tokens` + `new_tokens`
// positions beyond context_limit(), unless `ignore_limit` (--ignore-context-limit): past its
// trained context a model's output is unreliable, and an unbounded run never ends.
void check_context(const ModelConfig& config, int64_t prompt_tokens, int64_t new_tokens, bool ignore_limit);

}  // namespace streammoe
