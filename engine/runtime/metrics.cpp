#include "engine/runtime/metrics.h"

#include <sys/resource.h>

#include "build_info.h"
#include "engine/ops/isa.h"

namespace streammoe {

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

// avx2: whether the build compiled the AVX2 kernels; kernel_isa / int8_kernel_isa: the instruction
// sets this run's f32 and int8 kernels (--matvec) use, chosen at run time from what the build has
// and this CPU runs (ops/isa.h).
nlohmann::json build_info_json() {
  return {{"git_commit", build::kGitCommit},
          {"build_type", build::kBuildType},
          {"flags", build::kFlags},
          {"avx2", build::kAvx2},
          {"kernel_isa", std::string(enum_name(best_kernel_isa()))},
          {"int8_kernel_isa", std::string(enum_name(best_int8_kernel_isa()))}};
}

// Each named phase's ms and "other", the rest of total_ms, all divided by `steps` (0 when there
// were none).
static nlohmann::json phase_ms(const PhaseTimes& times, double total_ms, double steps) {
  nlohmann::json phases = nlohmann::json::object();
  double named_ms = 0.0;
  for (int p = 0; p < static_cast<int>(Phase::kCount); ++p) {
    if (static_cast<Phase>(p) == Phase::kOther) continue;
    const double ms = times.seconds[p] * 1000.0;
    named_ms += ms;
    phases[std::string(kPhaseNames[p])] = steps > 0 ? ms / steps : 0.0;
  }
  phases["other"] = steps > 0 ? std::max(0.0, total_ms - named_ms) / steps : 0.0;
  return phases;
}

nlohmann::json phase_ms_per_token(const GenerationResult& r) {
  double step_ms = 0.0;
  for (double ms : r.decode_ms) step_ms += ms;
  return phase_ms(r.decode_phases, step_ms, static_cast<double>(r.decode_ms.size()));
}

nlohmann::json prefill_phase_ms(const GenerationResult& r) { return phase_ms(r.prefill_phases, r.prefill_ms, 1.0); }

// Expert I/O counters are summed over the same steps as decode_ms (the first token, chosen from
// the prefill's logits, reads nothing).
static double per_decoded_token(const GenerationResult& r, uint64_t total) {
  return r.decode_ms.empty() ? 0.0 : static_cast<double>(total) / static_cast<double>(r.decode_ms.size());
}

nlohmann::json generation_metrics(const GenerationResult& r, const Model& model,
                                  const EngineOptions& options, const RunInfo& info) {
  const ModelConfig& c = model.config();
  return {
      {"schema", 1},
      {"prompt_tokens", info.prompt_tokens},
      {"generated_tokens", r.output_ids.size()},
      {"ttft_ms", r.ttft_ms},
      {"prefill_ms", r.prefill_ms},
      {"prefill_tok_s", r.prefill_tok_s(info.prompt_tokens)},
      {"decode_tok_s", r.decode_tok_s()},
      {"decode_ms", r.decode_ms},
      {"phase_ms_per_token", phase_ms_per_token(r)},
      {"prefill",
       {{"phase_ms", prefill_phase_ms(r)},
        {"chunk", options.prefill_chunk},
        {"expert_bytes_read", r.prefill_expert_bytes},
        {"experts_loaded", r.prefill_experts_loaded},
        {"distinct_experts_routed", r.prefill_distinct_experts}}},
      {"expert_bytes_read_per_token", per_decoded_token(r, r.decode_expert_bytes)},
      {"experts_loaded_per_token", per_decoded_token(r, r.decode_experts_loaded)},
      {"peak_rss_mb", peak_rss_mb()},
      {"options", options.to_json()},
      {"build", build_info_json()},
      {"model",
       {{"path", info.model_path},
        {"model_type", c.model_type},
        {"params_total", model.params_total()},
        {"params_active", model.params_active()}}},
      {"output_ids", r.output_ids},
      {"output_text", info.output_text},
  };
}

}  // namespace streammoe
