#include "harness/run_record.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "harness/store_schema.h"

namespace streammoe::lab {

namespace {

std::optional<double> number_at(const nlohmann::json& j, const char* key) {
  if (j.is_object() && j.contains(key) && j[key].is_number()) return j[key].get<double>();
  return std::nullopt;
}

SqlValue real(std::optional<double> v) { return v ? SqlValue(*v) : SqlValue(); }
SqlValue integer(std::optional<double> v) {
  return v ? SqlValue(static_cast<int64_t>(std::llround(*v))) : SqlValue();
}
SqlValue text_at(const nlohmann::json& j, const char* key) {
  if (j.is_object() && j.contains(key) && j[key].is_string()) return j[key].get<std::string>();
  return SqlValue();
}

std::string last_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  auto last = text.rfind('\n');
  return last == std::string::npos ? text : text.substr(last + 1);
}

}  // namespace

double nonfinite_count(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("nonfinite")) return 0;
  const auto& v = j["nonfinite"];
  if (v.is_number()) return std::isfinite(v.get<double>()) ? v.get<double>() : 1;
  if (v.is_object() && v.contains("count") && v["count"].is_number()) return v["count"].get<double>();
  if (v.is_boolean()) return v.get<bool>() ? 1 : 0;
  return 0;
}

std::string classify(const ExecResult& result, bool oom_killed) {
  if (result.kind == ExitKind::kTimedOut) return "timeout";
  if (oom_killed) return "oom";
  if (result.kind == ExitKind::kSignaled) return "crash";
  if (!result.ok()) return "error";
  return "ok";
}

RunRecord judge_run(ExecResult result, bool oom_killed, std::string metrics_text,
                    const std::string& metrics_origin) {
  RunRecord record;
  record.status = classify(result, oom_killed);
  record.stderr_tail = result.stderr_tail;
  if (result.kind == ExitKind::kFailedToStart)
    record.stderr_tail = result.error + (record.stderr_tail.empty() ? "" : ": " + record.stderr_tail);
  record.result = std::move(result);
  if (record.status != "ok") return record;  // what it wrote before failing is not a measurement
  record.metrics_text = std::move(metrics_text);
  nlohmann::json metrics;
  try {
    metrics = nlohmann::json::parse(record.metrics_text);
    if (!metrics.is_object()) throw std::runtime_error("not a JSON object");
  } catch (const std::exception& e) {
    record.status = "error";
    record.stderr_tail += fmt::format("\n[lab] metrics ({}): {}", metrics_origin,
                                      record.metrics_text.empty() ? "missing or empty" : e.what());
    return record;
  }
  // A run whose numbers are NaN is a wrong answer, not a fast one.
  if (double bad = nonfinite_count(metrics); bad > 0) {
    record.status = "error";
    record.stderr_tail += fmt::format("\n[lab] the engine reported {:.0f} non-finite value{}",
                                      bad, bad == 1 ? "" : "s");
    return record;
  }
  record.metrics = std::move(metrics);
  return record;
}

std::string RunRecord::outcome() const {
  if (metrics) {
    auto tok_s = number_at(*metrics, "decode_tok_s");
    return tok_s ? fmt::format("{:.2f} tok/s", *tok_s) : "ok";
  }
  std::string tail = last_line(stderr_tail);
  return fmt::format("{} ({}){}", status, describe(result), tail.empty() ? "" : ": " + tail);
}

