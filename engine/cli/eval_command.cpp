// `streammoe eval`: teacher-forced logits over a token sequence (--ids or --text-file), written
// as .npy, and quality metrics against a reference (--ref-model or cached --ref-logits).
#include <fstream>
#include <iostream>
#include <sstream>

#include "engine/cli/common.h"
#include "engine/runtime/evaluator.h"
#include "engine/runtime/generator.h"
#include "engine/runtime/metrics.h"
#include "engine/util/error.h"
#include "engine/util/npy.h"

namespace streammoe::cli {
namespace {

struct EvalArgs {
  EngineArgs engine;
  std::string ids;
  std::string text_file;
  int64_t max_tokens = 0;
  std::string dump_logits;
  std::string ref_model;
  std::string ref_logits;
  bool json = false;
  bool ignore_context_limit = false;
};

std::vector<int32_t> eval_tokens(const EvalArgs& a) {
  std::vector<int32_t> ids;
  if (!a.ids.empty()) {
    ids = parse_ids(a.ids);
  } else {
    ids = load_tokenizer(a.engine.model).encode(read_text_file(a.text_file, "--text-file"), /*allow_special=*/false);
  }
  if (a.max_tokens > 0 && static_cast<int64_t>(ids.size()) > a.max_tokens) ids.resize(a.max_tokens);
  if (ids.empty()) fail("eval: no tokens to evaluate");
  return ids;
}

std::vector<float> reference_logits(const EvalArgs& a, std::span<const int32_t> ids, int64_t vocab) {
  if (!a.ref_logits.empty()) {
    NpyArray ref = read_npy(a.ref_logits);
    if (ref.shape.size() != 2 || ref.shape[0] != static_cast<int64_t>(ids.size()) || ref.shape[1] != vocab)
      fail("{}: reference logits have shape [{}], expected [{}, {}] (same text and --max-tokens?)",
           a.ref_logits, fmt::join(ref.shape, ", "), ids.size(), vocab);
    return std::move(ref.f32);
  }
  if (!a.ref_model.empty()) {
    Engine ref(a.ref_model, EngineOptions{});  // the reference runs with default switches (all K)
    if (ref.model().config().vocab_size != vocab)
      fail("{}: reference vocab {} differs from the model's {}", a.ref_model, ref.model().config().vocab_size, vocab);
    return teacher_forced_logits(ref.model(), ids);
  }
  return {};
}

void run_eval(const EvalArgs& a) {
  if (a.ids.empty() == a.text_file.empty()) fail("eval: give exactly one of --ids or --text-file");
  if (!a.ref_model.empty() && !a.ref_logits.empty()) fail("eval: give at most one of --ref-model or --ref-logits");
  auto engine = make_engine(a.engine);
  const EngineOptions& options = engine->options();
  const std::vector<int32_t> ids = eval_tokens(a);
  check_context(engine->model().config(), static_cast<int64_t>(ids.size()), 0, a.ignore_context_limit);
  const int64_t vocab = engine->model().config().vocab_size;
  const std::vector<float> logits = teacher_forced_logits(
      engine->model(), ids, [&](int64_t tokens) { engine->observe_step(tokens); }, options.prefill_chunk);
  engine->finish();
  if (!a.dump_logits.empty()) {
    const int64_t shape[] = {static_cast<int64_t>(ids.size()), vocab};
    write_npy_f32(a.dump_logits, shape, logits);
  }
  const std::vector<float> ref = reference_logits(a, ids, vocab);
  const QualityStats q = compute_quality(logits, ref, ids, vocab);
  if (a.json) {
    nlohmann::json j = {{"tokens", q.tokens},
                        {"ppl", q.ppl},
                        {"nll_mean", q.nll_mean},
                        {"non_finite_logits", q.non_finite_logits},
                        {"options", options.to_json()},
                        {"build", build_info_json()}};
    if (q.has_reference) {
      j.update({{"ref_ppl", q.ref_ppl}, {"kld_mean", q.kld_mean}, {"kld_p50", q.kld_p50}, {"kld_p90", q.kld_p90},
                {"kld_p95", q.kld_p95}, {"kld_p99", q.kld_p99}, {"kld_max", q.kld_max}, {"top1_agree", q.top1_agree},
                {"non_finite_ref_logits", q.non_finite_ref_logits}});
    }
    std::cout << j.dump() << "\n";
  } else {
    std::cout << fmt::format("tokens {}  ppl {:.4f}", q.tokens, q.ppl);
    if (q.has_reference)
      std::cout << fmt::format("  ref_ppl {:.4f}  kld_mean {:.6f}  kld_p99 {:.6f}  top1_agree {:.4f}", q.ref_ppl,
                               q.kld_mean, q.kld_p99, q.top1_agree);
    if (q.non_finite_ref_logits > 0) std::cout << fmt::format("  non_finite_ref_logits {}", q.non_finite_ref_logits);
    std::cout << "\n";
  }
}

}  // namespace

void register_eval(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand("eval", "teacher-forced logits and quality metrics over a token sequence");
  add_engine_args(*cmd, args->engine);
  cmd->add_option("--ids", args->ids, "comma-separated token ids, e.g. 5,17,3");
  cmd->add_option("--text-file", args->text_file, "text to tokenise with the model's tokenizer.json");
  cmd->add_option("--max-tokens", args->max_tokens, "evaluate at most N tokens (0: all)");
  cmd->add_option("--dump-logits", args->dump_logits, "write logits as .npy float32 [T, vocab]");
  cmd->add_option("--ref-model", args->ref_model, "reference model folder (unquantised) for KL / top-1");
  cmd->add_option("--ref-logits", args->ref_logits, "cached reference logits .npy [T, vocab]");
  cmd->add_flag("--json", args->json, "print one JSON object");
  cmd->add_flag("--ignore-context-limit", args->ignore_context_limit,
                "allow more tokens than the model's max_position_embeddings (2^20 when it gives none)");
  cmd->callback([args] { run_eval(*args); });
}

}  // namespace streammoe::cli
