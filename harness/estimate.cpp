#include "harness/estimate.h"

#include <cmath>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/util/error.h"
#include "harness/machine_profile.h"
#include "harness/model_shape.h"
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

// Bytes a database row set takes: a run's metrics JSON is most of it.
constexpr double kBytesPerRun = 8 << 10;

}  // namespace

ModelBytes recipe_bytes(const PackRecipe& recipe) {
  std::ifstream in(recipe.kind == RecipeKind::kSynth ? recipe.source : recipe.source / "config.json");
  auto j = nlohmann::json::parse(in, nullptr, false);
  const bool qwen3_5 = j.is_object() && j.value("model_type", std::string()).rfind("qwen3_5", 0) == 0;
  if (j.is_object() && j.contains("text_config")) j = j["text_config"];
  auto get = [&](const char* key) {
    return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0.0;
  };
  const double layers = recipe.layers ? recipe.layers : get("num_hidden_layers");
  const double hidden = get("hidden_size"), inner = get("moe_intermediate_size");
  // Experts: q bits per weight plus a bf16 scale and bias per group of 64.
  ModelBytes bytes;
  bytes.experts = layers * get("num_experts") * 3 * hidden * inner * (recipe.bits / 8.0 + 4.0 / 64);
  // Resident weights (the engine's tensor tables, engine/models/qwen3_5_moe.cpp): embedding and
  // output tables, attention of each layer type, the shared expert (routers and norms, < 1%,
  // left out).
  const bool tied = j.is_object() && j.value("tie_word_embeddings", false);
  double params = (tied ? 1 : 2) * get("vocab_size") * hidden;
  const double heads = get("num_attention_heads"), kv = get("num_key_value_heads");
  const double head_dim = get("head_dim") > 0 ? get("head_dim") : (heads > 0 ? hidden / heads : 0);
  const double gate = j.is_object() && j.value("attn_output_gate", qwen3_5) ? 2 : 1;
  const double full = hidden * heads * head_dim * gate + 2 * hidden * kv * head_dim + heads * head_dim * hidden;
  const double kh = get("linear_num_key_heads"), kd = get("linear_key_head_dim");
  const double vh = get("linear_num_value_heads"), vd = get("linear_value_head_dim");
  const double kernel = get("linear_conv_kernel_dim") > 0 ? get("linear_conv_kernel_dim") : 4;
  const double linear = hidden * (2 * kh * kd + 2 * vh * vd) + hidden * 2 * vh + (2 * kh * kd + vh * vd) * kernel +
                        vh * vd * hidden;
  const double interval = get("full_attention_interval") > 0 ? get("full_attention_interval") : 4;
  const nlohmann::json types = j.is_object() && j.contains("layer_types") ? j["layer_types"] : nlohmann::json();
  for (int i = 0; i < static_cast<int>(layers); ++i) {
    bool is_linear = qwen3_5 && (types.is_array() && i < static_cast<int>(types.size())
                                     ? types[i] == "linear_attention"
                                     : (i + 1) % static_cast<int>(interval) != 0);
    params += is_linear ? linear : full;
  }
  params += layers * 3 * hidden * get("shared_expert_intermediate_size");
  // Per value: bf16; at 8 bits a code and a bf16 scale per 64; at 4 bits a code and a bf16 scale
  // and bias per 64 (the layouts of --resident-bits).
  const int bits = recipe.resident_bits;
  bytes.resident = params * (bits == 8 ? 1.0 + 2.0 / 64 : bits == 4 ? 0.5 + 4.0 / 64 : 2.0);
  return bytes;
}

std::string duration_text(double seconds) {
  if (seconds < 90) return fmt::format("{:.0f} s", seconds);
  if (seconds < 5400) return fmt::format("{:.0f} min", seconds / 60);
  return fmt::format("{:.1f} h", seconds / 3600);
}

std::string bytes_text(double bytes) {
  if (bytes >= 1e9) return fmt::format("{:.1f} GB", bytes / 1e9);
  if (bytes >= 1e8) return fmt::format("{:.0f} MB", bytes / 1e6);
  if (bytes >= 1e6) return fmt::format("{:.1f} MB", bytes / 1e6);
  return fmt::format("{:.1f} kB", bytes / 1e3);
}

std::optional<RooflineRates> cached_roofline(const fs::path& cache_file) {
  std::ifstream in(cache_file);
  if (!in) return std::nullopt;
  const auto cache = nlohmann::json::parse(in, nullptr, false);
  if (!cache.is_array()) return std::nullopt;
  const std::string boot = boot_id();
  std::optional<MachineProfile> best;
  for (const auto& entry : cache) {
    auto p = MachineProfile::from_json(entry);
    if (!p || p->boot_id != boot || !std::isfinite(p->disk_rand_gbps) || p->disk_rand_gbps <= 0) continue;
    if (!best || p->block_bytes > best->block_bytes ||
        (p->block_bytes == best->block_bytes && p->measured_epoch_s > best->measured_epoch_s))
      best = p;
  }
  if (!best) return std::nullopt;
  return RooflineRates{best->disk_rand_gbps, best->ram_read_gbps, best->ram_read_gbps_1t,
                       fmt::format("the machine profile of {} (disk {:.2f} GB/s at {} KiB x {}, RAM {:.1f} GB/s)",
                                   best->measured_at, best->disk_rand_gbps, best->block_bytes >> 10,
                                   best->queue_depth, best->ram_read_gbps_1t)};
}