Fields metrics_fields(const nlohmann::json& m, const ExecResult& result) {
  Fields f;
  f.emplace_back("prompt_tokens", integer(number_at(m, "prompt_tokens")));
  f.emplace_back("generated_tokens", integer(number_at(m, "generated_tokens")));
  f.emplace_back("ttft_ms", real(number_at(m, "ttft_ms")));
  auto tok_s = number_at(m, "decode_tok_s");
  if (!tok_s && m.contains("decode_ms") && m["decode_ms"].is_array() && !m["decode_ms"].empty()) {
    // Older engines: derive the rate from the per-token samples.
    double total = 0;
    for (const auto& x : m["decode_ms"])
      if (x.is_number()) total += x.get<double>();
    if (total > 0) tok_s = 1000.0 * static_cast<double>(m["decode_ms"].size()) / total;
  }
  f.emplace_back("decode_tok_s", real(tok_s));
  f.emplace_back("prefill_tok_s", real(number_at(m, "prefill_tok_s")));
  const nlohmann::json phases = m.value("phase_ms_per_token", nlohmann::json::object());
  for (auto phase : phase_names()) {
    std::string key(phase);
    f.emplace_back(key + "_ms", real(number_at(phases, key.c_str())));
  }
  f.emplace_back("expert_bytes_read_per_token", real(number_at(m, "expert_bytes_read_per_token")));
  f.emplace_back("experts_loaded_per_token", real(number_at(m, "experts_loaded_per_token")));
  auto rss = number_at(m, "peak_rss_mb");
  if (!rss && result.max_rss_kb > 0) rss = result.max_rss_kb / 1024.0;  // from wait4
  f.emplace_back("peak_rss_mb", real(rss));
  const nlohmann::json model = m.value("model", nlohmann::json::object());
  f.emplace_back("params_total", integer(number_at(model, "params_total")));
  f.emplace_back("params_active", integer(number_at(model, "params_active")));
  f.emplace_back("model_type", text_at(model, "model_type"));
  const nlohmann::json build = m.value("build", nlohmann::json::object());
  f.emplace_back("engine_commit", text_at(build, "git_commit"));
  f.emplace_back("engine_build_type", text_at(build, "build_type"));
  f.emplace_back("engine_flags", text_at(build, "flags"));
  return f;
}

Fields telemetry_fields(const nlohmann::json& m, std::optional<uint64_t> disk_read_bytes,
                        double disk_gbps, double ram_gbps) {
  const nlohmann::json routing = m.value("routing", nlohmann::json::object());
  const nlohmann::json io = routing.value("expert_io", nlohmann::json::object());
  const nlohmann::json cache = routing.value("expert_cache", nlohmann::json::object());
  auto prompt = number_at(m, "prompt_tokens"), generated = number_at(m, "generated_tokens");
  // Forward passes: the engine counts them; else prompt + generated tokens.
  std::optional<double> tokens = number_at(routing, "routing_tokens");
  if (!tokens && prompt && generated) tokens = *prompt + *generated;
  auto per_token = number_at(m, "expert_bytes_read_per_token");
  auto tok_s = number_at(m, "decode_tok_s");

  std::optional<double> expert_bytes = number_at(io, "bytes_read");
  if (!expert_bytes && per_token && tokens) expert_bytes = *per_token * *tokens;
  std::optional<double> from_disk = number_at(io, "bytes_from_disk");
  if (!from_disk && disk_read_bytes) from_disk = static_cast<double>(*disk_read_bytes);
  std::optional<double> disk_per_token, cold_share, hit_rate, expert_gbps, roofline, share;
  if (from_disk && tokens && *tokens > 0) disk_per_token = *from_disk / *tokens;
  if (from_disk && expert_bytes && *expert_bytes > 0)
    cold_share = std::min(1.0, *from_disk / *expert_bytes);
  if (cache.value("kind", std::string("none")) != "none") hit_rate = number_at(cache, "hit_rate");
  if (per_token && tok_s) expert_gbps = *per_token * *tok_s / 1e9;
  if (per_token && disk_per_token && std::isfinite(disk_gbps) && disk_gbps > 0 &&
      std::isfinite(ram_gbps) && ram_gbps > 0) {
    double from_memory = std::max(0.0, *per_token - *disk_per_token);
    double seconds = *disk_per_token / (disk_gbps * 1e9) + from_memory / (ram_gbps * 1e9);
    if (seconds > 0) {
      roofline = 1 / seconds;
      if (tok_s) share = *tok_s / *roofline;
    }
  }
  // The predictor's scores mean something only when it predicted: none for kind none (the
  // engine writes 0 there) or a run too short for a prediction.
  const nlohmann::json predictor = routing.value("predictor", nlohmann::json::object());
  std::optional<double> precision, recall;
  if (predictor.value("kind", std::string("none")) != "none" && number_at(predictor, "predicted_experts").value_or(0) > 0) {
    precision = number_at(predictor, "precision");
    recall = number_at(predictor, "recall");
  }
  return {{"expert_bytes_read", real(expert_bytes)}, {"bytes_from_disk", real(from_disk)},
          {"disk_bytes_per_token", real(disk_per_token)}, {"cold_share", real(cold_share)},
          {"cache_hit_rate", real(hit_rate)}, {"expert_gbps", real(expert_gbps)},
          {"roofline_tok_s", real(roofline)}, {"roofline_share", real(share)},
          {"predictor_precision", real(precision)}, {"predictor_recall", real(recall)}};
}

}  // namespace streammoe::lab
