#include "harness/quality.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "engine/util/error.h"
#include "harness/hash.h"
#include "harness/json_validity.h"
#include "harness/run_record.h"
#include "engine/util/npy.h"

namespace streammoe::lab {

namespace fs = std::filesystem;

std::vector<std::string> switch_args(const std::map<std::string, std::string>& switches) {
  std::vector<std::string> args;
  for (const auto& [name, value] : switches) {
    args.push_back("--" + name);
    args.push_back(value);
  }
  return args;
}

std::vector<std::string> prompt_args(const std::string& flag, const std::string& value) {
  // "--prompt -x" would read as a missing value followed by a flag.
  if (!value.empty() && value[0] == '-') return {flag + "=" + value};
  return {flag, value};
}

namespace {

std::optional<double> number(const nlohmann::json& j, const char* key) {
  if (j.is_object() && j.contains(key) && j[key].is_number()) return j[key].get<double>();
  return std::nullopt;
}

SqlValue value(const std::optional<double>& v) {
  return v ? SqlValue(*v) : SqlValue(std::monostate{});
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string one_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  auto last = text.rfind('\n');
  return last == std::string::npos ? text : text.substr(last + 1);
}

// The evaluated sequence: a text file or token ids, cut to max_tokens.
std::vector<std::string> text_args(const QualitySpec& spec) {
  std::vector<std::string> args;
  if (spec.text_file.empty()) {
    args = {"--ids", spec.ids};
  } else {
    args = {"--text-file", spec.text_file.string()};
  }
  args.push_back("--max-tokens");
  args.push_back(std::to_string(spec.max_tokens));
  return args;
}

std::string failure_text(const ExecResult& r) {
  std::string tail = one_line(r.stderr_tail);
  return tail.empty() ? describe(r) : fmt::format("{}: {}", describe(r), tail);
}

}  // namespace

QualityResult QualityMeasurement::result() const {
  QualityResult r;
  r.ok = ok;
  r.error = error;
  r.kld_mean = number(eval, "kld_mean");
  r.kld_p99 = number(eval, "kld_p99");
  r.top1_agree = number(eval, "top1_agree");
  auto ppl = number(eval, "ppl"), ref_ppl = number(eval, "ref_ppl");
  if (ppl && ref_ppl && *ref_ppl > 0) r.ppl_ratio = *ppl / *ref_ppl;
  if (json_total > 0) r.json_validity = static_cast<double>(json_valid) / json_total;
  return r;
}

namespace {

// Token ids of a "1,2,3" list, cut to max_tokens (what `eval --ids ... --max-tokens` scores).
std::vector<int64_t> parse_ids(const std::string& text, int max_tokens) {
  std::vector<int64_t> ids;
  std::stringstream parts(text);
  for (std::string part; std::getline(parts, part, ',');)
    if (!part.empty()) ids.push_back(std::stoll(part));
  if (max_tokens > 0 && ids.size() > static_cast<size_t>(max_tokens)) ids.resize(max_tokens);
  return ids;
}

// Dumps larger than this are not kept in memory for the error bars (a 248k vocabulary at 1024
// tokens would be a gigabyte).
constexpr uint64_t kMaxLogitsBytes = 256ull << 20;

}  // namespace

Fields QualityMeasurement::fields() const {
  QualityResult r = result();
  Fields f = {{"status", std::string(ok ? "ok" : "error")},
              {"error", error.empty() ? SqlValue() : SqlValue(error)},
              {"ppl", value(number(eval, "ppl"))},
              {"ref_ppl", value(number(eval, "ref_ppl"))},
              {"ppl_ratio", value(r.ppl_ratio)},
              {"nll_mean", value(number(eval, "nll_mean"))},
              {"kld_mean", value(r.kld_mean)},
              {"kld_p50", value(number(eval, "kld_p50"))},
              {"kld_p90", value(number(eval, "kld_p90"))},
              {"kld_p95", value(number(eval, "kld_p95"))},
              {"kld_p99", value(r.kld_p99)},
              {"kld_max", value(number(eval, "kld_max"))},
              {"top1_agree", value(r.top1_agree)},
              {"json_validity", value(r.json_validity)},
              {"reference_logits", reference_logits.string()}};
  auto tokens = number(eval, "tokens");
  f.emplace_back("tokens", tokens ? SqlValue(static_cast<int64_t>(*tokens)) : SqlValue());
  auto bound = [](std::optional<Interval> ci, bool high) {
    if (!ci) return SqlValue();
    double v = high ? ci->high : ci->low;
    return std::isfinite(v) ? SqlValue(v) : SqlValue();
  };
  std::optional<Interval> kld, top1, ppl, json;
  if (intervals) {
    kld = intervals->kld_mean_ci;
    top1 = intervals->top1_agree_ci;
    ppl = intervals->ppl_ratio_ci;
  }
  if (json_total > 0) json = wilson_interval(json_valid, json_total);
  for (auto [name, ci] : {std::pair{"kld_mean", kld}, std::pair{"top1_agree", top1},
                          std::pair{"ppl_ratio", ppl}, std::pair{"json_validity", json}}) {
    f.emplace_back(std::string(name) + "_ci_low", bound(ci, false));
    f.emplace_back(std::string(name) + "_ci_high", bound(ci, true));
  }
  f.emplace_back("json_valid", json_total ? SqlValue(int64_t{json_valid}) : SqlValue());
  f.emplace_back("json_total", json_total ? SqlValue(int64_t{json_total}) : SqlValue());
  return f;
}

QualitySuite::QualitySuite(Executor& executor, fs::path cache_dir, ScratchFile& scratch)
    : executor_(executor), cache_dir_(std::move(cache_dir)), scratch_(scratch) {}

std::string QualitySuite::reference_key(const QualitySpec& spec, const QualityRun& reference) {
  StableHash hash;
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(reference.model, ec);
       !ec && it != fs::end(it); it.increment(ec))
    if (it->is_regular_file(ec)) files.push_back(it->path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    auto size = fs::file_size(f, ec);
    auto mtime = fs::last_write_time(f, ec).time_since_epoch().count();
    hash.add(f.lexically_relative(reference.model).string())
        .add(std::to_string(size))
        .add(std::to_string(mtime));
  }
  hash.add(spec.text_file.empty() ? "ids:" + spec.ids : read_file(spec.text_file))
      .add(std::to_string(spec.max_tokens));
  for (const auto& arg : switch_args(reference.switches)) hash.add(arg);
  return hash.hex();
}