namespace {

// Seconds one run of `variant` on models[m] takes at the rates, from its bytes; < 0 when the
// model's shape or size is not known (a folder that is neither packed nor a recipe).
double roofline_run_seconds(const ExperimentSpec& spec, const Variant& variant, size_t m, const RooflineRates& r) {
  const fs::path& model = spec.model_for(variant, m);
  std::optional<ModelBytes> bytes = packed_model_bytes(model);
  std::optional<ModelShape> shape;
  try {
    for (const auto& pack : spec.packs)
      if (pack.folder == model) {
        if (!bytes) bytes = recipe_bytes(pack);
        shape = pack.kind == RecipeKind::kSynth ? read_model_shape(pack.source, pack.layers)
                                                : read_model_shape(pack.source / "config.json");
      }
    if (!shape) shape = read_model_shape(model / "config.json");
  } catch (const Error&) {
    return -1;
  }
  if (!bytes || shape->experts <= 0) return -1;
  int64_t k = shape->top_k;
  if (auto it = variant.options.find("k"); it != variant.options.end() && it->second != "0") k = std::stoll(it->second);
  const bool one_thread = !variant.options.count("threads") || variant.options.at("threads") == "1";
  const double ram = (one_thread ? r.ram_gbps_1t : r.ram_gbps) * 1e9;
  const double disk = r.disk_gbps * 1e9;
  const double expert_bytes = bytes->experts * static_cast<double>(k) / static_cast<double>(shape->experts);
  // A token reads every resident weight but the embedding table, of which it reads one row (a
  // bf16 table unless it is the tied output head).
  const double embedding = shape->tied_embeddings ? 0 : 2.0 * static_cast<double>(shape->vocab * shape->hidden);
  const double resident_per_token = std::max(0.0, bytes->resident - embedding);
  const double tokens = static_cast<double>(spec.workload.max_fed_tokens() + 1);
  if (spec.cache == CacheState::kCold)
    return tokens * (expert_bytes / disk + resident_per_token / ram) + bytes->resident / disk;
  return tokens * (expert_bytes + resident_per_token) / ram;
}

constexpr double kQualityCommandSeconds = 2;  // eval or one JSON prompt on a small trained model

}  // namespace

PlanEstimate estimate_plan(const ExperimentSpec& spec, Store* history, const std::optional<RooflineRates>& rates) {
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
  // of its model alone); quality commands run on small trained models, kQualityCommandSeconds
  // each (counting them as long as a run had the study's files at 5-7x their real time).
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
        total += median(ms) / 1000 * (spec.repeats + spec.warmup);
      }
    if (known == cells && cells > 0) {
      e.seconds = total + kQualityCommandSeconds * quality;
      e.basis = "the median duration of earlier runs of these models in the database";
    } else if (known > 0) {
      e.seconds = total * cells / known + kQualityCommandSeconds * quality;
      e.basis = fmt::format("earlier runs of {} of the {} variant/model pairs", known, cells);
    }
  }

  if (e.seconds < 0 && rates && cells > 0) {
    double total = kQualityCommandSeconds * quality;
    bool known = true;
    for (size_t m = 0; m < spec.models.size() && known; ++m)
      for (const auto& v : spec.variants) {
        const double run = roofline_run_seconds(spec, v, m, *rates);
        known &= run >= 0;
        total += run * (spec.repeats + spec.warmup);
      }
    if (known) {
      e.seconds = total;
      e.basis = "the bytes each run moves at the rates of " + rates->source +
                " (no earlier run; a floor: real runs reach part of the roofline)";
    }
  }

  for (const auto& pack : spec.packs) {
    if (fs::exists(pack.folder / kPackStampFile)) continue;
    // From the config: experts at the recipe's bits, an LZ4 copy about as much again (a synth's
    // random codes do not compress, only its constant scales: 0.89 of the 4-bit bytes), resident
    // weights at its resident bits. A pack source whose config does not tell: packed experts take
    // bits/16 of the folder's bf16 bytes.
    const bool synth = pack.kind == RecipeKind::kSynth;
    const ModelBytes made = recipe_bytes(pack);
    double bytes = made.experts * (pack.lz4 ? 2 : 1) + made.resident;
    if (!synth && made.experts <= 0)
      bytes = static_cast<double>(folder_bytes(pack.source)) * pack.bits / 16.0 * (pack.lz4 ? 2 : 1);
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
