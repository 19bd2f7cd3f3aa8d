// `streammoe generate`: prefill a prompt, then decode N tokens (greedy unless --temperature),
// printing text (or ids), with optional per-phase timing and a metrics JSON file.
#include <fstream>
#include <iostream>

#include "engine/cli/common.h"
#include "engine/runtime/generator.h"
#include "engine/runtime/metrics.h"
#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/stream_decoder.h"
#include "engine/util/error.h"
#include "engine/util/output_file.h"

namespace streammoe::cli {
namespace {

struct GenerateArgs {
  EngineArgs engine;
  std::string prompt;
  std::string prompt_file;
  std::string ids;
  bool chat = false;
  int64_t tokens = 32;
  SamplerConfig sampler;
  bool print_ids = false;
  bool timing = false;
  bool ignore_eos = false;
  bool ignore_context_limit = false;
  std::string metrics_json;
};

void print_timing(const GenerationResult& r, size_t prompt_tokens) {
  std::cerr << fmt::format("prompt {} tokens: prefill {:.1f} ms ({:.2f} tok/s), ttft {:.1f} ms\n", prompt_tokens,
                           r.prefill_ms, r.prefill_tok_s(prompt_tokens), r.ttft_ms);
  std::cerr << "prefill ms:";
  const nlohmann::json prefill_phases = prefill_phase_ms(r);
  for (const auto& [name, ms] : prefill_phases.items()) std::cerr << fmt::format("  {} {:.1f}", name, ms.get<double>());
  std::cerr << fmt::format("\nprefill experts: {} distinct routed (per layer and chunk), {} fetched, {:.3f} GB read\n",
                           r.prefill_distinct_experts, r.prefill_experts_loaded, r.prefill_expert_bytes / 1e9);
  std::cerr << fmt::format("decode {} tokens: {:.2f} tok/s\n", r.decode_ms.size(), r.decode_tok_s());
  std::cerr << "per-token ms:";
  const nlohmann::json phases = phase_ms_per_token(r);
  for (const auto& [name, ms] : phases.items()) std::cerr << fmt::format("  {} {:.3f}", name, ms.get<double>());
  std::cerr << "\n";
}

void run_generate(const GenerateArgs& a) {
  if (a.prompt.empty() + a.prompt_file.empty() + a.ids.empty() != 2)
    fail("generate: give exactly one of --prompt, --prompt-file or --ids");
  if (a.tokens < 1) fail("--tokens must be >= 1, got {}", a.tokens);
  auto engine = make_engine(a.engine);
  Model* model = &engine->model();
  std::optional<Tokenizer> tokenizer;
  GenerationRequest req;
  if (a.ids.empty()) {
    const std::string prompt = a.prompt_file.empty() ? a.prompt : read_text_file(a.prompt_file, "--prompt-file");
    tokenizer = load_tokenizer(a.engine.model);
    std::string text = prompt;
    if (a.chat) {
      const ChatMessage messages[] = {{"user", prompt}};
      text = apply_chat_template(messages, /*add_generation_prompt=*/true);
    }
    req.prompt = tokenizer->encode(text);
  } else {
    req.prompt = parse_ids(a.ids);
  }
  check_context(model->config(), static_cast<int64_t>(req.prompt.size()), a.tokens, a.ignore_context_limit);
  req.max_new_tokens = a.tokens;
  req.stop_at_eos = !a.ignore_eos;
  req.after_step = [&engine](int64_t tokens) { engine->observe_step(tokens); };
  req.prefill_chunk = engine->options().prefill_chunk;
  std::optional<StreamDecoder> stream;
  if (!a.print_ids && tokenizer) {
    stream.emplace(*tokenizer);
    req.on_token = [&stream](int32_t id) { std::cout << stream->push(id) << std::flush; };
  }
  Sampler sampler(a.sampler);
  ModelState state = model->new_state();
  GenerationResult result = generate(*model, state, req, sampler);
  engine->finish();
  std::string output_text = tokenizer ? tokenizer->decode(result.output_ids) : "";
  if (stream) std::cout << stream->finish();
  if (a.print_ids || !tokenizer) {
    std::string line;
    for (int32_t id : result.output_ids) line += (line.empty() ? "" : ",") + std::to_string(id);
    std::cout << line;
  }
  std::cout << std::endl;
  if (a.timing) print_timing(result, req.prompt.size());
  if (!a.metrics_json.empty()) {
    RunInfo info{a.engine.model, req.prompt.size(), output_text};
    nlohmann::json metrics = generation_metrics(result, *model, engine->options(), info);
    metrics["routing"] = engine->telemetry();
    write_file(a.metrics_json, metrics.dump(2) + "\n");
  }
}

}  // namespace

void register_generate(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand("generate", "generate text from a prompt");
  add_engine_args(*cmd, args->engine);
  cmd->add_option("--prompt", args->prompt, "prompt text (tokenised with the model's tokenizer.json)");
  cmd->add_option("--prompt-file", args->prompt_file, "read the prompt text from FILE (for prompts too long for argv)");
  cmd->add_option("--ids", args->ids, "prompt as comma-separated token ids");
  cmd->add_flag("--chat", args->chat, "wrap the prompt in the Qwen chat template");
  cmd->add_option("--tokens", args->tokens, "tokens to generate")->capture_default_str();
  cmd->add_option("--temperature", args->sampler.temperature, "sampling temperature (0: greedy)")->capture_default_str();
  cmd->add_option("--top-p", args->sampler.top_p, "nucleus sampling mass")->capture_default_str();
  cmd->add_option("--seed", args->sampler.seed, "sampling seed")->capture_default_str();
  cmd->add_flag("--print-ids", args->print_ids, "print token ids instead of text");
  cmd->add_flag("--ignore-eos", args->ignore_eos, "keep generating after an end-of-sequence token");
  cmd->add_flag("--ignore-context-limit", args->ignore_context_limit,
                "allow prompt + --tokens beyond the model's max_position_embeddings (2^20 when it gives none)");
  cmd->add_flag("--timing", args->timing, "print per-phase time per token on stderr");
  cmd->add_option("--metrics-json", args->metrics_json, "write run metrics as one JSON object");
  cmd->callback([args] { run_generate(*args); });
}

}  // namespace streammoe::cli