fs::path QualitySuite::reference_logits(const QualitySpec& spec, const QualityRun& reference) {
  fs::path path = cache_dir_ / ("ref-" + reference_key(spec, reference) + ".npy");
  if (fs::exists(path)) return path;
  fs::create_directories(cache_dir_);
  remove_leftovers(cache_dir_, "partial");  // of a lab killed while it dumped
  // Written beside the final name and renamed: a killed lab never leaves a truncated cache file.
  fs::path partial = path;
  partial += fmt::format(".partial-{}", ::getpid());
  Command command;
  command.argv = {reference.engine.string(), "eval", "--model", reference.model.string()};
  for (auto& arg : text_args(spec)) command.argv.push_back(arg);
  for (auto& arg : {std::string("--dump-logits"), partial.string()}) command.argv.push_back(arg);
  for (auto& arg : switch_args(reference.switches)) command.argv.push_back(arg);
  command.timeout_s = reference.timeout_s;
  command.cgroup_procs = reference.cgroup_procs;
  ExecResult result = executor_.execute(command);
  if (!result.ok() || !fs::exists(partial)) {
    std::error_code ec;
    fs::remove(partial, ec);
    fail("reference logits for {}: {}", reference.model.string(),
         result.ok() ? "the engine wrote no logits file" : failure_text(result));
  }
  fs::rename(partial, path);
  return path;
}

