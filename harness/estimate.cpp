#include "harness/estimate.h"

#include <cmath>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "harness/packed_model.h"
#include "harness/plan.h"
#include "harness/runner.h"
#include "harness/stats.h"

namespace streammoe::lab {

namespace fs = std::filesystem;

namespace {

uint64_t folder_bytes(const fs::path& folder) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(folder, ec); !ec && it != fs::end(it);
       it.increment(ec))
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  return total;
}

// The text model's vocabulary size from a folder's config.json (packed folders carry it in
// streammoe.json); 0 when unknown.
uint64_t vocab_size(const fs::path& model) {
  for (const char* name : {"config.json", "streammoe.json"}) {
    std::ifstream in(model / name);
    if (!in) continue;
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_object() && j.contains("config")) j = j["config"];
    if (j.is_object() && j.contains("text_config")) j = j["text_config"];
    if (j.is_object() && j.contains("vocab_size") && j["vocab_size"].is_number_unsigned())
      return j["vocab_size"].get<uint64_t>();
  }
  return 0;
}

// What `streammoe synth` writes for a recipe: the experts (q bits plus a bf16 scale and bias per
// 64 values) of every layer, and the bf16 embedding and output tables.
double synth_bytes(const PackRecipe& recipe) {
  std::ifstream in(recipe.source);
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_object() && j.contains("text_config")) j = j["text_config"];
  auto get = [&](const char* key) {
    return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0.0;
  };
  double layers = recipe.layers ? recipe.layers : get("num_hidden_layers");
  double hidden = get("hidden_size"), inner = get("moe_intermediate_size");
  double expert = 3 * hidden * inner * (recipe.bits / 8.0 + 4.0 / 64);
  return layers * get("num_experts") * expert + 2 * get("vocab_size") * hidden * 2;
}

// Bytes a database row set takes: a run's metrics JSON is most of it.
constexpr double kBytesPerRun = 8 << 10;

}  // namespace

std::string duration_text(double seconds) {
  if (seconds < 90) return fmt::format("{:.0f} s", seconds);
  if (seconds < 5400) return fmt::format("{:.0f} min", seconds / 60);
  return fmt::format("{:.1f} h", seconds / 3600);
}

std::string bytes_text(double bytes) {
  if (bytes >= 1e9) return fmt::format("{:.1f} GB", bytes / 1e9);
  if (bytes >= 1e6) return fmt::format("{:.0f} MB", bytes / 1e6);
  return fmt::format("{:.1f} kB", bytes / 1e3);
}

PlanEstimate estimate_plan(const ExperimentSpec& spec, Store* history) {
  PlanEstimate e;
  const int rounds = std::max(spec.repeats, spec.max_repeats);
  const int measured = static_cast<int>(plan_runs(spec).size());
  const int cells = static_cast<int>(spec.variants.size() * spec.models.size());
  const int extra = (rounds - spec.repeats) * cells;  // min_time_s rounds, at most
  int quality = 0;
  if (spec.quality.enabled) {
    int json = 0;
    if (!spec.quality.json_prompts.empty()) {
      std::ifstream in(spec.quality.json_prompts);
      for (std::string line; std::getline(in, line);) json += !line.empty();
      if (spec.quality.json_limit > 0) json = std::min(json, spec.quality.json_limit);
    }
    bool logits = !spec.quality.text_file.empty() || !spec.quality.ids.empty();
    quality = cells * (json + (logits ? 1 : 0)) + (logits ? static_cast<int>(spec.models.size()) : 0);
  }
  const int warmups = spec.warmup * cells;
  e.runs = measured + warmups + quality;
  e.max_seconds = spec.timeout_s * (measured + extra + warmups) + spec.timeout_s * 4 * quality;

  // Expected: each run as long as the median of earlier ok runs of its model and options (or
  // of its model alone); quality commands as long as a run.
  if (history) {
    double total = 0;
    int known = 0;
    for (size_t m = 0; m < spec.models.size(); ++m)
      for (const auto& v : spec.variants) {
        std::string model = model_label(spec, spec.models[m]);
        std::vector<double> ms;
        for (const char* sql :
             {"SELECT r.wall_ms FROM runs r JOIN variants v ON v.id = r.variant_id WHERE "
              "r.status = 'ok' AND r.model = ? AND v.options_json = ?",
              "SELECT r.wall_ms FROM runs r WHERE r.status = 'ok' AND r.model = ? AND ? <> ''"}) {
          for (const auto& row : history->query(sql, {model, nlohmann::json(v.options).dump()}))
            ms.push_back(to_double(row.values[0]));
          if (!ms.empty()) break;
        }
        if (ms.empty()) continue;
        ++known;
        int per_cell_runs = spec.repeats + spec.warmup;
        int per_cell_quality = cells ? quality / cells : 0;
        total += median(ms) / 1000 * (per_cell_runs + per_cell_quality);
      }
    if (known == cells && cells > 0) {
      e.seconds = total;
      e.basis = "the median duration of earlier runs of these models in the database";
    } else if (known > 0) {
      e.seconds = total * cells / known;
      e.basis = fmt::format("earlier runs of {} of the {} variant/model pairs", known, cells);
    }
  }

  for (const auto& pack : spec.packs) {
    if (fs::exists(pack.folder / kPackStampFile)) continue;
    // Packed experts take bits/16 of bf16 ones; an LZ4 copy about as much again.
    const bool synth = pack.kind == RecipeKind::kSynth;
    double bytes = synth ? synth_bytes(pack)
                         : static_cast<double>(folder_bytes(pack.source)) * pack.bits / 16.0 *
                               (pack.lz4 ? 2 : 1);
    e.disk_bytes += static_cast<uint64_t>(bytes);
    e.disk_parts.push_back(fmt::format("{} to {} {}", bytes_text(bytes), synth ? "synth" : "pack",
                                       pack.folder.filename().string()));
  }
  for (const auto& replay : spec.replays) {
    if (fs::exists(replay.file)) continue;
    const double bytes = static_cast<double>(replay_bytes_estimate(replay));
    e.disk_bytes += static_cast<uint64_t>(bytes);
    e.disk_parts.push_back(fmt::format("{} to write {}", bytes_text(bytes), replay.file.filename().string()));
  }
  if (spec.quality.enabled && (!spec.quality.text_file.empty() || !spec.quality.ids.empty())) {
    uint64_t bytes = 0;
    for (const auto& model : spec.models)
      bytes += vocab_size(spec.quality.reference_model.empty() ? model : spec.quality.reference_model) *
               static_cast<uint64_t>(spec.quality.max_tokens) * 4;
    if (bytes) {
      e.disk_bytes += bytes;
      e.disk_parts.push_back(fmt::format("{} of reference logits (unless cached)", bytes_text(bytes)));
    }
  }
  double db = kBytesPerRun * (measured + extra);
  e.disk_bytes += static_cast<uint64_t>(db);
  e.disk_parts.push_back(fmt::format("{} of database rows", bytes_text(db)));
  return e;
}

std::string PlanEstimate::text() const {
  std::string parts;
  for (const auto& p : disk_parts) {
    if (!parts.empty()) parts += ", ";
    parts += p;
  }
  return fmt::format("estimated time: {} ({} commands; at most {} if every one ran to its "
                     "timeout)\nestimated disk: {} ({})\n",
                     seconds >= 0 ? "about " + duration_text(seconds) + " from " + basis
                                  : std::string("unknown, no earlier run of these models in the database"),
                     runs, duration_text(max_seconds), bytes_text(static_cast<double>(disk_bytes)),
                     parts);
}

}  // namespace streammoe::lab