QualityMeasurement QualitySuite::measure(const QualitySpec& spec, const QualityRun& run,
                                         const fs::path& reference_logits) {
  QualityMeasurement m;
  m.reference_logits = reference_logits;
  std::vector<std::string> errors;
  if (!spec.text_file.empty() || !spec.ids.empty()) {
    Command command;
    command.argv = {run.engine.string(), "eval", "--model", run.model.string()};
    for (auto& arg : text_args(spec)) command.argv.push_back(arg);
    command.argv.push_back("--ref-logits");
    command.argv.push_back(reference_logits.string());
    // The variant's logits too, for the error bars, when they fit in memory.
    std::optional<NpyArray> reference;
    try {
      reference = read_npy(reference_logits);
    } catch (const std::exception&) {
      // a reference the lab cannot read still serves the engine's own comparison
    }
    if (reference && reference->f32.size() * sizeof(float) <= kMaxLogitsBytes) {
      if (!logits_) logits_ = std::make_unique<ScratchFile>("streammoe-lab-logits");
      logits_->clear();
      command.argv.push_back("--dump-logits");
      command.argv.push_back(logits_->path().string());
    } else {
      reference.reset();
    }
    for (auto& arg : switch_args(run.switches)) command.argv.push_back(arg);
    command.argv.push_back("--json");
    command.timeout_s = run.timeout_s;
    command.cgroup_procs = run.cgroup_procs;
    ExecResult result = executor_.execute(command);
    if (!result.ok()) {
      errors.push_back("eval: " + failure_text(result));
    } else {
      try {
        m.eval = nlohmann::json::parse(result.stdout_text);
        if (!m.eval.is_object()) {
          errors.push_back("eval: --json did not print an object");
        } else if (double bad = nonfinite_count(m.eval); bad > 0) {
          errors.push_back(fmt::format("eval: {:.0f} non-finite values", bad));
        } else if (reference) {
          try {
            m.intervals = quality_intervals(read_npy(logits_->path()), *reference,
                                            spec.text_file.empty() ? parse_ids(spec.ids, spec.max_tokens)
                                                                   : std::vector<int64_t>{});
          } catch (const std::exception&) {
            // no dump, or not one the lab can read: the measures stand without error bars
          }
        }
      } catch (const nlohmann::json::exception& e) {
        errors.push_back(fmt::format("eval: output is not JSON ({})", e.what()));
      }
    }
  }
  if (!spec.json_prompts.empty()) {
    std::ifstream in(spec.json_prompts);
    fs::path metrics = scratch_.path();
    int failed = 0;
    for (std::string prompt; std::getline(in, prompt);) {
      if (!prompt.empty() && prompt.back() == '\r') prompt.pop_back();
      if (prompt.empty()) continue;
      if (spec.json_limit > 0 && m.json_total >= spec.json_limit) break;
      scratch_.clear();
      Command command;
      command.argv = {run.engine.string(), "generate", "--model", run.model.string()};
      for (auto& arg : prompt_args("--prompt", prompt)) command.argv.push_back(arg);
      command.argv.push_back("--tokens");
      command.argv.push_back(std::to_string(spec.json_tokens));
      for (auto& arg : switch_args(run.switches)) command.argv.push_back(arg);
      command.argv.push_back("--metrics-json");
      command.argv.push_back(metrics.string());
      command.timeout_s = run.timeout_s;
      command.cgroup_procs = run.cgroup_procs;
      ExecResult result = executor_.execute(command);
      ++m.json_total;
      if (!result.ok()) {
        // One failure makes the measurement void; more attempts would only cost timeouts.
        errors.push_back("json generate: " + failure_text(result));
        ++failed;
        break;
      }
      try {
        auto j = nlohmann::json::parse(scratch_.read());
        std::string continuation = j.value("output_text", std::string());
        if (starts_valid_json(prompt, continuation)) ++m.json_valid;
      } catch (const nlohmann::json::exception& e) {
        if (failed++ == 0) errors.push_back(fmt::format("json generate: bad metrics ({})", e.what()));
      }
    }
    // An engine that fails on a prompt is a failed measurement, not an invalid answer.
    if (failed > 0) errors.push_back(fmt::format("{} of {} JSON prompts failed", failed, m.json_total));
  }
  m.ok = errors.empty();
  for (const auto& e : errors) m.error += (m.error.empty() ? "" : "; ") + e;
  return m;
}

}  // namespace streammoe::lab
